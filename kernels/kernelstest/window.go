package kernelstest

import (
	"math"

	"sdzero/kernels"
)

// refAttentionWindow is refAttention with transformers' sliding-window
// mask: the query at i sees keys j with i-window < j <= i (window <= 0:
// every j <= i).
func refAttentionWindow(q, k, v []float64, s attnShape, scale float64, window int) (out, lse []float64) {
	b, t, hq, hkv, d := s.b, s.t, s.hq, s.hkv, s.d
	out, lse = make([]float64, b*t*hq*d), make([]float64, b*hq*t)
	g := hq / hkv
	for r := range b {
		for hh := range hq {
			kh := hh / g
			for i := range t {
				if i >= int(s.lens[r]) {
					lse[(r*hq+hh)*t+i] = math.NaN()
					continue
				}
				j0 := 0
				if window > 0 {
					j0 = max(0, i-window+1)
				}
				sc := make([]float64, i+1)
				mx := math.Inf(-1)
				for j := j0; j <= i; j++ {
					var dot float64
					for e := range d {
						dot += q[((r*t+i)*hq+hh)*d+e] * k[((r*t+j)*hkv+kh)*d+e]
					}
					sc[j] = dot * scale
					mx = math.Max(mx, sc[j])
				}
				var sum float64
				for j := j0; j <= i; j++ {
					sum += math.Exp(sc[j] - mx)
				}
				for j := j0; j <= i; j++ {
					p := math.Exp(sc[j]-mx) / sum
					for e := range d {
						out[((r*t+i)*hq+hh)*d+e] += p * v[((r*t+j)*hkv+kh)*d+e]
					}
				}
				lse[(r*hq+hh)*t+i] = mx + math.Log(sum)
			}
		}
	}
	return
}

// refAttentionWindowBackward is the analytic float64 backward of
// refAttentionWindow (the gradient of sum(out*dout)).
func refAttentionWindowBackward(dout, q, k, v []float64, s attnShape, scale float64, window int) (dq, dk, dv []float64) {
	b, t, hq, hkv, d := s.b, s.t, s.hq, s.hkv, s.d
	out, lse := refAttentionWindow(q, k, v, s, scale, window)
	dq, dk, dv = make([]float64, len(q)), make([]float64, len(k)), make([]float64, len(v))
	g := hq / hkv
	for r := range b {
		for hh := range hq {
			kh := hh / g
			for i := 0; i < int(s.lens[r]); i++ {
				qo := ((r*t+i)*hq + hh) * d
				var D float64
				for e := range d {
					D += dout[qo+e] * out[qo+e]
				}
				j0 := 0
				if window > 0 {
					j0 = max(0, i-window+1)
				}
				for j := j0; j <= i; j++ {
					ko := ((r*t+j)*hkv + kh) * d
					var dot, dp float64
					for e := range d {
						dot += q[qo+e] * k[ko+e]
						dp += dout[qo+e] * v[ko+e]
					}
					p := math.Exp(dot*scale - lse[(r*hq+hh)*t+i])
					ds := p * (dp - D) * scale
					for e := range d {
						dq[qo+e] += ds * k[ko+e]
						dk[ko+e] += ds * q[qo+e]
						dv[ko+e] += p * dout[qo+e]
					}
				}
			}
		}
	}
	return
}

// gradNear is x.near for a gradient, except where the reference vanishes
// identically (W=1: each query sees only its own key, out_i = v_i, so dq
// and dk are 0): float32 then leaves the rounding of P(dP - delta) with
// dP and delta of order |dout||v|, which is judged on the scale of ref,
// the gradient of the same loss with respect to v, instead of near's
// fixed floor.
func (x *h) gradNear(what string, got []float32, want, ref []float64, tol float64) {
	x.t.Helper()
	for _, w := range want {
		if w != 0 {
			x.near(what, got, want, tol)
			return
		}
	}
	var ss float64
	for _, w := range ref {
		ss += w * w
	}
	lim := tol * math.Sqrt(ss/float64(max(1, len(ref))))
	for i, g := range got {
		if !(math.Abs(float64(g)) <= lim) {
			x.t.Errorf("%s: [%d] = %.9g, want 0 (|x| <= %.3g: tol %.1e of rms(dv))", what, i, g, lim, tol)
			return
		}
	}
}

// testAttentionWindow: sliding windows smaller than, equal to and larger
// than the sequence, W=1, ragged rows and GQA groups; forward and lse
// against the float64 reference, the backward against finite differences
// of it and in full against its analytic gradient, and decode (also past
// the window) against the reference's row at each row's last position.
// On backends that Support BF16, the same with BF16 q, k, v (the
// tensor-core kernels at head dims 64 and 128) and BF16 caches. Backends
// that refuse windows (recording an error at Sync) are skipped with the
// error.
func testAttentionWindow(x *h) {
	be := x.be
	cases := []struct {
		s      attnShape
		window int
	}{
		{attnShape{3, 17, 4, 2, 16, []int32{17, 5, 1}}, 4},
		{attnShape{2, 20, 6, 2, 8, []int32{13, 20}}, 1},
		{attnShape{2, 20, 6, 2, 8, []int32{13, 20}}, 20},
		{attnShape{1, 12, 2, 1, 8, []int32{12}}, 40},
		{attnShape{2, 70, 4, 1, 16, []int32{70, 33}}, 16},
		{attnShape{1, 300, 2, 1, 8, []int32{290}}, 37},
		// Groups of more than 8 query heads: the per-head decode kernel.
		{attnShape{2, 24, 10, 1, 40, []int32{24, 9}}, 6},
	}
	for _, tc := range cases {
		s, w := tc.s, tc.window
		nq, nk := s.b*s.t*s.hq*s.d, s.b*s.t*s.hkv*s.d
		scale := 1 / math.Sqrt(float64(s.d))
		q, k, v := x.randn(nq, 1.5), x.randn(nk, 1.5), x.randn(nk, 1)
		qt, kt, vt, lt := x.f32("q", q), x.f32("k", k), x.f32("v", v), x.i32("lens", s.lens)
		out := x.f32("out", x.randn(nq, 1))
		lse := x.view("lse", kernels.F32, s.b*s.hq*s.t)
		be.Attention(out, lse, qt, kt, vt, lt, s.b, s.t, s.hq, s.hkv, s.d, float32(scale), w)
		if err := be.Sync(); err != nil {
			x.t.Fatalf("Attention window %d: %v", w, err)
		}
		q64, k64, v64 := f64s(q), f64s(k), f64s(v)
		wo, wl := refAttentionWindow(q64, k64, v64, s, scale, w)
		tag := sprint(" window=", w, " b=", s.b, " t=", s.t, " hq=", s.hq, " hkv=", s.hkv, " lens=", s.lens)
		fo := x.get(out)
		x.near("Attention out"+tag, fo, wo, x.tol.Attention)
		gotL, wantL := definedLSE(x.get(lse), wl)
		x.near("Attention lse"+tag, gotL, wantL, x.tol.Attention)

		// Backward: the gradient of sum(out*dout), by central differences
		// of the float64 reference on a few coordinates, and in full
		// against the reference's own analytic gradient where small.
		dout := x.randn(nq, 1)
		d64 := f64s(dout)
		dq, dk, dv := x.f32("dq", x.randn(nq, 1)), x.f32("dk", x.randn(nk, 1)), x.f32("dv", x.randn(nk, 1))
		be.AttentionBackward(dq, dk, dv, x.f32("dout", dout), out, lse, qt, kt, vt, lt, s.b, s.t, s.hq, s.hkv, s.d, float32(scale), w)
		loss := func() float64 {
			o, _ := refAttentionWindow(q64, k64, v64, s, scale, w)
			var l float64
			for i := range o {
				l += o[i] * d64[i]
			}
			return l
		}
		gotQ, gotK, gotV := x.get(dq), x.get(dk), x.get(dv)
		gq, gk, gv := refAttentionWindowBackward(d64, q64, k64, v64, s, scale, w)
		x.gradNear("AttentionBackward dq"+tag, pick(gotQ, 48), numGrad(loss, q64, 48), gv, x.tol.Grad)
		x.gradNear("AttentionBackward dk"+tag, pick(gotK, 48), numGrad(loss, k64, 48), gv, x.tol.Grad)
		x.near("AttentionBackward dv"+tag, pick(gotV, 48), numGrad(loss, v64, 48), x.tol.Grad)
		x.gradNear("AttentionBackward dq (all)"+tag, gotQ, gq, gv, x.tol.Grad)
		x.gradNear("AttentionBackward dk (all)"+tag, gotK, gk, gv, x.tol.Grad)
		x.near("AttentionBackward dv (all)"+tag, gotV, gv, x.tol.Grad)

		// Decode at each row's last position reads at most w cache rows.
		q1 := make([]float32, s.b*s.hq*s.d)
		for r := range s.b {
			if p := int(s.lens[r]) - 1; p >= 0 {
				copy(q1[r*s.hq*s.d:(r+1)*s.hq*s.d], q[(r*s.t+p)*s.hq*s.d:])
			}
		}
		dec := x.f32("dec", x.randn(s.b*s.hq*s.d, 1))
		be.AttentionDecode(dec, x.f32("q1", q1), kt, vt, lt, s.b, s.t, s.hq, s.hkv, s.d, float32(scale), w)
		want := make([]float64, len(q1))
		for r := range s.b {
			if p := int(s.lens[r]) - 1; p >= 0 {
				copy(want[r*s.hq*s.d:(r+1)*s.hq*s.d], wo[(r*s.t+p)*s.hq*s.d:(r*s.t+p+1)*s.hq*s.d])
			}
		}
		x.near("AttentionDecode"+tag, x.get(dec), want, x.tol.Attention)
	}
	if be.Supports(kernels.BF16) {
		testAttentionWindowBF16(x)
	}
}

// testAttentionWindowBF16 is testAttentionWindow with BF16 q, k and v
// (bf16-rounded inputs, so the reference sees the same values) and BF16
// decode caches: rows of several 64-query blocks so that blocks skip key
// tiles before their windows, head dims 64 and 128 (the tensor-core
// kernels) and 32 (BF16 widened for the F32 kernels).
func testAttentionWindowBF16(x *h) {
	be := x.be
	cases := []struct {
		s      attnShape
		window int
	}{
		{attnShape{2, 150, 4, 2, 64, []int32{150, 97}}, 37},
		{attnShape{1, 130, 2, 1, 128, []int32{130}}, 64},
		{attnShape{2, 40, 2, 2, 64, []int32{40, 23}}, 39},
		{attnShape{2, 20, 6, 2, 32, []int32{13, 20}}, 5},
	}
	round := func(v []float32) []float32 {
		out := make([]float32, len(v))
		for i, f := range v {
			out[i] = kernels.BF16ToF32(kernels.F32ToBF16(f))
		}
		return out
	}
	bf := func(name string, vals []float32) kernels.Tensor {
		t := x.view(name, kernels.BF16, len(vals))
		be.Convert(t, x.f32(name+"32", vals))
		return t
	}
	for _, tc := range cases {
		s, w := tc.s, tc.window
		nq, nk := s.b*s.t*s.hq*s.d, s.b*s.t*s.hkv*s.d
		scale := 1 / math.Sqrt(float64(s.d))
		q, k, v := round(x.randn(nq, 1.5)), round(x.randn(nk, 1.5)), round(x.randn(nk, 1))
		qt, kt, vt, lt := bf("q", q), bf("k", k), bf("v", v), x.i32("lens", s.lens)
		out := x.f32("out", x.randn(nq, 1))
		lse := x.view("lse", kernels.F32, s.b*s.hq*s.t)
		be.Attention(out, lse, qt, kt, vt, lt, s.b, s.t, s.hq, s.hkv, s.d, float32(scale), w)
		q64, k64, v64 := f64s(q), f64s(k), f64s(v)
		wo, wl := refAttentionWindow(q64, k64, v64, s, scale, w)
		tag := sprint(" window=", w, " b=", s.b, " t=", s.t, " hq=", s.hq, " hkv=", s.hkv, " d=", s.d, " lens=", s.lens)
		fo := x.get(out)
		x.near("AttentionBF16 out"+tag, fo, wo, x.tol.AttentionBF16)
		x.relRMS("AttentionBF16 out"+tag, fo, wo, x.tol.AttentionBF16/4)
		gotL, wantL := definedLSE(x.get(lse), wl)
		x.near("AttentionBF16 lse"+tag, gotL, wantL, 1e-4) // fp32 scores of bf16 inputs

		dout := x.randn(nq, 1)
		dq, dk, dv := x.f32("dq", x.randn(nq, 1)), x.f32("dk", x.randn(nk, 1)), x.f32("dv", x.randn(nk, 1))
		be.AttentionBackward(dq, dk, dv, x.f32("dout", dout), out, lse, qt, kt, vt, lt, s.b, s.t, s.hq, s.hkv, s.d, float32(scale), w)
		gq, gk, gv := refAttentionWindowBackward(f64s(dout), q64, k64, v64, s, scale, w)
		for _, c := range []struct {
			name string
			got  kernels.Tensor
			want []float64
		}{{"dq", dq, gq}, {"dk", dk, gk}, {"dv", dv, gv}} {
			got := x.get(c.got)
			x.near("AttentionBF16 backward "+c.name+tag, got, c.want, x.tol.AttentionBF16)
			x.relRMS("AttentionBF16 backward "+c.name+tag, got, c.want, x.tol.AttentionBF16/4)
		}

		// Decode from BF16 caches: F32 arithmetic on exact bf16 values.
		q1 := make([]float32, s.b*s.hq*s.d)
		want := make([]float64, len(q1))
		for r := range s.b {
			if p := int(s.lens[r]) - 1; p >= 0 {
				copy(q1[r*s.hq*s.d:(r+1)*s.hq*s.d], q[(r*s.t+p)*s.hq*s.d:])
				copy(want[r*s.hq*s.d:(r+1)*s.hq*s.d], wo[(r*s.t+p)*s.hq*s.d:(r*s.t+p+1)*s.hq*s.d])
			}
		}
		dec := x.f32("dec", x.randn(s.b*s.hq*s.d, 1))
		be.AttentionDecode(dec, x.f32("q1", q1), kt, vt, lt, s.b, s.t, s.hq, s.hkv, s.d, float32(scale), w)
		x.near("AttentionDecode BF16 cache"+tag, x.get(dec), want, x.tol.Attention)
	}
}

// sampled returns n indices spread evenly over [0, size) (all when
// size <= n), so gradient checks stay cheap at large shapes.
func sampled(size, n int) []int {
	if size <= n {
		out := make([]int, size)
		for i := range out {
			out[i] = i
		}
		return out
	}
	out := make([]int, n)
	for i := range out {
		out[i] = i * size / n
	}
	return out
}

// pick returns got at the sampled indices.
func pick(got []float32, n int) []float32 {
	idx := sampled(len(got), n)
	out := make([]float32, len(idx))
	for i, j := range idx {
		out[i] = got[j]
	}
	return out
}

// numGrad is the central-difference gradient of f with respect to the
// sampled elements of p (float64, step 1e-6).
func numGrad(f func() float64, p []float64, n int) []float64 {
	idx := sampled(len(p), n)
	g := make([]float64, len(idx))
	const eps = 1e-6
	for k, i := range idx {
		old := p[i]
		p[i] = old + eps
		fp := f()
		p[i] = old - eps
		fm := f()
		p[i] = old
		g[k] = (fp - fm) / (2 * eps)
	}
	return g
}
