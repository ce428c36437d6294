package dataset

import (
	"errors"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/coorlog/coorlogprocessor/internal/shareddata"
)

// sharedData returns the shared data directory or skips the test.
func sharedData(t *testing.T) string {
	t.Helper()
	d, err := shareddata.Dir()
	if err != nil {
		t.Skipf("shared data absent (%v); set COORLOG_DATA to run this test", err)
	}
	return d
}

var hdfsLine = regexp.MustCompile(`^0811(09|10|11) [0-2]\d[0-5]\d[0-5]\d \d+ (INFO|WARN) dfs\.[A-Za-z$]+: \S`)

func TestHDFSSynthLines(t *testing.T) {
	normal := []int{5, 5, 5, 22, 11, 9, 11, 9, 11, 9, 26, 26, 26, 23, 23, 23, 21, 21, 21}
	s := NewHDFSSynth(7).Session(normal, Normal)
	if len(s.Lines) != len(normal) || !regexp.MustCompile(`^blk_-?\d+$`).MatchString(s.ID) {
		t.Fatalf("session %q with %d lines", s.ID, len(s.Lines))
	}
	for i, l := range s.Lines {
		if !hdfsLine.MatchString(l) {
			t.Errorf("line %d not in HDFS_2k.log form: %q", i, l)
		}
		if !strings.Contains(l, s.ID) {
			t.Errorf("line %d lacks the block id: %q", i, l)
		}
	}
	want := map[int]string{
		0:  "INFO dfs.DataNode$DataXceiver: Receiving block " + s.ID + " src: /10.25",
		3:  "INFO dfs.FSNamesystem: BLOCK* NameSystem.allocateBlock: /user/root/",
		4:  "INFO dfs.DataNode$PacketResponder: PacketResponder 2 for block " + s.ID + " terminating",
		10: "INFO dfs.FSNamesystem: BLOCK* NameSystem.addStoredBlock: blockMap updated: 10.25",
		18: "INFO dfs.FSDataset: Deleting block " + s.ID + " file /mnt/hadoop/dfs/data/current/subdir",
	}
	for i, w := range want {
		if !strings.Contains(s.Lines[i], w) {
			t.Errorf("line %d = %q, want it to contain %q", i, s.Lines[i], w)
		}
	}
	// Timestamps never go backwards within a session.
	for i := 1; i < len(s.Lines); i++ {
		if s.Lines[i][:13] < s.Lines[i-1][:13] {
			t.Errorf("time goes back at line %d: %q after %q", i, s.Lines[i], s.Lines[i-1])
		}
	}
	// Every event number renders a distinct message.
	seen := map[string]int{}
	syn := NewHDFSSynth(1)
	for ev := 1; ev <= 30; ev++ {
		l := syn.Session([]int{ev}, Normal).Lines[0]
		if !hdfsLine.MatchString(l) || strings.Contains(l, "unknown event") {
			t.Errorf("E%d: %q", ev, l)
		}
		msg := l[strings.Index(l, ": ")+2:]
		key := regexp.MustCompile(`\S*\d\S*`).ReplaceAllString(msg, "#")
		if prev, ok := seen[key]; ok {
			t.Errorf("E%d renders like E%d: %q", ev, prev, msg)
		}
		seen[key] = ev
	}
}

func TestHDFSSynthDeterministic(t *testing.T) {
	a := NewHDFSSynth(3).Session([]int{5, 22, 5}, Anomalous)
	b := NewHDFSSynth(3).Session([]int{5, 22, 5}, Anomalous)
	c := NewHDFSSynth(4).Session([]int{5, 22, 5}, Anomalous)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different output")
	}
	if reflect.DeepEqual(a.Lines, c.Lines) {
		t.Fatal("different seeds, same output")
	}
}

func TestReadEventSequences(t *testing.T) {
	got, err := ReadEventSequences(strings.NewReader("5 5 22 \n\n11 9\n"))
	if err != nil || !reflect.DeepEqual(got, [][]int{{5, 5, 22}, {11, 9}}) {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"5 x 3\n", "1\n0\n", "31\n"} {
		_, err := ReadEventSequences(strings.NewReader(bad))
		var le *LineError
		if !errors.As(err, &le) {
			t.Errorf("%q: got %v, want a LineError", bad, err)
		}
	}
}

func TestLoadHDFS(t *testing.T) {
	dir := filepath.Join(sharedData(t), "hdfs-sessions")
	opt := HDFSOptions{AnomalyRate: 0.1, MaxNormal: 900, Seed: 42}
	a, err := LoadHDFS(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	n, an := Counts(a)
	if n != 900 || an != 100 {
		t.Fatalf("got %d normal %d anomalous, want 900/100", n, an)
	}
	b, _ := LoadHDFS(dir, opt)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("LoadHDFS not deterministic")
	}
	ids := map[string]bool{}
	for _, s := range a {
		if ids[s.ID] {
			t.Fatalf("duplicate block id %s", s.ID)
		}
		ids[s.ID] = true
	}
	if _, err := LoadHDFS(dir, HDFSOptions{AnomalyRate: 1.5}); err == nil {
		t.Error("rate 1.5 accepted")
	}
	if _, err := LoadHDFS(t.TempDir(), opt); err == nil {
		t.Error("missing files accepted")
	}
}
