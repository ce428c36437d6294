// Package dataset reads and writes the labelled-session exchange format
// (JSON Lines, one session a line, see ../shared/data/README.md), synthesises
// realistic HDFS sessions and BGL windows from the shared data, splits data
// sets deterministically and injects software evolution into a session file.
package dataset

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Labels of the exchange format.
const (
	Normal    = 0
	Anomalous = 1
)

// KindAttr is the attribute naming a session's kind (a fault kind such as
// "auth_timeout", or a normal kind), as demolog compose and the corpus
// builder write it; eval and bench report recall per kind.
const KindAttr = "kind"

// DefaultMaxLineBytes caps one JSONL line: a session larger than this is
// rejected with an error instead of growing the buffer without bound.
const DefaultMaxLineBytes = 16 << 20

// Session is one labelled session of the exchange format.
type Session struct {
	ID         string            `json:"id"`
	Label      int               `json:"label"`
	Lines      []string          `json:"lines"`
	Version    string            `json:"version,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// LineError is a problem with one input line; Line is 1-based.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// ErrLineTooLong is wrapped by a LineError when a line exceeds the cap.
var ErrLineTooLong = errors.New("line exceeds the length cap")

// Reader streams sessions from JSONL. Blank lines are skipped; unknown fields
// are ignored (forward compatibility); invalid UTF-8 inside strings is
// replaced by U+FFFD rather than rejected, because real logs carry it.
type Reader struct {
	br   *bufio.Reader
	max  int
	line int
	buf  []byte
}

// NewReader reads from r with lines capped at maxLineBytes (<= 0 means
// DefaultMaxLineBytes).
func NewReader(r io.Reader, maxLineBytes int) *Reader {
	if maxLineBytes <= 0 {
		maxLineBytes = DefaultMaxLineBytes
	}
	return &Reader{br: bufio.NewReaderSize(r, 64<<10), max: maxLineBytes}
}

// wire mirrors Session with pointers so that missing fields are detectable.
type wire struct {
	ID         *string           `json:"id"`
	Label      *int              `json:"label"`
	Lines      *[]string         `json:"lines"`
	Version    string            `json:"version"`
	Attributes map[string]string `json:"attributes"`
}

// Next returns the next session, io.EOF at the end, or a *LineError.
// After a LineError the reader may continue with the following line.
func (r *Reader) Next() (Session, error) {
	for {
		raw, err := r.readLine()
		if err != nil {
			return Session{}, err
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			continue
		}
		var w wire
		if err := json.Unmarshal(raw, &w); err != nil {
			return Session{}, &LineError{Line: r.line, Err: fmt.Errorf("bad JSON: %w", err)}
		}
		switch {
		case w.ID == nil:
			return Session{}, &LineError{Line: r.line, Err: errors.New(`missing field "id"`)}
		case *w.ID == "":
			return Session{}, &LineError{Line: r.line, Err: errors.New(`empty "id"`)}
		case w.Label == nil:
			return Session{}, &LineError{Line: r.line, Err: errors.New(`missing field "label"`)}
		case *w.Label != Normal && *w.Label != Anomalous:
			return Session{}, &LineError{Line: r.line, Err: fmt.Errorf(`"label" must be 0 or 1, got %d`, *w.Label)}
		case w.Lines == nil:
			return Session{}, &LineError{Line: r.line, Err: errors.New(`missing field "lines"`)}
		}
		return Session{ID: *w.ID, Label: *w.Label, Lines: *w.Lines, Version: w.Version, Attributes: w.Attributes}, nil
	}
}

// readLine returns one line without its newline. A line over the cap is
// skipped to its end so that the reader stays usable, and reported.
func (r *Reader) readLine() ([]byte, error) {
	r.buf = r.buf[:0]
	r.line++
	tooLong := false
	for {
		chunk, err := r.br.ReadSlice('\n')
		if !tooLong {
			if len(r.buf)+len(chunk) > r.max+1 { // +1: the newline itself
				tooLong = true
				r.buf = r.buf[:0]
			} else {
				r.buf = append(r.buf, chunk...)
			}
		}
		switch {
		case err == nil:
			if tooLong {
				return nil, &LineError{Line: r.line, Err: fmt.Errorf("%w (%d bytes)", ErrLineTooLong, r.max)}
			}
			return bytes.TrimSuffix(r.buf, []byte{'\n'}), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if tooLong {
				return nil, &LineError{Line: r.line, Err: fmt.Errorf("%w (%d bytes)", ErrLineTooLong, r.max)}
			}
			if len(r.buf) == 0 {
				return nil, io.EOF
			}
			return r.buf, nil
		default:
			return nil, fmt.Errorf("reading line %d: %w", r.line, err)
		}
	}
}

// ReadAll reads every session; the first bad line stops it with its error.
func ReadAll(r io.Reader) ([]Session, error) {
	rd := NewReader(r, 0)
	var out []Session
	for {
		s, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, s)
	}
}

// ReadFile reads a JSONL session file.
func ReadFile(path string) ([]Session, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening sessions: %w", err)
	}
	defer f.Close()
	out, err := ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return out, nil
}

// Writer writes sessions as JSONL.
type Writer struct {
	bw  *bufio.Writer
	enc *json.Encoder
}

// NewWriter writes to w; call Flush at the end.
func NewWriter(w io.Writer) *Writer {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false) // log lines keep <, >, & readable
	return &Writer{bw: bw, enc: enc}
}

// Write appends one session (Encode adds the newline).
func (w *Writer) Write(s Session) error {
	if s.Lines == nil {
		s.Lines = []string{} // "lines" is required by the format, never null
	}
	if err := w.enc.Encode(s); err != nil {
		return fmt.Errorf("writing session %q: %w", s.ID, err)
	}
	return nil
}

// Flush writes buffered data through.
func (w *Writer) Flush() error { return w.bw.Flush() }

// WriteFile writes sessions to path atomically (temp file in the same
// directory, then rename), so a reader never sees half a file.
func WriteFile(path string, sessions []Session) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("creating temp file for %s: %w", path, err)
	}
	defer os.Remove(f.Name()) // no-op after a successful rename
	w := NewWriter(f)
	for _, s := range sessions {
		if err := w.Write(s); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("renaming into %s: %w", path, err)
	}
	return nil
}
