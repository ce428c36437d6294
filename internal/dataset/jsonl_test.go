package dataset

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	in := []Session{
		{ID: "blk_1", Label: Normal, Lines: []string{"a <b> & c", "second"}},
		{ID: "w2", Label: Anomalous, Lines: []string{}, Version: "v2", Attributes: map[string]string{"k": "v"}},
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, s := range in {
		if err := w.Write(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "a <b> & c") {
		t.Errorf("HTML characters escaped: %s", buf.String())
	}
	got, err := ReadAll(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, in)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "s.jsonl")
	in := []Session{{ID: "x", Label: 1, Lines: []string{"l"}}}
	if err := WriteFile(p, in); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(p)
	if err != nil || !reflect.DeepEqual(got, in) {
		t.Fatalf("got %v, %v", got, err)
	}
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 {
		t.Errorf("temp files left behind: %v", ents)
	}
}

func TestReaderErrors(t *testing.T) {
	cases := []struct {
		name, in string
		line     int
		want     string
	}{
		{"bad json", `{"id":"a","label":0,"lines":[]}` + "\n" + `{"id": "b", "label": 0, "lines": [` + "\n", 2, "bad JSON"},
		{"missing id", `{"label":0,"lines":[]}`, 1, `missing field "id"`},
		{"empty id", `{"id":"","label":0,"lines":[]}`, 1, `empty "id"`},
		{"missing label", "\n\n" + `{"id":"a","lines":[]}`, 3, `missing field "label"`},
		{"bad label", `{"id":"a","label":2,"lines":[]}`, 1, `must be 0 or 1`},
		{"label type", `{"id":"a","label":"0","lines":[]}`, 1, `bad JSON`},
		{"missing lines", `{"id":"a","label":1}`, 1, `missing field "lines"`},
		{"lines type", `{"id":"a","label":1,"lines":"x"}`, 1, `bad JSON`},
		{"not an object", `[1,2]`, 1, `bad JSON`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(c.in), 0)
			var err error
			for err == nil {
				_, err = r.Next()
			}
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("got %v, want a LineError", err)
			}
			if le.Line != c.line || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %q at line %d, want %q at line %d", err, le.Line, c.want, c.line)
			}
		})
	}
}

func TestReaderLineCapAndContinue(t *testing.T) {
	long := `{"id":"big","label":0,"lines":["` + strings.Repeat("x", 300) + `"]}`
	in := long + "\n" + `{"id":"ok","label":1,"lines":["y"]}` + "\n"
	r := NewReader(strings.NewReader(in), 100)
	_, err := r.Next()
	var le *LineError
	if !errors.As(err, &le) || le.Line != 1 || !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("got %v, want line 1 too long", err)
	}
	s, err := r.Next()
	if err != nil || s.ID != "ok" {
		t.Fatalf("after a long line: %+v, %v", s, err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("want EOF, got %v", err)
	}
	// A long last line without a newline is reported too.
	r = NewReader(strings.NewReader(long), 100)
	if _, err := r.Next(); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("got %v, want too long", err)
	}
}

func TestReaderInvalidUTF8Tolerated(t *testing.T) {
	in := "{\"id\":\"a\",\"label\":0,\"lines\":[\"bad \xff\xfe byte\"]}\r\n"
	s, err := NewReader(strings.NewReader(in), 0).Next()
	if err != nil {
		t.Fatal(err)
	}
	if s.Lines[0] != "bad \uFFFD\uFFFD byte" {
		t.Errorf("got %q", s.Lines[0])
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte(`{"id":"a","label":0,"lines":["x"]}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), 1024)
		for i := 0; i < 10000; i++ {
			s, err := r.Next()
			if err == io.EOF {
				return
			}
			var le *LineError
			if err != nil && !errors.As(err, &le) {
				t.Fatalf("error without a line number: %v", err)
			}
			if err == nil {
				if s.ID == "" || (s.Label != 0 && s.Label != 1) || s.Lines == nil {
					t.Fatalf("invalid session accepted: %+v", s)
				}
				// What was read writes back and reads again identically.
				var buf bytes.Buffer
				w := NewWriter(&buf)
				if err := w.Write(s); err != nil {
					t.Fatal(err)
				}
				w.Flush()
				back, err := NewReader(&buf, 0).Next()
				if err != nil || back.ID != s.ID || len(back.Lines) != len(s.Lines) {
					t.Fatalf("round trip of %+v: %+v, %v", s, back, err)
				}
			}
		}
		t.Fatal("reader did not reach EOF")
	})
}
