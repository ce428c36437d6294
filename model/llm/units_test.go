package llm

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coorlog/coorlogprocessor/model/core"
)

func TestParseAnswer(t *testing.T) {
	for _, c := range []struct {
		kind answerKind
		in   string
		ok   bool
		yes  bool
	}{
		{answerEvolution, `{"is_evolution": true, "reason": "same"}`, true, true},
		{answerEvolution, " \n{\"reason\": \"r\", \"is_evolution\": false}\n ", true, false},
		{answerState, `{"state": "abnormal", "reason": "error"}`, true, true},
		{answerState, `{"state": "normal", "reason": ""}`, true, false},
		{answerState, `{"state": "Normal", "reason": "x"}`, false, false},
		{answerState, `{"state": "maybe", "reason": "x"}`, false, false},
		{answerState, `{"state": true, "reason": "x"}`, false, false},
		{answerState, `{"state": "normal"}`, false, false},
		{answerState, `{"reason": "x"}`, false, false},
		{answerState, `{"state": "normal", "reason": "x", "confidence": 0.9}`, false, false},
		{answerState, `{"state": "normal", "reason": "x", "state": "abnormal"}`, false, false},
		{answerState, `{"state": "normal", "reason": ["x"]}`, false, false},
		{answerState, `{"state": "normal", "reason": 3}`, false, false},
		{answerState, `{"state": "normal", "reason": null}`, false, false},
		{answerState, `{"state": "normal", "reason": "x"} {"state": "abnormal", "reason": "y"}`, false, false},
		{answerState, `{"state": "normal", "reason": "x"} trailing`, false, false},
		{answerState, "```json\n{\"state\": \"normal\", \"reason\": \"x\"}\n```", false, false},
		{answerState, `[{"state": "normal", "reason": "x"}]`, false, false},
		{answerState, `{"state": "normal", "reason": "x"`, false, false},
		{answerState, ``, false, false},
		{answerState, `null`, false, false},
		{answerEvolution, `{"is_evolution": "true", "reason": "x"}`, false, false},
		{answerEvolution, `{"is_evolution": 1, "reason": "x"}`, false, false},
		{answerEvolution, `{"state": "normal", "reason": "x"}`, false, false},
		{answerEvolution, "{\"is_evolution\": true, \"reason\": \"\xff\"}", false, false},
	} {
		a, err := parseAnswer(c.kind, c.in)
		if (err == nil) != c.ok {
			t.Errorf("parseAnswer(%q): err = %v, want ok=%v", c.in, err, c.ok)
			continue
		}
		if err != nil && !errors.Is(err, errSchema) {
			t.Errorf("parseAnswer(%q): error does not wrap errSchema: %v", c.in, err)
		}
		if c.ok && a.Yes != c.yes {
			t.Errorf("parseAnswer(%q).Yes = %v", c.in, a.Yes)
		}
	}
	if _, err := parseAnswer(answerState, `{"state":"normal","reason":"`+strings.Repeat("a", maxAnswerBytes)+`"}`); err == nil {
		t.Error("oversized answers must be rejected")
	}
}

// FuzzParseResponse: the parser never panics, accepts only objects that
// re-encode to an equivalent valid answer, and its errors never echo input.
func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{
		`{"is_evolution": true, "reason": "same"}`, `{"state": "abnormal", "reason": "x"}`,
		`{"state": "maybe", "reason": "x"}`, `{"a":{"b":[1,2,{"c":null}]}}`, `{"state":"normal","reason":"x"}{}`,
		"", "{", `"just a string"`, `{"reason": "\u0000\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, kind := range []answerKind{answerEvolution, answerState} {
			a, err := parseAnswer(kind, string(data))
			if err != nil {
				if !errors.Is(err, errSchema) {
					t.Fatalf("error does not wrap errSchema: %v", err)
				}
				if len(data) > 8 && strings.Contains(err.Error(), string(data)) {
					t.Fatalf("error echoes the input: %v", err)
				}
				continue
			}
			// An accepted answer survives a round trip through the schema.
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil || len(m) != 2 {
				t.Fatalf("accepted %q, which is not a two-field object (%v)", data, err)
			}
			var re []byte
			if kind == answerEvolution {
				re, _ = json.Marshal(map[string]any{"is_evolution": a.Yes, "reason": a.Reason})
			} else {
				re, _ = json.Marshal(map[string]any{"state": labelName(boolLabel(a.Yes)), "reason": a.Reason})
			}
			b, err := parseAnswer(kind, string(re))
			if err != nil || b != a {
				t.Fatalf("round trip of %q: %+v vs %+v (%v)", data, a, b, err)
			}
			if r := cleanReason(a.Reason, 300); len(r) > 300 || !utf8.ValidString(r) {
				t.Fatalf("cleanReason produced %q", r)
			}
		}
	})
}

func TestSelectLinesCaps(t *testing.T) {
	var lines []string
	for i := range 10000 {
		lines = append(lines, strings.Repeat("x", 1000)+"#"+string(rune('a'+i%26)))
	}
	lines[0], lines[len(lines)-1] = "FIRST line", "LAST line: ERROR"
	got := selectLines(lines, 80, 8<<10, 400)
	total := 0
	for _, l := range got.lines {
		total += len(l) + 1
		if len(l) > 400+40 {
			t.Fatalf("line not cut: %d bytes", len(l))
		}
	}
	if total > 8<<10 || len(got.lines) == 0 {
		t.Fatalf("%d lines, %d bytes: caps not honoured", len(got.lines), total)
	}
	if got.lines[0] != `"FIRST line"` || got.lines[len(got.lines)-1] != `"LAST line: ERROR"` {
		t.Fatalf("head and tail must be kept: %s ... %s", got.lines[0], got.lines[len(got.lines)-1])
	}
	// Line cap, with head/tail split and order kept.
	small := []string{"a", "b", "c", "d", "e", "f", "g"}
	s := selectLines(small, 4, 1<<20, 400)
	if strings.Join(s.lines, "") != `"a""b""f""g"` || s.head != 2 {
		t.Fatalf("line cap: %v head %d", s.lines, s.head)
	}
	// One line larger than the byte cap is still shown (cut).
	one := selectLines([]string{strings.Repeat("é", 1000)}, 80, 100, 64)
	if len(one.lines) != 1 || !utf8.ValidString(one.lines[0]) || !strings.Contains(one.lines[0], "more bytes]") {
		t.Fatalf("oversized single line: %v", one.lines)
	}
	if s := selectLines(nil, 10, 10, 16); len(s.lines) != 0 {
		t.Fatal("empty session")
	}
}

func TestHugeSessionPromptIsBounded(t *testing.T) {
	p, err := newPrompter(400)
	if err != nil {
		t.Fatal(err)
	}
	huge := make([]string, 50000)
	for i := range huge {
		huge[i] = strings.Repeat("log line with words ", 20)
	}
	msgs, err := p.render(promptADCertain, taskVars{Majority: "normal", Uncertainty: "0.00"}, []section{
		{Title: "NEW SESSION", Lines: huge, MaxLines: 80, MaxBytes: 8 << 10},
		{Title: "SIMILAR SESSION 1", Lines: huge, MaxLines: 40, MaxBytes: 4 << 10},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(msgs[1].Content); n > 8<<10+4<<10+4<<10 {
		t.Fatalf("prompt is %d bytes", n)
	}
	if !strings.Contains(msgs[1].Content, "### NEW SESSION: 50000 lines, ") || !strings.Contains(msgs[1].Content, "lines omitted ...]") {
		t.Fatalf("omission not reported")
	}
}

func TestTemplatesRender(t *testing.T) {
	p, err := newPrompter(400)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []promptKind{promptEvolDetect, promptADCertain, promptADUncertain} {
		msgs, err := p.render(k, taskVars{ReferenceLabel: "normal", Majority: "normal", Uncertainty: "0.10", HaveExamples: true},
			[]section{{Title: "NEW SESSION", Lines: []string{"a"}, MaxLines: 5, MaxBytes: 100}})
		if err != nil {
			t.Fatalf("%v: %v", k, err)
		}
		if len(msgs) != 2 || !strings.Contains(msgs[0].Content+msgs[1].Content, "JSON") || strings.Contains(msgs[1].Content, "<no value>") {
			t.Fatalf("%v: bad messages %+v", k, msgs)
		}
		if !strings.Contains(msgs[0].Content, k.answer().schema()) {
			t.Fatalf("%v: system message lacks its schema", k)
		}
	}
	if r, err := p.repair(answerState, "missing field"); err != nil || !strings.Contains(r, stateSchema) {
		t.Fatalf("repair: %q %v", r, err)
	}
}

func TestUncertainty(t *testing.T) {
	nb := func(label int, sim float64) core.Neighbour { return core.Neighbour{Label: label, Similarity: sim} }
	for _, c := range []struct {
		name  string
		nbs   []core.Neighbour
		u, p  float64
		check func(u float64) bool
	}{
		{"agree normal", []core.Neighbour{nb(0, 0.9), nb(0, 0.5)}, 0, 0, nil},
		{"agree abnormal", []core.Neighbour{nb(1, 0.9), nb(1, 0.2)}, 0, 1, nil},
		{"even split", []core.Neighbour{nb(0, 0.8), nb(1, 0.8)}, 1, 0.5, nil},
		{"weighted", []core.Neighbour{nb(0, 0.9), nb(0, 0.9), nb(1, 0.2)}, binaryEntropy(0.1), 0.1, nil},
		{"negative sims ignored", []core.Neighbour{nb(0, 0.9), nb(1, -0.9)}, 0, 0, nil},
		{"all non-positive: uniform", []core.Neighbour{nb(0, -0.1), nb(1, 0), nb(1, math.NaN())}, binaryEntropy(2.0 / 3), 2.0 / 3, nil},
		{"none", nil, 1, 0.5, nil},
	} {
		u, p := Uncertainty(c.nbs)
		if math.Abs(u-c.u) > 1e-9 || math.Abs(p-c.p) > 1e-9 {
			t.Errorf("%s: U=%v p=%v, want %v %v", c.name, u, p, c.u, c.p)
		}
	}
	if u := binaryEntropy(0.11); u < 0.49 || u > 0.51 {
		t.Fatalf("documented threshold point: H(0.11) = %v", u)
	}
}

func TestBudget(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	b := newBudget(600, 0, 0, clock)
	if _, err := b.reserve(500); err != nil {
		t.Fatal(err)
	}
	if _, err := b.reserve(200); !errors.Is(err, ErrBudget) {
		t.Fatalf("bucket at 100 must refuse 200: %v", err)
	}
	b.settle(500, 100) // real usage was lower: 400 back
	if _, err := b.reserve(450); err != nil {
		t.Fatalf("after settling: %v", err)
	}
	now = now.Add(30 * time.Second) // +300
	if _, err := b.reserve(300); err != nil {
		t.Fatalf("after refill: %v", err)
	}
	if _, err := b.reserve(700); err == nil {
		t.Fatal("larger than the bucket")
	}
	// With BudgetWait the caller is told to wait for the refill.
	w := newBudget(600, 0, 20*time.Second, clock)
	_, _ = w.reserve(600)
	if d, err := w.reserve(100); err != nil || d < 9*time.Second || d > 11*time.Second {
		t.Fatalf("wait for 100 tokens at 10/s: %v %v", d, err)
	}
	if _, err := w.reserve(600); !errors.Is(err, ErrBudget) {
		t.Fatal("a wait beyond BudgetWait must fail")
	}

	// Hourly cap over a rolling window.
	h := newBudget(0, 1000, 0, clock)
	for range 4 {
		if _, err := h.reserve(250); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.reserve(1); !errors.Is(err, ErrBudget) {
		t.Fatal("hour cap reached")
	}
	now = now.Add(30 * time.Minute)
	if _, err := h.reserve(1); !errors.Is(err, ErrBudget) {
		t.Fatal("still within the hour")
	}
	now = now.Add(31 * time.Minute)
	if _, err := h.reserve(900); err != nil {
		t.Fatalf("an hour later: %v", err)
	}
	if d, err := newBudget(0, 0, 0, clock).reserve(1 << 30); d != 0 || err != nil {
		t.Fatal("no limits")
	}
}

func TestVerdictCacheLRU(t *testing.T) {
	c := newVerdictCache(2)
	ctx := context.Background()
	put := func(k string, reason string) {
		key := cacheKeyOf(k)
		_, hit, owner, err := c.acquire(ctx, key)
		if err != nil || hit || !owner {
			t.Fatalf("acquire %s: hit=%v owner=%v err=%v", k, hit, owner, err)
		}
		c.release(key, core.Judgement{Reason: reason}, true)
	}
	get := func(k string) (string, bool) {
		j, hit, owner, _ := c.acquire(ctx, cacheKeyOf(k))
		if owner {
			c.release(cacheKeyOf(k), core.Judgement{}, false)
		}
		return j.Reason, hit
	}
	put("a", "A")
	put("b", "B")
	if r, ok := get("a"); !ok || r != "A" { // a becomes most recent
		t.Fatal("a missing")
	}
	put("c", "C") // evicts b
	if _, ok := get("b"); ok {
		t.Fatal("b should be evicted")
	}
	if _, ok := get("a"); !ok {
		t.Fatal("a should survive")
	}
	if c.len() != 2 {
		t.Fatalf("len %d", c.len())
	}
	// A failed owner hands over to a waiter.
	key := cacheKeyOf("d")
	_, _, owner, _ := c.acquire(ctx, key)
	var wg sync.WaitGroup
	var second bool
	wg.Go(func() {
		_, _, second, _ = c.acquire(ctx, key)
		if second {
			c.release(key, core.Judgement{}, false)
		}
	})
	time.Sleep(10 * time.Millisecond)
	c.release(key, core.Judgement{}, false)
	wg.Wait()
	if !owner || !second {
		t.Fatal("after a failed owner the waiter must own the key")
	}
}

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig()
	good.BaseURL, good.Model = "https://api.example.com/v1", "m"
	if err := good.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for name, mut := range map[string]func(c *Config){
		"no base url":     func(c *Config) { c.BaseURL = "" },
		"relative url":    func(c *Config) { c.BaseURL = "/v1" },
		"ftp url":         func(c *Config) { c.BaseURL = "ftp://x/v1" },
		"userinfo":        func(c *Config) { c.BaseURL = "https://u:p@x/v1" },
		"no model":        func(c *Config) { c.Model = "" },
		"temperature":     func(c *Config) { c.Temperature = 3 },
		"top_p":           func(c *Config) { c.TopP = 1.5 },
		"threshold":       func(c *Config) { c.UncertaintyThreshold = -0.1 },
		"retries":         func(c *Config) { c.MaxRetries = -1 },
		"timeout":         func(c *Config) { c.Timeout = -time.Second },
		"line bytes":      func(c *Config) { c.MaxLineBytes = 3 },
		"bad redact":      func(c *Config) { c.Redact = []string{"a("} },
		"negative budget": func(c *Config) { c.TokensPerMinute = -5 },
	} {
		c := good
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: want an error", name)
		} else if _, err := New(c); err == nil {
			t.Errorf("%s: New must refuse it", name)
		}
	}
	// Zero values of "meaningless zero" fields get defaults.
	z := Config{BaseURL: "http://x/v1", Model: "m"}.withDefaults()
	if z.Timeout != 30*time.Second || z.TopK != 3 || z.MaxConcurrent != 4 || z.TopP != 0.95 || z.Temperature != 0 {
		t.Fatalf("withDefaults: %+v", z)
	}
}
