package defaultencoder

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coorlog/coorlogprocessor/internal/shareddata"
	"github.com/coorlog/coorlogprocessor/internal/torchrt"
	"github.com/coorlog/coorlogprocessor/model"
	"github.com/coorlog/coorlogprocessor/model/encoder"
	"github.com/coorlog/coorlogprocessor/model/internal/vec"
	"github.com/coorlog/coorlogprocessor/model/normalize"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
)

type qualityRow struct{ id, kind, line string }

func readQualityFixture(t *testing.T) []qualityRow {
	f, err := os.Open(filepath.Join("testdata", "hdfs_quality.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []qualityRow
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		p := strings.SplitN(l, "\t", 3)
		if len(p) != 3 || (p[1] != "template" && p[1] != "paraphrase") {
			t.Fatalf("bad fixture line %q", l)
		}
		rows = append(rows, qualityRow{p[0], p[1], p[2]})
	}
	return rows
}

// quality embeds the fixture with enc (lines normalised first, as the
// embedding cache does) and returns, per template, its nearest other
// template, and the share of paraphrases nearest their own template.
type qualityResult struct {
	ids       []string
	nearest   []int     // index into ids of each template's nearest other template
	nearSim   []float64 // its cosine similarity
	hits, all int       // paraphrases nearest their own template
	misses    []string
}

func quality(t *testing.T, enc model.Encoder, rows []qualityRow) qualityResult {
	var tplText, parText, parID []string
	var r qualityResult
	for _, row := range rows {
		if row.kind == "template" {
			r.ids = append(r.ids, row.id)
			tplText = append(tplText, normalize.Line(row.line))
		} else {
			parText = append(parText, normalize.Line(row.line))
			parID = append(parID, row.id)
		}
	}
	ctx := context.Background()
	tv, err := enc.Embed(ctx, tplText)
	if err != nil {
		t.Fatal(err)
	}
	pv, err := enc.Embed(ctx, parText)
	if err != nil {
		t.Fatal(err)
	}
	for i := range tv {
		best, bs := -1, math.Inf(-1)
		for j := range tv {
			if j != i {
				if s := vec.Cosine(tv[i], tv[j]); s > bs {
					best, bs = j, s
				}
			}
		}
		r.nearest, r.nearSim = append(r.nearest, best), append(r.nearSim, bs)
	}
	for k, v := range pv {
		best, bs := -1, math.Inf(-1)
		for j := range tv {
			if s := vec.Cosine(v, tv[j]); s > bs {
				best, bs = j, s
			}
		}
		r.all++
		if r.ids[best] == parID[k] {
			r.hits++
		} else {
			r.misses = append(r.misses, fmt.Sprintf("%s %q -> %s", parID[k], parText[k], r.ids[best]))
		}
	}
	return r
}

// TestQualityHDFS is the quality sanity check of issue 3 on the HDFS
// templates: each template's nearest neighbour (a table, logged), and the
// share of hand-written paraphrases nearer their own template than any
// other, for the default encoder and, as a floor, for a BERT of the same
// shape and vocabulary with random weights.
func TestQualityHDFS(t *testing.T) {
	rows := readQualityFixture(t)
	if tpl := hdfsTemplates(t); tpl != nil {
		have := map[string]bool{}
		for _, r := range rows {
			have[r.id] = true
		}
		for id := range tpl {
			if !have[id] {
				t.Errorf("fixture lacks template %s", id)
			}
		}
	}
	// COORLOG_QUALITY_MODEL evaluates another checkpoint directory instead
	// (e.g. the MLM-only stage of a pretraining run).
	var enc *encoder.Encoder
	var err error
	if dir := os.Getenv("COORLOG_QUALITY_MODEL"); dir != "" {
		enc, err = encoder.Load(dir, encoder.Options{})
	} else {
		enc, err = Load(encoder.Options{})
	}
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	got := quality(t, enc, rows)

	random := randomTwin(t, enc)
	defer random.Close()
	base := quality(t, random, rows)

	var b strings.Builder
	b.WriteString("\n| template | nearest other template | cosine |\n|---|---|---|\n")
	text := map[string]string{}
	for _, r := range rows {
		if r.kind == "template" {
			text[r.id] = r.line
		}
	}
	for i, id := range got.ids {
		fmt.Fprintf(&b, "| %s `%s` | %s `%s` | %.3f |\n", id, clip(text[id]), got.ids[got.nearest[i]], clip(text[got.ids[got.nearest[i]]]), got.nearSim[i])
	}
	fmt.Fprintf(&b, "\nparaphrase nearest its own template: default encoder %d/%d (%.1f%%), random-weight twin %d/%d (%.1f%%)\n",
		got.hits, got.all, 100*float64(got.hits)/float64(got.all), base.hits, base.all, 100*float64(base.hits)/float64(base.all))
	b.WriteString("misses of the default encoder:\n  " + strings.Join(got.misses, "\n  ") + "\n")
	t.Log(b.String())
	if out := os.Getenv("COORLOG_QUALITY_REPORT"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if rate := float64(got.hits) / float64(got.all); rate < 0.8 {
		t.Errorf("only %.1f%% of paraphrases are nearest their own template", 100*rate)
	}
	if got.hits < base.hits {
		t.Errorf("pretrained encoder (%d) no better than random weights (%d)", got.hits, base.hits)
	}
}

func clip(s string) string {
	if len(s) > 70 {
		return s[:67] + "..."
	}
	return s
}

// randomTwin is a BERT with the default encoder's shape and tokenizer but
// random weights.
func randomTwin(t *testing.T, like *encoder.Encoder) *encoder.Encoder {
	torchrt.ManualSeed(1)
	vs := nn.NewVarStore(gotch.CPU)
	t.Cleanup(vs.Destroy)
	bert := encoder.NewBert(vs.Root(), like.Config())
	e, err := encoder.NewEncoder(bert, like.Tokenizer(), encoder.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// hdfsTemplates reads ../shared/data/loghub/HDFS_templates.csv (nil when absent).
func hdfsTemplates(t *testing.T) map[string]string {
	dir, err := shareddata.Dir()
	if err != nil {
		t.Logf("shared data not found (%v): fixture coverage not checked", err)
		return nil
	}
	raw, err := os.ReadFile(filepath.Join(dir, "loghub", "HDFS_templates.csv"))
	if err != nil {
		t.Logf("HDFS_templates.csv not found (%v): fixture coverage not checked", err)
		return nil
	}
	out := map[string]string{}
	for i, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if i == 0 {
			continue
		}
		if id, tpl, ok := strings.Cut(l, ","); ok {
			out[id] = tpl
		}
	}
	return out
}
