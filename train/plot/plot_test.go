package plot

import (
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeMetrics(t *testing.T, dir string, n int) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	for i := 1; i <= n; i++ {
		x := float64(i)
		rec := map[string]any{
			"step":           i,
			"samples":        i * 64,
			"reward_mean":    0.3 + 0.4*(1-math.Exp(-x/20)) + 0.05*math.Sin(x),
			"accuracy":       0.3 + 0.4*(1-math.Exp(-x/20)),
			"kl":             0.5 * math.Exp(-x/30),
			"response_len":   40 + 10*math.Cos(x/5),
			"phase":          "distill",
			"teacher_synced": i%25 == 0,
		}
		if err := enc.Encode(rec); err != nil {
			t.Fatal(err)
		}
	}
	// A truncated last line, as left by a killed run, is dropped.
	f.WriteString(`{"step": 999, "rew`)
}

func TestRunWritesReadablePNGs(t *testing.T) {
	dir := t.TempDir()
	writeMetrics(t, dir, 60)
	files, err := Run(dir, os.Getenv("PLOT_OUT"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"reward_vs_step", "reward_vs_samples", "accuracy_vs_step", "accuracy_vs_samples",
		"kl_vs_step", "kl_vs_samples", "length_vs_step", "length_vs_samples"}
	got := map[string]bool{}
	for _, f := range files {
		got[strings.TrimSuffix(filepath.Base(f), ".png")] = true
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("missing %s.png (have %v)", w, files)
		}
	}
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if b := img.Bounds(); b.Dx() != 800 || b.Dy() != 500 {
			t.Errorf("%s: size %v, want 800x500", path, b)
		}
		// The first series is drawn in Palette[0] inside the plot area,
		// and there is black text/axes.
		curve, dark := 0, 0
		for y := marginT + 1; y < 500-marginB; y++ {
			for x := marginL + 1; x < 800-marginR; x++ {
				r, g, b, _ := img.At(x, y).RGBA()
				p := Palette[0]
				if r>>8 == uint32(p.R) && g>>8 == uint32(p.G) && b>>8 == uint32(p.B) {
					curve++
				}
			}
		}
		for y := 0; y < 500; y++ {
			for x := 0; x < marginL; x++ {
				if r, _, _, _ := img.At(x, y).RGBA(); r == 0 {
					dark++
				}
			}
		}
		if curve < 200 {
			t.Errorf("%s: only %d curve pixels", path, curve)
		}
		if dark < 50 {
			t.Errorf("%s: only %d dark pixels left of the plot (tick labels, y label)", path, dark)
		}
	}
}

func TestRenderErrors(t *testing.T) {
	cases := []struct {
		name string
		c    Chart
		want string
	}{
		{"no points", Chart{Title: "t", Series: []Series{{Name: "a", X: []float64{1}, Y: []float64{math.NaN()}}}}, "no finite points"},
		{"ragged", Chart{Title: "t", Series: []Series{{Name: "a", X: []float64{1, 2}, Y: []float64{1}}}}, "2 x and 1 y"},
		{"tiny", Chart{Title: "t", Width: 10, Height: 10, Series: []Series{{X: []float64{1}, Y: []float64{1}}}}, "too small"},
	}
	for _, tc := range cases {
		_, err := tc.c.Render()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestNiceTicks(t *testing.T) {
	cases := []struct {
		lo, hi float64
		n      int
		want   []float64
	}{
		{0, 1, 6, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}},
		{3, 97, 6, []float64{0, 20, 40, 60, 80, 100}},
		{0.31, 0.34, 4, []float64{0.31, 0.32, 0.33, 0.34}},
		{5, 5, 6, []float64{4.4, 4.6, 4.8, 5, 5.2, 5.4, 5.6}},
	}
	for _, tc := range cases {
		got := niceTicks(tc.lo, tc.hi, tc.n)
		if len(got) != len(tc.want) {
			t.Errorf("niceTicks(%g,%g) = %v, want %v", tc.lo, tc.hi, got, tc.want)
			continue
		}
		for i := range got {
			if math.Abs(got[i]-tc.want[i]) > 1e-9 {
				t.Errorf("niceTicks(%g,%g) = %v, want %v", tc.lo, tc.hi, got, tc.want)
				break
			}
		}
	}
}

func TestReadMetricsBadLine(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "metrics.jsonl")
	os.WriteFile(p, []byte("{\"step\":1}\nnot json\n{\"step\":2}\n"), 0o644)
	if _, err := ReadMetrics(p); err == nil || !strings.Contains(err.Error(), ":2:") {
		t.Errorf("err %v, want one naming line 2", err)
	}
}
