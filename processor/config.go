package processor

import (
	"errors"
	"fmt"
	"regexp"
	"runtime"
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

// Config is the streaming side's configuration. Zero numeric fields take the
// defaults of DefaultConfig; KeySource and its KeyName/KeyRegex are required.
type Config struct {
	KeySource KeySource
	KeyName   string // attribute name, for attribute and resource_attribute
	// KeyRegex is matched against the body's string form; the key is the first
	// capture group when the regex has one (and it matched), else the whole match.
	KeyRegex string

	MissingKey string // MissingKeyResourceSession (default) or MissingKeyPassThrough

	MaxRecords        int           // a session closes when it holds this many records
	InactivityTimeout time.Duration // ... or when it got no record for this long
	MaxOpenSessions   int           // cap on open sessions; the least recently active is flushed first
	MaxBufferedBytes  int64         // cap on the estimated bytes of buffered records; same flush policy

	Workers   int // detector calls in parallel
	QueueSize int // closed sessions waiting for a worker; when full the fast path scores them

	// MaxLineBytes caps the bytes of one body handed to the detector (cut at a
	// rune boundary). The record itself is never altered.
	MaxLineBytes int

	AttributePrefix string // prefix of the annotation attributes
	EmitSummary     bool   // one extra WARN record per anomalous session
	ModelVersion    string // used when the detector's verdict carries none
}

// Defaults. They suit HDFS-like block sessions (tens to hundreds of lines).
const (
	DefaultMissingKey        = MissingKeyResourceSession
	DefaultMaxRecords        = 1000
	DefaultInactivityTimeout = 30 * time.Second
	DefaultMaxOpenSessions   = 100_000
	DefaultMaxBufferedBytes  = 256 << 20 // 256 MiB
	DefaultQueueSize         = 1024
	DefaultMaxLineBytes      = 4 << 10 // 4 KiB
	DefaultAttributePrefix   = "anomaly."
)

// DefaultConfig returns the defaults; the caller still chooses the key.
func DefaultConfig() Config {
	return Config{
		MissingKey:        DefaultMissingKey,
		MaxRecords:        DefaultMaxRecords,
		InactivityTimeout: DefaultInactivityTimeout,
		MaxOpenSessions:   DefaultMaxOpenSessions,
		MaxBufferedBytes:  DefaultMaxBufferedBytes,
		Workers:           runtime.GOMAXPROCS(0),
		QueueSize:         DefaultQueueSize,
		MaxLineBytes:      DefaultMaxLineBytes,
		AttributePrefix:   DefaultAttributePrefix,
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MissingKey == "" {
		c.MissingKey = d.MissingKey
	}
	if c.MaxRecords == 0 {
		c.MaxRecords = d.MaxRecords
	}
	if c.InactivityTimeout == 0 {
		c.InactivityTimeout = d.InactivityTimeout
	}
	if c.MaxOpenSessions == 0 {
		c.MaxOpenSessions = d.MaxOpenSessions
	}
	if c.MaxBufferedBytes == 0 {
		c.MaxBufferedBytes = d.MaxBufferedBytes
	}
	if c.Workers == 0 {
		c.Workers = d.Workers
	}
	if c.QueueSize == 0 {
		c.QueueSize = d.QueueSize
	}
	if c.MaxLineBytes == 0 {
		c.MaxLineBytes = d.MaxLineBytes
	}
	if c.AttributePrefix == "" {
		c.AttributePrefix = d.AttributePrefix
	}
	return c
}

// Validate reports every problem at once. Zero numeric fields are valid (they
// mean "default"); negative ones are not.
func (c Config) Validate() error {
	var errs []error
	switch c.KeySource {
	case KeyFromAttribute, KeyFromResourceAttribute:
		if c.KeyName == "" {
			errs = append(errs, fmt.Errorf("key_source %q needs a key name", c.KeySource))
		}
	case KeyFromTraceID:
	case KeyFromBodyRegex:
		if c.KeyRegex == "" {
			errs = append(errs, errors.New(`key_source "body_regex" needs a key regex`))
		} else if _, err := regexp.Compile(c.KeyRegex); err != nil {
			errs = append(errs, fmt.Errorf("key regex %q: %w", c.KeyRegex, err))
		}
	case "":
		errs = append(errs, errors.New("key_source is required (attribute, resource_attribute, trace_id or body_regex)"))
	default:
		errs = append(errs, fmt.Errorf("unknown key_source %q (want attribute, resource_attribute, trace_id or body_regex)", c.KeySource))
	}
	switch c.MissingKey {
	case "", MissingKeyResourceSession, MissingKeyPassThrough:
	default:
		errs = append(errs, fmt.Errorf("unknown missing_key policy %q (want %s or %s)", c.MissingKey, MissingKeyResourceSession, MissingKeyPassThrough))
	}
	neg := func(name string, v int64) {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative, got %d", name, v))
		}
	}
	neg("max_records", int64(c.MaxRecords))
	neg("inactivity_timeout", int64(c.InactivityTimeout))
	neg("max_open_sessions", int64(c.MaxOpenSessions))
	neg("max_buffered_bytes", c.MaxBufferedBytes)
	neg("workers", int64(c.Workers))
	neg("queue_size", int64(c.QueueSize))
	neg("max_line_bytes", int64(c.MaxLineBytes))
	return errors.Join(errs...)
}
