package model

import (
	"cmp"
	"encoding/binary"
	"hash/maphash"
	"slices"
	"sync"

	"github.com/coorlog/coorlogprocessor/internal/lru"
	"github.com/coorlog/coorlogprocessor/model/evolve"
	"github.com/coorlog/coorlogprocessor/model/normalize"
	"github.com/coorlog/coorlogprocessor/model/smallmodel"
)

// contentMemoSize bounds the readings one snapshot keeps. A reading holds a
// session vector (a few KiB), so the memo stays under 8 MiB. Sessions repeat
// few contents: 15,000 block sessions of the throughput load have 408, and
// the 4,855 normal sessions of the Loghub HDFS sample have 62 multisets of
// events.
const contentMemoSize = 1024

// contentID names a session's content: the multiset of its normalised lines
// (line order aside, each line with its count), as 128 bits of hash.
type contentID [2]uint64

var contentSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

// lineBufs holds the buffers contentOf normalises into.
var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// contentOf is the content id of a session of these raw lines: each line is
// normalised into a reused buffer and hashed (128 bits), and the sorted hashes
// are hashed again. Two sessions get one id when their normalised lines are
// the same multiset. Nothing of the lines is kept: on a memo hit (most
// sessions) no string is made per line.
func contentOf(lines []string) contentID {
	bp := lineBufs.Get().(*[]byte)
	buf := *bp
	hs := make([]contentID, len(lines))
	for i, l := range lines {
		buf = normalize.AppendLine(buf[:0], l)
		hs[i] = contentID{maphash.Bytes(contentSeeds[0], buf), maphash.Bytes(contentSeeds[1], buf)}
	}
	*bp = buf[:0]
	lineBufs.Put(bp)
	slices.SortFunc(hs, func(a, b contentID) int {
		if c := cmp.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return cmp.Compare(a[1], b[1])
	})
	var id contentID
	var w [16]byte
	for i, seed := range contentSeeds {
		var h maphash.Hash
		h.SetSeed(seed)
		for _, x := range hs {
			binary.LittleEndian.PutUint64(w[:8], x[0])
			binary.LittleEndian.PutUint64(w[8:], x[1])
			_, _ = h.Write(w[:])
		}
		id[i] = h.Sum64()
	}
	return id
}

// reading is what a snapshot's models say of a session content before the
// Judge: the session vector, the coordinator's and the small model's views.
// Every field is a function of the content and the snapshot. Shared by every
// session of the content: read-only once made.
type reading struct {
	sv, sem []float32 // session vector; its semantic half (the coordinator's)
	proj    []float32 // sv in the small model's space
	hits    []smallmodel.Hit

	recErr  float64
	evolved bool // the coordinator's, before the memory's say (known, operator)
	score   float64
	exact   bool // the memory holds this content (Memory.Score)
	anomaly bool
	known   bool            // Cascade.known: an LLM- or operator-judged neighbour within tau explains it
	op      smallmodel.Item // the operator's label of this content, when opOK
	opOK    bool
	fragile bool // Memory.Fragile of the voting hits
}

// contentMemo keeps one snapshot's readings by content, least recently used
// out first. Sessions that repeat a content (a system's routine flows) then
// skip embedding, pooling, the coordinator, the projection and the kNN
// search: measured on the throughput load, that is a third of what coorlog
// costs per record (BENCHMARKS.md, "Throughput and a slow LLM"). The
// encoder and pooling are the cascade's, fixed; the coordinator, small model,
// memory and lexical model are the snapshot's, immutable; so a reading holds
// for the snapshot it was made on, and a new snapshot starts an empty memo.
// The pooled vector is a mean, so another order of the same lines changes
// only the last bits of its vector: the first session of a content reads for
// the others.
type contentMemo struct {
	snap *evolve.Snapshot
	mu   sync.Mutex
	m    *lru.List[contentID, *reading]
}

// memoFor is the memo of snap, nil when snap is no longer the cascade's
// (a detect that loaded it before AEM swapped it computes alone: its
// readings would be stale for every later session).
func (c *Cascade) memoFor(snap *evolve.Snapshot) *contentMemo {
	m := c.memo.Load()
	if m != nil && m.snap == snap {
		return m
	}
	if c.snap.Load() != snap {
		return nil
	}
	nm := &contentMemo{snap: snap, m: lru.New[contentID, *reading](contentMemoSize)}
	if c.memo.CompareAndSwap(m, nm) {
		return nm
	}
	if m = c.memo.Load(); m != nil && m.snap == snap {
		return m
	}
	return nil
}

func (m *contentMemo) get(id contentID) (*reading, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.m.Get(id)
}

func (m *contentMemo) put(id contentID, r *reading) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m.Put(id, r)
}
