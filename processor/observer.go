package processor

import "context"

// Observer receives the processor's telemetry events. The collector component
// implements it with its mdatagen instruments. Calls come from several
// goroutines and never while the processor holds its lock.
type Observer interface {
	SessionOpened(ctx context.Context)
	// SessionClosed reports why: CloseMaxRecords, CloseInactivity, CloseEvicted or CloseShutdown.
	SessionClosed(ctx context.Context, reason string)
	RecordsAnnotated(ctx context.Context, n int)
	Verdict(ctx context.Context, route string, anomaly, evolved bool)
	DetectError(ctx context.Context)
}

// ExportObserver is optional: an Observer that also implements it is told
// when the next consumer refused a batch. The processor does not retry (that
// is the exporter's job: its sending queue and retry settings).
type ExportObserver interface {
	ExportFailed(ctx context.Context, records int, err error)
}

// NopObserver ignores every event.
type NopObserver struct{}

func (NopObserver) SessionOpened(context.Context)               {}
func (NopObserver) SessionClosed(context.Context, string)       {}
func (NopObserver) RecordsAnnotated(context.Context, int)       {}
func (NopObserver) Verdict(context.Context, string, bool, bool) {}
func (NopObserver) DetectError(context.Context)                 {}
func (NopObserver) ExportFailed(context.Context, int, error)    {}

var _ Observer = NopObserver{}
var _ ExportObserver = NopObserver{}
