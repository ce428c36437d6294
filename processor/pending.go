package processor

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/coorlog/coorlogprocessor/internal/lru"
	"github.com/coorlog/coorlogprocessor/model/core"
)

// A session that needs the detector's slow stage (the LLM) does not hold a
// worker while it waits. The worker takes the provisional verdict
// (core.Deferrer) and hands the session to a waiter, a goroutine of its own,
// and goes on with the queue. The waiter gives the slow stage up to
// Config.LateAfter: an answer within it annotates the records as usual;
// otherwise the records go out at once, route pending, and the final verdict
// follows as a record of its own (anomaly.late). At most Config.MaxPending
// sessions wait; beyond that a session takes the overload path (the
// detector's fast path, or fallback), as when the scoring queue is full: a
// worker never waits behind the slow stage's backlog.
// Waiting sessions count against max_buffered_bytes: when the cap needs room,
// the oldest are forwarded at once, pending.

// waiter is one session waiting for its final verdict.
type waiter struct {
	s       *session
	bytes   int64
	release chan struct{} // closed to forward the records now, marked pending
}

// waitingRoom is the set of waiting sessions. Guarded by its own mutex; the
// Processor's mu may be held when it is taken, never the other way round.
type waitingRoom struct {
	mu    sync.Mutex
	order *lru.List[*waiter, struct{}] // oldest first
	bytes int64                        // of the sessions not yet released
	peak  int
	late  int64 // final verdicts delivered in a record of their own
	wg    sync.WaitGroup
}

func newWaitingRoom() *waitingRoom {
	return &waitingRoom{order: lru.New[*waiter, struct{}](0)}
}

// enter admits s unless max sessions wait already.
func (r *waitingRoom) enter(s *session, limit int) (*waiter, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.order.Len() >= limit {
		return nil, false
	}
	w := &waiter{s: s, bytes: s.bytes, release: make(chan struct{})}
	r.order.Put(w, struct{}{})
	r.bytes += w.bytes
	r.peak = max(r.peak, r.order.Len())
	r.wg.Add(1)
	return w, true
}

// leave removes w (its records are on their way out).
func (r *waitingRoom) leave(w *waiter) {
	r.mu.Lock()
	if _, ok := r.order.Remove(w); ok {
		r.bytes -= w.bytes
	}
	r.mu.Unlock()
}

// releaseOldest forwards waiting sessions, oldest first, until at most keep
// bytes wait; it returns the bytes that still wait.
func (r *waitingRoom) releaseOldest(keep int64) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.bytes > keep {
		w, _, ok := r.order.Oldest()
		if !ok {
			break
		}
		r.order.Remove(w)
		r.bytes -= w.bytes
		close(w.release)
	}
	return r.bytes
}

func (r *waitingRoom) waitingBytes() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bytes
}

// Stats: sessions waiting now, the most that waited at once, and the final
// verdicts delivered late.
func (r *waitingRoom) stats() (waiting, peak int, late int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.order.Len(), r.peak, r.late
}

// Waiting reports the sessions waiting for the detector's slow stage now, the
// most that waited at once, and how many final verdicts went out late, in a
// record of their own.
func (p *Processor) Waiting() (now, peak int, late int64) { return p.waiting.stats() }

// await waits for s's final verdict (see the top of this file). It owns s.
func (p *Processor) await(w *waiter, prov core.Verdict, finish func(context.Context) core.Verdict) {
	defer p.waiting.wg.Done()
	s := w.s
	res := make(chan core.Verdict, 1)
	go func() { res <- safeFinish(p.runCtx, finish) }()
	t := time.NewTimer(p.cfg.LateAfter)
	defer t.Stop()
	select {
	case v := <-res:
		p.waiting.leave(w)
		p.apply(s, v, nil)
		p.toEmitter(s)
		return
	case <-t.C:
	case <-w.release:
	case <-p.hurry:
	}
	p.waiting.leave(w)
	late := p.lateSession(s)
	p.apply(s, prov, nil)
	p.toEmitter(s)
	v := <-res // honours runCtx, which Shutdown cancels at its deadline
	p.lateRecord(late, v)
	p.waiting.mu.Lock()
	p.waiting.late++
	p.waiting.mu.Unlock()
	p.toEmitter(late)
}

// safeFinish turns a panic in the slow stage into a fallback verdict.
func safeFinish(ctx context.Context, finish func(context.Context) core.Verdict) (v core.Verdict) {
	defer func() {
		if r := recover(); r != nil {
			v = core.Verdict{Route: core.RouteFallback, Reason: fmt.Sprintf("detector error: panic: %v", r)}
		}
	}()
	return finish(ctx)
}

// lateSession starts the one-record session that will carry s's final
// verdict: same resource and scope, and what it needs of s's records
// (count, time range), read before they move on.
func (p *Processor) lateSession(s *session) *session {
	first, last := timeRange(s.recs)
	ls := &session{key: s.key, id: s.id, recs: plog.NewLogRecordSlice(), runs: []run{{scope: s.runs[0].scope, end: 1}}, synthetic: true}
	r := ls.recs.AppendEmpty()
	a := r.Attributes()
	a.PutInt(p.names.recordCount, int64(s.len()))
	if last != 0 {
		a.PutStr(p.names.firstTime, first.AsTime().UTC().Format(time.RFC3339Nano))
		a.PutStr(p.names.lastTime, last.AsTime().UTC().Format(time.RFC3339Nano))
	}
	return ls
}

// lateRecord writes the final verdict v into ls's record.
func (p *Processor) lateRecord(ls *session, v core.Verdict) {
	mv := v.ModelVersion
	if mv == "" {
		mv = p.cfg.ModelVersion
	}
	ls.verdict = verdictOut{score: v.Score, recErr: v.RecError, anomaly: v.Anomaly, evolved: v.Evolved,
		route: string(v.Route), reason: v.Reason, modelVersion: mv}
	r := ls.recs.At(0)
	now := pcommon.NewTimestampFromTime(p.now())
	r.SetTimestamp(now)
	r.SetObservedTimestamp(now)
	state, sev, sevText := "normal", plog.SeverityNumberInfo, "INFO"
	if v.Anomaly {
		state, sev, sevText = "anomalous", plog.SeverityNumberWarn, "WARN"
	}
	body := fmt.Sprintf("coorlog: late verdict for session %s: %s, route %s", ls.id, state, v.Route)
	if v.Reason != "" {
		body += ": " + v.Reason
	}
	r.Body().SetStr(body)
	r.SetSeverityNumber(sev)
	r.SetSeverityText(sevText)
	a := r.Attributes()
	p.putVerdict(a, ls.id, &ls.verdict)
	a.PutBool(p.names.late, true)
	p.obs.Verdict(p.runCtx, ls.verdict.route, ls.verdict.anomaly, ls.verdict.evolved)
}
