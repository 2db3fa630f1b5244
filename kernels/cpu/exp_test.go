package cpu

import (
	"math"
	"math/rand/v2"
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

// TestVec checks the vector routines (assembly where available) against
// plain loops, at lengths around the vector width.
func TestVec(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 7, 8, 9, 16, 17, 64, 100} {
		x, y := randSlice(rng, n), randSlice(rng, n)
		for i := range x {
			x[i] *= 30
		}
		x[0] = -1000 // underflows to (almost) zero
		m := x[0]
		for _, v := range x {
			m = max(m, v)
		}
		var want float64
		for _, v := range x {
			want += math.Exp(float64(v - m))
		}
		dst := make([]float32, n)
		got := expSub(dst, x, m)
		if math.Abs(got-want) > 1e-6*want {
			t.Errorf("expSub n=%d: sum %v want %v", n, got, want)
		}
		if s := expSub(nil, x, m); s != got {
			t.Errorf("expSub n=%d without dst: %v, with: %v", n, s, got)
		}
		for i, v := range x {
			w := math.Exp(float64(v - m))
			if math.Abs(float64(dst[i])-w) > 1e-6*w+1e-37 {
				t.Errorf("expSub n=%d: [%d] exp(%v) = %v want %v", n, i, v-m, dst[i], w)
			}
		}
		if got := maxOf(x); got != m {
			t.Errorf("maxOf n=%d: %v want %v", n, got, m)
		}
		var wd float64
		for i := range x {
			wd += float64(x[i]) * float64(y[i])
		}
		if d := dot(x, y); math.Abs(float64(d)-wd) > 1e-5*(1+math.Abs(wd))*30 {
			t.Errorf("dot n=%d: %v want %v", n, d, wd)
		}
		var ws float64
		for _, v := range x {
			ws += float64(v) * float64(v)
		}
		if got := sumSquares(x); math.Abs(got-ws) > 1e-12*ws {
			t.Errorf("sumSquares n=%d: %v want %v", n, got, ws)
		}
		yy := append([]float32(nil), y...)
		axpy(yy, 0.5, x)
		for i := range yy {
			if w := float64(y[i]) + 0.5*float64(x[i]); math.Abs(float64(yy[i])-w) > 1e-5*(1+math.Abs(w)) {
				t.Errorf("axpy n=%d: [%d] %v want %v", n, i, yy[i], w)
			}
		}
	}
	nan := []float32{1, 2, float32(math.NaN()), 4, 5, 6, 7, 8}
	if s := expSub(nil, nan, 0); !math.IsNaN(s) {
		t.Errorf("expSub with NaN: %v", s)
	}
}

// TestAdamWVec: the vector AdamW rounds exactly like the Go loop.
func TestAdamWVec(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{8, 37, 1000} {
		p, g, m, v := randSlice(rng, n), randSlice(rng, n), randSlice(rng, n), randSlice(rng, n)
		for i := range v {
			v[i] *= v[i]
		}
		c := [8]float32{0.7, 0.999, 0.1, 0.95, 0.05, 0.3, 1e-8, -1e-3}
		p2, m2, v2 := append([]float32(nil), p...), append([]float32(nil), m...), append([]float32(nil), v...)
		d := adamwVec(p, g, m, v, &c)
		adamwGo(p[d:], g[d:], m[d:], v[d:], &c)
		adamwGo(p2, g, m2, v2, &c)
		for i := range p {
			if p[i] != p2[i] || m[i] != m2[i] || v[i] != v2[i] {
				t.Fatalf("n=%d element %d: vector (%v,%v,%v) vs Go (%v,%v,%v)", n, i, p[i], m[i], v[i], p2[i], m2[i], v2[i])
			}
		}
	}
}
