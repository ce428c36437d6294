// Package processor is the streaming side of CoorLog inside an OpenTelemetry
// Collector: it groups log records into sessions, has each closed session
// judged by a core.Detector (model/core), annotates every record of the session with the
// verdict and forwards the records. It holds no model code; the collector
// component (package coorlogprocessor) wraps it.
//
// Guarantees:
//
//   - Nothing is dropped. A session closes on MaxRecords, InactivityTimeout,
//     a memory cap (MaxOpenSessions, MaxBufferedBytes: the least recently
//     active session is flushed first) or Shutdown, and every closed session
//     is scored and sent. Detector errors and panics, overload without a
//     fast path, and a near Shutdown deadline all annotate route=fallback
//     with a reason instead. A session closed by a memory cap or Shutdown
//     within its InactivityTimeout was cut off, not ended, so its records
//     (and its late verdict, if any) carry session.partial=true: more of
//     the same key may follow, in a later session or, after a rebalance, on
//     another collector. One idle for the whole timeout had ended: it
//     closes as inactive, whoever closes it.
//   - Shutdown's deadline (or an already cancelled context) stops the wait
//     for the detector, not the delivery: unscored sessions are sent as
//     fallback, sessions waiting for the slow stage go out pending, and the
//     next consumer is given up to 5 s (shutdownGrace) past the deadline.
//     A context without a deadline, as the collector passes on SIGTERM,
//     gets LateAfter: Shutdown never waits out the LLM's backlog. Only a
//     next consumer blocking past that grace loses records; Shutdown then
//     logs, reports (ExportObserver) and returns their exact count.
//   - ConsumeLogs never waits for the detector. Closed sessions go to a
//     bounded queue; when it is full the detector's DetectFast (see
//     FastDetector) scores the session inline, or it is marked fallback.
//   - A worker never waits for the detector's slow stage (the LLM) when
//     MaxPending > 0 (core.Deferrer, pending.go): a session that needs it
//     waits on its own for up to LateAfter, then its records
//     go out with route=pending (never an anomaly: no false alarm on a
//     verdict not yet given) and the final verdict follows in one record of
//     its own, anomaly.late=true. Beyond MaxPending waiting sessions the
//     overload path scores a session, as for a full queue. Every record is
//     annotated either way.
//   - Every annotated record carries is_anomaly. With AttributesCompact
//     (the default) the whole verdict (score, route, evolved, session id,
//     reconstruction error, model version, reason) is on every record of a
//     session that is anomalous, fell back, is pending or was cut off, and
//     on the first record of a session judged normal, whose other records
//     carry is_anomaly=false alone: session.id on them cost 0.8 µs of CPU
//     per record, most of it in the exporter's compression (BENCHMARKS.md,
//     "Held records"). With AttributesFull the whole verdict is on every
//     record. A fallback or pending record
//     thus never reads as a normal verdict. AttributesMinimal, chosen by
//     the operator, is the one exception to "every record annotated": the
//     records of a session judged normal after its first go on unchanged,
//     and the first carries the verdict for the session.
//   - Records keep every original field, their resource and scope, and their
//     order within a resource/scope. Records without a key join a
//     per-resource fallback session or pass through unannotated.
//   - Memory: buffered records are accounted with a per-record estimate
//     (contents exact, struct overheads approximated; within about ±25% of
//     the Go heap they keep alive, see TestBufferedBytesEstimate). Beyond the
//     caps the pipeline holds at most QueueSize closed sessions, one session
//     per worker, the emitter channel and one batch of maxEmitRecords.
//     Sessions waiting for the slow stage count against MaxBufferedBytes:
//     when it needs room the oldest of them go out at once, pending.
//   - Downstream refusals are logged and reported (ExportObserver), not
//     retried: retries and queues belong to the exporter (exporterhelper's
//     retry_on_failure and sending_queue).
//
// The collector component must declare consumer.Capabilities{MutatesData:
// true}: records that pass through are moved out of the incoming plog.Logs.
// Keyed records are copied into their session in a form the garbage
// collector does not scan (heldRecords, held.go) and become plog records
// again when the session is annotated.
package processor
