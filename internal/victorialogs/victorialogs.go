// Package victorialogs runs a real VictoriaLogs store for the tests that check
// what reaches an OTLP log backend: the binary scripts/victorialogs.sh
// builds, started on a free 127.0.0.1 port with an empty store, its OTLP/HTTP
// logs endpoint, and its LogsQL query API. The collector end to end
// (internal/e2e, the collector binary's otlp_http exporter) and the
// component's own backend test (`make test`, records posted as OTLP
// protobuf) both use it.
package victorialogs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
)

// TB is the part of testing.TB this package needs.
type TB interface {
	Helper()
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Binary is $COORLOG_VICTORIALOGS, or the binary scripts/victorialogs.sh
// installs into .deps/victorialogs under root, built when it is missing (go
// install through the module proxy; `make test` builds it before the tests
// run). A failed build fails the test: it never skips.
func Binary(tb TB, root string) string {
	tb.Helper()
	if p := os.Getenv("COORLOG_VICTORIALOGS"); p != "" {
		return p
	}
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "victorialogs.sh"), "install")
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		tb.Fatalf("VictoriaLogs is needed and `bash scripts/victorialogs.sh install` failed (%v); it builds "+
			"github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs with go install (module proxy or a filled module cache); "+
			"or set COORLOG_VICTORIALOGS to a victoria-logs binary:\n%s", err, tail(stderr.String(), 3000))
	}
	if d := time.Since(start); d > 10*time.Second {
		tb.Logf("built VictoriaLogs in %s:\n%s", d.Round(time.Second), tail(stderr.String(), 1000))
	}
	return strings.TrimSpace(stdout.String())
}

// Store is a store started by a test, and its HTTP API.
type Store struct {
	URL string // http://127.0.0.1:PORT
	Log string // its log file
}

// Addr is the store's host:port.
func (s *Store) Addr() string { return strings.TrimPrefix(s.URL, "http://") }

// Start runs bin on a free port with an empty store in dir, and stops it
// when the test ends. The retention covers the HDFS lines' 2008 timestamps
// (the default, 7 days, drops them on ingest).
func Start(tb TB, bin, dir string) *Store {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("a free port: %v", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	s := &Store{URL: "http://" + addr, Log: filepath.Join(dir, "victoria-logs.log")}
	logf, err := os.Create(s.Log)
	if err != nil {
		tb.Fatalf("victoria-logs log: %v", err)
	}
	cmd := exec.Command(bin, "-httpListenAddr="+addr, "-storageDataPath="+filepath.Join(dir, "victoria-logs-data"),
		"-retentionPeriod=100y")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		tb.Fatalf("starting %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case err := <-exited:
			b, _ := os.ReadFile(s.Log)
			tb.Fatalf("victoria-logs exited at start (%v):\n%s", err, tail(string(b), 3000))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("victoria-logs did not answer on %s within 30 s", addr)
		}
	}
}

// Export posts ld to the store's OTLP/HTTP logs endpoint as protobuf, as the
// collector's otlp_http exporter does.
func (s *Store) Export(ctx context.Context, ld plog.Logs) error {
	body, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/insert/opentelemetry/v1/logs", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("victoria-logs: OTLP logs: %s: %s", resp.Status, b)
	}
	return nil
}

// Query runs a LogsQL query (GET /select/logsql/query) and returns its rows;
// VictoriaLogs writes every field as a string.
func (s *Store) Query(tb TB, q string) []map[string]string {
	tb.Helper()
	resp, err := http.Get(s.URL + "/select/logsql/query?" + url.Values{"query": {q}}.Encode())
	if err != nil {
		tb.Fatalf("LogsQL %q: %v", q, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		tb.Fatalf("LogsQL %q: %s: %s", q, resp.Status, b)
	}
	var rows []map[string]string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		row := map[string]string{}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			tb.Fatalf("LogsQL %q row %s: %v", q, sc.Bytes(), err)
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("LogsQL %q: reading rows: %v", q, err)
	}
	return rows
}

// Flush makes what was ingested searchable now (/internal/force_flush)
// rather than within the next second.
func (s *Store) Flush(tb TB) {
	tb.Helper()
	resp, err := http.Get(s.URL + "/internal/force_flush")
	if err != nil {
		tb.Fatalf("force_flush: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("force_flush: %s", resp.Status)
	}
}

// Count is `QUERY | count()`.
func (s *Store) Count(tb TB, q string) int {
	tb.Helper()
	rows := s.Query(tb, q+" | count() as n")
	if len(rows) != 1 {
		tb.Fatalf("LogsQL %q | count(): %d rows", q, len(rows))
	}
	n, err := strconv.Atoi(rows[0]["n"])
	if err != nil {
		tb.Fatalf("LogsQL %q | count(): %v", q, err)
	}
	return n
}

// WaitFor flushes and counts q until it reaches n or timeout passes, and
// returns the last count.
func (s *Store) WaitFor(tb TB, q string, n int, timeout time.Duration) int {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s.Flush(tb)
		got := s.Count(tb, q)
		if got >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
