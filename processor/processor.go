package processor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/coorlog/coorlogprocessor/model/core"
)

// FastDetector is optional: a detector that also implements it is asked for
// a cheap verdict (no LLM, no waiting) when the scoring queue is full, so
// that ConsumeLogs neither blocks on the detector nor drops anything.
type FastDetector interface {
	DetectFast(ctx context.Context, s core.Session) (core.Verdict, error)
}

// inactivityGrace: an idle session waits for room in the scoring queue until
// it has been idle this many inactivity timeouts; then the fast path takes it.
const inactivityGrace = 4

// shutdownGrace is how long Shutdown keeps waiting for the next consumer
// after its context has ended. The detector is not waited for past the
// deadline (its sessions are annotated fallback), but the records still have
// to be handed on: losing them would be worse than overrunning the caller's
// deadline by a bounded amount. Only a next consumer that blocks past this
// grace makes Shutdown give up (see abandon).
const shutdownGrace = 5 * time.Second

// maxEmitRecords bounds one downstream batch; the emitter sends earlier when
// nothing else is ready.
const maxEmitRecords = 8192

// Processor groups log records into sessions, has each closed session judged
// by a core.Detector on a worker pool, annotates every record with the
// verdict and forwards the records, batched, to the next consumer.
//
//	ConsumeLogs ─▶ sessions (keyed, LRU, caps) ─close─▶ queue ─▶ workers (Detect, annotate) ─▶ emitter ─▶ next
//	                                                 └─ queue full ─▶ fast path ────────────────────┘
type Processor struct {
	cfg   Config
	det   core.Detector
	fast  FastDetector // nil when det has no fast path
	next  consumer.Logs
	log   *zap.Logger
	obs   Observer
	expo  ExportObserver // nil when obs does not implement it
	keys  *keyer
	names attrNames
	now   func() time.Time

	internMu sync.Mutex
	intern   *interner

	mu       sync.Mutex // guards the fields below up to the blank line
	started  bool
	closing  bool
	sessions map[sessKey]*session
	order    lru
	bytes    int64
	inflight sync.WaitGroup // ConsumeLogs calls past the closing check

	open, buffered         atomic.Int64 // published at the end of each critical section
	peakOpen, peakBuffered atomic.Int64
	exportErrors           atomic.Int64

	// settleMu orders the emitter's settling of a batch against abandon, so
	// that a record is counted exactly once: delivered or refused by the
	// next consumer (reported by the emitter), or lost (reported by abandon).
	settleMu  sync.Mutex
	unsettled int64 // records taken into sessions and not yet through next.ConsumeLogs
	gaveUp    bool  // set by abandon
	gaveUpCh  chan struct{}
	grace     time.Duration // shutdownGrace; tests shorten it

	queue  chan *session
	emitCh chan *session

	runCtx       context.Context // for detector calls; cancelled when hurrying
	cancelRun    context.CancelFunc
	emitCtx      context.Context // for the next consumer; cancelled when Shutdown finishes or gives up
	cancelEmit   context.CancelFunc
	hurry        chan struct{} // closed when Shutdown's deadline is near
	hurryOnce    sync.Once
	workers      sync.WaitGroup // one per worker; see takeStuck
	slots        []*slot
	emitterDone  chan struct{}
	tickerStop   chan struct{}
	tickerDone   chan struct{}
	shutdownOnce sync.Once
	shutdownErr  error
}

// New validates cfg (filling defaults) and builds a processor; Start runs it.
func New(cfg Config, det core.Detector, next consumer.Logs, logger *zap.Logger, obs Observer) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid processor config: %w", err)
	}
	if det == nil {
		return nil, errors.New("processor needs a detector")
	}
	if next == nil {
		return nil, errors.New("processor needs a next consumer")
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	if obs == nil {
		obs = NopObserver{}
	}
	cfg = cfg.withDefaults()
	keys, err := newKeyer(cfg)
	if err != nil {
		return nil, err
	}
	p := &Processor{
		cfg: cfg, det: det, next: next, log: logger, obs: obs, keys: keys,
		names:    newAttrNames(cfg.AttributePrefix),
		now:      time.Now,
		intern:   newInterner(),
		sessions: map[sessKey]*session{},
		gaveUpCh: make(chan struct{}),
		grace:    shutdownGrace,
	}
	p.fast, _ = det.(FastDetector)
	p.expo, _ = obs.(ExportObserver)
	return p, nil
}

// Start launches the workers, the emitter and the inactivity ticker. The
// context is not kept (the collector cancels it after start).
func (p *Processor) Start(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started {
		return errors.New("processor already started")
	}
	if p.closing {
		return errors.New("processor was shut down; build a new one")
	}
	p.started = true
	p.queue = make(chan *session, p.cfg.QueueSize)
	p.emitCh = make(chan *session, p.cfg.Workers+p.cfg.QueueSize/4+1)
	p.runCtx, p.cancelRun = context.WithCancel(context.Background())
	p.emitCtx, p.cancelEmit = context.WithCancel(context.Background())
	p.hurry = make(chan struct{})
	p.emitterDone = make(chan struct{})
	p.tickerStop = make(chan struct{})
	p.tickerDone = make(chan struct{})
	p.slots = make([]*slot, p.cfg.Workers)
	for i := range p.slots {
		p.slots[i] = &slot{}
		p.workers.Add(1)
		go p.worker(p.slots[i])
	}
	go p.emitter()
	go p.ticker()
	return nil
}

// OpenSessions is the number of sessions currently buffering records.
func (p *Processor) OpenSessions() int64 { return p.open.Load() }

// BufferedBytes is the estimated size of the records in open sessions (the
// quantity MaxBufferedBytes caps).
func (p *Processor) BufferedBytes() int64 { return p.buffered.Load() }

// pending is one keyed input record between key extraction and insertion.
type pending struct {
	key   sessKey
	id    string // session id, when a new session has to be made
	lr    plog.LogRecord
	scope *scopeRef
	size  int64
}

const maxPooledPending = 1 << 16

var pendingPool = sync.Pool{New: func() any { s := make([]pending, 0, 1024); return &s }}

// ConsumeLogs buffers every keyed record into its session and returns; it
// never waits for the detector. Records without a key join their resource's
// fallback session or pass through, per MissingKey. Records are moved out of
// ld (the component declares MutatesData). Errors of the next consumer are
// logged and counted, not returned: part of ld has been buffered already, so
// a retry by the caller would duplicate it.
func (p *Processor) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	p.mu.Lock()
	switch {
	case !p.started:
		p.mu.Unlock()
		return errors.New("coorlog processor: ConsumeLogs before Start")
	case p.closing:
		p.mu.Unlock()
		// Late data after Shutdown began: forward it unannotated rather than lose it.
		return p.next.ConsumeLogs(ctx, ld)
	}
	p.inflight.Add(1)
	p.mu.Unlock()
	defer p.inflight.Done()

	bufp := pendingPool.Get().(*[]pending)
	pend, passed, missing := p.extract(ld, (*bufp)[:0])
	defer func() {
		if cap(pend) > maxPooledPending {
			return // a huge batch: let its buffer go rather than pin it
		}
		clear(pend)
		*bufp = pend[:0]
		pendingPool.Put(bufp)
	}()
	if len(pend) == 0 {
		if missing == 0 {
			return nil
		}
		return p.next.ConsumeLogs(ctx, passed) // nothing buffered: the caller may retry
	}

	now := p.now().UnixNano()
	p.settleMu.Lock()
	p.unsettled += int64(len(pend))
	p.settleMu.Unlock()
	p.mu.Lock()
	closed, opened := p.insert(pend, now)
	p.publish()
	p.mu.Unlock()

	for range opened {
		p.obs.SessionOpened(ctx)
	}
	p.dispatch(ctx, closed)
	if missing > 0 {
		p.send(ctx, passed, missing)
	}
	return nil
}

// extract computes the key, scope and size of every record. With the
// pass-through policy, records without a key are moved into passed (with
// their resource and scope) and counted.
func (p *Processor) extract(ld plog.Logs, pend []pending) (_ []pending, passed plog.Logs, missing int) {
	fallback := p.cfg.MissingKey == MissingKeyResourceSession
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		var resKey string
		var resOK bool
		if p.keys.src == KeyFromResourceAttribute {
			resKey, resOK = p.keys.resourceKey(rl.Resource())
		}
		var res *resRef
		var prl plog.ResourceLogs // pass-through copy of rl, made on demand
		havePRL := false
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			var sc *scopeRef
			var psl plog.ScopeLogs
			havePSL := false
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				key, ok := p.keys.recordKey(lr, resKey, resOK)
				if !ok && !fallback {
					if missing == 0 {
						passed = plog.NewLogs()
					}
					if !havePSL {
						if !havePRL {
							prl, havePRL = passed.ResourceLogs().AppendEmpty(), true
							rl.Resource().CopyTo(prl.Resource())
							prl.SetSchemaUrl(rl.SchemaUrl())
						}
						psl = prl.ScopeLogs().AppendEmpty()
						sl.Scope().CopyTo(psl.Scope())
						psl.SetSchemaUrl(sl.SchemaUrl())
						havePSL = true
					}
					lr.MoveTo(psl.LogRecords().AppendEmpty())
					missing++
					continue
				}
				if sc == nil {
					p.internMu.Lock()
					if res == nil {
						res = p.intern.resource(rl)
					}
					sc = p.intern.scope(res, sl)
					p.internMu.Unlock()
				}
				e := pending{lr: lr, scope: sc, size: recordBytes(lr)}
				if ok {
					e.key, e.id = sessKey{key: key}, key
				} else {
					e.key = sessKey{fallback: true, res: res.fp}
				}
				pend = append(pend, e)
			}
		}
	}
	return pend, passed, missing
}

// insert adds the records to their sessions, closing sessions on max_records
// and on the caps (least recently active first). Called with p.mu held.
func (p *Processor) insert(pend []pending, now int64) (closed []*session, opened int) {
	for i := range pend {
		e := &pend[i]
		// Make room for the record first, so the byte cap holds after each record.
		for p.bytes+e.size > p.cfg.MaxBufferedBytes && p.order.head != nil {
			closed = append(closed, p.closeLocked(p.order.head, CloseEvicted))
		}
		s := p.sessions[e.key]
		if s == nil {
			for len(p.sessions) >= p.cfg.MaxOpenSessions && p.order.head != nil {
				closed = append(closed, p.closeLocked(p.order.head, CloseEvicted))
			}
			id := e.id
			if e.key.fallback {
				id = fallbackID(e.key.res)
			}
			s = &session{key: e.key, id: id, recs: plog.NewLogRecordSlice()}
			p.sessions[e.key] = s
			p.order.pushBack(s)
			opened++
		} else {
			p.order.touch(s)
		}
		e.lr.MoveTo(s.recs.AppendEmpty())
		n := s.recs.Len()
		if last := len(s.runs) - 1; last >= 0 && s.runs[last].scope == e.scope {
			s.runs[last].end = n
		} else {
			s.runs = append(s.runs, run{scope: e.scope, end: n})
		}
		s.bytes += e.size
		p.bytes += e.size
		s.lastSeen = now
		switch {
		case n >= p.cfg.MaxRecords:
			closed = append(closed, p.closeLocked(s, CloseMaxRecords))
		case p.bytes > p.cfg.MaxBufferedBytes: // one record larger than the whole cap
			closed = append(closed, p.closeLocked(s, CloseEvicted))
		}
	}
	return closed, opened
}

// closeLocked removes s from the open set. Called with p.mu held.
func (p *Processor) closeLocked(s *session, reason string) *session {
	delete(p.sessions, s.key)
	p.order.remove(s)
	p.bytes -= s.bytes
	s.reason = reason
	return s
}

// expireLocked closes the sessions idle since cutoff (unix nanos), oldest
// first, but only as many as the scoring queue has room for: an expired
// session can wait a tick for a worker (it stays counted against the caps)
// rather than take the fast path. Past hardCutoff it is closed regardless.
func (p *Processor) expireLocked(cutoff, hardCutoff int64) (closed []*session) {
	room := cap(p.queue) - len(p.queue)
	for s := p.order.head; s != nil && s.lastSeen <= cutoff; s = p.order.head {
		if room <= 0 && s.lastSeen > hardCutoff {
			break
		}
		closed = append(closed, p.closeLocked(s, CloseInactivity))
		room--
	}
	return closed
}

// publish makes the gauges consistent with the state. Called with p.mu held.
func (p *Processor) publish() {
	open, b := int64(len(p.sessions)), p.bytes
	p.open.Store(open)
	p.buffered.Store(b)
	if open > p.peakOpen.Load() {
		p.peakOpen.Store(open)
	}
	if b > p.peakBuffered.Load() {
		p.peakBuffered.Store(b)
	}
}

// dispatch hands closed sessions to the workers. A full queue does not make
// the caller wait for the detector: the session is scored on the fast path
// (or marked fallback) right here and goes straight to the emitter.
func (p *Processor) dispatch(ctx context.Context, closed []*session) {
	for _, s := range closed {
		p.obs.SessionClosed(ctx, s.reason)
		select {
		case p.queue <- s:
		default:
			p.scoreOverloaded(s)
			p.toEmitter(s)
		}
	}
}

// ticker closes inactive sessions.
func (p *Processor) ticker() {
	defer close(p.tickerDone)
	period := min(max(p.cfg.InactivityTimeout/4, 5*time.Millisecond), time.Second)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-p.tickerStop:
			return
		case <-t.C:
		}
		now := p.now()
		cutoff := now.Add(-p.cfg.InactivityTimeout).UnixNano()
		hard := now.Add(-inactivityGrace * p.cfg.InactivityTimeout).UnixNano()
		p.mu.Lock()
		closed := p.expireLocked(cutoff, hard)
		p.publish()
		p.mu.Unlock()
		p.dispatch(p.runCtx, closed)
	}
}

// Shutdown closes every open session, has all of them scored and sent, and
// returns when the last batch is handed to the next consumer.
//
// Deadline policy: shortly before ctx's deadline, or as soon as ctx ends
// (including a ctx that has already ended when Shutdown is called), it stops
// waiting for the detector: every session not yet scored (still open,
// queued, or inside a Detect call) is annotated route=fallback, reason
// "shutdown deadline", and sent. The end of ctx does not cancel delivery:
// Shutdown keeps handing records to the next consumer for up to
// shutdownGrace (5 s) past it, and returns nil once everything is delivered.
// Only if the next consumer (or a ConsumeLogs call still inside it) blocks
// past that grace does Shutdown give up: the records not delivered are
// logged with their exact count, reported to ExportObserver.ExportFailed,
// and returned in the error.
func (p *Processor) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	if !p.started {
		p.closing = true
		p.mu.Unlock()
		return nil
	}
	p.mu.Unlock()
	p.shutdownOnce.Do(func() { p.shutdownErr = p.shutdown(ctx) })
	return p.shutdownErr
}

func (p *Processor) shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()

	stopHurry := p.armHurry(ctx)
	defer stopHurry()
	// grace bounds every wait that does not involve the detector.
	grace, stopGrace := withGrace(ctx, p.grace)
	defer stopGrace()

	close(p.tickerStop)
	if err := waitCtx(grace, "inactivity ticker", func() { <-p.tickerDone }); err != nil {
		return p.abandon(ctx, err)
	}
	if err := waitCtx(grace, "in-flight ConsumeLogs calls", p.inflight.Wait); err != nil {
		return p.abandon(ctx, err)
	}

	p.mu.Lock()
	var closed []*session
	for p.order.head != nil {
		closed = append(closed, p.closeLocked(p.order.head, CloseShutdown))
	}
	p.publish()
	p.mu.Unlock()

	for _, s := range closed {
		p.obs.SessionClosed(p.runCtx, s.reason)
		if !p.hurried() {
			select {
			case p.queue <- s:
				continue
			case <-p.hurry:
			}
		}
		p.fallback(s, reasonShutdownDeadline)
		select {
		case p.emitCh <- s:
		case <-grace.Done():
			return p.abandon(ctx, fmt.Errorf("coorlog processor shutdown: sending session %q: %w", s.id, context.Cause(grace)))
		}
	}
	close(p.queue)
	if err := p.drainWorkers(grace); err != nil {
		return p.abandon(ctx, err)
	}
	// Safe: the ticker, the ConsumeLogs calls and the workers that could
	// still send have all returned, and stuck workers' sessions were taken.
	close(p.emitCh)
	if err := waitCtx(grace, "emitter", func() { <-p.emitterDone }); err != nil {
		return p.abandon(ctx, err)
	}
	p.cancelRun()
	p.cancelEmit()
	return nil
}

// drainWorkers waits for the workers to finish the queue. At the hurry
// signal it stops waiting for the detector: sessions inside a Detect call
// and sessions still queued are annotated fallback here and sent. grace
// ends only when the next consumer has blocked past shutdownGrace.
func (p *Processor) drainWorkers(grace context.Context) error {
	done := make(chan struct{})
	go func() { p.workers.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-grace.Done():
		return fmt.Errorf("coorlog processor shutdown: waiting for scoring workers: %w", context.Cause(grace))
	case <-p.hurry:
	}
	left := p.takeStuck()
	for s := range p.queue { // closed: this ends when the queue is empty
		left = append(left, s)
	}
	for _, s := range left {
		p.fallback(s, reasonShutdownDeadline)
		select {
		case p.emitCh <- s:
		case <-grace.Done():
			return fmt.Errorf("coorlog processor shutdown: sending session %q: %w", s.id, context.Cause(grace))
		}
	}
	select {
	case <-done: // the workers that were not stuck finish their current session
		return nil
	case <-grace.Done():
		return fmt.Errorf("coorlog processor shutdown: waiting for scoring workers: %w", context.Cause(grace))
	}
}

// abandon ends a Shutdown whose grace has passed: the records taken in and
// not yet through the next consumer are counted as lost, logged and
// reported once; from now on nothing more is sent (sessions still reaching
// the emitter are dropped, already counted), and the next consumer's
// context is cancelled so that a consumer honouring it returns.
func (p *Processor) abandon(ctx context.Context, err error) error {
	p.settleMu.Lock()
	p.gaveUp = true
	lost := p.unsettled
	p.settleMu.Unlock()
	close(p.gaveUpCh)
	p.cancelEmit()
	p.hurryNow()
	p.exportErrors.Add(1)
	p.log.Error("coorlog processor shutdown gave up: the next consumer blocked past the grace period; records not delivered",
		zap.Int64("records", lost), zap.Duration("grace", p.grace), zap.Error(err))
	if p.expo != nil {
		p.expo.ExportFailed(context.WithoutCancel(ctx), int(lost), err)
	}
	return fmt.Errorf("%w (%d records not delivered)", err, lost)
}

// toEmitter hands a scored session to the emitter; after abandon it drops
// it instead (abandon counted its records) so that nobody blocks on an
// emitter that has stopped.
func (p *Processor) toEmitter(s *session) {
	select {
	case p.emitCh <- s:
	case <-p.gaveUpCh:
	}
}

// withGrace returns a context that ends grace after ctx ends (its cause says
// so and wraps ctx's error), and a function that releases it.
func withGrace(ctx context.Context, grace time.Duration) (context.Context, func()) {
	g, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	go func() {
		select {
		case <-ctx.Done():
		case <-g.Done():
			return
		}
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel(fmt.Errorf("%w, and the %v shutdown grace for the next consumer has passed", ctx.Err(), grace))
		case <-g.Done():
		}
	}()
	return g, func() { cancel(nil) }
}

// armHurry arranges for p.hurry to close shortly before ctx's deadline (a
// quarter of the remaining time, between 20 ms and 5 s, is kept for annotating
// and sending), or when ctx ends.
func (p *Processor) armHurry(ctx context.Context) (stop func()) {
	if ctx.Err() != nil {
		p.hurryNow() // now, not from AfterFunc's goroutine: no session may start scoring
		return func() {}
	}
	stopAfter := context.AfterFunc(ctx, p.hurryNow)
	dl, ok := ctx.Deadline()
	if !ok {
		return func() { stopAfter() }
	}
	remaining := time.Until(dl)
	margin := min(max(remaining/4, 20*time.Millisecond), 5*time.Second)
	t := time.AfterFunc(remaining-margin, p.hurryNow)
	return func() { stopAfter(); t.Stop() }
}

func (p *Processor) hurryNow() {
	p.hurryOnce.Do(func() {
		close(p.hurry)
		p.cancelRun()
	})
}

func (p *Processor) hurried() bool {
	select {
	case <-p.hurry:
		return true
	default:
		return false
	}
}

func waitCtx(ctx context.Context, what string, wait func()) error {
	done := make(chan struct{})
	go func() { wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("coorlog processor shutdown: waiting for %s: %w", what, context.Cause(ctx))
	}
}
