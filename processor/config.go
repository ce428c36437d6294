package processor

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// KeySource says where a record's session key comes from.
type KeySource string

const (
	KeyFromAttribute         KeySource = "attribute"          // a log record attribute (KeyName)
	KeyFromResourceAttribute KeySource = "resource_attribute" // a resource attribute (KeyName)
	KeyFromTraceID           KeySource = "trace_id"           // the record's trace id, lower-case hex
	KeyFromBodyRegex         KeySource = "body_regex"         // KeyRegex on the body's string form
)

// Policies for records that carry no session key.
const (
	MissingKeyResourceSession = "resource_session" // one fallback session per resource
	MissingKeyPassThrough     = "pass_through"     // forward unannotated, immediately
)

// Close reasons reported to Observer.SessionClosed.
const (
	CloseMaxRecords = "max_records"
	CloseInactivity = "inactivity"
	CloseEvicted    = "evicted" // a memory cap (open sessions or bytes) forced an oldest-first flush
	CloseShutdown   = "shutdown"
)

// Which records carry the whole verdict (Config.Attributes).
const (
	// AttributesCompact: every record carries is_anomaly; the whole verdict
	// is on every record of a session that is anomalous, fell back, is pending
	// or was cut off, and on the first record of a session judged normal.
	// Measured on the throughput run (docs/notes/collector.md): the other five
	// attributes on every normal record cost about 2 µs of collector CPU per
	// record and a tenth of the pipeline's wall time, and an HDFS record goes
	// out at 453 instead of 273 bytes of OTLP protobuf; session.id on them
	// cost another 0.8 µs (BENCHMARKS.md, "Held records"), two thirds of the
	// bytes the exporter compresses for the two.
	AttributesCompact = "compact"
	// AttributesFull: every record carries the whole verdict.
	AttributesFull = "full"
	// AttributesMinimal: as AttributesCompact, but the records of a session
	// judged normal after its first go on unchanged, without is_anomaly. For
	// streams where only anomalies matter: on the 1.5M-line throughput run
	// the pipeline keeps 0.77 of its rate without coorlog against 0.75 with
	// compact (BENCHMARKS.md, "Held records"), and an HDFS record leaves at
	// the size it came in.
	AttributesMinimal = "minimal"
)

// Config is the streaming side's configuration, with the collector's names
// for its fields (session.*, workers, queue_size, attribute_prefix). The
// component builds it from the collector configuration; DefaultConfig holds the
// one set of defaults, and Validate is the one set of checks (the component's
// Config.Validate runs it, New runs it again as a guard). A zero field is not
// a default: New refuses it.
type Config struct {
	KeySource KeySource
	KeyName   string // attribute name, for attribute and resource_attribute
	// KeyRegex is matched against the body's string form; the key is the first
	// capture group when the regex has one (and it matched), else the whole match.
	KeyRegex string

	MissingKey string // MissingKeyResourceSession or MissingKeyPassThrough

	MaxRecords        int           // a session closes when it holds this many records
	InactivityTimeout time.Duration // ... or when it got no record for this long
	MaxOpenSessions   int           // cap on open sessions; the least recently active is flushed first
	MaxBufferedBytes  int64         // cap on the estimated bytes of buffered records; same flush policy

	Workers   int // detector calls in parallel
	QueueSize int // closed sessions waiting for a worker; when full the fast path scores them

	// MaxPending is how many sessions may wait for the detector's slow stage
	// (the LLM) without holding a worker (pending.go); beyond it a session
	// takes the overload path. 0 turns waiting off: a worker waits for the
	// slow stage itself. LateAfter is how long such a session's records wait for
	// the final verdict before they go out marked pending, the verdict
	// following in a record of its own.
	MaxPending int
	LateAfter  time.Duration

	// MaxLineBytes caps the bytes of one body handed to the detector (cut at a
	// rune boundary). The record itself is never altered.
	MaxLineBytes int

	AttributePrefix string // prefix of the annotation attributes
	// Attributes is AttributesCompact, AttributesFull or AttributesMinimal:
	// what the records of a session judged normal carry.
	Attributes  string
	EmitSummary bool // one extra WARN record per anomalous session
	// WriteTemplate puts our normalised template on every record that arrived
	// without one, under TemplateAttribute. Records that arrive with one (a
	// drainprocessor upstream) keep it, and their templates are the session's
	// content key either way.
	WriteTemplate bool
	ModelVersion  string // used when the detector's verdict carries none
}

// DefaultConfig returns the defaults, the ones the collector documents (README
// "Configuration"). They suit request- or connection-sized sessions (tens of
// records); the session key defaults to the trace id.
func DefaultConfig() Config {
	return Config{
		KeySource:         KeyFromTraceID,
		MissingKey:        MissingKeyResourceSession,
		MaxRecords:        100,
		InactivityTimeout: 30 * time.Second,
		MaxOpenSessions:   10_000,
		MaxBufferedBytes:  64 << 20, // 64 MiB
		Workers:           2,
		QueueSize:         1000,
		MaxPending:        5000,
		LateAfter:         10 * time.Second,
		MaxLineBytes:      2048,
		AttributePrefix:   "anomaly.",
		Attributes:        AttributesCompact,
	}
}

// Validate reports every problem at once, each naming its collector field.
func (c Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	switch c.KeySource {
	case KeyFromAttribute, KeyFromResourceAttribute:
		if c.KeyName == "" {
			add("session.key.name", "required when session.key.source is %q", c.KeySource)
		}
	case KeyFromTraceID:
	case KeyFromBodyRegex:
		if c.KeyRegex == "" {
			add("session.key.regex", "required when session.key.source is %q", KeyFromBodyRegex)
		} else if re, err := regexp.Compile(c.KeyRegex); err != nil {
			errs = append(errs, fmt.Errorf("session.key.regex: %w", err))
		} else if re.MatchString("") {
			add("session.key.regex", "%q matches the empty string, so every record would share one key", c.KeyRegex)
		}
	default:
		add("session.key.source", "%q is not one of %q, %q, %q, %q", c.KeySource,
			KeyFromAttribute, KeyFromResourceAttribute, KeyFromTraceID, KeyFromBodyRegex)
	}
	switch c.MissingKey {
	case MissingKeyResourceSession, MissingKeyPassThrough:
	default:
		add("session.missing_key", "%q is not one of %q, %q", c.MissingKey, MissingKeyResourceSession, MissingKeyPassThrough)
	}
	positive := func(field string, v int64) {
		if v <= 0 {
			add(field, "must be positive, got %d", v)
		}
	}
	positive("session.max_records", int64(c.MaxRecords))
	if c.InactivityTimeout <= 0 {
		add("session.inactivity_timeout", "must be a positive duration, got %s", c.InactivityTimeout)
	}
	positive("session.max_open_sessions", int64(c.MaxOpenSessions))
	positive("session.max_buffered_bytes", c.MaxBufferedBytes)
	positive("session.max_line_bytes", int64(c.MaxLineBytes))
	positive("workers", int64(c.Workers))
	positive("queue_size", int64(c.QueueSize))
	if c.MaxPending < 0 {
		add("pending.max_sessions", "must not be negative, got %d", c.MaxPending)
	}
	if c.MaxPending > 0 && c.LateAfter <= 0 {
		add("pending.late_after", "must be a positive duration, got %s", c.LateAfter)
	}
	switch c.Attributes {
	case AttributesCompact, AttributesFull, AttributesMinimal:
	default:
		add("attributes", "%q is not one of %q, %q, %q", c.Attributes, AttributesCompact, AttributesFull, AttributesMinimal)
	}
	if strings.TrimSpace(c.AttributePrefix) != c.AttributePrefix {
		add("attribute_prefix", "%q has leading or trailing spaces", c.AttributePrefix)
	}
	return errors.Join(errs...)
}
