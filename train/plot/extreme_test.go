package plot

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// TestRenderExtremeValues: losses of ±1e308, the float limits, NaN and
// infinities render (non-finite points skipped) instead of panicking, the
// ticks stay finite and cover the data, and the curve is drawn inside the
// plot area.
func TestRenderExtremeValues(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name string
		y    []float64
	}{
		{"±1e308", []float64{1e308, -1e308, 0, 1e308}},
		{"float limits", []float64{math.MaxFloat64, -math.MaxFloat64}},
		{"all max", []float64{math.MaxFloat64, math.MaxFloat64}},
		{"all -max", []float64{-math.MaxFloat64, -math.MaxFloat64, -math.MaxFloat64}},
		{"huge and tiny", []float64{1e308, 5e-324, -5e-324}},
		{"with NaN and Inf", []float64{nan, 1, inf, -inf, 2, nan}},
		{"single point", []float64{nan, 1e300, nan}},
		{"constant", []float64{3, 3, 3}},
		{"ordinary", []float64{0.5, 0.25, 0.125}},
	}
	for _, tc := range tests {
		x := make([]float64, len(tc.y))
		for i := range x {
			x[i] = float64(i + 1)
		}
		c := &Chart{Title: tc.name, XLabel: "step", YLabel: "loss", Series: []Series{{Name: "loss", X: x, Y: tc.y}}}
		img, err := c.Render()
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		drawn := 0
		b := img.Bounds()
		for yy := marginT + 1; yy < b.Dy()-marginB; yy++ {
			for xx := marginL + 1; xx < b.Dx()-marginR; xx++ {
				if img.RGBAAt(xx, yy) == Palette[0] {
					drawn++
				}
			}
		}
		if drawn == 0 {
			t.Errorf("%s: no curve pixels in the plot area", tc.name)
		}
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, v := range tc.y {
			if finite(v) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
		ticks := niceTicks(lo, hi, 6)
		if len(ticks) < 2 || ticks[0] > lo || ticks[len(ticks)-1] < hi {
			t.Errorf("%s: ticks %v do not cover [%g, %g]", tc.name, ticks, lo, hi)
		}
		for _, v := range ticks {
			if !finite(v) {
				t.Errorf("%s: tick %g", tc.name, v)
			}
		}
	}
	// No finite point at all is an error, not a panic.
	c := &Chart{Title: "nan", Series: []Series{{X: []float64{1, 2}, Y: []float64{nan, inf}}}}
	if _, err := c.Render(); err == nil {
		t.Error("a chart of NaN and Inf rendered")
	}
}

// TestRunExtremeLosses: `sdzero plot` of a run whose losses reached
// ±1e308 writes its PNGs.
func TestRunExtremeLosses(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for i, loss := range []string{"1.5", "1e308", "-1e308", "1.7976931348623157e308", "2"} {
		fmt.Fprintf(f, "{\"step\": %d, \"samples\": %d, \"loss\": %s, \"kl\": %s}\n", i+1, 64*(i+1), loss, loss)
	}
	f.Close()
	files, err := Run(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no PNG written")
	}
}
