package scale

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"hash/maphash"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
)

// ---- collector processes ----------------------------------------------------

// collector is one running bin/otelcol-coorlog-scale process.
type collector struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan error
	stopped bool
}

// startCollector runs bin on the recipe's configuration file with env added
// to the environment, logging to dir/name.log.
func startCollector(t *testing.T, bin, config, dir, name string, env []string) *collector {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := exec.Command(bin, "--config", config)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(t, cmd.Start())
	c := &collector{name: name, cmd: cmd, logPath: logPath, exited: make(chan error, 1)}
	go func() { c.exited <- cmd.Wait(); logf.Close() }()
	t.Cleanup(func() {
		if !c.stopped {
			_ = cmd.Process.Kill()
			<-c.exited
			c.stopped = true
		}
	})
	return c
}

func (c *collector) log() string {
	b, _ := os.ReadFile(c.logPath)
	return string(b)
}

func (c *collector) tail() string { return tail(c.log(), 3000) }

// waitReady waits for "Everything is ready" in the log.
func (c *collector) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(c.log(), "Everything is ready") {
			return
		}
		select {
		case err := <-c.exited:
			c.stopped = true
			t.Fatalf("%s exited before it was ready (%v):\n%s", c.name, err, c.tail())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("%s was not ready within 90s:\n%s", c.name, c.tail())
}

// alive fails the test when the process has exited.
func (c *collector) alive(t *testing.T) {
	t.Helper()
	select {
	case err := <-c.exited:
		c.stopped = true
		t.Fatalf("%s exited (%v):\n%s", c.name, err, c.tail())
	default:
	}
}

// cpu is the process's user+system CPU time so far (Linux /proc).
func (c *collector) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // fields from 3 on
	ut, _ := strconv.ParseInt(f[11], 10, 64)                 // field 14
	st, _ := strconv.ParseInt(f[12], 10, 64)                 // field 15
	return time.Duration(ut+st) * (time.Second / 100)        // USER_HZ = 100
}

// signal sends SIGTERM.
func (c *collector) term(t *testing.T) {
	t.Helper()
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM))
}

// wait waits for the exit after term: clean (exit 0, "Shutdown complete")
// within 60s.
func (c *collector) wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-c.exited:
		c.stopped = true
		require.NoError(t, err, "%s must stop cleanly:\n%s", c.name, c.tail())
	case <-time.After(60 * time.Second):
		_ = c.cmd.Process.Kill()
		t.Fatalf("%s did not stop within 60s of SIGTERM:\n%s", c.name, c.tail())
	}
	require.Contains(t, c.log(), "Shutdown complete", c.name)
}

func (c *collector) stop(t *testing.T) {
	t.Helper()
	c.term(t)
	c.wait(t)
}

// logTime is the time of the first log line containing s (the collector's
// console log starts each line with an RFC 3339 time), or zero.
func (c *collector) logTime(s string) time.Time {
	sc := bufio.NewScanner(strings.NewReader(c.log()))
	sc.Buffer(make([]byte, 0, 1<<16), 1<<22)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, s) {
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if ts, err := time.Parse(time.RFC3339Nano, f[0]); err == nil {
			return ts
		}
	}
	return time.Time{}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ---- the broker ------------------------------------------------------------

// broker is kfake, franz-go's in-process Kafka, on 127.0.0.1, with one topic.
type broker struct {
	cluster    *kfake.Cluster
	addr       string
	topic      string
	partitions int32
	cl         *kgo.Client
	adm        *kadm.Client
}

func startBroker(t *testing.T, topic string, partitions int32) *broker {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic))
	require.NoError(t, err)
	b := &broker{cluster: c, addr: c.ListenAddrs()[0], topic: topic, partitions: partitions}
	b.cl, err = kgo.NewClient(kgo.SeedBrokers(b.addr))
	require.NoError(t, err)
	b.adm = kadm.NewClient(b.cl)
	t.Cleanup(func() { b.cl.Close(); c.Close() })
	return b
}

// groupState is the consumer group as the coordinator describes it.
type groupState struct {
	State    string
	Owner    map[int32]string // partition -> member client id
	Members  int
	Assigned int // partitions of the topic assigned to some member
}

func (b *broker) group(ctx context.Context, group string) (groupState, error) {
	ds, err := b.adm.DescribeGroups(ctx, group)
	if err != nil {
		return groupState{}, err
	}
	d, ok := ds[group]
	if !ok {
		return groupState{}, fmt.Errorf("group %s not described", group)
	}
	if d.Err != nil {
		return groupState{}, d.Err
	}
	g := groupState{State: d.State, Members: len(d.Members), Owner: map[int32]string{}}
	for _, m := range d.Members {
		if c, ok := m.Assigned.AsConsumer(); ok {
			for _, tp := range c.Topics {
				if tp.Topic != b.topic {
					continue
				}
				for _, p := range tp.Partitions {
					g.Owner[p] = m.ClientID
				}
			}
		}
	}
	g.Assigned = len(g.Owner)
	return g, nil
}

// waitGroup waits until the group is Stable with n members that own every
// partition between them, and returns when that was first seen.
func (b *broker) waitGroup(t *testing.T, group string, n int, timeout time.Duration) (groupState, time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last groupState
	var lastErr error
	for {
		g, err := b.group(ctx, group)
		if err == nil && g.State == "Stable" && g.Members == n && g.Assigned == int(b.partitions) {
			owners := map[string]bool{}
			for _, o := range g.Owner {
				owners[o] = true
			}
			if len(owners) == n {
				return g, time.Now()
			}
		}
		last, lastErr = g, err
		select {
		case <-ctx.Done():
			t.Fatalf("group %s not Stable with %d members owning all %d partitions within %s: last %+v (%v)", group, n, b.partitions, timeout, last, lastErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// endOffsets is the sum of the topic's end offsets (messages produced).
func (b *broker) endOffsets(t *testing.T) (map[int32]int64, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := b.adm.ListEndOffsets(ctx, b.topic)
	require.NoError(t, err)
	out := map[int32]int64{}
	var sum int64
	l.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset; sum += o.Offset })
	return out, sum
}

// committed is the group's committed offset per partition of the topic.
func (b *broker) committed(t *testing.T, group string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	os, err := b.adm.FetchOffsets(ctx, group)
	require.NoError(t, err)
	out := map[int32]int64{}
	os.Each(func(o kadm.OffsetResponse) {
		if o.Topic == b.topic && o.Err == nil {
			out[o.Partition] = o.At
		}
	})
	return out
}

// ---- what the tier-2 collectors send ----------------------------------------

var seed = maphash.MakeSeed()

func hashLine(s string) uint64 { return maphash.String(seed, s) }

var blockRE = regexp.MustCompile(`blk_-?\d+`)

// tally receives the records of every tier-2 collector of a run (one OTLP
// receiver each) and keeps what the checks need, in bounded memory: a count
// per distinct line, the collectors that emitted each session, the partial
// flag, and the first time each collector served each model version.
type tally struct {
	mu      sync.Mutex
	want    map[uint64]int32 // input lines (distinct) -> occurrences
	got     map[uint64]int32
	missing int // input lines not received yet (counting multiplicity)
	done    chan struct{}
	doneAt  time.Time // when missing reached 0
	ncol    int

	records      []int // per collector
	unexpected   int   // lines that are not in the input
	unannotated  int   // records without the anomaly.* attributes checked
	wrongSession int   // anomaly.session.id differs from the block in the body
	firstRecv    time.Time
	lastRecv     time.Time
	sessions     map[string]*sessionSeen
	versions     []map[string]time.Time // per collector: model version -> first received
	partialRecs  []int                  // per collector: records with anomaly.session.partial=true
	errors       []string
}

type sessionSeen struct {
	cols    uint8    // bit i: collector i emitted records of the session
	partial uint8    // bit i: ... with anomaly.session.partial=true
	first   [8]int64 // per collector: first received (unix ns)
	recs    [8]int32 // per collector: records
}

func newTally(ncol int) *tally {
	t := &tally{want: map[uint64]int32{}, got: map[uint64]int32{}, done: make(chan struct{}), ncol: ncol,
		records: make([]int, ncol), partialRecs: make([]int, ncol), sessions: map[string]*sessionSeen{}}
	for range ncol {
		t.versions = append(t.versions, map[string]time.Time{})
	}
	return t
}

// expect adds input lines (before they are written for tier 1).
func (tl *tally) expect(lines []string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	for _, l := range lines {
		tl.want[hashLine(l)]++
		tl.missing++
	}
}

// server is collector i's OTLP/HTTP receiver.
func (tl *tally) server(t *testing.T, i int) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/logs" {
			http.NotFound(w, r)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			defer zr.Close()
			body = zr
		}
		data, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(data); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		tl.add(i, req)
		out, _ := plogotlp.NewExportResponse().MarshalProto()
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func (tl *tally) add(col int, req plogotlp.ExportRequest) {
	now := time.Now()
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if tl.firstRecv.IsZero() {
		tl.firstRecv = now
	}
	tl.lastRecv = now
	rls := req.Logs().ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				a := lr.Attributes()
				if late, ok := a.Get("anomaly.late"); ok && late.Bool() {
					continue // a late verdict's own record, not one of the input's
				}
				body := lr.Body().AsString()
				tl.records[col]++
				h := hashLine(body)
				w, ok := tl.want[h]
				if !ok {
					tl.unexpected++
					if len(tl.errors) < 5 {
						tl.errors = append(tl.errors, fmt.Sprintf("collector %d sent a line that is not in the input: %q", col, body))
					}
					continue
				}
				tl.got[h]++
				if tl.got[h] <= w {
					tl.missing--
					if tl.missing == 0 {
						tl.doneAt = now
						close(tl.done)
					}
				}
				sid, okID := a.Get("anomaly.session.id")
				anom, okAnom := a.Get("anomaly.is_anomaly")
				// The whole verdict, session id and route included, is on the
				// first record of a session judged normal and on every record
				// of the others; the later records of a session judged normal
				// carry is_anomaly=false alone (attributes: compact).
				route, okRoute := a.Get("anomaly.route")
				if !okAnom || okID != okRoute || (okRoute && route.Str() == "") || (!okID && anom.Bool()) {
					tl.unannotated++
					if len(tl.errors) < 5 {
						tl.errors = append(tl.errors, fmt.Sprintf("collector %d: record without is_anomaly, with a session id but no route (or the reverse), with an empty route, or anomalous without its verdict: %q %v", col, body, a.AsRaw()))
					}
					continue
				}
				key := blockRE.FindString(body)
				if okID && sid.Str() != key {
					tl.wrongSession++
				}
				s := tl.sessions[key]
				if s == nil {
					s = &sessionSeen{}
					tl.sessions[key] = s
				}
				if s.cols&(1<<col) == 0 {
					s.cols |= 1 << col
					s.first[col] = now.UnixNano()
				}
				s.recs[col]++
				if p, ok := a.Get("anomaly.session.partial"); ok && p.Bool() {
					s.partial |= 1 << col
					tl.partialRecs[col]++
				}
				if v, ok := a.Get("anomaly.model.version"); ok {
					if _, seen := tl.versions[col][v.Str()]; !seen {
						tl.versions[col][v.Str()] = now
					}
				}
			}
		}
	}
}

// wait blocks until every input line has arrived at least once, a
// collector exits, or the timeout.
func (tl *tally) wait(t *testing.T, timeout time.Duration, cols ...*collector) time.Time {
	t.Helper()
	deadline := time.After(timeout)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-tl.done:
			tl.mu.Lock()
			defer tl.mu.Unlock()
			return tl.doneAt
		case <-deadline:
			tl.mu.Lock()
			defer tl.mu.Unlock()
			t.Fatalf("%d input lines still missing after %s (records per collector %v)", tl.missing, timeout, tl.records)
		case <-tick.C:
			for _, c := range cols {
				if c != nil && !c.stopped {
					c.alive(t)
				}
			}
		}
	}
}

// counts is the delivery summary: lost (input lines never received, with
// multiplicity), duplicates (receipts beyond the input's count).
type counts struct {
	input, received, lost, duplicates int
}

func (tl *tally) counts() counts {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var c counts
	for h, w := range tl.want {
		c.input += int(w)
		g := tl.got[h]
		if g < w {
			c.lost += int(w - g)
		} else {
			c.duplicates += int(g - w)
		}
	}
	for _, n := range tl.records {
		c.received += n
	}
	return c
}

// split lists the sessions emitted by more than one collector, by the set
// of collectors.
func (tl *tally) split() map[uint8][]string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	out := map[uint8][]string{}
	for k, s := range tl.sessions {
		if s.cols&(s.cols-1) != 0 {
			out[s.cols] = append(out[s.cols], k)
		}
	}
	return out
}

// requireDelivered asserts the record-level contract: every input line at
// least once, every record annotated with its own session, nothing foreign.
func (tl *tally) requireDelivered(t *testing.T) counts {
	t.Helper()
	c := tl.counts()
	tl.mu.Lock()
	defer tl.mu.Unlock()
	require.Zero(t, c.lost, "input lines lost")
	require.Zero(t, tl.unexpected, "records that are not input lines: %v", tl.errors)
	require.Zero(t, tl.unannotated, "records annotated wrongly: %v", tl.errors)
	require.Zero(t, tl.wrongSession, "records whose anomaly.session.id is not the block in their body")
	require.Equal(t, c.input+c.duplicates, c.received)
	return c
}
