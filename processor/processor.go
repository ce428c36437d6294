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
	cfg  Config
	det  core.Detector
	fast FastDetector // nil when det has no fast path
	// deferrer is det when it can defer its slow stage and waiting is on
	// (Config.MaxPending > 0); nil otherwise.
	deferrer core.Deferrer
	waiting  *waitingRoom
	next     consumer.Logs
	log      *zap.Logger
	obs      Observer
	expo     ExportObserver // nil when obs does not implement it
	keys     *keyer
	names    attrNames
	now      func() time.Time

	internMu sync.Mutex
	intern   *interner

	mu       sync.Mutex // guards the fields below up to the blank line
	started  bool
	closing  bool
	sessions openSessions
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

// New checks cfg (Config.Validate) and builds a processor; Start runs it.
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
	keys, err := newKeyer(cfg)
	if err != nil {
		return nil, err
	}
	p := &Processor{
		cfg: cfg, det: det, next: next, log: logger, obs: obs, keys: keys,
		names:    newAttrNames(cfg.AttributePrefix),
		now:      time.Now,
		intern:   newInterner(),
		sessions: newOpenSessions(),
		gaveUpCh: make(chan struct{}),
		grace:    shutdownGrace,
	}
	p.fast, _ = det.(FastDetector)
	p.waiting = newWaitingRoom()
	if d, ok := det.(core.Deferrer); ok && cfg.MaxPending > 0 {
		p.deferrer = d
	}
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
// fallback session or pass through, per MissingKey. Keyed records are copied
// into their sessions (heldRecords), records that pass through are moved out
// of ld (the component declares MutatesData). Errors of the next consumer are
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
	waitBytes := p.waiting.waitingBytes()
	for i := range pend {
		e := &pend[i]
		// Make room for the record first, so the byte cap holds after each record.
		if p.sessions.bytes+waitBytes+e.size > p.cfg.MaxBufferedBytes && waitBytes > 0 {
			// Sessions waiting for the slow stage give way first: forwarded now, pending.
			waitBytes = p.releaseWaiting(max(p.cfg.MaxBufferedBytes-p.sessions.bytes-e.size, 0))
		}
		for p.sessions.bytes+waitBytes+e.size > p.cfg.MaxBufferedBytes && p.sessions.oldest() != nil {
			closed = append(closed, p.closeOldest(now, CloseEvicted))
		}
		s := p.sessions.use(e.key)
		if s == nil {
			for p.sessions.len() >= p.cfg.MaxOpenSessions && p.sessions.oldest() != nil {
				closed = append(closed, p.closeOldest(now, CloseEvicted))
			}
			id := e.id
			if e.key.fallback {
				id = fallbackID(e.key.res)
			}
			s = p.sessions.open(e.key, id)
			opened++
		}
		s.held.add(e.lr)
		n := s.held.len()
		if last := len(s.runs) - 1; last >= 0 && s.runs[last].scope == e.scope {
			s.runs[last].end = n
		} else {
			s.runs = append(s.runs, run{scope: e.scope, end: n})
		}
		p.sessions.grew(s, e.size)
		s.lastSeen = now
		switch {
		case n >= p.cfg.MaxRecords:
			closed = append(closed, p.sessions.close(s, CloseMaxRecords))
		case p.sessions.bytes > p.cfg.MaxBufferedBytes: // one record larger than the whole cap
			closed = append(closed, p.sessions.close(s, CloseEvicted))
		}
	}
	return closed, opened
}

// closeOldest closes the least recently active session before its time: for
// room under a cap (CloseEvicted) or at Shutdown (CloseShutdown). A session
// idle for InactivityTimeout has ended on its own (its expiry was waiting for
// the ticker, or for room in the scoring queue: see expireLocked), so it
// closes as inactive; only one still within its timeout is cut off
// (partial). Called with p.mu held.
func (p *Processor) closeOldest(now int64, early string) *session {
	s := p.sessions.oldest()
	reason := early
	if s.lastSeen <= now-int64(p.cfg.InactivityTimeout) {
		reason = CloseInactivity
	}
	return p.sessions.close(s, reason)
}

// expireLocked closes the sessions idle since cutoff (unix nanos), oldest
// first, but only as many as the scoring queue has room for: an expired
// session can wait a tick for a worker (it stays counted against the caps)
// rather than take the fast path. Past hardCutoff it is closed regardless.
func (p *Processor) expireLocked(cutoff, hardCutoff int64) (closed []*session) {
	room := cap(p.queue) - len(p.queue)
	for s := p.sessions.oldest(); s != nil && s.lastSeen <= cutoff; s = p.sessions.oldest() {
		if room <= 0 && s.lastSeen > hardCutoff {
			break
		}
		closed = append(closed, p.sessions.close(s, CloseInactivity))
		room--
	}
	return closed
}

// publish makes the gauges consistent with the state. Called with p.mu held.
func (p *Processor) publish() {
	open, b := int64(p.sessions.len()), p.sessions.bytes+p.waiting.waitingBytes()
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
