// Command oraclellm serves a simulated LLM (internal/fakellm) on an
// OpenAI-compatible base URL, http://ADDR/v1, for the demo: it answers from
// the HDFS failure events in the sessions, not from a model.
//
//	oraclellm [-listen 127.0.0.1:14330] [-truth sessions.jsonl -accuracy 0.99 -seed 1
//	          [-key-regex RE] [-by-content]]
//
// With -truth it answers from the labels of the sessions' keys (the IDs in
// the truth file; found in the prompt by -key-regex, default HDFS block ids),
// wrong with probability 1-accuracy: per question (like `coorlog eval --llm
// simulated:ACC`), or with -by-content per session content (like
// `--llm simulated-content:ACC`; when the truth file has the sessions' lines,
// the content is that of the whole labelled session, so a seed picks the
// same wrong contents as `coorlog eval` does).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"syscall"
	"time"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
	"github.com/coorlog/coorlogprocessor/internal/fakellm"
	"github.com/coorlog/coorlogprocessor/model/normalize"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:14330", "address to serve on")
	truth := flag.String("truth", "", "labelled sessions (exchange-format JSONL) to answer from")
	acc := flag.Float64("accuracy", 0.99, "with -truth: share of right answers")
	seed := flag.Uint64("seed", 1, "with -truth: seed of the wrong answers")
	keyRE := flag.String("key-regex", "", "with -truth: regex of the session key in the session's lines (first capture group, or the whole match); default HDFS block ids")
	byContent := flag.Bool("by-content", false, "with -truth: the wrong answers follow the session's content (the set of its normalised lines), not each question")
	latency := flag.Duration("latency", 0, "answer each request after this long, like a real endpoint (e.g. 2s); a client that hangs up first gets nothing")
	flag.Parse()
	if *latency < 0 {
		fmt.Fprintln(os.Stderr, "oraclellm: -latency must not be negative")
		os.Exit(2)
	}
	o := &fakellm.Oracle{Accuracy: *acc, Seed: *seed, ByContent: *byContent}
	if *keyRE != "" {
		re, err := regexp.Compile(*keyRE)
		if err != nil {
			fmt.Fprintln(os.Stderr, "oraclellm: -key-regex:", err)
			os.Exit(2)
		}
		o.KeyRE = re
	}
	if *truth != "" {
		sessions, err := dataset.ReadFile(*truth)
		if err != nil {
			fmt.Fprintln(os.Stderr, "oraclellm:", err)
			os.Exit(1)
		}
		o.Labels = make(map[string]int, len(sessions))
		if *byContent {
			o.Contents = make(map[string]string, len(sessions))
		}
		for _, s := range sessions {
			o.Labels[s.ID] = s.Label
			if *byContent && len(s.Lines) > 0 {
				o.Contents[s.ID] = normalize.ContentKey(s.Lines)
			}
		}
	}
	var h http.Handler = o
	if *latency > 0 {
		h = delayed(o, *latency)
	}
	if err := run(*listen, o, h); err != nil {
		fmt.Fprintln(os.Stderr, "oraclellm:", err)
		os.Exit(1)
	}
}

// delayed answers through h after d, or not at all when the client hangs up
// first.
func delayed(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			h.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	})
}

func run(addr string, oracle *fakellm.Oracle, h http.Handler) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	mode := "HDFS failure events"
	if oracle.Labels != nil {
		mode = fmt.Sprintf("labels of %d sessions, accuracy %.2f", len(oracle.Labels), oracle.Accuracy)
		if oracle.ByContent {
			mode += ", wrong answers by content"
		}
	}
	fmt.Fprintf(os.Stderr, "oraclellm: simulated LLM at http://%s/v1 (answers from %s)\n", ln.Addr(), mode)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Fprintf(os.Stderr, "oraclellm: %d requests answered\n", oracle.Requests())
	if oracle.Labels != nil {
		fmt.Fprintf(os.Stderr, "oraclellm: %d of them without a labelled session key in the prompt (answered from HDFS failure events)\n", oracle.Unkeyed())
	}
	return nil
}
