package kernelstest

import (
	"sdzero/kernels"
)

// testFusedAdamW: on backends with kernels.FusedAdamW, AdamWBF16 leaves
// p, m, v and the BF16 copy bit for bit as AdamW followed by Convert does,
// over several steps (gradient scaling, zero gradients, a beta1 on each
// side of torch.lerp's 0.5 switch, a prefix n < N, sizes around vector
// widths and the fused block). AdamW itself is checked against the float64
// reference by testAdamW.
func testFusedAdamW(x *h) {
	be := x.be
	fused, ok := be.(kernels.FusedAdamW)
	if !ok {
		x.t.Skipf("backend %s has no fused AdamW (optional)", be.Name())
	}
	raw := func(t kernels.Tensor) string {
		b := make([]byte, t.N*t.DType.Size())
		be.DownloadRaw(b, t)
		return string(b)
	}
	for _, n := range []int{1, 15, 16, 2047, 2049, 70003} {
		p0 := x.randn(n+3, 1)
		type state struct{ p, m, v, low kernels.Tensor }
		var s [2]state
		for i := range s {
			s[i] = state{x.f32("p", p0), x.f32("m", make([]float32, n+3)), x.f32("v", make([]float32, n+3)),
				x.view("low", kernels.BF16, n)}
		}
		a := kernels.AdamWParams{LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1}
		for step := 1; step <= 5; step++ {
			a.Step = step
			a.GradScale = 1
			if step >= 4 {
				a.GradScale = 0.5
			}
			if step == 5 {
				a.LR, a.WeightDecay, a.Beta1 = 3e-3, 0, 0.3 // lerp weight 0.7
			}
			g := x.randn(n+3, 0.1)
			for i := 0; i < n; i += 7 {
				g[i] = 0
			}
			be.AdamW(s[0].p, x.f32("g", g), s[0].m, s[0].v, n, a)
			be.Convert(s[0].low, s[0].p.View(0, n))
			fused.AdamWBF16(s[1].p, x.f32("g", g), s[1].m, s[1].v, s[1].low, n, a)
			for _, c := range []struct {
				name string
				a, b kernels.Tensor
			}{{"p", s[0].p, s[1].p}, {"m", s[0].m, s[1].m}, {"v", s[0].v, s[1].v}, {"BF16 copy", s[0].low, s[1].low}} {
				if raw(c.a) != raw(c.b) {
					x.t.Fatalf("n=%d step %d: AdamWBF16 %s differs from AdamW + Convert", n, step, c.name)
				}
			}
		}
	}
}
