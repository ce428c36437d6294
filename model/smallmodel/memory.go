package smallmodel

import (
	"cmp"
	"fmt"
	"github.com/coorlog/coorlogprocessor/internal/cut"
	"math"
	"slices"
	"sync"

	"github.com/coorlog/coorlogprocessor/model/internal/vec"
)

// MemoryConfig bounds the kNN memory and sets the vote.
//
// Bounds: identical sessions (same Key and label) share one item whose Count
// grows. Each item keeps at most MaxLines lines of at most MaxLineBytes bytes
// (the session's first lines; a cut line ends in "…"), which is the text the
// LLM prompts show. Above MaxItems the memory evicts, one at a time, the least
// recently seen item of the class that has the most items, so the rarer class
// (usually the anomalies) is kept while the bulk class is trimmed oldest first.
// Operator items (Item.Operator) are never evicted: they leave when undone.
//
// Size: an item holds its session vector (4 bytes per encoder dimension),
// its projection (128 bytes at width 32) and its capped text: about 3.5 kB
// for an HDFS block session with the default 128-d encoder, so the default
// cap of 50,000 items is about 175 MB at most; dedup keeps real memories far
// smaller (HDFS training: 746 items for 3,604 sessions).
//
// Cost: search is exact, one dot product per item in the projection width
// (AVX2 on amd64): about 17 µs for 10,000 items of width 32 here, linear in
// the number of items; see BenchmarkDetect10k.
type MemoryConfig struct {
	K            int     `json:"k"`              // neighbours in the vote; default 5
	Threshold    float64 `json:"threshold"`      // score >= Threshold is anomalous; default 0.5
	MaxItems     int     `json:"max_items"`      // default 50000
	MaxLines     int     `json:"max_lines"`      // per item; default 32
	MaxLineBytes int     `json:"max_line_bytes"` // per line; default 256
}

// DefaultMemoryConfig is the configuration used for zero fields.
func DefaultMemoryConfig() MemoryConfig {
	return MemoryConfig{K: 5, Threshold: 0.5, MaxItems: 50000, MaxLines: 32, MaxLineBytes: 256}
}

// WithDefaults fills zero fields from DefaultMemoryConfig.
func (c MemoryConfig) WithDefaults() MemoryConfig {
	d := DefaultMemoryConfig()
	if c.K == 0 {
		c.K = d.K
	}
	if c.Threshold == 0 {
		c.Threshold = d.Threshold
	}
	if c.MaxItems == 0 {
		c.MaxItems = d.MaxItems
	}
	if c.MaxLines == 0 {
		c.MaxLines = d.MaxLines
	}
	if c.MaxLineBytes == 0 {
		c.MaxLineBytes = d.MaxLineBytes
	}
	return c
}

// Validate reports an unusable configuration.
func (c MemoryConfig) Validate() error {
	if c.K <= 0 || c.MaxItems <= 0 || c.MaxLines <= 0 || c.MaxLineBytes <= 0 {
		return fmt.Errorf("memory: k %d, max items %d, max lines %d, max line bytes %d must be positive", c.K, c.MaxItems, c.MaxLines, c.MaxLineBytes)
	}
	if c.Threshold <= 0 || c.Threshold > 1 {
		return fmt.Errorf("memory: threshold must be in (0, 1], got %g", c.Threshold)
	}
	return nil
}

// Item is one labelled session in the memory.
type Item struct {
	ID    string   `json:"id"`
	Label int      `json:"label"` // 0 normal, 1 anomalous
	Lines []string `json:"lines"` // capped raw text, for LLM prompts
	Key   string   `json:"key"`   // identity of the session's content (template sequence)
	Count int      `json:"count"` // identical sessions merged into this item
	Seen  uint64   `json:"seen"`  // memory clock when last added; eviction order
	// Judged marks an item the LLM stage labelled (added by AEM), as opposed
	// to one from labelled training data.
	Judged bool `json:"judged,omitempty"`
	// Operator marks an operator's label (bundle.Feedback): it outranks
	// every other label the memory holds for the same vector (see Score),
	// and it is kept apart from them, so that undoing it (Without) leaves
	// them as they were.
	Operator bool `json:"operator,omitempty"`
	// Overruled marks an LLM label that overruled the small model's vote
	// when it was learnt: the kNN vote takes it, but the small model's
	// fine-tuning does not replay it (see evolve.Finding.Overruled).
	Overruled bool      `json:"overruled,omitempty"`
	Vec       []float32 `json:"-"` // session vector, kept to re-project after fine-tuning
}

type itemKey struct {
	key      string
	label    int
	operator bool
}

func keyOf(it *Item) itemKey { return itemKey{it.Key, it.Label, it.Operator} }

// Memory is an immutable kNN memory: operations that change it return a new
// one, so a snapshot can be shared by concurrent readers and swapped.
type Memory struct {
	cfg   MemoryConfig
	dim   int       // session vector width
	pdim  int       // projection width
	items []Item    // never mutated after construction
	proj  []float32 // [len(items), pdim] unit projections, row-major
	index map[itemKey]int
	ops   []int // indices of operator items, newest last (see OperatorLabel)
	clock uint64
	pool  *sync.Pool // *[]float32 similarity buffers
}

// indexOperators lists the operator items; called whenever items change.
func (m *Memory) indexOperators() {
	m.ops = m.ops[:0:0]
	for i := range m.items {
		if m.items[i].Operator {
			m.ops = append(m.ops, i)
		}
	}
	slices.SortStableFunc(m.ops, func(a, b int) int { return cmp.Compare(m.items[a].Seen, m.items[b].Seen) })
}

// OperatorLabel returns the most recently added operator item that holds the
// same vector as v (cosine >= SameVectorCosine). It checks every operator
// item, not only retrieved neighbours: many items can share one vector (a
// content reordered, or repeated lines under distinct pooling), and a search
// breaks ties among them in favour of older items. Operator items are few
// (one per labelled content), so this is cheap.
func (m *Memory) OperatorLabel(v []float32) (Item, bool) {
	for i := len(m.ops) - 1; i >= 0; i-- {
		if it := m.items[m.ops[i]]; vec.Cosine(v, it.Vec) >= SameVectorCosine {
			return it, true
		}
	}
	return Item{}, false
}

// NewMemory builds a memory from items under the projection of small:
// dedup, caps and eviction as documented on MemoryConfig.
func NewMemory(cfg MemoryConfig, small *Model, items []Item) (*Memory, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Memory{cfg: cfg, dim: small.Dim(), pdim: small.ProjDim(), index: map[itemKey]int{}}
	m.pool = newPool(0)
	return m.With(small, items)
}

// With returns a memory that also holds items, projected by small (which must
// be the model the memory's projections come from). An item whose Key and
// label are already present only raises that item's Count and recency.
func (m *Memory) With(small *Model, items []Item) (*Memory, error) {
	if small.Dim() != m.dim || small.ProjDim() != m.pdim {
		return nil, fmt.Errorf("memory: model maps %d -> %d, memory holds %d -> %d", small.Dim(), small.ProjDim(), m.dim, m.pdim)
	}
	n := &Memory{cfg: m.cfg, dim: m.dim, pdim: m.pdim, clock: m.clock,
		items: slices.Clone(m.items), proj: slices.Clone(m.proj), index: make(map[itemKey]int, len(m.index)+len(items))}
	for k, v := range m.index {
		n.index[k] = v
	}
	for i, it := range items {
		if len(it.Vec) != m.dim {
			return nil, fmt.Errorf("memory: item %d (%s) has width %d, want %d", i, it.ID, len(it.Vec), m.dim)
		}
		if it.Label != 0 && it.Label != 1 {
			return nil, fmt.Errorf("memory: item %d (%s) has label %d", i, it.ID, it.Label)
		}
		if !vec.Finite(it.Vec) {
			return nil, fmt.Errorf("memory: item %d (%s) has a non-finite vector", i, it.ID)
		}
		n.clock++
		k := keyOf(&it)
		count := max(it.Count, 1)
		if j, ok := n.index[k]; ok {
			n.items[j].Count += count
			n.items[j].Seen = n.clock
			continue
		}
		it.Count = count
		it.Seen = n.clock
		it.Lines = capLines(it.Lines, m.cfg.MaxLines, m.cfg.MaxLineBytes)
		n.index[k] = len(n.items)
		n.items = append(n.items, it)
		n.proj = append(n.proj, small.Project(it.Vec)...)
	}
	n.evict()
	n.indexOperators()
	n.pool = newPool(len(n.items))
	return n, nil
}

// WithoutOperator returns the memory without the operator items of content
// key (an undone label); the other items are kept as they are.
func (m *Memory) WithoutOperator(key string) *Memory {
	n := &Memory{cfg: m.cfg, dim: m.dim, pdim: m.pdim, clock: m.clock, index: make(map[itemKey]int, len(m.index))}
	for i, it := range m.items {
		if it.Operator && it.Key == key {
			continue
		}
		n.index[keyOf(&it)] = len(n.items)
		n.items = append(n.items, it)
		n.proj = append(n.proj, m.proj[i*m.pdim:(i+1)*m.pdim]...)
	}
	n.indexOperators()
	n.pool = newPool(len(n.items))
	return n
}

// Reproject returns the memory with every projection recomputed by small
// (after fine-tuning changed the projection).
func (m *Memory) Reproject(small *Model) (*Memory, error) {
	if small.Dim() != m.dim {
		return nil, fmt.Errorf("memory: model takes width %d, memory holds %d", small.Dim(), m.dim)
	}
	n := &Memory{cfg: m.cfg, dim: m.dim, pdim: small.ProjDim(), clock: m.clock, items: m.items, index: m.index, ops: m.ops}
	n.proj = make([]float32, 0, len(m.items)*n.pdim)
	for _, it := range m.items {
		n.proj = append(n.proj, small.Project(it.Vec)...)
	}
	n.pool = newPool(len(n.items))
	return n, nil
}

// evict trims to MaxItems: least recently seen item of the largest class
// first. Runs once per With, so its sort is amortised over the added items.
func (m *Memory) evict() {
	over := len(m.items) - m.cfg.MaxItems
	if over <= 0 {
		return
	}
	byClass := map[int][]int{}
	for i, it := range m.items {
		if it.Operator {
			continue // an operator's label leaves only when it is undone
		}
		byClass[it.Label] = append(byClass[it.Label], i)
	}
	for _, idx := range byClass {
		slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(m.items[a].Seen, m.items[b].Seen) })
	}
	drop := make([]bool, len(m.items))
	for ; over > 0; over-- {
		big := -1
		for c, idx := range byClass {
			if len(idx) > 0 && (big < 0 || len(idx) > len(byClass[big]) || (len(idx) == len(byClass[big]) && c < big)) {
				big = c
			}
		}
		if big < 0 {
			break // only operator items are left
		}
		drop[byClass[big][0]] = true
		byClass[big] = byClass[big][1:]
	}
	items := m.items[:0:0]
	proj := make([]float32, 0, m.cfg.MaxItems*m.pdim)
	m.index = make(map[itemKey]int, m.cfg.MaxItems)
	for i, it := range m.items {
		if drop[i] {
			continue
		}
		m.index[keyOf(&it)] = len(items)
		items = append(items, it)
		proj = append(proj, m.proj[i*m.pdim:(i+1)*m.pdim]...)
	}
	m.items, m.proj = items, proj
}

// Cap is lines as an item keeps them: the first MaxLines, each cut to
// MaxLineBytes (on a rune boundary, ending in "…"), copied (cut.Detach).
func (c MemoryConfig) Cap(lines []string) []string {
	c = c.WithDefaults()
	return capLines(lines, c.MaxLines, c.MaxLineBytes)
}

func capLines(lines []string, maxLines, maxBytes int) []string {
	if len(lines) > maxLines {
		lines = lines[:maxLines]
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		if len(l) > maxBytes {
			l = cut.UTF8(l, maxBytes) + "…"
		}
		out[i] = l
	}
	return cut.Detach(out)
}

func newPool(n int) *sync.Pool {
	return &sync.Pool{New: func() any { b := make([]float32, n); return &b }}
}

// Hit is a retrieved memory item and its cosine similarity to the query.
type Hit struct {
	Index      int
	Similarity float32
}

// Search returns the k items most similar (cosine) to the unit projection q,
// most similar first. Exact: one dot product per item.
func (m *Memory) Search(q []float32, k int) []Hit {
	n := len(m.items)
	if n == 0 || k <= 0 || len(q) != m.pdim {
		return nil
	}
	bp := m.pool.Get().(*[]float32)
	sims := *bp
	vec.DotRows(m.proj, q, sims[:n]) // cosine: rows and q are unit length
	top := make([]Hit, 0, min(k, n))
	worst := float32(math.Inf(-1)) // admission bar once top is full
	for i, s := range sims[:n] {
		if s <= worst {
			continue
		}
		// insertion into the short sorted list
		pos := len(top)
		if len(top) < k {
			top = append(top, Hit{})
		} else {
			pos = k - 1
		}
		for pos > 0 && top[pos-1].Similarity < s {
			top[pos] = top[pos-1]
			pos--
		}
		top[pos] = Hit{Index: i, Similarity: s}
		if len(top) == k {
			worst = top[k-1].Similarity
		}
	}
	m.pool.Put(bp)
	return top
}

// Vote is the similarity-weighted share of anomalous labels among hits
// (weights are the similarities, floored at 0; when every weight is 0 the
// plain share), in [0, 1].
func (m *Memory) Vote(hits []Hit) float64 {
	if len(hits) == 0 {
		return 0
	}
	var w, a float64
	var plain float64
	for _, h := range hits {
		lab := float64(m.items[h.Index].Label)
		s := max(float64(h.Similarity), 0)
		w += s
		a += s * lab
		plain += lab
	}
	if w == 0 {
		return plain / float64(len(hits))
	}
	return min(max(a/w, 0), 1)
}

// SameVectorCosine is the cosine similarity from which two session vectors
// count as the same (the same content, up to line order and float rounding).
const SameVectorCosine = 1 - 1e-6

// sameProjection is far below the projected similarity of two vectors that
// are the same up to SameVectorCosine (float32 rounding of the projection),
// far above that of two sessions that differ by one line.
const sameProjection = 1 - 1e-3

// Score is the small model's anomaly score for the session vector v with
// its retrieved hits. An operator's label for v (OperatorLabel) decides
// outright. Otherwise, when a hit holds the same vector as v (cosine >=
// SameVectorCosine), the memory knows this very content and the score is the
// anomalous share among the same-vector hits, weighted by how many sessions
// each item merged (exact is true); otherwise it is Vote(hits). A vote among
// other contents must not overrule a label the memory holds for this one
// (measured: after an AEM update a normal content seen in training had four
// anomalous contents at similarity 0.95 next to its own item at 1.0, and the
// vote called its sessions anomalous).
func (m *Memory) Score(v []float32, hits []Hit) (score float64, exact bool) {
	if op, ok := m.OperatorLabel(v); ok {
		return float64(op.Label), true
	}
	var n, a float64
	for _, h := range hits {
		// The same vector projects to (nearly) the same point: only such
		// hits are worth the float64 comparison of the raw vectors.
		if h.Similarity < sameProjection {
			continue
		}
		it := &m.items[h.Index]
		if vec.Cosine(v, it.Vec) >= SameVectorCosine {
			c := float64(max(it.Count, 1))
			n += c
			a += c * float64(it.Label)
		}
	}
	if n > 0 {
		return a / n, true
	}
	return m.Vote(hits), false
}

// Fragile reports whether the verdict of Vote(hits) at the memory's
// threshold would change if one of the hits that side with it carried the
// other label: the verdict then rests on a single memory label, and one
// wrong label (an LLM error AEM learnt) is enough to flip it. Flipping hit i
// moves the score by its weight share w_i/Σw (1/n for a plain share). With
// fewer than 3 hits every verdict rests on one label; Fragile is then false
// (there is no majority to be robust with, and gating on it would judge
// everything elsewhere).
func (m *Memory) Fragile(hits []Hit) bool {
	if len(hits) < 3 {
		return false
	}
	score := m.Vote(hits)
	anomaly := score >= m.cfg.Threshold
	var w float64
	for _, h := range hits {
		w += max(float64(h.Similarity), 0)
	}
	for _, h := range hits {
		lab := m.items[h.Index].Label
		if (lab == 1) != anomaly {
			continue // flipping a dissenting hit only strengthens the verdict
		}
		share := 1 / float64(len(hits))
		if w > 0 {
			share = max(float64(h.Similarity), 0) / w
		}
		flipped := score + share
		if anomaly {
			flipped = score - share
		}
		if (flipped >= m.cfg.Threshold) != anomaly {
			return true
		}
	}
	return false
}

// Classify projects v with small and scores it against its K nearest items
// (Score); it returns the score and whether it reaches the threshold. An empty memory or
// a vector of the wrong width scores 0.
func (m *Memory) Classify(small *Model, v []float32) (score float64, anomaly bool, hits []Hit) {
	p := small.Project(v)
	hits = m.Search(p, m.cfg.K)
	score, _ = m.Score(v, hits)
	return score, score >= m.cfg.Threshold, hits
}

// Len is the number of items.
func (m *Memory) Len() int { return len(m.items) }

// Item returns item i (shared; callers must not modify it).
func (m *Memory) Item(i int) Item { return m.items[i] }

// Config is the memory's configuration.
func (m *Memory) Config() MemoryConfig { return m.cfg }

// Samples lists the items' vectors and labels, for replay when fine-tuning.
func (m *Memory) Samples() []Sample {
	out := make([]Sample, len(m.items))
	for i, it := range m.items {
		out[i] = Sample{Vec: it.Vec, Label: it.Label}
	}
	return out
}

// ClassCounts is the number of items per label.
func (m *Memory) ClassCounts() [2]int {
	var c [2]int
	for _, it := range m.items {
		c[it.Label]++
	}
	return c
}
