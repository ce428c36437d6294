// Package embedcache wraps a model.Encoder with a bounded LRU cache keyed by
// the normalised line (normalize.Line), so that the lines of one template are
// embedded once and every later occurrence costs a normalisation and a map
// lookup.
//
// The inner encoder is given the normalised text, not the raw line: the vector
// of a template then does not depend on which of its lines happened to arrive
// first, and it is the text the default encoder was trained on. Callers keep
// their raw lines; nothing they pass is altered.
package embedcache

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/coorlog/coorlogprocessor/internal/lru"
	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/normalize"
)

// DefaultSize is the capacity used when New is given size <= 0. At 128
// dimensions an entry costs about 0.6 KiB plus its key, so the default holds
// at most ~40 MiB.
const DefaultSize = 65536

// shardMin is the capacity from which the cache is split into shards (below
// it, one exact LRU is simpler and contention does not matter).
const (
	shardMin = 1024
	nShards  = 16
)

// Cache is a model.Encoder that memoises another one. Safe for concurrent use.
type Cache struct {
	inner  model.Encoder
	seed   maphash.Seed
	shards []shard
	hits   atomic.Uint64
	misses atomic.Uint64
}

var _ model.Encoder = (*Cache)(nil)

// New returns a cache of at most size entries (DefaultSize when size <= 0) in
// front of inner.
func New(inner model.Encoder, size int) *Cache {
	if size <= 0 {
		size = DefaultSize
	}
	n := 1
	if size >= shardMin {
		n = nShards
	}
	c := &Cache{inner: inner, seed: maphash.MakeSeed(), shards: make([]shard, n)}
	for i := range c.shards {
		// Spread the capacity exactly: the shards sum to size.
		capacity := size / n
		if i < size%n {
			capacity++
		}
		c.shards[i].lru = lru.New[string, []float32](capacity)
	}
	return c
}

// Dim is the inner encoder's dimension.
func (c *Cache) Dim() int { return c.inner.Dim() }

// Stats reports lines served from the cache, distinct normalised lines sent to
// the inner encoder, and the number of cached entries.
func (c *Cache) Stats() (hits, misses uint64, size int) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		size += s.lru.Len()
		s.mu.Unlock()
	}
	return c.hits.Load(), c.misses.Load(), size
}

// Embed returns one vector per line. Only the distinct normalised lines that
// are not cached go to the inner encoder, in one batch. The returned vectors
// are copies: callers may modify them.
func (c *Cache) Embed(ctx context.Context, lines []string) ([][]float32, error) {
	return c.embed(ctx, lines, nil, false)
}

// EmbedShared is Embed without the copies: the vectors are the cache's own,
// shared with every other caller, and must not be modified. A session's line
// vectors are read once to pool them; copying them cost an allocation of
// len(lines)*Dim floats per session on the collector's hot path.
func (c *Cache) EmbedShared(ctx context.Context, lines []string) ([][]float32, error) {
	return c.embed(ctx, lines, nil, true)
}

// EmbedSharedKeys is EmbedShared for a caller that has normalised the lines
// already: keys[i] must be normalize.Line(lines[i]). The cascade normalises
// a session's lines once for the cache and the lexical half.
func (c *Cache) EmbedSharedKeys(ctx context.Context, lines, keys []string) ([][]float32, error) {
	if len(keys) != len(lines) {
		return nil, fmt.Errorf("embedcache: %d keys for %d lines", len(keys), len(lines))
	}
	return c.embed(ctx, lines, keys, true)
}

func (c *Cache) embed(ctx context.Context, lines, given []string, shared bool) ([][]float32, error) {
	if len(lines) == 0 {
		return [][]float32{}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("embedcache: %w", err)
	}
	dim := c.inner.Dim()
	out := make([][]float32, len(lines))
	var backing []float32
	if !shared {
		backing = make([]float32, len(lines)*dim) // one allocation for all copies
	}
	// dst is where line i's copy goes; nil when shared.
	dst := func(i int) []float32 {
		if shared {
			return nil
		}
		return backing[i*dim : (i+1)*dim : (i+1)*dim]
	}
	keys := make([]string, len(lines))

	var missKeys []string     // distinct keys to embed
	var missAt map[string]int // key -> index in missKeys
	// A line repeated within the call takes its first occurrence's vector, so
	// that the repeats are equal to the bit even when another caller replaces
	// the entry between two lookups (distinct pooling tells lines apart by
	// their vectors).
	var firstAt map[string]int
	for i, l := range lines {
		var k string
		if given != nil {
			k = given[i]
		} else {
			k = normalize.Line(l)
		}
		keys[i] = k
		if j, seen := firstAt[k]; seen {
			if out[j] != nil {
				out[i] = c.place(dst(i), out[j])
			}
			continue // a miss: filled from missAt below
		}
		if len(lines) > 1 {
			if firstAt == nil {
				firstAt = make(map[string]int, len(lines))
			}
			firstAt[k] = i
		}
		if v, ok := c.shardOf(k).get(k, dst(i)); ok {
			out[i] = v
			continue
		}
		if missAt == nil {
			missAt = make(map[string]int)
		}
		if _, dup := missAt[k]; !dup {
			missAt[k] = len(missKeys)
			missKeys = append(missKeys, k)
		}
	}
	c.hits.Add(uint64(len(lines) - len(missKeys)))
	if len(missKeys) == 0 {
		return out, nil
	}
	c.misses.Add(uint64(len(missKeys)))

	vecs, err := c.inner.Embed(ctx, missKeys)
	if err != nil {
		return nil, fmt.Errorf("embedcache: embedding %d uncached lines: %w", len(missKeys), err)
	}
	if len(vecs) != len(missKeys) {
		return nil, fmt.Errorf("embedcache: inner encoder returned %d vectors for %d lines", len(vecs), len(missKeys))
	}
	for _, v := range vecs {
		if len(v) != dim {
			return nil, fmt.Errorf("embedcache: inner encoder returned a vector of %d values, want Dim()=%d", len(v), dim)
		}
	}
	for j, v := range vecs {
		// The cache owns its own copy: the inner encoder's slice is not retained.
		// A vector another caller stored meanwhile stays, and this call uses it.
		vecs[j] = c.shardOf(missKeys[j]).put(missKeys[j], append([]float32(nil), v...))
	}
	for i := range lines {
		if out[i] == nil {
			out[i] = c.place(dst(i), vecs[missAt[keys[i]]])
		}
	}
	return out, nil
}

// place is v copied into dst, or v itself when dst is nil (shared).
func (c *Cache) place(dst, v []float32) []float32 {
	if dst == nil {
		return v
	}
	copy(dst, v)
	return dst
}

func (c *Cache) shardOf(key string) *shard {
	if len(c.shards) == 1 {
		return &c.shards[0]
	}
	return &c.shards[maphash.String(c.seed, key)%uint64(len(c.shards))]
}

// shard is one LRU of the cache under its own lock.
type shard struct {
	mu  sync.Mutex
	lru *lru.List[string, []float32] // a vector's elements are never written after insertion
}

// get returns the cached vector of key, copied into dst unless dst is nil
// (then the cache's own, which is never written), and marks it recently used.
func (s *shard) get(key string, dst []float32) ([]float32, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.lru.Get(key)
	if !ok {
		return nil, false
	}
	if dst == nil {
		return v, true
	}
	copy(dst, v)
	return dst, true
}

// put stores vec under key unless the key is present, and returns the vector
// the cache holds for key (vec when it holds none). The first vector stored
// for a line stays: every caller gets the same bits for the same line while
// it is cached, although an encoder's output for a line varies in its last
// bits with the batch it was computed in.
func (s *shard) put(key string, vec []float32) []float32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.lru.Get(key); ok { // another caller embedded it meanwhile
		return v
	}
	s.lru.Put(key, vec)
	return vec
}
