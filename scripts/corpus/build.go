package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Scenario is one planned client behaviour: a normal kind or a fault.
type Scenario struct {
	Index int
	Kind  string
	Label int
	Seed  uint64 // the scenario's own RNG seed, so concurrency does not change it
}

// Record ties one server-side session key (a connection id) to the scenario
// that opened it. A scenario can open more than one connection.
type Record struct {
	Key   string
	Index int
	Conn  int // the connection's ordinal within its scenario (0 first)
	Kind  string
	Label int
}

// Driver runs one release of one server and drives client scenarios at it.
type Driver interface {
	// Start launches the server binary with debug logging, its log written
	// to logw, listening on 127.0.0.1 only; it returns once it serves.
	Start(ctx context.Context, bin, dir string, logw io.Writer) error
	// Run plays one scenario to its end (bounded in time and count) and
	// returns the session keys it produced. err is for unexpected failures;
	// a fault that makes the server refuse the client is not one.
	Run(ctx context.Context, sc Scenario) ([]Record, error)
	// Stop ends the server and waits for it.
	Stop() error
	// Kinds lists the kinds the driver implements.
	Kinds() []string
}

// KeyFunc returns a raw log line's session key, if it has one.
type KeyFunc func(line string) (string, bool)

// Options of one build.
type Options struct {
	Server      *Server
	Version     string
	Bin         string
	OutDir      string
	Sessions    int
	Anomalous   float64
	Seed        uint64
	Concurrency int
	Timeout     time.Duration
}

// plan draws the scenario sequence from the seed and the server name only,
// so that every release of a server gets the same workload.
func plan(s *Server, n int, share float64, seed uint64) []Scenario {
	h := fnv.New64a()
	h.Write([]byte(s.Name))
	rng := rand.New(rand.NewPCG(seed, h.Sum64()))
	nf := int(float64(n)*share + 0.5)
	faults := s.Planned()
	out := make([]Scenario, 0, n)
	for i := 0; i < n; i++ {
		if i < nf {
			out = append(out, Scenario{Kind: faults[i%len(faults)].Name, Label: 1})
		} else {
			out = append(out, Scenario{Kind: s.Normal[rng.IntN(len(s.Normal))].Name})
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	for i := range out {
		out[i].Index = i
		out[i].Seed = rng.Uint64()
	}
	return out
}

// Summary is what a build writes to summary.json.
type Summary struct {
	Server        string               `json:"server"`
	Version       string               `json:"version"`
	HeldOut       bool                 `json:"held_out"`
	Planned       int                  `json:"planned_scenarios"`
	Sessions      int                  `json:"sessions"`
	Anomalous     int                  `json:"anomalous"`
	AnomalousFrac float64              `json:"anomalous_share"`
	RawLines      int                  `json:"raw_lines"`
	Unmatched     int                  `json:"log_sessions_without_client"`
	NoLog         int                  `json:"client_sessions_without_log"`
	RunErrors     int                  `json:"scenario_errors"`
	Seconds       float64              `json:"seconds"`
	Kinds         map[string]*KindStat `json:"kinds"`
	Seed          uint64               `json:"seed"`
	// Excluded lists the ids of the sessions left out (see KindStat).
	Excluded []string `json:"excluded_sessions,omitempty"`
}

// KindStat counts the sessions of one kind and how many show the marker.
type KindStat struct {
	Label      int     `json:"label"`
	Sessions   int     `json:"sessions"`
	WithMarker int     `json:"with_marker,omitempty"`
	MeanLines  float64 `json:"mean_lines"`
	// FaultMarkers counts sessions of a normal kind in which some fault's
	// marker matched (should be zero).
	FaultMarkers int `json:"normal_with_fault_marker,omitempty"`
	// Excluded counts the sessions left out of sessions.jsonl: of a fault
	// kind without its marker, of a normal kind with a fault's marker.
	Excluded int `json:"excluded,omitempty"`
}

// build runs one (server, release) and writes raw.log, sessions.jsonl,
// truth.jsonl and summary.json under OutDir.
func build(ctx context.Context, d Driver, key KeyFunc, o Options) (*Summary, error) {
	start := time.Now()
	known := map[string]bool{}
	for _, k := range d.Kinds() {
		known[k] = true
	}
	for _, k := range append(append([]Kind{}, o.Server.Normal...), o.Server.Faults...) {
		if !known[k.Name] {
			return nil, fmt.Errorf("the %s driver does not implement kind %q of the manifest", o.Server.Name, k.Name)
		}
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, err
	}
	rawPath := filepath.Join(o.OutDir, "raw.log")
	rawf, err := os.Create(rawPath)
	if err != nil {
		return nil, err
	}
	logw := &lockedWriter{w: bufio.NewWriterSize(rawf, 1<<20)}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	logf("%s %s: starting %s", o.Server.Name, o.Version, o.Bin)
	if err := d.Start(ctx, o.Bin, o.OutDir, logw); err != nil {
		rawf.Close()
		return nil, fmt.Errorf("start %s %s: %w", o.Server.Name, o.Version, err)
	}
	scen := plan(o.Server, o.Sessions, o.Anomalous, o.Seed)
	var (
		mu      sync.Mutex
		records []Record
		runErrs int
		done    atomic.Int64
		errSeen = map[string]int{}
	)
	jobs := make(chan Scenario)
	var wg sync.WaitGroup
	for w := 0; w < o.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sc := range jobs {
				sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
				recs, err := d.Run(sctx, sc)
				scancel()
				mu.Lock()
				records = append(records, recs...)
				if err != nil {
					runErrs++
					msg := sc.Kind + ": " + err.Error()
					if errSeen[msg]++; errSeen[msg] == 1 && len(errSeen) <= 20 {
						logf("%s %s: scenario %d (%s): %v", o.Server.Name, o.Version, sc.Index, sc.Kind, err)
					}
				}
				mu.Unlock()
				done.Add(1)
			}
		}()
	}
	stopProgress := make(chan struct{})
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				logf("%s %s: %d/%d scenarios driven (%.0f s)", o.Server.Name, o.Version, done.Load(), len(scen), time.Since(start).Seconds())
			}
		}
	}()
feed:
	for _, sc := range scen {
		select {
		case jobs <- sc:
		case <-ctx.Done():
			logf("%s %s: time limit %v reached, stopping after %d scenarios", o.Server.Name, o.Version, o.Timeout, done.Load())
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	close(stopProgress)
	// Let the server log the last closes before stopping it.
	time.Sleep(500 * time.Millisecond)
	if err := d.Stop(); err != nil {
		logf("%s %s: stop: %v", o.Server.Name, o.Version, err)
	}
	logw.Flush()
	if err := rawf.Close(); err != nil {
		return nil, err
	}
	logf("%s %s: %d scenarios driven, %d connection records, parsing %s", o.Server.Name, o.Version, done.Load(), len(records), rawPath)

	rf, err := os.Open(rawPath)
	if err != nil {
		return nil, err
	}
	defer rf.Close()
	groups, nraw, err := groupSessions(rf, key)
	if err != nil {
		return nil, err
	}
	sessions, sum := label(o, groups, records)
	sum.RawLines = nraw
	sum.Planned = len(scen)
	sum.RunErrors = runErrs
	sum.Seed = o.Seed
	if err := writeOutputs(o.OutDir, sessions); err != nil {
		return nil, err
	}
	sum.Seconds = time.Since(start).Seconds()
	b, _ := json.MarshalIndent(sum, "", "  ")
	if err := os.WriteFile(filepath.Join(o.OutDir, "summary.json"), append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	return sum, nil
}

// Group is the raw lines of one session key, in log order.
type Group struct {
	Key   string
	Lines []string
}

// groupSessions splits a raw log into sessions by key, in order of first
// appearance. Lines without a key (server start-up and shutdown) are skipped.
func groupSessions(r io.Reader, key KeyFunc) ([]*Group, int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	idx := map[string]*Group{}
	var order []*Group
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		k, ok := key(line)
		if !ok {
			continue
		}
		g := idx[k]
		if g == nil {
			g = &Group{Key: k}
			idx[k] = g
			order = append(order, g)
		}
		g.Lines = append(g.Lines, line)
	}
	return order, n, sc.Err()
}

// Session is one labelled session of the project's exchange format
// (internal/dataset/jsonl.go).
type Session struct {
	ID         string            `json:"id"`
	Label      int               `json:"label"`
	Lines      []string          `json:"lines"`
	Version    string            `json:"version,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// label joins the server's sessions with the client records and checks the
// fault markers.
func label(o Options, groups []*Group, records []Record) ([]Session, *Summary) {
	byKey := map[string]Record{}
	for _, r := range records {
		byKey[r.Key] = r
	}
	markers := map[string]*regexp.Regexp{}
	for _, f := range o.Server.Faults {
		if f.Marker != "" {
			markers[f.Name] = regexp.MustCompile(f.Marker)
		}
	}
	sum := &Summary{Server: o.Server.Name, Version: o.Version, HeldOut: o.Server.HeldOut, Kinds: map[string]*KindStat{}}
	seen := map[string]bool{}
	var out []Session
	for _, g := range groups {
		r, ok := byKey[g.Key]
		if !ok {
			sum.Unmatched++
			continue
		}
		seen[g.Key] = true
		ks := sum.Kinds[r.Kind]
		if ks == nil {
			ks = &KindStat{Label: r.Label}
			sum.Kinds[r.Kind] = ks
		}
		attrs := map[string]string{
			"kind":     r.Kind,
			"server":   o.Server.Name,
			"key":      g.Key,
			"scenario": strconv.Itoa(r.Index),
		}
		id := fmt.Sprintf("%s-%s-s%05d-c%d", o.Server.Name, o.Version, r.Index, r.Conn)
		// A fault session whose fault did not show, or a normal session in
		// which one did (a client starved of CPU and closed as stale, an
		// upstream too slow on a loaded machine), would carry a wrong
		// label: it stays in raw.log but not in sessions.jsonl or
		// truth.jsonl, and the build fails when there are too many.
		if r.Label == 1 {
			if m := markers[r.Kind]; m != nil {
				if !anyMatch(m, g.Lines) {
					ks.Excluded++
					sum.Excluded = append(sum.Excluded, id)
					continue
				}
				ks.WithMarker++
			}
		} else {
			bad := false
			for _, m := range markers {
				if anyMatch(m, g.Lines) {
					bad = true
					break
				}
			}
			if bad {
				ks.FaultMarkers++
				ks.Excluded++
				sum.Excluded = append(sum.Excluded, id)
				continue
			}
		}
		ks.Sessions++
		ks.MeanLines += float64(len(g.Lines))
		attrs["conn"] = strconv.Itoa(r.Conn)
		out = append(out, Session{
			// Scenario index and connection ordinal, not the server's key:
			// the id is the same in every run and every release for a seed.
			ID:         id,
			Label:      r.Label,
			Lines:      g.Lines,
			Version:    o.Version,
			Attributes: attrs,
		})
		sum.Sessions++
		sum.Anomalous += r.Label
	}
	for _, r := range records {
		if !seen[r.Key] {
			sum.NoLog++
		}
	}
	// Scenario order, not log order (which depends on scheduling).
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Attributes, out[j].Attributes
		ai, _ := strconv.Atoi(a["scenario"])
		bi, _ := strconv.Atoi(b["scenario"])
		if ai != bi {
			return ai < bi
		}
		ac, _ := strconv.Atoi(a["conn"])
		bc, _ := strconv.Atoi(b["conn"])
		return ac < bc
	})
	for _, ks := range sum.Kinds {
		if ks.Sessions > 0 {
			ks.MeanLines /= float64(ks.Sessions)
		}
	}
	if sum.Sessions > 0 {
		sum.AnomalousFrac = float64(sum.Anomalous) / float64(sum.Sessions)
	}
	return out, sum
}

func anyMatch(re *regexp.Regexp, lines []string) bool {
	for _, l := range lines {
		if re.MatchString(l) {
			return true
		}
	}
	return false
}

func writeOutputs(dir string, sessions []Session) error {
	sf, err := os.Create(filepath.Join(dir, "sessions.jsonl"))
	if err != nil {
		return err
	}
	tf, err := os.Create(filepath.Join(dir, "truth.jsonl"))
	if err != nil {
		sf.Close()
		return err
	}
	sw, tw := bufio.NewWriter(sf), bufio.NewWriter(tf)
	se, te := json.NewEncoder(sw), json.NewEncoder(tw)
	se.SetEscapeHTML(false)
	for _, s := range sessions {
		if err := se.Encode(s); err != nil {
			return err
		}
		if err := te.Encode(map[string]any{"id": s.ID, "label": s.Label, "kind": s.Attributes["kind"], "key": s.Attributes["key"]}); err != nil {
			return err
		}
	}
	for _, c := range []func() error{sw.Flush, tw.Flush, sf.Close, tf.Close} {
		if err := c(); err != nil {
			return err
		}
	}
	return nil
}

func printSummary(s *Summary) {
	ks := make([]string, 0, len(s.Kinds))
	for k := range s.Kinds {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		a, b := s.Kinds[ks[i]], s.Kinds[ks[j]]
		if a.Label != b.Label {
			return a.Label < b.Label
		}
		return ks[i] < ks[j]
	})
	fmt.Printf("%s %s: %d sessions, %d anomalous (%.1f%%), %d raw lines, %.0f s; %d log sessions without a client record, %d client connections without log lines, %d scenario errors, %d sessions excluded (marker check)\n",
		s.Server, s.Version, s.Sessions, s.Anomalous, 100*s.AnomalousFrac, s.RawLines, s.Seconds, s.Unmatched, s.NoLog, s.RunErrors, len(s.Excluded))
	fmt.Printf("  %-22s %5s %8s %8s %10s\n", "kind", "label", "sessions", "marker", "mean lines")
	for _, k := range ks {
		st := s.Kinds[k]
		mk := "-"
		if st.Label == 1 {
			mk = fmt.Sprintf("%d/%d", st.WithMarker, st.WithMarker+st.Excluded)
		} else if st.FaultMarkers > 0 {
			mk = fmt.Sprintf("!%d", st.FaultMarkers)
		}
		fmt.Printf("  %-22s %5d %8d %8s %10.1f\n", k, st.Label, st.Sessions, mk, st.MeanLines)
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Flush()
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[corpus %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
