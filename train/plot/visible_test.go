package plot

import (
	"image"
	"image/color"
	"strings"
	"testing"
)

// countColor counts the pixels of exactly col in r.
func countColor(img *image.RGBA, r image.Rectangle, col color.RGBA) int {
	n := 0
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if img.RGBAAt(x, y) == col {
				n++
			}
		}
	}
	return n
}

// TestSamplesAxisNeedsSamples: a run that generated nothing (sft) gets no
// charts against samples (they were a vertical line at 0) and a note; an
// rft-like run leaves out the records before its first rollout and
// collapses the steps between rollouts, so no two points share an x.
func TestSamplesAxisNeedsSamples(t *testing.T) {
	var sft, rft []Record
	for i := 1; i <= 12; i++ {
		sft = append(sft, Record{"step": float64(i), "samples_generated": 0, "loss": 1 / float64(i)})
	}
	rft = append(rft, Record{"step": 0, "samples_generated": 0, "loss": 2})
	for i := 1; i <= 12; i++ {
		rft = append(rft, Record{"step": float64(i), "samples_generated": float64((i-1)/4+1) * 64, "loss": 1 / float64(i)})
	}
	cs, notes := Charts(sft, "sft")
	for _, c := range cs {
		if strings.HasSuffix(c.File, "_vs_samples") {
			t.Errorf("sft: drew %s", c.File)
		}
	}
	if len(cs) == 0 || len(notes) != 1 || !strings.Contains(notes[0], "no generated samples") {
		t.Errorf("sft: %d charts, notes %q", len(cs), notes)
	}
	cs, notes = Charts(rft, "rft")
	if len(notes) != 0 {
		t.Errorf("rft: notes %q", notes)
	}
	found := false
	for _, c := range cs {
		if c.File != "loss_vs_samples" {
			continue
		}
		found = true
		s := c.Chart.Series[0]
		want := []float64{64, 128, 192}
		if len(s.X) != len(want) {
			t.Fatalf("rft loss vs samples: x %v, want %v", s.X, want)
		}
		for k := range want {
			if s.X[k] != want[k] || s.Y[k] != 1/float64(4*(k+1)) {
				t.Errorf("point %d = (%g, %g), want (%g, %g): the last step of each budget", k, s.X[k], s.Y[k], want[k], 1/float64(4*(k+1)))
			}
		}
	}
	if !found {
		t.Error("rft: no loss_vs_samples chart")
	}
}

// TestIdenticalSeriesVisible: a series equal to an earlier one is drawn
// dashed over it, so that both colours show, and the legend says so.
func TestIdenticalSeriesVisible(t *testing.T) {
	x := []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180}
	y := make([]float64, len(x))
	for i := range y {
		y[i] = x[i] * x[i] / 100
	}
	c := Chart{Title: "t", Series: []Series{{Name: "accuracy", X: x, Y: y}, {Name: "reward", X: x, Y: y}}}
	img, err := c.Render()
	if err != nil {
		t.Fatal(err)
	}
	plotArea := image.Rect(marginL+1, marginT+1, img.Bounds().Dx()-marginR, img.Bounds().Dy()-marginB)
	// Curve pixels of each colour, the legend (about 75 pixels a sample)
	// aside: a hidden series would have almost none.
	for i, name := range []string{"accuracy", "reward"} {
		if n := countColor(img, plotArea, Palette[i]); n < 300 {
			t.Errorf("%s: %d pixels of its colour in the plot area, want >= 300", name, n)
		}
	}
	if got := c.identical(); got[0] != -1 || got[1] != 0 {
		t.Errorf("identical() = %v", got)
	}
	c.Series[1].Y = append([]float64(nil), y...)
	c.Series[1].Y[3] += 1e-9
	if got := c.identical(); got[1] != -1 {
		t.Errorf("a series that differs in one point is called identical: %v", got)
	}
}

// TestSinglePointVisible: a series of one point (an eval logged once)
// gets a marker a reader sees, also on the edge of the plot area, and the
// legend moves off it.
func TestSinglePointVisible(t *testing.T) {
	x := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	c := Chart{Title: "t", Series: []Series{
		{Name: "accuracy", X: x, Y: []float64{.1, .2, .25, .3, .32, .35, .4, .41, .43, .45}},
		{Name: "eval_accuracy", X: []float64{10}, Y: []float64{0.5}}, // top right corner
	}}
	img, err := c.Render()
	if err != nil {
		t.Fatal(err)
	}
	w := img.Bounds().Dx()
	corner := image.Rect(w-marginR-12, marginT-12, w-marginR+12, marginT+12)
	if n := countColor(img, corner, Palette[1]); n < 60 {
		t.Errorf("the single point has %d pixels of its colour around it, want >= 60", n)
	}
}

// TestXRangeCoversRun: a metric logged at the last step only is drawn on
// an x axis spanning the run, not around its one point, and an accuracy
// on [0, 1].
func TestXRangeCoversRun(t *testing.T) {
	var recs []Record
	for i := 1; i <= 30; i++ {
		r := Record{"step": float64(i), "loss": 1 / float64(i)}
		if i == 30 {
			r["eval_accuracy"] = 0.4
		}
		recs = append(recs, r)
	}
	cs, _ := Charts(recs, "run")
	for _, c := range cs {
		if c.File == "accuracy_vs_step" && (c.Chart.XMin != 1 || c.Chart.XMax != 30 || c.Chart.YMin != 0 || c.Chart.YMax != 1) {
			t.Errorf("accuracy chart range x [%g, %g] y [%g, %g], want x [1, 30] y [0, 1]", c.Chart.XMin, c.Chart.XMax, c.Chart.YMin, c.Chart.YMax)
		}
	}
}
