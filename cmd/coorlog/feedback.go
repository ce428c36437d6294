package main

import (
	"bufio"
	"context"
	"fmt"
	"github.com/coorlog/coorlogprocessor/internal/compose"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/coorlog/coorlogprocessor/internal/dataset"
	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/bundle"
)

// runFeedback is operator feedback on a model directory, offline: the same
// model.Cascade.Teach and Undo as the collector's feedback endpoint, saved
// into the bundle.
func runFeedback(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("feedback", stderr)
	modelDir := fs.String("model", "", "model directory (required)")
	list := fs.Bool("list", false, "list the feedback in the bundle, undone entries included")
	undo := fs.String("undo", "", "withdraw the feedback entry with this id (fb-N)")
	label := fs.String("label", "", "normal, anomalous or suppress: label a session's content")
	linesF := fs.String("lines", "", "with --label: a file with the session's lines, one per line (- for stdin)")
	sessionsF := fs.String("sessions", "", "with --label and --session: a JSONL session file holding the session")
	session := fs.String("session", "", "with --sessions: the id of the session to label")
	why := fs.String("why", "", "why (kept in the bundle)")
	whoF := fs.String("who", os.Getenv("USER"), "who (kept in the bundle)")
	encDir := fs.String("encoder", "", "encoder checkpoint directory (default: the one the bundle names)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, "model"); err != nil {
		return err
	}
	modes := 0
	for _, set := range []bool{*list, *undo != "", *label != ""} {
		if set {
			modes++
		}
	}
	if modes != 1 {
		return fmt.Errorf("%w: give exactly one of --list, --undo ID and --label", errUsage)
	}
	if *label != "" {
		if !bundle.ValidFeedbackAction(*label) {
			return fmt.Errorf("%w: --label must be %s, %s or %s, not %q", errUsage, bundle.FeedbackNormal, bundle.FeedbackAnomalous, bundle.FeedbackSuppress, *label)
		}
		switch {
		case (*linesF == "") == (*sessionsF == ""):
			return fmt.Errorf("%w: with --label give --lines FILE or --sessions FILE --session ID", errUsage)
		case *sessionsF != "" && *session == "":
			return fmt.Errorf("%w: --sessions needs --session ID", errUsage)
		case *linesF != "" && *session != "":
			return fmt.Errorf("%w: --session goes with --sessions, not --lines", errUsage)
		}
	}
	b, err := bundle.Load(bundle.Path(*modelDir))
	if err != nil {
		return fmt.Errorf("loading model: %w", err)
	}
	if *list {
		return printFeedback(stdout, b.Feedback)
	}

	var req model.FeedbackRequest
	if *label != "" {
		lines, sid, err := feedbackLines(*linesF, *sessionsF, *session)
		if err != nil {
			return err
		}
		req = model.FeedbackRequest{Action: *label, SessionID: sid, Lines: lines, Who: *whoF, Why: *why}
	}

	ref := b.Manifest.Encoder.Name
	if *encDir != "" {
		ref = *encDir
	}
	enc, closeEnc, err := loadEncoder(ref, 0)
	if err != nil {
		return err
	}
	defer closeEnc()
	c, err := compose.Cascade(b, model.CascadeOptions{Encoder: newCache(enc)})
	if err != nil {
		return err
	}
	var entry bundle.Feedback
	if *undo != "" {
		entry, err = c.Undo(ctx, *undo, *whoF)
	} else {
		entry, err = c.Teach(ctx, req)
	}
	if err != nil {
		return err
	}
	if _, err := bundle.Save(*modelDir, c.Bundle()); err != nil {
		return err
	}
	verb := "applied"
	if *undo != "" {
		verb = "undone"
	}
	fmt.Fprintf(stdout, "%s %s: %s, %d lines; model version %s\n", entry.ID, verb, entry.Action, len(entry.Lines), c.ModelVersion())
	return nil
}

// feedbackLines reads the session to label: from a lines file, or by id from
// a JSONL session file (the flags are checked already).
func feedbackLines(linesF, sessionsF, id string) ([]string, string, error) {
	if sessionsF != "" {
		ss, err := dataset.ReadFile(sessionsF)
		if err != nil {
			return nil, "", err
		}
		for _, s := range ss {
			if s.ID == id {
				return s.Lines, id, nil
			}
		}
		return nil, "", fmt.Errorf("session %q is not in %s", id, sessionsF)
	}
	r := io.Reader(os.Stdin)
	if linesF != "-" {
		f, err := os.Open(linesF)
		if err != nil {
			return nil, "", err
		}
		defer f.Close()
		r = f
	}
	var lines []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if l := strings.TrimRight(sc.Text(), "\r"); l != "" {
			lines = append(lines, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, "", fmt.Errorf("reading %s: %w", linesF, err)
	}
	if len(lines) == 0 {
		return nil, "", fmt.Errorf("%s holds no lines", linesF)
	}
	return lines, "", nil
}

func printFeedback(w io.Writer, fb []bundle.Feedback) error {
	if len(fb) == 0 {
		_, err := fmt.Fprintln(w, "no feedback")
		return err
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tLABEL\tSTATE\tWHEN\tWHO\tSESSION\tWHY\tFIRST LINE")
	for _, f := range fb {
		state := "active"
		if !f.Active() {
			state = "undone " + f.Undone.Format("2006-01-02T15:04:05Z") + " by " + orDash(f.UndoneBy)
		}
		first := ""
		if len(f.Lines) > 0 {
			first = f.Lines[0]
			if r := []rune(first); len(r) > 60 {
				first = string(r[:57]) + "..."
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.ID, f.Action, state, f.Time.Format("2006-01-02T15:04:05Z"),
			orDash(f.Who), orDash(f.SessionID), orDash(f.Why), first)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
