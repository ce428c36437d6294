// Package scale tests the Kafka scale-out recipe (examples/scale-out) end to
// end on one machine: franz-go's in-process Kafka (kfake) in the test, one
// tier-1 collector (file_log -> groupbyattrs -> kafka, tier1.yaml) and one to
// three tier-2 collectors in one consumer group (kafka -> coorlog -> batch ->
// otlp_http, tier2.yaml), each exporting to its own OTLP receiver run by the
// test, so that the test knows which collector emitted every record. The
// collectors are bin/otelcol-coorlog-scale (scripts/otelcol-scale.sh) running
// the recipe's own files; the test only sets their variables.
//
// It runs with COORLOG_E2E=1 only (scripts/e2e-scale.sh, `make e2e-scale`):
// a few minutes and about a million records, beyond what `make test` and CI
// run.
//
// Variables: COORLOG_OTELCOL_SCALE (the binary; default
// bin/otelcol-coorlog-scale), COORLOG_SCALE_SESSIONS (sessions of the
// throughput input, default 50000: about a million lines),
// COORLOG_SCALE_COLLECTORS (default "1,2,3"), COORLOG_E2E_ENCODER (as in
// internal/e2e).
package scale

import (
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
	"github.com/coorlog/coorlogprocessor/internal/demolog"
	"github.com/coorlog/coorlogprocessor/internal/e2efixture"
	"github.com/coorlog/coorlogprocessor/internal/fakellm"
)

const (
	topic      = "hdfs_logs"
	partitions = 12
)

// suite is what every run shares: the binary, the recipe's files, a trained
// model and the labelled sessions it was not trained on.
type suite struct {
	root, bin, dir string
	tier1, tier2   string
	model, encoder string
	test, evolved  []dataset.Session
	cpuSelf        func() time.Duration
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(root, "examples", "scale-out", "tier2.yaml"))
	require.NoError(t, err, "the test runs from test/scale in the repository")
	return root
}

func newSuite(t *testing.T) *suite {
	t.Helper()
	root := repoRoot(t)
	bin := os.Getenv("COORLOG_OTELCOL_SCALE")
	if bin == "" {
		bin = filepath.Join(root, "bin", "otelcol-coorlog-scale")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("%s is not built: run scripts/e2e-scale.sh (make e2e-scale), or scripts/otelcol-scale.sh", bin)
	}
	s := &suite{root: root, bin: bin, dir: t.TempDir(), encoder: e2efixture.EncoderPath(root),
		tier1: filepath.Join(root, "examples", "scale-out", "tier1.yaml"),
		tier2: filepath.Join(root, "examples", "scale-out", "tier2.yaml")}
	s.cpuSelf = func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}

	// The model, as internal/e2e makes it: synthetic HDFS sessions in the
	// real log's wording, `coorlog train`, and an evolved copy of the test
	// sessions (`coorlog evolve`) for the LLM and AEM.
	m := e2efixture.Train(t, root, s.dir)
	s.model, s.test, s.evolved = m.Dir, m.Test, m.Evolved
	return s
}

// loadLines is a stream of n synthetic sessions, at most 200 in progress at
// a time (as scripts/e2e-throughput.sh composes its load).
func loadLines(n int, seed uint64) []string {
	return demolog.InterleaveWindow(demolog.Synthesize(n, 0.03, seed), 200, rand.New(rand.NewPCG(seed, 1)))
}

// replica is one tier-2 collector's own settings.
type replica struct {
	env []string
}

// run is one deployment: a broker, tier 1, n tier-2 collectors.
type run struct {
	s       *suite
	name    string
	dir     string
	b       *broker
	group   string
	tl      *tally
	tier1   *collector
	tier2   []*collector
	include string // tier 1's glob
	inDir   string
}

// deploy starts the broker and the tier-2 collectors, waits until the
// consumer group is Stable with every member owning partitions, then starts
// tier 1 (reading nothing yet).
func (s *suite) deploy(t *testing.T, name string, replicas []replica) *run {
	t.Helper()
	r := &run{s: s, name: name, dir: filepath.Join(s.dir, name), group: "coorlog-" + name, tl: newTally(len(replicas))}
	r.inDir = filepath.Join(r.dir, "in")
	require.NoError(t, os.MkdirAll(r.inDir, 0o755))
	r.include = filepath.Join(r.inDir, "*.log")
	r.b = startBroker(t, topic, partitions)
	for i, rep := range replicas {
		srv := r.tl.server(t, i)
		env := append([]string{
			"KAFKA_BROKERS=" + r.b.addr, "KAFKA_TOPIC=" + topic, "KAFKA_GROUP=" + r.group,
			"KAFKA_CLIENT_ID=" + fmt.Sprintf("tier2-%d", i),
			"OTLP_ENDPOINT=" + srv.URL, "METRICS_PORT=" + strconv.Itoa(freePort(t)),
			"COORLOG_MODEL_PATH=" + s.model, "COORLOG_ENCODER=" + s.encoder,
			"COORLOG_INACTIVITY_TIMEOUT=1s", "COORLOG_WORKERS=2",
		}, rep.env...)
		r.tier2 = append(r.tier2, startCollector(t, s.bin, s.tier2, r.dir, fmt.Sprintf("tier2-%d", i), env))
	}
	for _, c := range r.tier2 {
		c.waitReady(t)
	}
	start := time.Now()
	g, _ := r.b.waitGroup(t, r.group, len(replicas), 2*time.Minute)
	t.Logf("%s: group %s Stable with %d members %s after the collectors were ready; partition owners %v", name, r.group, g.Members, time.Since(start).Round(time.Millisecond), g.Owner)
	r.tier1 = startCollector(t, s.bin, s.tier1, r.dir, "tier1", []string{
		"LOG_INCLUDE=" + r.include, "KAFKA_BROKERS=" + r.b.addr, "KAFKA_TOPIC=" + topic,
		"TIER1_OTLP_ENDPOINT=127.0.0.1:" + strconv.Itoa(freePort(t)), "METRICS_PORT=" + strconv.Itoa(freePort(t)),
	})
	r.tier1.waitReady(t)
	return r
}

// feed makes lines appear at once as a file tier 1 reads (written aside,
// then renamed into its glob) and returns when.
func (r *run) feed(t *testing.T, lines []string) time.Time {
	t.Helper()
	r.tl.expect(lines)
	tmp := filepath.Join(r.dir, "input.tmp")
	require.NoError(t, os.WriteFile(tmp, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	t0 := time.Now()
	require.NoError(t, os.Rename(tmp, filepath.Join(r.inDir, "hdfs.log")))
	return t0
}

// feedPaced writes lines the way a live log grows: the first chunk as a new
// file (feed), then a chunk appended every interval. It returns when the
// first chunk appeared; the channel yields the append loop's error (nil) once
// the last chunk is written.
func (r *run) feedPaced(t *testing.T, lines []string, chunks int, every time.Duration) (time.Time, <-chan error) {
	t.Helper()
	per := (len(lines) + chunks - 1) / chunks
	r.tl.expect(lines[per:])
	t0 := r.feed(t, lines[:per])
	path := filepath.Join(r.inDir, "hdfs.log")
	errc := make(chan error, 1)
	go func() {
		for i := per; i < len(lines); i += per {
			time.Sleep(every)
			f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			if err == nil {
				_, err = f.WriteString(strings.Join(lines[i:min(i+per, len(lines))], "\n") + "\n")
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	return t0, errc
}

// all returns every collector of the run (for liveness checks).
func (r *run) all() []*collector { return append([]*collector{r.tier1}, r.tier2...) }

// shutdown stops tier 1 and the tier-2 collectors still running (clean exits
// required), then checks that the group committed every partition to its end:
// Kafka has nothing left that no collector took.
func (r *run) shutdown(t *testing.T) {
	t.Helper()
	r.tier1.stop(t)
	for _, c := range r.tier2 {
		if !c.stopped {
			c.stop(t)
		}
	}
	end, _ := r.b.endOffsets(t)
	com := r.b.committed(t, r.group)
	for p, e := range end {
		assert.Equal(t, e, com[p], "partition %d: committed offset of group %s against the end of the topic", p, r.group)
	}
}

func TestScaleOut(t *testing.T) {
	if os.Getenv("COORLOG_E2E") != "1" {
		t.Skip("the Kafka scale-out test (several minutes, ~1M records): run scripts/e2e-scale.sh (make e2e-scale), or set COORLOG_E2E=1")
	}
	s := newSuite(t)

	t.Run("rebalance", func(t *testing.T) { s.rebalance(t) })
	t.Run("model_reload", func(t *testing.T) { s.modelReload(t) })

	sessions := 50000
	if v := os.Getenv("COORLOG_SCALE_SESSIONS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "COORLOG_SCALE_SESSIONS")
		sessions = n
	}
	lines := loadLines(sessions, 21)
	counts := []int{1, 2, 3}
	if v := os.Getenv("COORLOG_SCALE_COLLECTORS"); v != "" {
		counts = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			require.NoError(t, err, "COORLOG_SCALE_COLLECTORS")
			counts = append(counts, n)
		}
	}
	for _, n := range counts {
		t.Run(fmt.Sprintf("throughput_%d_collectors", n), func(t *testing.T) { s.throughput(t, n, lines) })
	}
}

// throughput runs the whole input through n tier-2 collectors in steady
// state (none stops) and reports records/s from the moment the file appears
// to the moment the last of its lines arrives.
func (s *suite) throughput(t *testing.T, n int, lines []string) {
	reps := make([]replica, n)
	r := s.deploy(t, fmt.Sprintf("throughput%d", n), reps)
	cpu0 := make([]time.Duration, 0, n+1)
	for _, c := range r.all() {
		cpu0 = append(cpu0, c.cpu())
	}
	self0 := s.cpuSelf()
	t0 := r.feed(t, lines)
	done := r.tl.wait(t, 15*time.Minute, r.all()...)
	wall := done.Sub(t0)
	var cpus []string
	for i, c := range r.all() {
		cpus = append(cpus, fmt.Sprintf("%s %.1fs", c.name, (c.cpu()-cpu0[i]).Seconds()))
	}
	cpus = append(cpus, fmt.Sprintf("test process (kfake, receivers) %.1fs", (s.cpuSelf()-self0).Seconds()))
	time.Sleep(2 * time.Second) // late duplicates, if any, still count
	_, messages := r.b.endOffsets(t)
	r.shutdown(t)

	c := r.tl.requireDelivered(t)
	split := r.tl.split()
	assert.Empty(t, split, "steady state: no session's records at more than one collector")
	t.Logf("SCALE throughput collectors=%d lines=%d wall=%s records/s=%.0f duplicates=%d kafka_messages=%d records_per_collector=%v sessions=%d split=%d cpu: %s",
		n, c.input, wall.Round(time.Millisecond), float64(c.input)/wall.Seconds(), c.duplicates, messages, r.tl.records, len(r.tl.sessions), len(split), strings.Join(cpus, ", "))
}

// rebalance stops one of three tier-2 collectors (SIGTERM) a third of the
// way through the input: nothing may be lost, the sessions it had open are
// flushed by it and marked partial, and its partitions move to the others.
func (s *suite) rebalance(t *testing.T) {
	const n, victim = 3, 1
	r := s.deploy(t, "rebalance", make([]replica, n))
	// ~300k lines over ~10 s (30 chunks, one every 330 ms: about half of
	// what the pipeline can take here), so that the stopped collector's
	// partitions still have records to come when it stops.
	lines := loadLines(15000, 33)
	t0, written := r.feedPaced(t, lines, 30, 330*time.Millisecond)

	// A third of the input out, then SIGTERM.
	for {
		r.tl.mu.Lock()
		got := 0
		for _, k := range r.tl.records {
			got += k
		}
		r.tl.mu.Unlock()
		if got >= len(lines)/3 {
			break
		}
		for _, c := range r.all() {
			c.alive(t)
		}
		time.Sleep(20 * time.Millisecond)
	}
	before, _ := r.b.group(t.Context(), r.group)
	var moved []int32
	for p, o := range before.Owner {
		if o == fmt.Sprintf("tier2-%d", victim) {
			moved = append(moved, p)
		}
	}
	slices.Sort(moved)
	stopAt := time.Now()
	r.tier2[victim].term(t)
	var (
		rebalanced time.Time
		after      groupState
		wg         sync.WaitGroup
	)
	wg.Add(1)
	go func() { // the group settles while the collector shuts down
		defer wg.Done()
		after, rebalanced = r.b.waitGroup(t, r.group, n-1, time.Minute)
	}()
	r.tier2[victim].wait(t)
	exited := time.Now()
	wg.Wait()
	require.NoError(t, <-written)
	done := r.tl.wait(t, 10*time.Minute, r.all()...)
	time.Sleep(2 * time.Second)
	r.shutdown(t)

	c := r.tl.requireDelivered(t)
	split := r.tl.split()
	vbit := uint8(1 << victim)
	var movedSessions []string
	for cols, keys := range split {
		require.NotZero(t, cols&vbit, "sessions split between collectors that kept running (%b): %v", cols, keys[:min(5, len(keys))])
		movedSessions = append(movedSessions, keys...)
	}
	r.tl.mu.Lock()
	firstMoved := time.Duration(-1)
	notPartial := 0
	victimSessions, victimPartial := 0, 0
	for _, ss := range r.tl.sessions {
		if ss.cols&vbit != 0 {
			victimSessions++
			if ss.partial&vbit != 0 {
				victimPartial++
			}
		}
	}
	for _, key := range movedSessions {
		ss := r.tl.sessions[key]
		if ss.partial&vbit == 0 {
			notPartial++
		}
		for i := range n {
			if i != victim && ss.cols&(1<<i) != 0 {
				if d := time.Duration(ss.first[i] - stopAt.UnixNano()); firstMoved < 0 || d < firstMoved {
					firstMoved = d
				}
			}
		}
	}
	partialRecs := r.tl.partialRecs[victim]
	records := slices.Clone(r.tl.records)
	r.tl.mu.Unlock()

	require.Positive(t, partialRecs, "the stopped collector flushed its open sessions with anomaly.session.partial=true")
	require.Zero(t, notPartial, "every session of the stopped collector that continued elsewhere is marked partial there")
	require.NotEmpty(t, movedSessions, "the stopped collector's partitions went on at the others")
	for _, p := range moved {
		assert.NotEqual(t, fmt.Sprintf("tier2-%d", victim), after.Owner[p], "partition %d has a new owner", p)
	}
	t.Logf("SCALE rebalance lines=%d stopped tier2-%d at %s (a third of the records out) owning partitions %v; group Stable with %d members %s after SIGTERM (new owners %v); the collector exited %s after SIGTERM; first record of a moved session at another collector %s after SIGTERM; last line %s after SIGTERM",
		c.input, victim, stopAt.Sub(t0).Round(time.Millisecond), moved, after.Members, rebalanced.Sub(stopAt).Round(time.Millisecond),
		ownersOf(after, moved), exited.Sub(stopAt).Round(time.Millisecond), firstMoved.Round(time.Millisecond), done.Sub(stopAt).Round(time.Millisecond))
	t.Logf("SCALE rebalance duplicates=%d received=%d records_per_collector=%v; stopped collector: %d sessions, %d of them partial (%d records), %d continued at another collector (all partial there)",
		c.duplicates, c.received, records, victimSessions, victimPartial, partialRecs, len(movedSessions))
}

func ownersOf(g groupState, ps []int32) map[int32]string {
	out := map[int32]string{}
	for _, p := range ps {
		out[p] = g.Owner[p]
	}
	return out
}

// modelReload runs one learner (AEM on, the oracle LLM, writes the bundle)
// and two followers (AEM off, model_reload_interval 1s, same model_path) and
// measures the time from the learner's first AEM update to every follower
// serving it.
func (s *suite) modelReload(t *testing.T) {
	oracle := &fakellm.Oracle{}
	llm := httptest.NewServer(oracle)
	defer llm.Close()
	// The replicas share one model_path: the learner writes it, the others read it.
	shared := filepath.Join(s.dir, "model-shared")
	require.NoError(t, os.CopyFS(shared, os.DirFS(s.model)))
	common := []string{"COORLOG_MODEL_PATH=" + shared, "COORLOG_LLM_ENDPOINT=" + llm.URL + "/v1", "COORLOG_LLM_MODEL=oracle"}
	learner := replica{env: append(slices.Clone(common), "COORLOG_AEM=true", "COORLOG_MODEL_RELOAD_INTERVAL=0s",
		"COORLOG_AEM_INTERVAL=2s", "COORLOG_AEM_BATCH_SIZE=4")}
	follower := replica{env: append(slices.Clone(common), "COORLOG_MODEL_RELOAD_INTERVAL=1s")}
	r := s.deploy(t, "reload", []replica{learner, follower, follower})

	bundlePath := filepath.Join(shared, "coorlog.bundle")
	st0, err := os.Stat(bundlePath)
	require.NoError(t, err, "the bundle file in model_path")
	var (
		mu          sync.Mutex
		bundleMod   time.Time // first change of the file, as the poller saw it
		bundleStamp time.Time // its modification time
	)
	stopPoll := make(chan struct{})
	go func() {
		for {
			select {
			case <-stopPoll:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if st, err := os.Stat(bundlePath); err == nil && (!st.ModTime().Equal(st0.ModTime()) || st.Size() != st0.Size()) {
				mu.Lock()
				if bundleMod.IsZero() {
					bundleMod, bundleStamp = time.Now(), st.ModTime()
				}
				mu.Unlock()
			}
		}
	}()
	defer close(stopPoll)

	// First the evolved sessions (the LLM judges them on the learner, and
	// AEM learns from its answers), then a steady load for 30 s so that
	// every replica keeps scoring sessions after the update.
	head, _, err := demolog.Compose(s.test, s.evolved, demolog.Options{Normal: 60, Anomalous: 15, Evolved: 60, Seed: 3})
	require.NoError(t, err)
	load := loadLines(7500, 44) // ~150k lines
	t0, appended := r.feedPaced(t, append(head, load...), 60, 500*time.Millisecond)
	require.NoError(t, <-appended)
	r.tl.wait(t, 5*time.Minute, r.all()...)
	time.Sleep(2 * time.Second)
	r.shutdown(t)
	c := r.tl.requireDelivered(t)
	assert.Empty(t, r.tl.split(), "steady state: no session's records at more than one collector")

	// When each replica first served a model AEM had updated.
	base := ""
	firstAEM := make([]time.Time, 3)
	firstVer := make([]string, 3)
	r.tl.mu.Lock()
	for i, vs := range r.tl.versions {
		for v, at := range vs {
			if j := strings.LastIndex(v, "+aem"); j >= 0 {
				if firstAEM[i].IsZero() || at.Before(firstAEM[i]) {
					firstAEM[i], firstVer[i] = at, v
				}
			} else {
				base = v
			}
		}
	}
	versions := fmt.Sprint(r.tl.versions)
	r.tl.mu.Unlock()
	mu.Lock()
	written, stamp := bundleMod, bundleStamp
	mu.Unlock()
	require.False(t, firstAEM[0].IsZero(), "the learner served an AEM update (oracle requests %d; versions %s):\n%s", oracle.Requests(), versions, tail(r.tier2[0].log(), 3000))
	require.False(t, written.IsZero(), "the learner rewrote %s", bundlePath)
	learnerVersions := map[string]bool{}
	r.tl.mu.Lock()
	for v := range r.tl.versions[0] {
		learnerVersions[v] = true
	}
	r.tl.mu.Unlock()
	var lags []string
	for i := 1; i < 3; i++ {
		require.False(t, firstAEM[i].IsZero(), "follower tier2-%d served the learner's update (versions %s):\n%s", i, versions, tail(r.tier2[i].log(), 3000))
		assert.True(t, learnerVersions[firstVer[i]], "follower tier2-%d serves %s, a version the learner served", i, firstVer[i])
		swapped := r.tier2[i].logTime("serving the changed bundle")
		lags = append(lags, fmt.Sprintf("tier2-%d: swapped %s after the bundle's mtime, first %s record %s after the learner's first %s record",
			i, swapped.Sub(stamp).Round(time.Millisecond), firstVer[i], firstAEM[i].Sub(firstAEM[0]).Round(time.Millisecond), firstVer[0]))
	}
	sort.Strings(lags)
	t.Logf("SCALE model_reload lines=%d duplicates=%d base=%s; learner: bundle rewritten %s after the input began (seen by the test's 20 ms poll %s after its mtime), first %s record %s after the input began; %s; oracle requests %d",
		c.input, c.duplicates, base, stamp.Sub(t0).Round(time.Millisecond), written.Sub(stamp).Round(time.Millisecond), firstVer[0], firstAEM[0].Sub(t0).Round(time.Millisecond), strings.Join(lags, "; "), oracle.Requests())
}
