package model_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/normalize"
)

// hashEncoder is a deterministic stand-in for the BERT encoder: each token of
// the normalised line is hashed to a signed coordinate; the line vector is
// the L2-normalised sum. Lines of one template share one vector, and a
// reworded template keeps the coordinates of the words it kept.
type hashEncoder struct {
	dim   int
	calls atomic.Int64
	fail  error
	width int    // when > 0, the (wrong) width returned
	nan   bool   // return NaN vectors
	salt  string // a different salt is a different encoder
}

func (e *hashEncoder) Dim() int { return e.dim }

func (e *hashEncoder) Embed(ctx context.Context, lines []string) ([][]float32, error) {
	e.calls.Add(1)
	if e.fail != nil {
		return nil, e.fail
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([][]float32, len(lines))
	for i, l := range lines {
		w := e.dim
		if e.width > 0 {
			w = e.width
		}
		v := make([]float32, w)
		for _, tok := range strings.Fields(normalize.Line(l)) {
			h := fnv.New64a()
			h.Write([]byte(e.salt))
			h.Write([]byte(tok))
			x := h.Sum64()
			sign := float32(1)
			if x>>63 == 1 {
				sign = -1
			}
			v[int(x%uint64(w))] += sign
		}
		var n float64
		for _, x := range v {
			n += float64(x * x)
		}
		if n > 0 {
			for j := range v {
				v[j] /= float32(math.Sqrt(n))
			}
		}
		if e.nan {
			v[0] = float32(math.NaN())
		}
		out[i] = v
	}
	return out, nil
}

// hdfs generates HDFS-like block sessions with realistic raw lines, in an old
// version and in an "upgraded" version whose messages are reworded and which
// logs one new normal event.
type hdfs struct {
	r       *rand.Rand
	evolved bool
	// varied adds the optional events of real HDFS blocks (a block served to a
	// reader, a scanner verification) to normal and anomalous sessions alike,
	// so that normal sessions differ in content, not only in how often the
	// same events repeat.
	varied bool
	n      int
}

func (g *hdfs) ip() string { return fmt.Sprintf("10.251.%d.%d", g.r.Intn(256), g.r.Intn(256)) }

func (g *hdfs) line(blk, ev string) string {
	head := fmt.Sprintf("081109 %02d%02d%02d %d INFO ", g.r.Intn(24), g.r.Intn(60), g.r.Intn(60), 100+g.r.Intn(900))
	size := 1000 + g.r.Intn(67108864)
	if g.evolved {
		switch ev {
		case "E5":
			return head + fmt.Sprintf("dfs.DataNode$DataXceiver: Receiving block %s from src /%s:%d to dest /%s:50010 with %d pieces (estimated total size %d MiB)", blk, g.ip(), 40000+g.r.Intn(20000), g.ip(), 1+g.r.Intn(64), 1+g.r.Intn(64))
		case "E22":
			return head + fmt.Sprintf("dfs.FSNamesystem: BLOCK* allocateBlock (NameSystem): /user/root/rand/_temporary/part-%05d. %s", g.r.Intn(1000), blk)
		case "E11":
			return head + fmt.Sprintf("dfs.DataNode$PacketResponder: Responder %d of block %s is terminating", g.r.Intn(3), blk)
		case "E26":
			return head + fmt.Sprintf("dfs.FSNamesystem: BLOCK* NameSystem.addStoredBlock: blockMap updated, %s:50010 added %s (size %d)", g.ip(), blk, size)
		case "NEW":
			return head + fmt.Sprintf("dfs.DataNode$BlockScanner: Checksum verified for block %s in %d ms", blk, g.r.Intn(90))
		}
	}
	switch ev {
	case "E5":
		return head + fmt.Sprintf("dfs.DataNode$DataXceiver: Receiving block %s src: /%s:%d dest: /%s:50010", blk, g.ip(), 40000+g.r.Intn(20000), g.ip())
	case "E22":
		return head + fmt.Sprintf("dfs.FSNamesystem: BLOCK* NameSystem.allocateBlock: /user/root/rand/_temporary/part-%05d. %s", g.r.Intn(1000), blk)
	case "E11":
		return head + fmt.Sprintf("dfs.DataNode$PacketResponder: PacketResponder %d for block %s terminating", g.r.Intn(3), blk)
	case "E9":
		return head + fmt.Sprintf("dfs.DataNode$PacketResponder: Received block %s of size %d from /%s", blk, size, g.ip())
	case "E26":
		return head + fmt.Sprintf("dfs.FSNamesystem: BLOCK* NameSystem.addStoredBlock: blockMap updated: %s:50010 is added to %s size %d", g.ip(), blk, size)
	case "E3":
		return head + fmt.Sprintf("dfs.DataNode$DataXceiver: %s:50010 Served block %s to /%s", g.ip(), blk, g.ip())
	case "E2":
		return head + fmt.Sprintf("dfs.DataBlockScanner: Verification succeeded for %s", blk)
	case "E23":
		return head + fmt.Sprintf("dfs.FSNamesystem: BLOCK* NameSystem.delete: %s is added to invalidSet of %s:50010", blk, g.ip())
	case "E21":
		return head + fmt.Sprintf("dfs.FSDataset: Deleting block %s file /mnt/hadoop/dfs/data/current/subdir%d/%s", blk, g.r.Intn(64), blk)
	case "E7":
		return strings.Replace(head, "INFO", "WARN", 1) + fmt.Sprintf("dfs.DataNode$DataXceiver: writeBlock %s received exception java.io.IOException: Connection reset by peer", blk)
	case "E14":
		return head + fmt.Sprintf("dfs.DataNode$DataXceiver: Exception in receiveBlock for block %s java.io.EOFException", blk)
	case "E10":
		return head + fmt.Sprintf("dfs.DataNode$PacketResponder: PacketResponder %s %d Exception java.io.InterruptedIOException: Interruped while waiting for IO on channel", blk, g.r.Intn(3))
	case "E20":
		return strings.Replace(head, "INFO", "WARN", 1) + fmt.Sprintf("dfs.FSDataset: Unexpected error trying to delete block %s. BlockInfo not found in volumeMap.", blk)
	case "E27":
		return head + fmt.Sprintf("dfs.FSNamesystem: BLOCK* NameSystem.addStoredBlock: Redundant addStoredBlock request received for %s on %s:50010 size %d", blk, g.ip(), size)
	}
	panic("unknown event " + ev)
}

// session draws one block's life: receive x r, allocate, per replica
// terminate + received, stored x r, and in most sessions deletion. An
// anomalous block gets one or two failure events and may stop early.
func (g *hdfs) session(anomalous bool) model.LabelledSession {
	g.n++
	blk := fmt.Sprintf("blk_%d", g.r.Int63()-g.r.Int63())
	reps := 2 + g.r.Intn(2)
	var evs []string
	for range reps {
		evs = append(evs, "E5")
	}
	evs = append(evs, "E22")
	for range reps {
		evs = append(evs, "E11", "E9")
	}
	if g.evolved {
		evs = append(evs, "NEW")
	}
	for range reps {
		evs = append(evs, "E26")
	}
	if g.varied {
		for range g.r.Intn(4) {
			evs = append(evs, "E3")
		}
		if g.r.Float64() < 0.3 {
			evs = append(evs, "E2")
		}
	}
	if g.r.Float64() < 0.7 {
		for range reps {
			evs = append(evs, "E23")
		}
		for range reps {
			evs = append(evs, "E21")
		}
	}
	label := 0
	if anomalous {
		label = 1
		fails := []string{"E7", "E14", "E10", "E20", "E27"}
		at := 1 + g.r.Intn(len(evs)-1)
		bad := []string{fails[g.r.Intn(len(fails))]}
		if g.r.Float64() < 0.4 {
			bad = append(bad, fails[g.r.Intn(len(fails))])
		}
		if g.r.Float64() < 0.3 {
			evs = evs[:at] // the block's life stops at the failure
		}
		evs = append(evs[:at], append(bad, evs[at:]...)...)
	}
	lines := make([]string, len(evs))
	for i, ev := range evs {
		lines[i] = g.line(blk, ev)
	}
	return model.LabelledSession{ID: fmt.Sprintf("%s#%d", blk, g.n), Label: label, Lines: lines}
}

func (g *hdfs) sessions(normal, anomalous int) []model.LabelledSession {
	out := make([]model.LabelledSession, 0, normal+anomalous)
	for range normal {
		out = append(out, g.session(false))
	}
	for range anomalous {
		out = append(out, g.session(true))
	}
	g.r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// oracleJudge answers from the true labels (like `--llm simulated:1.0`), and
// reports as evolutions the neighbours whose label matches.
type oracleJudge struct {
	mu      sync.Mutex
	labels  map[string]int
	calls   int
	fail    error
	badIdx  bool
	wrong   map[string]bool // sessions answered with the other label
	lastNbr []model.Neighbour
}

func (j *oracleJudge) Judge(ctx context.Context, s model.Session, nb []model.Neighbour) (model.Judgement, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.calls++
	j.lastNbr = nb
	if j.fail != nil {
		return model.Judgement{Calls: 1}, j.fail
	}
	label, ok := j.labels[s.ID]
	if !ok {
		return model.Judgement{}, errors.New("unknown session")
	}
	if j.wrong[s.ID] {
		label = 1 - label
	}
	out := model.Judgement{Anomaly: label == 1, Score: float64(label), Reason: "oracle", Calls: 1, PromptTokens: 100, CompletionTokens: 20}
	for i, n := range nb {
		if n.Label == label {
			out.Evolutions = append(out.Evolutions, i)
		}
	}
	if j.badIdx {
		out.Evolutions = append(out.Evolutions, -1, len(nb), 1<<30)
	}
	return out, nil
}

func labelsOf(sets ...[]model.LabelledSession) map[string]int {
	m := map[string]int{}
	for _, set := range sets {
		for _, s := range set {
			m[s.ID] = s.Label
		}
	}
	return m
}
