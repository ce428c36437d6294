package processor

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/coorlog/coorlogprocessor/internal/lru"
	"github.com/coorlog/coorlogprocessor/model/core"
)

// sessKey identifies an open session: a key, or a resource's fallback session.
type sessKey struct {
	key      string
	fallback bool
	res      uint64 // resource fingerprint, for fallback sessions
}

// run is a stretch of a session's records that share one scope.
type run struct {
	scope *scopeRef
	end   int // exclusive index into the session's records
}

// session buffers the records of one key in arrival order. While open it is
// guarded by Processor.mu; once closed it is handed from goroutine to
// goroutine (dispatcher, worker, emitter) over channels.
type session struct {
	key  sessKey
	id   string
	held heldRecords         // the records taken in, arrival order, until annotate
	out  plog.LogRecordSlice // the annotated records (annotate makes them from held)
	// first, last: the time range of the records, kept by annotate (see timeRange).
	first, last pcommon.Timestamp
	runs        []run
	bytes       int64

	lastSeen int64 // unix nanos of the last record, for inactivity

	reason  string // close reason
	verdict verdictOut
	// synthetic marks a session made of one record the processor wrote (a
	// late verdict): nothing of it was taken in, so nothing settles.
	synthetic bool
}

// len is the number of records s carries.
func (s *session) len() int {
	if s.annotated() {
		return s.out.Len()
	}
	return s.held.len()
}

// annotated is true once s's records are plog records again (annotate), or
// when s was made of records the processor wrote.
func (s *session) annotated() bool { return s.out != (plog.LogRecordSlice{}) }

// timeRange is the earliest and latest record time of s (event time, else
// observed time); zero when no record has one.
func (s *session) timeRange() (first, last pcommon.Timestamp) {
	if s.annotated() {
		return s.first, s.last
	}
	return s.held.timeRange()
}

// partial is true when s was closed before it could end on its own.
func (s *session) partial() bool { return s.reason == CloseShutdown || s.reason == CloseEvicted }

// settles is the number of records taken in that s hands on.
func (s *session) settles() int {
	if s.synthetic {
		return 0
	}
	return s.len()
}

// verdictOut is the verdict as annotated, after fallbacks.
type verdictOut struct {
	score, recErr    float64
	anomaly, evolved bool
	route, reason    string
	modelVersion     string
	// partial: the session was closed before it could end on its own (the
	// collector shut down, or a memory cap evicted it), so more of it may
	// follow, in another session here or on another collector.
	partial bool
}

// judgedNormal is a verdict the detector gave (no fallback, not pending) that
// the session is normal, on a session that ended on its own: the verdict that
// AttributesCompact and AttributesMinimal write whole on the first record only.
func (v *verdictOut) judgedNormal() bool {
	if v.anomaly || v.partial {
		return false
	}
	switch core.Route(v.route) {
	case core.RouteSmallModel, core.RouteLLM, core.RouteCache:
		return true
	}
	return false
}

// openSessions is the set of open sessions: by key, in order of last
// activity (oldest first, for eviction and expiry), with the estimated bytes
// they buffer. Not safe for concurrent use: the Processor guards it with mu.
type openSessions struct {
	order *lru.List[sessKey, *session] // unbounded: the caps are the Processor's
	bytes int64
}

func newOpenSessions() openSessions { return openSessions{order: lru.New[sessKey, *session](0)} }

// len is the number of open sessions.
func (o *openSessions) len() int { return o.order.Len() }

// oldest is the least recently active session, nil when none is open.
func (o *openSessions) oldest() *session {
	_, s, _ := o.order.Oldest()
	return s
}

// use returns the open session of k, now the most recently active; nil when
// there is none.
func (o *openSessions) use(k sessKey) *session {
	s, _ := o.order.Get(k)
	return s
}

// open starts an empty session for k, the most recently active.
func (o *openSessions) open(k sessKey, id string) *session {
	s := &session{key: k, id: id}
	o.order.Put(k, s)
	return s
}

// grew accounts for size more bytes buffered in s.
func (o *openSessions) grew(s *session, size int64) {
	s.bytes += size
	o.bytes += size
}

// close removes s from the set, recording why.
func (o *openSessions) close(s *session, reason string) *session {
	o.order.Remove(s.key)
	o.bytes -= s.bytes
	s.reason = reason
	return s
}
