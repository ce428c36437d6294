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
	s     *session
	bytes int64
	prov  core.Verdict // the provisional verdict, for its records if they go out first

	mu    sync.Mutex
	state waitState
	late  *session // the record that will carry the final verdict, once forwarded
}

type waitState int

const (
	stillWaiting waitState = iota
	forwarded              // the records went out pending; the verdict follows
	final                  // the records went out with the final verdict
)

// waitingRoom is the set of waiting sessions. Guarded by its own mutex; the
// Processor's mu may be held when it is taken, never the other way round.
// wg counts the waiters and the forwards in progress.
type waitingRoom struct {
	mu    sync.Mutex
	order *lru.List[*waiter, struct{}] // oldest first
	bytes int64                        // of the sessions still in the room
	peak  int
	late  int64 // final verdicts delivered in a record of their own
	wg    sync.WaitGroup
}

func newWaitingRoom() *waitingRoom {
	return &waitingRoom{order: lru.New[*waiter, struct{}](0)}
}

// enter admits s unless limit sessions wait already.
func (r *waitingRoom) enter(s *session, prov core.Verdict, limit int) (*waiter, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.order.Len() >= limit {
		return nil, false
	}
	w := &waiter{s: s, bytes: s.bytes, prov: prov}
	r.order.Put(w, struct{}{})
	r.bytes += w.bytes
	r.peak = max(r.peak, r.order.Len())
	r.wg.Add(1)
	return w, true
}

// claim takes w out of the room to forward it; false when it left already.
// A claim counts in wg until its forward is done.
func (r *waitingRoom) claim(w *waiter) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.order.Remove(w); !ok {
		return false
	}
	r.bytes -= w.bytes
	r.wg.Add(1) // w's own count is still held by its waiter: never from zero
	return true
}

// leave takes w out of the room when its final verdict is there.
func (r *waitingRoom) leave(w *waiter) {
	r.mu.Lock()
	if _, ok := r.order.Remove(w); ok {
		r.bytes -= w.bytes
	}
	r.mu.Unlock()
}

// claimOldest claims waiting sessions, oldest first, until at most keep
// bytes wait (all of them with keep < 0), and returns them with the bytes
// that still wait.
func (r *waitingRoom) claimOldest(keep int64) ([]*waiter, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*waiter
	for r.order.Len() > 0 && (keep < 0 || r.bytes > keep) {
		w, _, _ := r.order.Oldest()
		r.order.Remove(w)
		r.bytes -= w.bytes
		r.wg.Add(1)
		out = append(out, w)
	}
	return out, r.bytes
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

// releaseWaiting forwards waiting sessions, oldest first, until at most keep
// bytes wait (all with keep < 0), each from a goroutine of its own (the
// caller may hold p.mu); it returns the bytes that still wait.
func (p *Processor) releaseWaiting(keep int64) int64 {
	ws, left := p.waiting.claimOldest(keep)
	for _, w := range ws {
		go p.forward(w)
	}
	return left
}

// await is w's waiter: it runs the slow stage (one goroutine per waiting
// session) and sends the session on with its final verdict, or sends that
// verdict late when the session went out pending meanwhile (see the top of
// this file).
func (p *Processor) await(w *waiter, finish func(context.Context) core.Verdict) {
	defer p.waiting.wg.Done()
	t := time.AfterFunc(p.cfg.LateAfter, func() {
		if p.waiting.claim(w) {
			p.forward(w)
		}
	})
	v := safeFinish(p.runCtx, finish) // honours runCtx, which Shutdown cancels at its deadline
	t.Stop()
	if v.Route == core.RouteFallback && p.hurried() {
		// The slow stage was cut short by Shutdown, not by its own timeout.
		v.Reason = reasonShutdownDeadline + ": " + v.Reason
	}
	p.waiting.leave(w)
	w.mu.Lock()
	if w.state == stillWaiting {
		w.state = final
		w.mu.Unlock()
		p.apply(w.s, v, nil)
		p.toEmitter(w.s)
		return
	}
	late := w.late
	w.mu.Unlock()
	p.lateRecord(late, v)
	p.waiting.mu.Lock()
	p.waiting.late++
	p.waiting.mu.Unlock()
	p.toEmitter(late)
}

// forward sends a claimed waiting session on at once, route pending; its
// waiter sends the final verdict when it comes.
func (p *Processor) forward(w *waiter) {
	defer p.waiting.wg.Done()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state != stillWaiting {
		return
	}
	w.state = forwarded
	w.late = p.lateSession(w.s) // reads the records before they move on
	p.apply(w.s, w.prov, nil)
	p.toEmitter(w.s)
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
	first, last := s.timeRange()
	ls := &session{key: s.key, id: s.id, out: plog.NewLogRecordSlice(), runs: []run{{scope: s.runs[0].scope, end: 1}}, synthetic: true, reason: s.reason}
	r := ls.out.AppendEmpty()
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
		route: string(v.Route), reason: v.Reason, modelVersion: mv, partial: ls.partial()}
	r := ls.out.At(0)
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
