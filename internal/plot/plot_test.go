package plot

import (
	"bytes"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestWritePNG(t *testing.T) {
	p := filepath.Join(t.TempDir(), "d", "f.png")
	err := WritePNG(p, Chart{
		Title: "t", XLabel: "x", YLabel: "y", LogX: true, YMin: 0, YMax: 1,
		Series: []Series{
			{Name: "a", X: []float64{1e3, 1e4, 1e5}, Y: []float64{0.1, 0.5, math.NaN()}},
			{Name: "b", X: []float64{1e3, 1e4, 1e5}, Y: []float64{0.9, 0.8, 0.7}, Dashed: true},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if img.Bounds().Dx() < 300 {
		t.Errorf("image %v too small", img.Bounds())
	}
}

func TestWritePNGErrors(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]Chart{
		"no series":  {},
		"mismatch":   {Series: []Series{{Name: "a", X: []float64{1}, Y: nil}}},
		"all NaN":    {Series: []Series{{Name: "a", X: []float64{1}, Y: []float64{math.NaN()}}}},
		"log x <= 0": {LogX: true, Series: []Series{{Name: "a", X: []float64{0}, Y: []float64{1}}}},
		"log y <= 0": {LogY: true, Series: []Series{{Name: "a", X: []float64{1}, Y: []float64{0}}}},
	} {
		if err := WritePNG(filepath.Join(dir, "x.png"), c); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
