package processor

import "go.opentelemetry.io/collector/pdata/plog"

// sessKey identifies an open session: a key, or a resource's fallback session.
type sessKey struct {
	key      string
	fallback bool
	res      uint64 // resource fingerprint, for fallback sessions
}

// run is a stretch of a session's records that share one scope.
type run struct {
	scope *scopeRef
	end   int // exclusive index into session.recs
}

// session buffers the records of one key in arrival order. While open it is
// guarded by Processor.mu; once closed it is handed from goroutine to
// goroutine (dispatcher, worker, emitter) over channels.
type session struct {
	key   sessKey
	id    string
	recs  plog.LogRecordSlice // moved-in records, arrival order
	runs  []run
	bytes int64

	lastSeen   int64 // unix nanos of the last record, for inactivity
	prev, next *session

	reason  string // close reason
	verdict verdictOut
}

func (s *session) len() int { return s.recs.Len() }

// verdictOut is the verdict as annotated, after fallbacks.
type verdictOut struct {
	score, recErr    float64
	anomaly, evolved bool
	route, reason    string
	modelVersion     string
}

// openSessions is the set of open sessions: by key, in order of last
// activity (oldest first, for eviction and expiry), with the estimated bytes
// they buffer. Not safe for concurrent use: the Processor guards it with mu.
type openSessions struct {
	byKey map[sessKey]*session
	order lru
	bytes int64
}

func newOpenSessions() openSessions { return openSessions{byKey: map[sessKey]*session{}} }

// len is the number of open sessions.
func (o *openSessions) len() int { return len(o.byKey) }

// oldest is the least recently active session, nil when none is open.
func (o *openSessions) oldest() *session { return o.order.head }

// get returns the open session of k, nil when there is none.
func (o *openSessions) get(k sessKey) *session { return o.byKey[k] }

// open starts an empty session for k, the most recently active.
func (o *openSessions) open(k sessKey, id string) *session {
	s := &session{key: k, id: id, recs: plog.NewLogRecordSlice()}
	o.byKey[k] = s
	o.order.pushBack(s)
	return s
}

// touch makes s the most recently active session.
func (o *openSessions) touch(s *session) { o.order.touch(s) }

// grew accounts for size more bytes buffered in s.
func (o *openSessions) grew(s *session, size int64) {
	s.bytes += size
	o.bytes += size
}

// close removes s from the set, recording why.
func (o *openSessions) close(s *session, reason string) *session {
	delete(o.byKey, s.key)
	o.order.remove(s)
	o.bytes -= s.bytes
	s.reason = reason
	return s
}

// lru is the open sessions ordered by last activity, oldest first.
type lru struct{ head, tail *session }

func (l *lru) pushBack(s *session) {
	s.prev, s.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = s
	} else {
		l.head = s
	}
	l.tail = s
}

func (l *lru) remove(s *session) {
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		l.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	} else {
		l.tail = s.prev
	}
	s.prev, s.next = nil, nil
}

func (l *lru) touch(s *session) {
	if l.tail == s {
		return
	}
	l.remove(s)
	l.pushBack(s)
}
