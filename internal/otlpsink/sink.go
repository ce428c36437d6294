// Package otlpsink is a minimal OTLP/HTTP logs receiver for the demo and the
// end-to-end tests: it accepts POST /v1/logs (protobuf or JSON, optionally
// gzip- or zstd-compressed, as the collector's otlphttp exporter sends them)
// and writes every log record as one JSON object per line.
package otlpsink

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
)

// Record is one received log record, flattened for JSON Lines.
type Record struct {
	Resource     map[string]any `json:"resource,omitempty"`
	Scope        string         `json:"scope,omitempty"`
	TimeUnixNano uint64         `json:"time_unix_nano,omitempty"`
	Severity     string         `json:"severity,omitempty"`
	Body         string         `json:"body"`
	TraceID      string         `json:"trace_id,omitempty"`
	Attributes   map[string]any `json:"attributes,omitempty"`
	// ReceivedUnixNano is when the sink got the request carrying the record.
	ReceivedUnixNano int64 `json:"received_unix_nano"`
}

// Stats counts what the sink has received.
type Stats struct {
	Requests int       `json:"requests"`
	Records  int       `json:"records"`
	Errors   int       `json:"errors"`
	First    time.Time `json:"first"` // first request with records
	Last     time.Time `json:"last"`  // latest request with records
}

// maxBody bounds one decompressed request.
const maxBody = 64 << 20

// Sink is an http.Handler. It is safe for concurrent use.
type Sink struct {
	mu    sync.Mutex
	w     *bufio.Writer // nil: records are only kept in memory / counted
	keep  bool
	recs  []Record
	stats Stats
	now   func() time.Time
}

// Option configures a Sink.
type Option func(*Sink)

// WithWriter writes each record as a JSON line to w (flushed per request).
func WithWriter(w io.Writer) Option { return func(s *Sink) { s.w = bufio.NewWriter(w) } }

// WithMemory keeps received records for Records.
func WithMemory() Option { return func(s *Sink) { s.keep = true } }

// New returns a sink.
func New(opts ...Option) *Sink {
	s := &Sink{now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Handler serves /v1/logs and GET /stats.
func (s *Sink) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/logs", s.serveLogs)
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Stats())
	})
	return mux
}

// Stats returns the counters so far.
func (s *Sink) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Records returns a copy of the records kept with WithMemory.
func (s *Sink) Records() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Record(nil), s.recs...)
}

// WaitRecords blocks until at least n records have arrived or ctx ends.
func (s *Sink) WaitRecords(ctx context.Context, n int) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if got := s.Stats().Records; got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d records (have %d): %w", n, s.Stats().Records, ctx.Err())
		case <-t.C:
		}
	}
}

func (s *Sink) serveLogs(w http.ResponseWriter, r *http.Request) {
	req, ctype, err := decodeRequest(r)
	if err != nil {
		s.mu.Lock()
		s.stats.Errors++
		s.mu.Unlock()
		status := http.StatusBadRequest
		if errors.Is(err, errUnsupported) {
			status = http.StatusUnsupportedMediaType
		}
		http.Error(w, err.Error(), status)
		return
	}
	if err := s.add(req.Logs()); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	resp := plogotlp.NewExportResponse()
	var body []byte
	if ctype == "application/json" {
		body, err = resp.MarshalJSON()
	} else {
		body, err = resp.MarshalProto()
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ctype)
	_, _ = w.Write(body)
}

var errUnsupported = errors.New("unsupported encoding")

func decodeRequest(r *http.Request) (plogotlp.ExportRequest, string, error) {
	req := plogotlp.NewExportRequest()
	var body io.Reader = r.Body
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return req, "", fmt.Errorf("gzip body: %w", err)
		}
		defer zr.Close()
		body = zr
	case "zstd":
		zr, err := zstd.NewReader(r.Body)
		if err != nil {
			return req, "", fmt.Errorf("zstd body: %w", err)
		}
		defer zr.Close()
		body = zr
	default:
		return req, "", fmt.Errorf("%w: Content-Encoding %q", errUnsupported, enc)
	}
	data, err := io.ReadAll(io.LimitReader(body, maxBody+1))
	if err != nil {
		return req, "", fmt.Errorf("reading body: %w", err)
	}
	if len(data) > maxBody {
		return req, "", fmt.Errorf("body larger than %d bytes", maxBody)
	}
	switch ct := r.Header.Get("Content-Type"); ct {
	case "application/x-protobuf", "":
		if err := req.UnmarshalProto(data); err != nil {
			return req, "", fmt.Errorf("decoding protobuf: %w", err)
		}
		return req, "application/x-protobuf", nil
	case "application/json":
		if err := req.UnmarshalJSON(data); err != nil {
			return req, "", fmt.Errorf("decoding JSON: %w", err)
		}
		return req, "application/json", nil
	default:
		return req, "", fmt.Errorf("%w: Content-Type %q", errUnsupported, ct)
	}
}

func (s *Sink) add(ld plog.Logs) error {
	now := s.now()
	// A sink that only counts does not flatten: in the throughput runs it
	// shares the machine's cores with the collector it measures, and turning
	// every attribute into a map would charge its own cost to the collector.
	var recs []Record
	n := ld.LogRecordCount()
	if s.keep || s.w != nil {
		recs = Flatten(ld, now)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Requests++
	if n > 0 {
		if s.stats.First.IsZero() {
			s.stats.First = now
		}
		s.stats.Last = now
	}
	s.stats.Records += n
	if s.keep {
		s.recs = append(s.recs, recs...)
	}
	if s.w == nil {
		return nil
	}
	enc := json.NewEncoder(s.w)
	for i := range recs {
		if err := enc.Encode(&recs[i]); err != nil {
			return fmt.Errorf("writing record: %w", err)
		}
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("flushing records: %w", err)
	}
	return nil
}

// Flatten turns logs into records, in order.
func Flatten(ld plog.Logs, received time.Time) []Record {
	var out []Record
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		res := attrMap(rl.Resource().Attributes())
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				rec := Record{
					Resource:         res,
					Scope:            sl.Scope().Name(),
					TimeUnixNano:     uint64(lr.Timestamp()),
					Severity:         lr.SeverityText(),
					Body:             lr.Body().AsString(),
					Attributes:       attrMap(lr.Attributes()),
					ReceivedUnixNano: received.UnixNano(),
				}
				if tid := lr.TraceID(); !tid.IsEmpty() {
					rec.TraceID = hex.EncodeToString(tid[:])
				}
				out = append(out, rec)
			}
		}
	}
	return out
}

func attrMap(m pcommon.Map) map[string]any {
	if m.Len() == 0 {
		return nil
	}
	return m.AsRaw()
}
