package normalize

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/coorlog/coorlogprocessor/internal/shareddata"
)

func loghubDir(t testing.TB) string { return shareddata.Require(t, "loghub") }

func readLines(t testing.TB, path string) []string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, strings.TrimRight(sc.Text(), " \r"))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func readCSV(t testing.TB, path string) [][]string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows[1:] // header
}

// consistency measures how well normalisation groups lines by template:
// same is the share of lines whose normalised form is their template's most
// common one; pure is the share of lines whose normalised form no line of
// another template has; distinct counts normalised strings.
type consistency struct {
	lines, templates, distinct int
	same, pure                 float64
}

func measure(labels, lines []string) consistency {
	byTpl := map[string]map[string]int{}
	tplsOf := map[string]map[string]bool{}
	for i, l := range lines {
		n := Line(l)
		if byTpl[labels[i]] == nil {
			byTpl[labels[i]] = map[string]int{}
		}
		byTpl[labels[i]][n]++
		if tplsOf[n] == nil {
			tplsOf[n] = map[string]bool{}
		}
		tplsOf[n][labels[i]] = true
	}
	c := consistency{lines: len(lines), templates: len(byTpl), distinct: len(tplsOf)}
	sameN, pureN := 0, 0
	for _, m := range byTpl {
		best := 0
		for n, k := range m {
			best = max(best, k)
			if len(tplsOf[n]) == 1 {
				pureN += k
			}
		}
		sameN += best
	}
	c.same = float64(sameN) / float64(len(lines))
	c.pure = float64(pureN) / float64(len(lines))
	return c
}

// TestTemplateConsistencyStructured uses the per-line template ids of the
// *_structured.csv files, on the message (Content) and on the raw line.
func TestTemplateConsistencyStructured(t *testing.T) {
	dir := loghubDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*_2k.log_structured.csv"))
	if len(files) == 0 {
		t.Skip("no *_structured.csv files")
	}
	var all consistency
	var labels, contents []string
	for _, f := range files {
		sys := strings.TrimSuffix(filepath.Base(f), "_2k.log_structured.csv")
		rows := readCSV(t, f)
		raw := readLines(t, strings.TrimSuffix(f, "_structured.csv"))
		var lab, content, rawL []string
		for i, r := range rows {
			// LineId first; Content, EventId, EventTemplate last.
			if len(r) < 4 || i >= len(raw) {
				continue
			}
			lab = append(lab, sys+"/"+r[len(r)-2])
			content = append(content, r[len(r)-3])
			rawL = append(rawL, raw[i])
		}
		c, r := measure(lab, content), measure(lab, rawL)
		t.Logf("%-12s lines %4d templates %3d | content: same %.3f pure %.3f distinct %4d | raw line: same %.3f pure %.3f distinct %4d",
			sys, c.lines, c.templates, c.same, c.pure, c.distinct, r.same, r.pure, r.distinct)
		labels, contents = append(labels, lab...), append(contents, content...)
		if c.same < 0.6 {
			t.Errorf("%s: only %.3f of lines share their template's normalised form", sys, c.same)
		}
	}
	all = measure(labels, contents)
	t.Logf("ALL          lines %4d templates %3d | content: same %.3f pure %.3f distinct %4d", all.lines, all.templates, all.same, all.pure, all.distinct)
	if all.same < 0.9 {
		t.Errorf("overall only %.3f of lines share their template's normalised form", all.same)
	}
}

// TestTemplateConsistencyAllSystems labels the raw lines of all 16 systems by
// matching them against the loghub templates (<*> = anything; the most
// specific matching template wins) and measures the same figures.
func TestTemplateConsistencyAllSystems(t *testing.T) {
	dir := loghubDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*_2k.log_templates.csv"))
	if len(files) == 0 {
		t.Skip("no *_templates.csv files")
	}
	sort.Strings(files)
	var sumSame, sumLines float64
	var rows []string
	for _, f := range files {
		sys := strings.TrimSuffix(filepath.Base(f), "_2k.log_templates.csv")
		tpls := compileTemplates(t, readCSV(t, f))
		raw := readLines(t, strings.TrimSuffix(f, "_templates.csv"))
		var lab, lines []string
		for _, l := range raw {
			if id := matchTemplate(tpls, l); id != "" {
				lab = append(lab, id)
				lines = append(lines, l)
			}
		}
		if len(lines) == 0 {
			continue
		}
		c := measure(lab, lines)
		rows = append(rows, fmt.Sprintf("| %s | %d | %d | %d | %.3f | %.3f |", sys, c.lines, c.templates, c.distinct, c.same, c.pure))
		sumSame += c.same * float64(c.lines)
		sumLines += float64(c.lines)
	}
	t.Logf("\n| system | labelled lines | templates | normalised strings | same | pure |\n|---|---|---|---|---|---|\n%s", strings.Join(rows, "\n"))
	rate := sumSame / sumLines
	t.Logf("all systems: %.0f labelled lines, same-template rate %.3f", sumLines, rate)
	// Raw lines keep host and process names of the header, which no masking
	// can know to be variable: the rate is lower than on messages alone.
	if rate < 0.8 {
		t.Errorf("same-template rate %.3f < 0.8", rate)
	}
}

type template struct {
	id      string
	re      *regexp.Regexp
	literal string // the longest literal fragment: a cheap prefilter
	weight  int    // literal characters: the most specific template wins
}

func compileTemplates(t testing.TB, rows [][]string) []template {
	var out []template
	for _, r := range rows {
		if len(r) < 2 {
			continue
		}
		parts := strings.Split(strings.TrimSpace(r[1]), "<*>")
		var b strings.Builder
		tp := template{id: r[0]}
		for i, p := range parts {
			if i > 0 {
				b.WriteString(".*?")
			}
			b.WriteString(regexp.QuoteMeta(p))
			tp.weight += len(strings.TrimSpace(p))
			if len(p) > len(tp.literal) {
				tp.literal = p
			}
		}
		re, err := regexp.Compile(b.String() + `\s*$`)
		if err != nil {
			t.Fatalf("template %q: %v", r[1], err)
		}
		tp.re = re
		out = append(out, tp)
	}
	return out
}

func matchTemplate(tpls []template, line string) string {
	best, bestW := "", -1
	for _, tp := range tpls {
		if tp.weight > bestW && strings.Contains(line, tp.literal) && tp.re.MatchString(line) {
			best, bestW = tp.id, tp.weight
		}
	}
	return best
}

// BenchmarkLineLoghub: one op is one line of the 16 Loghub 2k logs in turn
// (32,000 lines of as many systems); BenchmarkLineHDFS: of the HDFS one.
func BenchmarkLineLoghub(b *testing.B) { benchLines(b, "*_2k.log") }
func BenchmarkLineHDFS(b *testing.B)   { benchLines(b, "HDFS_2k.log") }

func benchLines(b *testing.B, pattern string) {
	files, err := filepath.Glob(filepath.Join(loghubDir(b), pattern))
	if err != nil || len(files) == 0 {
		b.Fatalf("no %s in the Loghub data: %v", pattern, err)
	}
	var lines []string
	for _, f := range files {
		lines = append(lines, readLines(b, f)...)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = Line(lines[i%len(lines)])
	}
}
