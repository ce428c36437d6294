// Package evolve is CoorLog's Adaptive Evolution Mechanism (AEM): what the
// LLM stage learns about evolved sessions flows back into the cheap path.
//
// The cascade submits a Finding after every LLM judgement: the session
// (vector, text, key), the label the LLM gave it, and the evolution relations
// Evol Detect found (old memory sessions judged "the same state, reworded or
// reordered"). A background Updater batches findings and, per batch:
//
//  1. fine-tunes the coordinator on the batch sessions that are still above
//     tau, with a replay of old memory sessions, so the same pattern stops
//     going to the LLM while the old version stays below tau;
//  2. fine-tunes the small model with each (old, new) relation as a positive
//     pair, replaying the memory's labelled sessions (plus the batch) so the
//     old classes are not forgotten, and re-projects the memory;
//  3. adds the batch sessions to the kNN memory with their labels;
//  4. swaps the new snapshot in with one atomic compare-and-swap, so a
//     concurrent Detect sees the old set or the new one, never a mix;
//  5. persists it through a callback (the bundle writer).
//
// Submit never blocks: the queue is bounded and drops its oldest finding
// (counted) when full.
package evolve

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coorlog/coorlogprocessor/model/bundle"
	"github.com/coorlog/coorlogprocessor/model/coordinator"
	"github.com/coorlog/coorlogprocessor/model/internal/vec"
	"github.com/coorlog/coorlogprocessor/model/lexical"
	"github.com/coorlog/coorlogprocessor/model/smallmodel"
)

// Snapshot is one immutable set of models. Never modify a published one.
type Snapshot struct {
	Coordinator *coordinator.Model
	Small       *smallmodel.Model
	Memory      *smallmodel.Memory
	Base        string // model version of the trained bundle
	Updates     int    // AEM updates applied on top of Base
	// Feedback is the operators' labels (undone ones included), oldest
	// first; shared, never modified (an edit publishes a new slice).
	Feedback []bundle.Feedback
	// Lexical is the lexical half of the session vectors these models take
	// (bundle.EncoderRef.Lexical; nil: none). It travels with the models so
	// that a reloaded bundle swaps both at once.
	Lexical *lexical.Model
}

// Suppressed returns the standing suppression of content key, if any.
func (s *Snapshot) Suppressed(key string) (bundle.Feedback, bool) {
	for i := len(s.Feedback) - 1; i >= 0; i-- {
		if f := s.Feedback[i]; f.Key == key && f.Active() && f.Action == bundle.FeedbackSuppress {
			return f, true
		}
	}
	return bundle.Feedback{}, false
}

// Version is the model version reported in verdicts: Base, then "+aemN"
// after N updates.
func (s *Snapshot) Version() string {
	if s.Updates == 0 {
		return s.Base
	}
	return fmt.Sprintf("%s+aem%d", s.Base, s.Updates)
}

// Store publishes snapshots; *atomic.Pointer[Snapshot] satisfies it.
type Store interface {
	Load() *Snapshot
	CompareAndSwap(old, new *Snapshot) bool
}

// Relation is one evolution relation: the new session is an evolution of
// the old memory session.
type Relation struct {
	OldID    string
	OldVec   []float32
	OldLabel int
}

// Finding is what the LLM stage learnt about one session.
type Finding struct {
	ID        string
	Vec       []float32 // session vector
	Lines     []string  // raw text (the memory caps it)
	Key       string    // content key, for memory dedup
	Label     int       // 0 normal, 1 anomalous, as judged
	Relations []Relation
	Operator  bool // an operator's label (see Edit), not the LLM's
	// Overruled marks an LLM label that overruled the small model's vote.
	// The memory takes it (the kNN vote of the sessions right around it),
	// but the small model is not fine-tuned to pull its session towards
	// that label's class: one wrong "normal" about the first session of a
	// fault kind, replayed, moved the whole kind next to the normal training
	// sessions (NATS v2.14.0, simulated 0.99, seed 4: `slow_consumer` 15 of
	// 38 caught).
	Overruled bool
}

// Config sets the cadence and the size of updates. Zero fields take the
// defaults of DefaultConfig.
type Config struct {
	BatchSize         int           `json:"batch_size"`         // findings that trigger an update; default 16
	Interval          time.Duration `json:"interval"`           // pending findings are applied at least this often; default 1 min
	QueueSize         int           `json:"queue_size"`         // bound of the queue; default 4096
	CoordinatorEpochs int           `json:"coordinator_epochs"` // default 150
	SmallEpochs       int           `json:"small_epochs"`       // default 10
	Replay            int           `json:"replay"`             // old sessions replayed per new one in coordinator fine-tuning; default 4
	Seed              int64         `json:"seed"`               // default 1
}

// DefaultConfig is the configuration used for zero fields.
func DefaultConfig() Config {
	return Config{BatchSize: 16, Interval: time.Minute, QueueSize: 4096, CoordinatorEpochs: 150, SmallEpochs: 10, Replay: 4, Seed: 1}
}

// WithDefaults fills zero fields from DefaultConfig.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	if c.BatchSize <= 0 {
		c.BatchSize = d.BatchSize
	}
	if c.Interval <= 0 {
		c.Interval = d.Interval
	}
	if c.QueueSize <= 0 {
		c.QueueSize = d.QueueSize
	}
	if c.CoordinatorEpochs <= 0 {
		c.CoordinatorEpochs = d.CoordinatorEpochs
	}
	if c.SmallEpochs <= 0 {
		c.SmallEpochs = d.SmallEpochs
	}
	if c.Replay <= 0 {
		c.Replay = d.Replay
	}
	if c.Seed == 0 {
		c.Seed = d.Seed
	}
	return c
}

// Stats are the updater's counters.
type Stats struct {
	Submitted    uint64        // findings submitted
	Dropped      uint64        // findings dropped because the queue was full
	Applied      uint64        // findings applied in updates
	Updates      uint64        // snapshots swapped in
	Failures     uint64        // updates or persists that failed
	Pending      int           // findings waiting
	LastError    string        // last failure, if any
	LastUpdate   time.Time     // when the last snapshot was swapped in
	LastDuration time.Duration // how long the last update took
}

// Updater batches findings and applies them to the store.
type Updater struct {
	store   Store
	cfg     Config
	persist func(context.Context, *Snapshot) error

	mu       sync.Mutex
	queue    []Finding
	applying []Finding // the batch being applied (still unknown to the models in use)
	stats    Stats
	kick     chan struct{}

	applyMu sync.Mutex // one update at a time (Run and Flush)
}

// New makes an updater for store. persist, when not nil, is called with every
// snapshot swapped in (it should write the bundle); its failure is counted
// and the snapshot stays in use.
func New(store Store, cfg Config, persist func(context.Context, *Snapshot) error) *Updater {
	return &Updater{store: store, cfg: cfg.WithDefaults(), persist: persist, kick: make(chan struct{}, 1)}
}

// Submit queues a finding; it never blocks. When the queue is full the
// oldest finding is dropped.
func (u *Updater) Submit(f Finding) {
	u.mu.Lock()
	u.stats.Submitted++
	if len(u.queue) >= u.cfg.QueueSize {
		copy(u.queue, u.queue[1:])
		u.queue = u.queue[:len(u.queue)-1]
		u.stats.Dropped++
	}
	u.queue = append(u.queue, f)
	ready := len(u.queue) >= u.cfg.BatchSize
	u.mu.Unlock()
	if ready {
		select {
		case u.kick <- struct{}{}:
		default:
		}
	}
}

// Match looks for a pending finding (queued or being applied) whose session
// vector is the same as v (cosine >= smallmodel.SameVectorCosine) and
// returns its ID and label. Sessions with the same vector are indistinguishable to every
// model of the cascade (the mean is blind to line order, so a reordered
// session has its predecessor's vector under another template key, which
// the LLM's verdict cache misses): once the update is applied they get that
// finding's treatment, and until then Match lets the cascade give it without
// asking the LLM again.
func (u *Updater) Match(v []float32) (id string, label int, ok bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	// Latest judgement first: the queue (newest at the end), then the batch
	// taken from it. A linear scan of at most QueueSize+BatchSize vectors,
	// only for evolved sessions, which would otherwise wait on the LLM.
	for _, q := range [][]Finding{u.queue, u.applying} {
		for i := len(q) - 1; i >= 0; i-- {
			if f := &q[i]; vec.Cosine(v, f.Vec) >= smallmodel.SameVectorCosine {
				return f.ID, f.Label, true
			}
		}
	}
	return "", 0, false
}

// Run applies findings every BatchSize findings or every Interval, until ctx
// ends. Update errors are counted in Stats, not returned: the cascade keeps
// working on the last good snapshot.
func (u *Updater) Run(ctx context.Context) error {
	t := time.NewTicker(u.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-u.kick:
			u.drain(ctx, true)
		case <-t.C:
			u.drain(ctx, false)
		}
	}
}

// Flush applies every pending finding now and returns the first error.
func (u *Updater) Flush(ctx context.Context) error { return u.drain(ctx, false) }

// drain applies pending findings in batches; fullOnly leaves a partial batch
// for the next tick.
func (u *Updater) drain(ctx context.Context, fullOnly bool) error {
	u.applyMu.Lock()
	defer u.applyMu.Unlock()
	var first error
	for ctx.Err() == nil {
		u.mu.Lock()
		n := min(len(u.queue), u.cfg.BatchSize)
		if n == 0 || (fullOnly && n < u.cfg.BatchSize) {
			u.mu.Unlock()
			break
		}
		batch := append([]Finding(nil), u.queue[:n]...)
		u.queue = append(u.queue[:0], u.queue[n:]...)
		u.applying = batch
		u.mu.Unlock()
		err := u.apply(ctx, batch)
		u.mu.Lock()
		u.applying = nil
		u.mu.Unlock()
		if err != nil {
			u.fail(err)
			if first == nil {
				first = err
			}
		}
	}
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}

func (u *Updater) fail(err error) {
	u.mu.Lock()
	u.stats.Failures++
	u.stats.LastError = err.Error()
	u.mu.Unlock()
}

// Stats returns a copy of the counters.
func (u *Updater) Stats() Stats {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.stats
	s.Pending = len(u.queue)
	return s
}

// coordinatorRounds bounds the coordinator fine-tuning rounds per update.
const coordinatorRounds = 3

// maxSwapTries bounds retries when another writer swaps the store meanwhile.
const maxSwapTries = 3

// apply builds the next snapshot from the current one and swaps it in.
func (u *Updater) apply(ctx context.Context, batch []Finding) error {
	start := time.Now()
	for _, f := range batch {
		if f.Label != 0 && f.Label != 1 {
			return fmt.Errorf("aem: finding %s has label %d", f.ID, f.Label)
		}
	}
	for try := 0; ; try++ {
		cur := u.store.Load()
		if cur == nil {
			return errors.New("aem: no snapshot to update")
		}
		next, err := u.update(ctx, cur, batch)
		if err != nil {
			return err
		}
		if !u.store.CompareAndSwap(cur, next) {
			if try+1 < maxSwapTries {
				continue
			}
			return errors.New("aem: snapshot replaced concurrently; update abandoned")
		}
		u.mu.Lock()
		u.stats.Applied += uint64(len(batch))
		u.stats.Updates++
		u.stats.LastUpdate = time.Now()
		u.stats.LastDuration = time.Since(start)
		u.mu.Unlock()
		if u.persist != nil {
			if err := u.persist(ctx, next); err != nil {
				return fmt.Errorf("aem: persist: %w", err)
			}
		}
		return nil
	}
}

// update computes the snapshot that follows cur once batch is learnt.
func (u *Updater) update(ctx context.Context, cur *Snapshot, batch []Finding) (*Snapshot, error) {
	rng := rand.New(rand.NewSource(u.cfg.Seed + int64(cur.Updates)))
	dim := cur.Small.Dim() // the session vector's width; the coordinator takes its semantic half
	var fresh []Finding
	for _, f := range batch {
		if len(f.Vec) != dim {
			return nil, fmt.Errorf("aem: finding %s has width %d, model %d", f.ID, len(f.Vec), dim)
		}
		fresh = append(fresh, f)
	}
	memSamples := cur.Memory.Samples()

	// 1. Coordinator: the sessions still routed to the LLM, plus replay.
	// Sessions left above tau after a round (FineTune re-derives tau from the
	// old version's held-out sessions) get further rounds (up to
	// coordinatorRounds), each on what is still evolved with twice the epochs
	// of the last. The stragglers are few, so the rounds stay cheap; the
	// replay keeps the size of the first round's, or a round on a handful of
	// sessions drags the network away from the rest (measured: a round on 1
	// straggler + 4 replayed sessions put 43 of 60 learnt sessions back above
	// tau).
	coord := cur.Coordinator
	nReplay := 0
	for round := range coordinatorRounds {
		var evolved [][]float32
		for _, f := range fresh {
			if _, ev := coord.Evolved(cur.Lexical.Semantic(f.Vec)); ev {
				evolved = append(evolved, cur.Lexical.Semantic(f.Vec))
			}
		}
		if len(evolved) == 0 {
			break
		}
		if round == 0 {
			nReplay = u.cfg.Replay * len(evolved)
		}
		tune := append([][]float32(nil), evolved...)
		for _, i := range replayIndices(rng, cur.Memory, nReplay) {
			tune = append(tune, cur.Lexical.Semantic(memSamples[i].Vec))
		}
		var err error
		if coord, err = coord.FineTune(ctx, tune, u.cfg.CoordinatorEpochs<<round); err != nil {
			return nil, fmt.Errorf("aem: coordinator: %w", err)
		}
	}

	// 2. Small model: evolution relations as positive pairs.
	small, mem := cur.Small, cur.Memory
	var pairs []smallmodel.Pair
	for _, f := range fresh {
		for _, r := range f.Relations {
			// A relation across labels contradicts itself (an abnormal session is
			// never an evolution of a normal one): not a positive pair.
			if len(r.OldVec) == dim && r.OldLabel == f.Label {
				pairs = append(pairs, smallmodel.Pair{A: r.OldVec, B: f.Vec, Same: true})
			}
		}
	}
	// A projection never trained contrastively (a learn-mode bundle, one
	// class) is trained as soon as the memory plus the batch hold both.
	var classes [2]bool
	for _, x := range memSamples {
		classes[x.Label] = true
	}
	for _, f := range fresh {
		classes[f.Label] = true
	}
	bootstrap := !small.Trained() && classes[0] && classes[1]
	if len(pairs) > 0 || bootstrap {
		replay := make([]smallmodel.Sample, 0, len(memSamples)+len(fresh))
		for i, x := range memSamples {
			if !cur.Memory.Item(i).Overruled {
				replay = append(replay, x)
			}
		}
		for _, f := range fresh {
			if !f.Overruled {
				replay = append(replay, smallmodel.Sample{Vec: f.Vec, Label: f.Label})
			}
		}
		tuned, err := small.FineTunePairs(ctx, pairs, replay, u.cfg.SmallEpochs)
		if err != nil {
			return nil, fmt.Errorf("aem: small model: %w", err)
		}
		if tuned != small {
			small = tuned
			if mem, err = mem.Reproject(small); err != nil {
				return nil, fmt.Errorf("aem: re-project memory: %w", err)
			}
		}
	}

	// 3. Memory: the judged sessions with their labels.
	items := make([]smallmodel.Item, len(fresh))
	for i, f := range fresh {
		items[i] = smallmodel.Item{ID: f.ID, Label: f.Label, Lines: f.Lines, Key: f.Key, Vec: f.Vec, Judged: !f.Operator, Operator: f.Operator, Overruled: f.Overruled}
	}
	mem, err := mem.With(small, items)
	if err != nil {
		return nil, fmt.Errorf("aem: memory: %w", err)
	}
	return &Snapshot{Coordinator: coord, Small: small, Memory: mem, Base: cur.Base, Updates: cur.Updates + 1, Feedback: cur.Feedback, Lexical: cur.Lexical}, nil
}

// replayIndices picks k memory items to replay: half the most recently seen
// (the evolutions earlier updates learnt, which a uniform draw from a large
// memory would rarely revisit, so many small updates would forget them) and
// half uniformly from the rest (the old version).
func replayIndices(rng *rand.Rand, mem *smallmodel.Memory, k int) []int {
	n := mem.Len()
	if k >= n {
		return sampleIndices(rng, n, n)
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(mem.Item(b).Seen, mem.Item(a).Seen) })
	recent := k / 2
	out := append([]int(nil), order[:recent]...)
	rest := order[recent:]
	for _, j := range sampleIndices(rng, len(rest), k-recent) {
		out = append(out, rest[j])
	}
	return out
}

// sampleIndices draws k distinct indices below n (all of them when k >= n).
func sampleIndices(rng *rand.Rand, n, k int) []int {
	if k >= n {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	return rng.Perm(n)[:k]
}

// BaseVersion strips an "+aemN" suffix, for a snapshot rebuilt from a bundle
// whose manifest recorded AEM updates.
func BaseVersion(v string) string {
	if i := strings.LastIndex(v, "+aem"); i >= 0 {
		return v[:i]
	}
	return v
}
