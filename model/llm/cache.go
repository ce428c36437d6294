package llm

import (
	"container/list"
	"context"
	"crypto/sha256"
	"sync"

	"github.com/coorlog/coorlogprocessor/model/core"
)

// verdictCache remembers judgements by the session's cache key (Config.CacheKey,
// by default its normalised template sequence; hashed, so a long session costs
// 32 bytes of key). It is a
// bounded LRU and also collapses concurrent misses on one key: while one
// caller asks the LLM, the others wait for its answer instead of sending
// the same question again.
type verdictCache struct {
	mu       sync.Mutex
	cap      int
	ll       *list.List // front = most recently used; values are *cacheEntry
	items    map[[32]byte]*list.Element
	inflight map[[32]byte]chan struct{}
}

type cacheEntry struct {
	key [32]byte
	j   core.Judgement
}

func newVerdictCache(capacity int) *verdictCache {
	return &verdictCache{cap: capacity, ll: list.New(), items: make(map[[32]byte]*list.Element),
		inflight: make(map[[32]byte]chan struct{})}
}

func cacheKeyOf(templateKey string) [32]byte { return sha256.Sum256([]byte(templateKey)) }

func (c *verdictCache) getLocked(k [32]byte) (core.Judgement, bool) {
	if e, ok := c.items[k]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*cacheEntry).j, true
	}
	return core.Judgement{}, false
}

// acquire returns a cached judgement, or makes the caller the owner of the
// key (owner=true: it must call release). A caller that finds another owner
// waits for it and looks again; if the owner failed, the caller becomes the
// next owner.
func (c *verdictCache) acquire(ctx context.Context, k [32]byte) (j core.Judgement, hit, owner bool, err error) {
	for {
		c.mu.Lock()
		if j, ok := c.getLocked(k); ok {
			c.mu.Unlock()
			return j, true, false, nil
		}
		wait, busy := c.inflight[k]
		if !busy {
			c.inflight[k] = make(chan struct{})
			c.mu.Unlock()
			return core.Judgement{}, false, true, nil
		}
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return core.Judgement{}, false, false, ctx.Err()
		}
	}
}

// release ends ownership; store the judgement when ok.
func (c *verdictCache) release(k [32]byte, j core.Judgement, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ok {
		if e, found := c.items[k]; found {
			e.Value.(*cacheEntry).j = j
			c.ll.MoveToFront(e)
		} else {
			c.items[k] = c.ll.PushFront(&cacheEntry{key: k, j: j})
			for c.ll.Len() > c.cap {
				old := c.ll.Back()
				c.ll.Remove(old)
				delete(c.items, old.Value.(*cacheEntry).key)
			}
		}
	}
	if ch, found := c.inflight[k]; found {
		close(ch)
		delete(c.inflight, k)
	}
}

func (c *verdictCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
