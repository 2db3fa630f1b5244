package cpu

import (
	"math"
	"testing"
)

func TestExp32(t *testing.T) {
	worst := 0.0
	for x := -104.0; x <= 88.7; x += 0.00137 {
		got := float64(exp32(float32(x)))
		want := math.Exp(float64(float32(x)))
		if want < 1e-37 { // subnormal range: absolute error
			if math.Abs(got-want) > 2e-45*4 {
				t.Fatalf("exp32(%v) = %v want %v", x, got, want)
			}
			continue
		}
		worst = max(worst, math.Abs(got-want)/want)
	}
	if worst > 3e-7 {
		t.Fatalf("exp32 worst relative error %.3g", worst)
	}
	for _, c := range []struct{ x, want float32 }{{0, 1}, {-200, 0}, {100, float32(math.Inf(1))}, {float32(math.Inf(-1)), 0}} {
		if got := exp32(c.x); got != c.want {
			t.Errorf("exp32(%v) = %v want %v", c.x, got, c.want)
		}
	}
	if !math.IsNaN(float64(exp32(float32(math.NaN())))) {
		t.Error("exp32(NaN) is not NaN")
	}
}

func BenchmarkExp32(b *testing.B) {
	xs := make([]float32, 4096)
	for i := range xs {
		xs[i] = float32(i)/4096*20 - 15
	}
	var s float32
	for b.Loop() {
		for _, x := range xs {
			s += exp32(x)
		}
	}
	b.ReportMetric(float64(b.N*len(xs))/b.Elapsed().Seconds()/1e9, "Gexp/s")
	_ = s
}

func BenchmarkMathExp(b *testing.B) {
	xs := make([]float32, 4096)
	for i := range xs {
		xs[i] = float32(i)/4096*20 - 15
	}
	var s float64
	for b.Loop() {
		for _, x := range xs {
			s += math.Exp(float64(x))
		}
	}
	b.ReportMetric(float64(b.N*len(xs))/b.Elapsed().Seconds()/1e9, "Gexp/s")
	_ = s
}
