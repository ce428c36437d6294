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

var historyHeader = []string{"step", "epoch", "train_loss", "val_loss", "lr"}

func (h *history) add(step, epoch int, train, val, lr float64) {
	f := func(x float64) string {
		if math.IsNaN(x) {
			return ""
		}
		return strconv.FormatFloat(x, 'g', 6, 64)
	}
	h.rows = append(h.rows, []string{strconv.Itoa(step), strconv.Itoa(epoch), f(train), f(val), f(lr)})
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
	var tr, va plot.Series
	tr.Name, va.Name = "train (masked LM)", "validation (held-out lines)"
	for i, r := range rows {
		if i == 0 || len(r) < 4 {
			continue
		}
		step, err := strconv.ParseFloat(r[0], 64)
		if err != nil {
			return fmt.Errorf("loss plot %s row %d: %w", csvPath, i+1, err)
		}
		if v, err := strconv.ParseFloat(r[2], 64); err == nil {
			tr.X, tr.Y = append(tr.X, step), append(tr.Y, v)
		}
		if v, err := strconv.ParseFloat(r[3], 64); err == nil {
			va.X, va.Y = append(va.X, step), append(va.Y, v)
		}
	}
	series := []plot.Series{tr}
	if len(va.X) > 0 {
		series = append(series, va)
	}
	return plot.WritePNG(pngPath, plot.Chart{
		Title:  "Default encoder pretraining: masked language modelling on Loghub",
		XLabel: "optimizer step", YLabel: "cross-entropy (nats)",
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
