package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/coorlog/coorlogprocessor/internal/plot"
)

// tauPoint is one x of the tau sensitivity figure (CoorLog Fig. 3a): with tau
// at quantile Q of the validation reconstruction errors, how well the small
// model does on the sessions below tau (which it keeps) and above (which go to
// the LLM), and how many go to the LLM.
type tauPoint struct {
	Quantile  float64   `json:"quantile"`
	Tau       float64   `json:"tau"`
	LowF1     jsonFloat `json:"low_error_f1"`
	HighF1    jsonFloat `json:"high_error_f1"`
	HighShare jsonFloat `json:"high_error_share"`
	Low       confusion `json:"low_error_confusion"`
	High      confusion `json:"high_error_confusion"`
}

// tauSensitivity groups sessions by reconstruction error against tau(q).
func tauSensitivity(recErr []float64, smallAnomaly []bool, labels []int, tauAt func(q float64) float64, qs []float64) []tauPoint {
	out := make([]tauPoint, 0, len(qs))
	for _, q := range qs {
		p := tauPoint{Quantile: q, Tau: tauAt(q)}
		high := 0
		for i, e := range recErr {
			if e >= p.Tau {
				high++
				p.High.add(labels[i], smallAnomaly[i])
			} else {
				p.Low.add(labels[i], smallAnomaly[i])
			}
		}
		p.LowF1, p.HighF1 = jsonFloat(p.Low.f1()), jsonFloat(p.High.f1())
		p.HighShare = jsonFloat(ratio(high, len(recErr)))
		out = append(out, p)
	}
	return out
}

func tauQuantiles() []float64 {
	return []float64{0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.975, 0.99}
}

func writeTauPlot(path, title string, pts []tauPoint) error {
	var x, lo, hi, share []float64
	for _, p := range pts {
		x = append(x, p.Quantile)
		lo = append(lo, float64(p.LowF1))
		hi = append(hi, float64(p.HighF1))
		share = append(share, float64(p.HighShare))
	}
	return plot.WritePNG(path, plot.Chart{
		Title: title, XLabel: "tau quantile of validation reconstruction error", YLabel: "F1 / share",
		YMin: 0, YMax: 1.4,
		Series: []plot.Series{
			{Name: "small model F1, low-error group (rec < tau)", X: x, Y: lo},
			{Name: "small model F1, high-error group (rec >= tau)", X: x, Y: hi},
			{Name: "high-error share (sent to LLM)", X: x, Y: share, Dashed: true},
		},
	})
}

// writeStreamPlot draws LLM calls per 1,000 sessions over the stream.
func writeStreamPlot(path, title string, runs []runStats) error {
	var series []plot.Series
	for _, r := range runs {
		if r.Window <= 0 || len(r.CallsPerWindow) == 0 || r.LLMJudged == 0 {
			continue // no LLM stage in this method
		}
		var x, y []float64
		for i, c := range r.CallsPerWindow {
			end := min((i+1)*r.Window, r.Sessions)
			size := end - i*r.Window
			x = append(x, float64(end))
			y = append(y, float64(c)*1000/float64(size))
		}
		// (b) and (c) coincide when every session is evolved: dash (b).
		series = append(series, plot.Series{Name: r.Method, X: x, Y: y, Dashed: strings.HasPrefix(r.Method, "(b)")})
	}
	if len(series) == 0 {
		return fmt.Errorf("stream plot %s: no run has LLM call windows", filepath.Base(path))
	}
	return plot.WritePNG(path, plot.Chart{Title: title, XLabel: "sessions processed", YLabel: "LLM calls per 1,000 sessions", Series: series})
}
