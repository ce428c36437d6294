// Command otlpsink is a small OTLP/HTTP logs receiver for the demo and the
// end-to-end tests.
//
//	otlpsink [-listen 127.0.0.1:4319] [-out received.jsonl]   serve POST /v1/logs, GET /stats
//	                                                         (-out "": count the records only)
//	otlpsink report -in received.jsonl [-truth sessions.jsonl] [-prefix anomaly.] [-rows 40]
//	otlpsink plot -out timeline.png [-title T] [-x LABEL] [-y LABEL] NAME=points.tsv ...
//
// Serving writes every received log record as one JSON line (to -out, or
// stdout with "-") until SIGINT/SIGTERM. report groups the records by the
// session id attribute and compares the verdicts with the labels. plot draws
// one line per NAME=FILE, each FILE holding "x y" per line (the throughput
// script's records-at-the-sink timelines).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coorlog/coorlogprocessor/internal/otlpsink"
	"github.com/coorlog/coorlogprocessor/internal/plot"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "otlpsink:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "report" {
		return report(args[1:], stdout)
	}
	if len(args) > 0 && args[0] == "plot" {
		return plotSeries(args[1:])
	}
	fs := flag.NewFlagSet("otlpsink", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:4319", "address to serve OTLP/HTTP on")
	out := fs.String("out", "-", `file to append received records to as JSON lines ("-" = stdout, "" = only count them, for GET /stats)`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	var opts []otlpsink.Option
	switch *out {
	case "":
	case "-":
		opts = append(opts, otlpsink.WithWriter(stdout))
	default:
		f, err := os.OpenFile(*out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("opening output: %w", err)
		}
		defer f.Close()
		opts = append(opts, otlpsink.WithWriter(f))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, *listen, otlpsink.New(opts...))
}

func serve(ctx context.Context, addr string, sink *otlpsink.Sink) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: sink.Handler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(os.Stderr, "otlpsink: listening on http://%s/v1/logs\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	st := sink.Stats()
	fmt.Fprintf(os.Stderr, "otlpsink: %d records in %d requests (%d bad requests)\n", st.Records, st.Requests, st.Errors)
	return nil
}

func report(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("otlpsink report", flag.ContinueOnError)
	in := fs.String("in", "", "records written by otlpsink (JSON lines)")
	truthPath := fs.String("truth", "", "labelled sessions (exchange-format JSONL), optional")
	prefix := fs.String("prefix", "anomaly.", "attribute prefix the processor used")
	rows := fs.Int("rows", 40, "sessions to list (0 = all)")
	keyRegex := fs.String("key", "", "the collector's session.key.regex: records without a session id (the later records of a session judged normal) join the session it finds in their body")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" {
		return errors.New("report: -in is required")
	}
	f, err := os.Open(*in)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer f.Close()
	recs, err := otlpsink.ReadRecords(f)
	if err != nil {
		return fmt.Errorf("report: %s: %w", *in, err)
	}
	truth := map[string]otlpsink.Truth{}
	if *truthPath != "" {
		if truth, err = otlpsink.ReadTruth(*truthPath); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	var key *regexp.Regexp
	if *keyRegex != "" {
		if key, err = regexp.Compile(*keyRegex); err != nil {
			return fmt.Errorf("report: -key: %w", err)
		}
	}
	return otlpsink.WriteReport(stdout, otlpsink.Summarize(recs, *prefix, key), truth, *rows)
}

// plotSeries draws the series NAME=FILE given as arguments into one chart.
func plotSeries(args []string) error {
	fs := flag.NewFlagSet("otlpsink plot", flag.ContinueOnError)
	out := fs.String("out", "", "PNG file to write")
	title := fs.String("title", "", "chart title")
	xLabel := fs.String("x", "seconds", "x axis label")
	yLabel := fs.String("y", "records at the sink", "y axis label")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() == 0 {
		return errors.New("plot: -out and at least one NAME=FILE are required")
	}
	c := plot.Chart{Title: *title, XLabel: *xLabel, YLabel: *yLabel}
	for _, arg := range fs.Args() {
		name, path, ok := strings.Cut(arg, "=")
		if !ok || name == "" || path == "" {
			return fmt.Errorf("plot: %q is not NAME=FILE", arg)
		}
		s, err := readPoints(name, path)
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		c.Series = append(c.Series, s)
	}
	return plot.WritePNG(*out, c)
}

// readPoints reads "x y" per line (blank lines skipped).
func readPoints(name, path string) (plot.Series, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return plot.Series{}, err
	}
	s := plot.Series{Name: name}
	for i, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return plot.Series{}, fmt.Errorf("%s: line %d: want \"x y\", got %q", path, i+1, line)
		}
		x, errX := strconv.ParseFloat(f[0], 64)
		y, errY := strconv.ParseFloat(f[1], 64)
		if err := errors.Join(errX, errY); err != nil {
			return plot.Series{}, fmt.Errorf("%s: line %d: %w", path, i+1, err)
		}
		s.X, s.Y = append(s.X, x), append(s.Y, y)
	}
	if len(s.X) == 0 {
		return plot.Series{}, fmt.Errorf("%s: no points", path)
	}
	return s, nil
}
