package processor

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/coorlog/coorlogprocessor/model/core"
)

// Reasons the processor itself writes into the reason attribute.
const (
	reasonShutdownDeadline = "shutdown deadline"
	reasonOverload         = "overload: scoring queue full and the detector has no fast path"
)

// attrNames are the annotation attribute names, prefixed once.
type attrNames struct {
	score, isAnomaly, evolved, route, sessionID, recError, reason, modelVersion string
	summary, recordCount, firstTime, lastTime, late, partial                    string
}

func newAttrNames(prefix string) attrNames {
	return attrNames{
		score: prefix + "score", isAnomaly: prefix + "is_anomaly", evolved: prefix + "evolved",
		route: prefix + "route", sessionID: prefix + "session.id", recError: prefix + "reconstruction_error",
		reason: prefix + "reason", modelVersion: prefix + "model.version",
		summary: prefix + "summary", recordCount: prefix + "session.record_count",
		firstTime: prefix + "session.first_timestamp", lastTime: prefix + "session.last_timestamp",
		late: prefix + "late", partial: prefix + "session.partial",
	}
}

// slot is what one worker is scoring, so that Shutdown can take the
// session over from a worker stuck in a detector that ignores cancellation.
type slot struct {
	mu sync.Mutex
	s  *session // set while the worker is inside Detect; nil once taken
}

// worker scores queued sessions and passes them to the emitter. Detect runs
// inline (no goroutine per session); see Shutdown for how a stuck call is
// abandoned at the deadline.
func (p *Processor) worker(sl *slot) {
	for {
		var s *session
		select {
		case s2, ok := <-p.queue:
			if !ok {
				p.workers.Done()
				return
			}
			s = s2
		case <-p.gaveUpCh: // Shutdown gave up; what is queued was counted as lost
			p.workers.Done()
			return
		}
		switch p.score(sl, s) {
		case scored:
			p.toEmitter(s)
		case taken:
			return // Shutdown took s and this worker's WaitGroup count
		case waiting: // a waiter owns s now
		}
	}
}

// What score did with a session.
type outcome int

const (
	scored  outcome = iota // annotated: the caller sends it on
	waiting                // handed to a waiter (pending.go), which sends it on
	taken                  // Shutdown took it over; the worker must leave
)

// score asks the detector and annotates s, or hands s to a waiter when its
// verdict needs the detector's slow stage (pending.go).
func (p *Processor) score(sl *slot, s *session) outcome {
	// Everything that reads s happens before s is published in the slot:
	// from then on Shutdown may take it.
	ms := core.Session{ID: s.id, Lines: p.lines(s), Templates: templates(s)}
	sl.mu.Lock()
	if p.hurried() {
		sl.mu.Unlock()
		p.fallback(s, reasonShutdownDeadline)
		return scored
	}
	sl.s = s
	sl.mu.Unlock()

	var v core.Verdict
	var finish func(context.Context) core.Verdict
	var err error
	if p.deferrer != nil {
		v, finish, err = safeDetectDeferred(p.runCtx, p.deferrer, ms)
	} else {
		v, err = safeDetect(p.runCtx, p.det.Detect, ms)
	}
	var w *waiter
	full := false
	if finish != nil && err == nil {
		w, full = p.waiting.enter(s, v, p.cfg.MaxPending)
		full = !full
	}

	sl.mu.Lock()
	wasTaken := sl.s == nil
	sl.s = nil
	sl.mu.Unlock()
	switch {
	case wasTaken:
		if w != nil {
			p.waiting.leave(w)
			p.waiting.wg.Done()
		}
		return taken
	case w != nil:
		go p.await(w, finish)
		return waiting
	case full:
		// As many sessions wait for the slow stage as may: this one takes
		// the overload path, as when the queue is full.
		p.scoreOverloaded(s)
		return scored
	case err != nil && p.hurried():
		p.fallback(s, reasonShutdownDeadline) // cancelled for the deadline, not a detector fault
	default:
		p.apply(s, v, err)
	}
	return scored
}

// safeDetectDeferred is safeDetect for a Deferrer.
func safeDetectDeferred(ctx context.Context, d core.Deferrer, s core.Session) (v core.Verdict, finish func(context.Context) core.Verdict, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, finish, err = core.Verdict{}, nil, fmt.Errorf("detector panic: %v\n%s", r, debug.Stack())
		}
	}()
	return d.DetectDeferred(ctx, s)
}

// scoreOverloaded scores s without the queue: fast path, or fallback.
func (p *Processor) scoreOverloaded(s *session) {
	if p.fast == nil {
		p.fallback(s, reasonOverload)
		return
	}
	v, err := safeDetect(p.runCtx, p.fast.DetectFast, core.Session{ID: s.id, Lines: p.lines(s), Templates: templates(s)})
	if err != nil && p.hurried() {
		p.fallback(s, reasonShutdownDeadline) // cancelled for the deadline, not a detector fault
		return
	}
	p.apply(s, v, err)
}

// safeDetect turns a detector panic into an error: a bad session or a bug
// in the model must not take the collector down.
func safeDetect(ctx context.Context, f func(context.Context, core.Session) (core.Verdict, error), s core.Session) (v core.Verdict, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("detector panic: %v\n%s", r, debug.Stack())
		}
	}()
	return f(ctx, s)
}

// lines is what the detector sees: each body's string form, capped and with
// invalid UTF-8 replaced.
func (p *Processor) lines(s *session) []string {
	out := make([]string, s.held.len())
	for i := range out {
		out[i] = s.held.line(i, p.cfg.MaxLineBytes)
	}
	return out
}

// apply annotates s with the detector's answer; an error becomes a fallback.
func (p *Processor) apply(s *session, v core.Verdict, err error) {
	if err != nil {
		p.obs.DetectError(p.runCtx)
		msg := err.Error()
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i] // keep stack traces out of the attribute
		}
		p.log.Warn("detector failed; session annotated route=fallback",
			zap.String("session_id", s.id), zap.Int("records", s.len()), zap.Error(err))
		p.fallback(s, "detector error: "+msg)
		return
	}
	mv := v.ModelVersion
	if mv == "" {
		mv = p.cfg.ModelVersion
	}
	s.verdict = verdictOut{
		score: v.Score, recErr: v.RecError, anomaly: v.Anomaly, evolved: v.Evolved,
		route: string(v.Route), reason: v.Reason, modelVersion: mv,
	}
	p.annotate(s)
}

// fallback annotates s without a verdict: not anomalous, score 0.
func (p *Processor) fallback(s *session, reason string) {
	s.verdict = verdictOut{route: string(core.RouteFallback), reason: reason, modelVersion: p.cfg.ModelVersion}
	p.annotate(s)
}

// annotate writes s's verdict on its records, which become plog records
// again here (s.out). It runs once per session: the slot and waiter
// protocols hand each session to exactly one annotator.
func (p *Processor) annotate(s *session) {
	v := &s.verdict
	v.partial = s.partial()
	normal := v.judgedNormal()
	compact := normal && p.cfg.Attributes == AttributesCompact
	minimal := normal && p.cfg.Attributes == AttributesMinimal
	// The records become plog records again here, each with room for what
	// it gets, so no attribute slice grows twice.
	n := s.held.len()
	out := plog.NewLogRecordSlice()
	out.EnsureCapacity(n)
	tmpl := 0
	if p.cfg.WriteTemplate {
		tmpl = 1
	}
	for i := range n {
		r := out.AppendEmpty()
		switch {
		case minimal && i > 0: // the first record says it for the session
			s.held.decode(i, r, tmpl)
		case compact && i > 0:
			s.held.decode(i, r, 1+tmpl).PutBool(p.names.isAnomaly, false)
		default:
			p.putVerdict(s.held.decode(i, r, 9+tmpl), s.id, v)
		}
		if p.cfg.WriteTemplate {
			p.writeTemplate(r)
		}
	}
	s.first, s.last = s.held.timeRange()
	s.out, s.held = out, heldRecords{}
	p.obs.RecordsAnnotated(p.runCtx, n)
	if v.route != string(core.RoutePending) {
		p.obs.Verdict(p.runCtx, v.route, v.anomaly, v.evolved) // a pending session counts with its late verdict
	}
}

func (p *Processor) putVerdict(a pcommon.Map, id string, v *verdictOut) {
	n := &p.names
	a.PutDouble(n.score, v.score)
	a.PutBool(n.isAnomaly, v.anomaly)
	a.PutBool(n.evolved, v.evolved)
	a.PutStr(n.route, v.route)
	a.PutStr(n.sessionID, id)
	a.PutDouble(n.recError, v.recErr)
	if v.reason != "" {
		a.PutStr(n.reason, v.reason)
	}
	a.PutStr(n.modelVersion, v.modelVersion)
	if v.partial {
		a.PutBool(n.partial, true)
	}
}

// summaryRecord fills r with the one-record summary of an anomalous session.
func (p *Processor) summaryRecord(s *session, r plog.LogRecord) {
	v, n := &s.verdict, &p.names
	first, last := s.timeRange()
	now := pcommon.NewTimestampFromTime(p.now())
	body := fmt.Sprintf("coorlog: anomalous session %s: %d records, score %.3f, route %s", s.id, s.len(), v.score, v.route)
	if v.reason != "" {
		body += ": " + v.reason
	}
	r.Body().SetStr(body)
	r.SetSeverityNumber(plog.SeverityNumberWarn)
	r.SetSeverityText("WARN")
	r.SetObservedTimestamp(now)
	if last != 0 {
		r.SetTimestamp(last)
	} else {
		r.SetTimestamp(now)
	}
	a := r.Attributes()
	a.EnsureCapacity(12)
	p.putVerdict(a, s.id, v)
	a.PutBool(n.summary, true)
	a.PutInt(n.recordCount, int64(s.len()))
	if last != 0 {
		a.PutStr(n.firstTime, first.AsTime().UTC().Format(time.RFC3339Nano))
		a.PutStr(n.lastTime, last.AsTime().UTC().Format(time.RFC3339Nano))
	}
}
