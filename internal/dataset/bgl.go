package dataset

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// BGL fixed windows. Blue Gene/L lines carry their label in the first field:
// "-" for a non-alert line, an alert category (KERNDTLB, APPSEV, ...)
// otherwise. CoorLog's prototype groups such logs into fixed windows of 10
// lines with step 10; a window is anomalous if any of its lines is. The label
// field is removed from the lines, or the detector would read the answer.

// BGL window defaults, as in the prototype (method.md).
const (
	DefaultBGLWindow = 10
	DefaultBGLStep   = 10
)

// BGLWindows reads raw BGL lines and groups them into windows of window
// lines every step lines (a trailing partial window is kept when it has at
// least one line not covered by an earlier window). Window ids are
// "bgl-w<first line number>".
func BGLWindows(r io.Reader, window, step int) ([]Session, error) {
	if window <= 0 || step <= 0 {
		return nil, fmt.Errorf("BGL window %d step %d: both must be positive", window, step)
	}
	type line struct {
		text  string
		alert bool
		no    int
	}
	var lines []line
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		raw := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(raw) == "" {
			continue
		}
		tag, rest, ok := strings.Cut(raw, " ")
		if !ok {
			return nil, &LineError{Line: n, Err: fmt.Errorf("BGL line has no label field: %q", raw)}
		}
		lines = append(lines, line{text: rest, alert: tag != "-", no: n})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading BGL log: %w", err)
	}
	var out []Session
	for start := 0; start < len(lines); start += step {
		end := min(start+window, len(lines))
		s := Session{ID: fmt.Sprintf("bgl-w%05d", lines[start].no), Label: Normal, Lines: make([]string, 0, end-start)}
		for _, l := range lines[start:end] {
			s.Lines = append(s.Lines, l.text)
			if l.alert {
				s.Label = Anomalous
			}
		}
		out = append(out, s)
		if end == len(lines) {
			break
		}
	}
	return out, nil
}

// BGLWindowsFile is BGLWindows on a file.
func BGLWindowsFile(path string, window, step int) ([]Session, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening BGL log: %w", err)
	}
	defer f.Close()
	out, err := BGLWindows(f, window, step)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return out, nil
}
