package compare

import (
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCurveAt(t *testing.T) {
	c := Curve{Budget: []float64{0, 100, 100, 300}, Value: []float64{0.1, 0.3, 0.4, 0.8}}
	tests := []struct {
		x    float64
		want float64
		ok   bool
	}{
		{0, 0.1, true},
		{50, 0.2, true},
		{100, 0.4, true}, // the last value at a repeated budget
		{200, 0.6, true},
		{300, 0.8, true},
		{-1, 0, false},
		{301, 0, false},
	}
	for _, tc := range tests {
		got, ok := c.At(tc.x)
		if ok != tc.ok || ok && math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("At(%v) = %v, %v; want %v, %v", tc.x, got, ok, tc.want, tc.ok)
		}
	}
}

func TestBudgets(t *testing.T) {
	a := Curve{Budget: []float64{0, 1000}, Value: []float64{0, 1}}
	b := Curve{Budget: []float64{200, 600}, Value: []float64{0, 1}}
	sft := Curve{Budget: []float64{0, 0}, Value: []float64{0.5, 0.6}} // generates nothing
	got := Budgets([]Curve{a, b, sft}, 3)
	want := []float64{200, 400, 600}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("Budgets = %v, want %v", got, want)
	}
	if got := Budgets([]Curve{{Budget: []float64{0, 10}}, {Budget: []float64{20, 30}}}, 3); got != nil {
		t.Errorf("disjoint ranges: %v, want nil", got)
	}
	var sb strings.Builder
	Table(&sb, "samples", []Curve{{Run: "a", Budget: a.Budget, Value: a.Value}, {Run: "sft", Budget: sft.Budget, Value: sft.Value}}, []float64{500})
	if !strings.Contains(sb.String(), "0.5000") || !strings.Contains(sb.String(), "-") {
		t.Errorf("table:\n%s", sb.String())
	}
}

func TestLoadAndPNG(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "metrics.jsonl"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	rft := write("rft", `{"step":1,"samples_generated":64,"gen_tokens":3000,"eval_accuracy":0.2}
{"step":2,"samples_generated":128,"gen_tokens":6100}
{"step":3,"samples_generated":192,"gen_tokens":9000,"eval_accuracy":0.4}
`)
	sd := write("distill", `{"step":1,"samples_generated":16,"gen_tokens":800,"eval_accuracy":0.25}
{"step":2,"samples_generated":160,"gen_tokens":8000,"eval_accuracy":0.5}
`)
	none := write("none", `{"step":1,"loss":2}`+"\n")
	runs := []Run{}
	for _, d := range []string{rft, sd} {
		r, err := Load(d, "eval_accuracy")
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r)
	}
	if len(runs[0].Samples.Budget) != 2 || runs[0].Tokens.Value[1] != 0.4 {
		t.Errorf("rft curves: %+v", runs[0])
	}
	if _, err := Load(none, "eval_accuracy"); err == nil || !strings.Contains(err.Error(), "eval_accuracy") {
		t.Errorf("run without the metric: %v", err)
	}
	path := filepath.Join(dir, "out", "compare.png")
	if err := WritePNG(path, "eval_accuracy", runs); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil || img.Bounds().Dx() != 1440 {
		t.Fatalf("compare.png: %v, %v", err, img.Bounds())
	}
	if got := Names([]string{"a/s1/distill", "a/s2/distill", "b/rft"}); got[0] != "s1/distill" || got[2] != "rft" {
		t.Errorf("Names = %v", got)
	}
}
