package processor

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// Shutdown closes every open session, has all of them scored and sent, and
// returns when the last batch is handed to the next consumer.
//
// Deadline policy: shortly before ctx's deadline, as soon as ctx ends
// (including a ctx that has already ended when Shutdown is called), or,
// for a ctx without a deadline, LateAfter after Shutdown began, it stops
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

	now := p.now().UnixNano()
	p.mu.Lock()
	var closed []*session
	for p.sessions.oldest() != nil {
		closed = append(closed, p.closeOldest(now, CloseShutdown))
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
	// Sessions waiting for the slow stage: their waiters send them on. At
	// the hurry signal they go out at once, pending; runCtx, cancelled then
	// too, ends the slow stage, whose verdict follows.
	waited := make(chan struct{})
	go func() { p.waiting.wg.Wait(); close(waited) }()
	select {
	case <-waited: // none waits (checked first: a ready grace must not win a tie)
	default:
		select {
		case <-waited:
		case <-p.hurry:
			p.releaseWaiting(-1)
		case <-grace.Done():
		}
		if err := waitCtx(grace, "sessions waiting for the detector's slow stage", func() { <-waited }); err != nil {
			return p.abandon(ctx, err)
		}
	}
	_, peak, late := p.waiting.stats()
	p.log.Info("coorlog processor: peaks since start",
		zap.Int64("peak_open_sessions", p.peakOpen.Load()),
		zap.Int64("peak_buffered_bytes", p.peakBuffered.Load()), zap.Int64("max_buffered_bytes", p.cfg.MaxBufferedBytes),
		zap.Int("peak_waiting", peak), zap.Int64("late_verdicts", late)) // waiting: for the LLM without holding a worker
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
		// The collector shuts its components down with no deadline. Without
		// a bound, Shutdown waited out the LLM's whole backlog: 240 s from
		// SIGTERM to exit with a 2 s LLM, 4 requests at a time, against
		// 10.7 s with it (BENCHMARKS.md, "Shutdown with a slow LLM"); a
		// supervisor kills the process long before 240 s.
		t := time.AfterFunc(p.detectorWait(), p.hurryNow)
		return func() { stopAfter(); t.Stop() }
	}
	remaining := time.Until(dl)
	margin := min(max(remaining/4, 20*time.Millisecond), 5*time.Second)
	t := time.AfterFunc(remaining-margin, p.hurryNow)
	return func() { stopAfter(); t.Stop() }
}

// detectorWait is how long a Shutdown without a deadline waits for the
// detector: LateAfter, as long as a record waits for the slow stage while
// the collector runs (the default's when waiting is off).
func (p *Processor) detectorWait() time.Duration {
	if p.cfg.LateAfter > 0 {
		return p.cfg.LateAfter
	}
	return DefaultConfig().LateAfter
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
		select {
		case <-done: // both were ready: what was waited for is done
			return nil
		default:
		}
		return fmt.Errorf("coorlog processor shutdown: waiting for %s: %w", what, context.Cause(ctx))
	}
}

// takeStuck takes the sessions of workers still inside Detect once p.hurry is
// closed (so no worker can enter Detect again), and releases their
// WaitGroup counts on their behalf.
func (p *Processor) takeStuck() []*session {
	var taken []*session
	for _, sl := range p.slots {
		sl.mu.Lock()
		if sl.s != nil {
			taken = append(taken, sl.s)
			sl.s = nil
			p.workers.Done()
		}
		sl.mu.Unlock()
	}
	return taken
}
