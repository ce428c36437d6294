package processor

import (
	"context"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"
)

// emitter batches scored sessions into one plog.Logs per send, grouped by
// resource and scope: whatever is ready is sent together, up to
// maxEmitRecords, so an idle pipeline adds no delay and a busy one sends
// few, large batches.
func (p *Processor) emitter() {
	defer close(p.emitterDone)
	var batch []*session
	for {
		var s *session
		select {
		case s2, ok := <-p.emitCh:
			if !ok {
				return
			}
			s = s2
		case <-p.gaveUpCh:
			return // Shutdown gave up and counted what is left
		}
		batch = append(batch[:0], s)
		n := s.settles()
		open := true
	drain:
		for n < maxEmitRecords {
			select {
			case s2, ok := <-p.emitCh:
				if !ok {
					open = false
					break drain
				}
				batch = append(batch, s2)
				n += s2.settles()
			default:
				break drain
			}
		}
		ld, records := p.build(batch)
		clear(batch) // let the sessions go
		if !p.deliver(ld, records, n) || !open {
			return
		}
	}
}

// deliver sends one batch (n session records, records with summaries) and
// settles its records; false once Shutdown has given up.
func (p *Processor) deliver(ld plog.Logs, records, n int) bool {
	p.settleMu.Lock()
	gaveUp := p.gaveUp
	p.settleMu.Unlock()
	if gaveUp {
		return false // counted as lost by abandon; the consumer is shut down
	}
	err := p.next.ConsumeLogs(p.emitCtx, ld)
	p.settleMu.Lock()
	gaveUp = p.gaveUp
	p.unsettled -= int64(n)
	p.settleMu.Unlock()
	switch {
	case gaveUp && err == nil:
		p.log.Warn("next consumer accepted a batch after Shutdown gave up; these records were counted as not delivered",
			zap.Int("records", n))
	case gaveUp: // abandon already counted and reported these records
	case err != nil:
		p.refused(p.emitCtx, records, err)
	}
	return !gaveUp
}

// send hands ld to the next consumer. A refusal is logged and counted, not
// retried: retries and queues belong to the exporter (exporterhelper's
// retry_on_failure and sending_queue).
func (p *Processor) send(ctx context.Context, ld plog.Logs, records int) {
	if err := p.next.ConsumeLogs(ctx, ld); err != nil {
		p.refused(ctx, records, err)
	}
}

func (p *Processor) refused(ctx context.Context, records int, err error) {
	p.exportErrors.Add(1)
	p.log.Error("next consumer refused annotated logs", zap.Int("records", records), zap.Error(err))
	if p.expo != nil {
		p.expo.ExportFailed(ctx, records, err)
	}
}

// outScope is a scope of the batch being built.
type outScope struct {
	ref *scopeRef
	sl  plog.ScopeLogs
}

// build moves the sessions' records into one plog.Logs. Records of one
// session keep their order; sessions sharing a resource and scope (same
// pointer after interning, or equal content) share one ResourceLogs and
// ScopeLogs. Summary records follow their session's records.
func (p *Processor) build(batch []*session) (plog.Logs, int) {
	ld := plog.NewLogs()
	resByRef := map[*resRef]plog.ResourceLogs{}
	resByFP := map[uint64][]*resRef{}
	scopeByRef := map[*scopeRef]plog.ScopeLogs{}
	scopeByFP := map[uint64][]outScope{}

	resourceFor := func(r *resRef) plog.ResourceLogs {
		if rl, ok := resByRef[r]; ok {
			return rl
		}
		for _, o := range resByFP[r.fp] {
			if sameResource(o.rl, r.rl) {
				rl := resByRef[o]
				resByRef[r] = rl
				return rl
			}
		}
		rl := ld.ResourceLogs().AppendEmpty()
		r.rl.Resource().CopyTo(rl.Resource())
		rl.SetSchemaUrl(r.rl.SchemaUrl())
		resByRef[r] = rl
		resByFP[r.fp] = append(resByFP[r.fp], r)
		return rl
	}
	scopeFor := func(sc *scopeRef) plog.ScopeLogs {
		if sl, ok := scopeByRef[sc]; ok {
			return sl
		}
		rl := resourceFor(sc.res)
		for _, o := range scopeByFP[sc.fp] {
			if resByRef[o.ref.res] == rl && sameScope(o.sl, sc.sl) {
				scopeByRef[sc] = o.sl
				return o.sl
			}
		}
		sl := rl.ScopeLogs().AppendEmpty()
		sc.sl.Scope().CopyTo(sl.Scope())
		sl.SetSchemaUrl(sc.sl.SchemaUrl())
		scopeByRef[sc] = sl
		scopeByFP[sc.fp] = append(scopeByFP[sc.fp], outScope{ref: sc, sl: sl})
		return sl
	}

	records := 0
	for _, s := range batch {
		var summary plog.LogRecord
		wantSummary := p.cfg.EmitSummary && s.verdict.anomaly && !s.synthetic
		if wantSummary {
			// Fill it before the records move away (it reads their timestamps).
			summary = plog.NewLogRecord()
			p.summaryRecord(s, summary)
		}
		first := scopeFor(s.runs[0].scope)
		records += s.len()
		if len(s.runs) == 1 {
			s.out.MoveAndAppendTo(first.LogRecords()) // whole session, no per-record work
		} else {
			start := 0
			for _, r := range s.runs {
				dst := scopeFor(r.scope).LogRecords()
				for i := start; i < r.end; i++ {
					s.out.At(i).MoveTo(dst.AppendEmpty())
				}
				start = r.end
			}
		}
		if wantSummary {
			summary.MoveTo(first.LogRecords().AppendEmpty())
			records++
		}
	}
	return ld, records
}
