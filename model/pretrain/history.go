package pretrain

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/coorlog/coorlogprocessor/internal/plot"
)

// history buffers loss rows and appends them to a CSV file at epoch ends, so
// the file only ever holds finished epochs (what a resumed run continues).
type history struct {
	path string
	rows [][]string
}

var historyHeader = []string{"step", "epoch", "stage", "train_loss", "val_loss", "lr"}

func (h *history) add(step, epoch int, stage string, train, val, lr float64) {
	f := func(x float64) string {
		if math.IsNaN(x) {
			return ""
		}
		return strconv.FormatFloat(x, 'g', 6, 64)
	}
	h.rows = append(h.rows, []string{strconv.Itoa(step), strconv.Itoa(epoch), stage, f(train), f(val), f(lr)})
}

func (h *history) flush() error {
	_, err := os.Stat(h.path)
	fresh := os.IsNotExist(err)
	f, err := os.OpenFile(h.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	w := csv.NewWriter(f)
	if fresh {
		_ = w.Write(historyHeader)
	}
	_ = w.WriteAll(h.rows) // WriteAll flushes
	if err := w.Error(); err != nil {
		f.Close()
		return fmt.Errorf("history %s: %w", h.path, err)
	}
	h.rows = h.rows[:0]
	if err := f.Close(); err != nil {
		return fmt.Errorf("history %s: %w", h.path, err)
	}
	return nil
}

// plotHistory draws the training loss (per logged step) and the validation
// loss (per epoch) against the step.
func plotHistory(csvPath, pngPath string) error {
	f, err := os.Open(csvPath)
	if err != nil {
		return fmt.Errorf("loss plot: %w", err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return fmt.Errorf("loss plot %s: %w", csvPath, err)
	}
	// One train and one validation series per stage: the losses of the two
	// stages are on different scales and must not be joined by a line.
	type pair struct{ tr, va plot.Series }
	var order []string
	byStage := map[string]*pair{}
	for i, r := range rows {
		if i == 0 || len(r) < 5 {
			continue
		}
		step, err := strconv.ParseFloat(r[0], 64)
		if err != nil {
			return fmt.Errorf("loss plot %s row %d: %w", csvPath, i+1, err)
		}
		p := byStage[r[2]]
		if p == nil {
			p = &pair{tr: plot.Series{Name: r[2] + " train"}, va: plot.Series{Name: r[2] + " validation", Dashed: true}}
			byStage[r[2]] = p
			order = append(order, r[2])
		}
		if v, err := strconv.ParseFloat(r[3], 64); err == nil {
			p.tr.X, p.tr.Y = append(p.tr.X, step), append(p.tr.Y, v)
		}
		if v, err := strconv.ParseFloat(r[4], 64); err == nil {
			p.va.X, p.va.Y = append(p.va.X, step), append(p.va.Y, v)
		}
	}
	var series []plot.Series
	for _, st := range order {
		if p := byStage[st]; len(p.tr.X) > 0 {
			series = append(series, p.tr)
		}
		if p := byStage[st]; len(p.va.X) > 0 {
			series = append(series, p.va)
		}
	}
	if len(series) == 0 {
		return fmt.Errorf("loss plot %s: no rows", csvPath)
	}
	return plot.WritePNG(pngPath, plot.Chart{
		Title:  "Default encoder pretraining on Loghub (MLM, then contrastive)",
		XLabel: "optimizer step", YLabel: "loss (cross-entropy, nats)",
		Series: series,
	})
}

func writeLines(path string, lines []string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readVocab(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: empty vocabulary", path)
	}
	return out, nil
}
