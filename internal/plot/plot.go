// Package plot writes the project's figures as PNG files (gonum.org/v1/plot):
// line charts of one or more series, with optional logarithmic x axis.
package plot

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Series is one named line.
type Series struct {
	Name string
	X, Y []float64
	// Dashed draws the line dashed (e.g. a secondary quantity or a target).
	Dashed bool
}

// Chart describes one figure.
type Chart struct {
	Title, XLabel, YLabel string
	Series                []Series
	LogX, LogY            bool
	// YMin/YMax fix the y range when YMax > YMin (leave room at the top for
	// the legend); otherwise it fits the data plus headroom for the legend.
	YMin, YMax float64
	// Width and Height in inches (default 6 x 4).
	Width, Height float64
}

// A palette that stays readable in print and for common colour blindness.
var palette = []color.Color{
	color.RGBA{0, 114, 178, 255}, color.RGBA{213, 94, 0, 255}, color.RGBA{0, 158, 115, 255},
	color.RGBA{204, 121, 167, 255}, color.RGBA{230, 159, 0, 255}, color.RGBA{86, 180, 233, 255},
	color.RGBA{0, 0, 0, 255},
}

// WritePNG renders the chart to path (directories are created). Series with
// mismatched or empty data are an error; NaN points are skipped.
func WritePNG(path string, c Chart) error {
	if len(c.Series) == 0 {
		return errors.New("plot: no series")
	}
	p := gplot.New()
	p.Title.Text = c.Title
	p.X.Label.Text = c.XLabel
	p.Y.Label.Text = c.YLabel
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	if c.LogX {
		p.X.Scale = gplot.LogScale{}
		p.X.Tick.Marker = gplot.LogTicks{Prec: -1}
	}
	for i, s := range c.Series {
		if len(s.X) != len(s.Y) {
			return fmt.Errorf("plot %q: series %q has %d x and %d y values", c.Title, s.Name, len(s.X), len(s.Y))
		}
		pts := make(plotter.XYs, 0, len(s.X))
		for k := range s.X {
			if math.IsNaN(s.X[k]) || math.IsNaN(s.Y[k]) || math.IsInf(s.Y[k], 0) || (c.LogX && s.X[k] <= 0) || (c.LogY && s.Y[k] <= 0) {
				continue
			}
			pts = append(pts, plotter.XY{X: s.X[k], Y: s.Y[k]})
		}
		if len(pts) == 0 {
			return fmt.Errorf("plot %q: series %q has no plottable points", c.Title, s.Name)
		}
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return fmt.Errorf("plot %q: series %q: %w", c.Title, s.Name, err)
		}
		col := palette[i%len(palette)]
		l.Color, sc.Color = col, col
		l.Width = vg.Points(1.5)
		sc.Shape = draw.CircleGlyph{}
		sc.Radius = vg.Points(2)
		if s.Dashed {
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		p.Add(l, sc)
		p.Legend.Add(s.Name, l, sc)
	}
	if c.YMax > c.YMin {
		p.Y.Min, p.Y.Max = c.YMin, c.YMax
	}
	if c.LogY {
		p.Y.Scale = gplot.LogScale{}
		p.Y.Tick.Marker = gplot.LogTicks{Prec: -1}
	}
	// Headroom above the data for the legend, which sits at the top.
	if c.YMax <= c.YMin {
		if c.LogY {
			p.Y.Max *= math.Pow(p.Y.Max/p.Y.Min, 0.12*float64(len(c.Series)))
		} else {
			p.Y.Max += 0.12 * float64(len(c.Series)) * (p.Y.Max - p.Y.Min)
		}
	}
	w, h := c.Width, c.Height
	if w <= 0 {
		w = 6
	}
	if h <= 0 {
		h = 4
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("plot: creating directory: %w", err)
	}
	tmp := path + ".tmp.png"
	if err := p.Save(vg.Length(w)*vg.Inch, vg.Length(h)*vg.Inch, tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("plot %q: saving: %w", c.Title, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("plot %q: %w", c.Title, err)
	}
	return nil
}
