package main

import (
	"math"
	"sort"
	"strconv"
)

// confusion counts verdicts with anomaly as the positive class.
type confusion struct {
	TP int `json:"tp"`
	FP int `json:"fp"`
	TN int `json:"tn"`
	FN int `json:"fn"`
}

func (c *confusion) add(label int, anomaly bool) {
	switch {
	case label == 1 && anomaly:
		c.TP++
	case label == 1:
		c.FN++
	case anomaly:
		c.FP++
	default:
		c.TN++
	}
}

func (c confusion) n() int { return c.TP + c.FP + c.TN + c.FN }

// ratio returns a/b, NaN when b is 0 (undefined, e.g. precision with no
// positive verdict); JSON output turns NaN into null.
func ratio(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

func (c confusion) precision() float64 { return ratio(c.TP, c.TP+c.FP) }
func (c confusion) recall() float64    { return ratio(c.TP, c.TP+c.FN) }

// f1 is 2TP / (2TP + FP + FN); NaN when there is neither a positive label nor
// a positive verdict.
func (c confusion) f1() float64 { return ratio(2*c.TP, 2*c.TP+c.FP+c.FN) }

// jsonFloat is a float that encodes NaN and Inf as null.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, v, 'g', 6, 64), nil
}

// quantile returns the q quantile (linear interpolation) of xs.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
}
