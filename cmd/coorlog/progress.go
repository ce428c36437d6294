package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progress is a plain text progress bar on stderr: redrawn in place at most
// ten times a second, with a rate and an estimate of the time left. It has no
// terminal dependency: on a file it leaves readable lines.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	label string
	total int
	done  int
	start time.Time
	last  time.Time
}

func newProgress(w io.Writer, label string, total int) *progress {
	p := &progress{w: w, label: label, total: total, start: time.Now()}
	p.draw(false)
	return p
}

// Add records n more items done.
func (p *progress) Add(n int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	if time.Since(p.last) >= 100*time.Millisecond {
		p.draw(false)
	}
}

// Done draws the final state and ends the line.
func (p *progress) Done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw(true)
}

func (p *progress) draw(final bool) {
	p.last = time.Now()
	el := time.Since(p.start)
	const width = 30
	frac := 0.0
	if p.total > 0 {
		frac = min(1, float64(p.done)/float64(p.total))
	}
	n := int(frac * width)
	bar := strings.Repeat("=", n) + strings.Repeat(" ", width-n)
	rate := float64(p.done) / max(el.Seconds(), 1e-9)
	eta := "?"
	if rate > 0 && p.total > 0 {
		eta = time.Duration(float64(p.total-p.done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	end := ""
	if final {
		end = "\n"
		eta = el.Round(time.Millisecond).String() + " total"
	}
	fmt.Fprintf(p.w, "\r%-22s [%s] %d/%d %.0f/s %s   %s", p.label, bar, p.done, p.total, rate, eta, end)
}
