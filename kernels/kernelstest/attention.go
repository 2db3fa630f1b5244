package kernelstest

import (
	"math"

	"sdzero/kernels"
)

type attnShape struct {
	b, t, hq, hkv, d int
	lens             []int32
}

// refAttention is causal GQA attention in float64; lse is NaN at padding.
func refAttention(q, k, v []float64, s attnShape, scale float64) (out, lse []float64) {
	b, t, hq, hkv, d := s.b, s.t, s.hq, s.hkv, s.d
	out, lse = make([]float64, b*t*hq*d), make([]float64, b*hq*t)
	g := hq / hkv
	sc := make([]float64, t)
	for r := range b {
		for hh := range hq {
			kh := hh / g
			for i := range t {
				if i >= int(s.lens[r]) {
					lse[(r*hq+hh)*t+i] = math.NaN()
					continue
				}
				mx := math.Inf(-1)
				for j := 0; j <= i; j++ {
					var dot float64
					for e := range d {
						dot += q[((r*t+i)*hq+hh)*d+e] * k[((r*t+j)*hkv+kh)*d+e]
					}
					sc[j] = dot * scale
					mx = math.Max(mx, sc[j])
				}
				var sum float64
				for j := 0; j <= i; j++ {
					sum += math.Exp(sc[j] - mx)
				}
				for j := 0; j <= i; j++ {
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

// refAttentionBackward is the analytic float64 backward.
func refAttentionBackward(dout, q, k, v []float64, s attnShape, scale float64) (dq, dk, dv []float64) {
	b, t, hq, hkv, d := s.b, s.t, s.hq, s.hkv, s.d
	out, lse := refAttention(q, k, v, s, scale)
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
				for j := 0; j <= i; j++ {
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

// definedLSE keeps the lse entries the reference defines (NaN marks the
// padded positions, whose lse is unspecified).
func definedLSE(got []float32, want []float64) ([]float32, []float64) {
	var g []float32
	var w []float64
	for i, v := range want {
		if !math.IsNaN(v) {
			g = append(g, got[i])
			w = append(w, v)
		}
	}
	return g, w
}

func attnShapes() []attnShape {
	return []attnShape{
		{1, 1, 1, 1, 2, []int32{1}},
		{3, 17, 4, 2, 16, []int32{17, 5, 1}},
		{2, 33, 3, 3, 8, []int32{0, 33}},
		{1, 65, 4, 1, 64, []int32{65}},
		{2, 20, 6, 2, 32, []int32{13, 20}},
		{3, 40, 4, 2, 16, []int32{40, 23, 1}},
		{1, 300, 2, 1, 8, []int32{290}},
		{2, 19, 10, 1, 8, []int32{19, 4}}, // a group of 10 query heads
	}
}

// testAttention: forward (out, lse), zeros at padding, and the backward
// against the analytic reference (itself checked by finite differences).
func testAttention(x *h) {
	be := x.be
	for _, s := range attnShapes() {
		nq, nk := s.b*s.t*s.hq*s.d, s.b*s.t*s.hkv*s.d
		scale := 1 / math.Sqrt(float64(s.d))
		q, k, v := x.randn(nq, 1.5), x.randn(nk, 1.5), x.randn(nk, 1)
		qt, kt, vt, lt := x.f32("q", q), x.f32("k", k), x.f32("v", v), x.i32("lens", s.lens)
		out := x.f32("out", x.randn(nq, 1)) // garbage that must be overwritten
		lse := x.view("lse", kernels.F32, s.b*s.hq*s.t)
		be.Attention(out, lse, qt, kt, vt, lt, s.b, s.t, s.hq, s.hkv, s.d, float32(scale), 0)
		q64, k64, v64 := f64s(q), f64s(k), f64s(v)
		wo, wl := refAttention(q64, k64, v64, s, scale)
		tag := sprint(" b=", s.b, " t=", s.t, " hq=", s.hq, " hkv=", s.hkv, " d=", s.d, " lens=", s.lens)
		gotOut := x.get(out)
		x.near("Attention out"+tag, gotOut, wo, x.tol.Attention)
		gotL, wantL := definedLSE(x.get(lse), wl)
		x.near("Attention lse"+tag, gotL, wantL, x.tol.Attention)

		dout := x.randn(nq, 1)
		d64 := f64s(dout)
		dq, dk, dv := x.f32("dq", x.randn(nq, 1)), x.f32("dk", x.randn(nk, 1)), x.f32("dv", x.randn(nk, 1))
		be.AttentionBackward(dq, dk, dv, x.f32("dout", dout), out, lse, qt, kt, vt, lt, s.b, s.t, s.hq, s.hkv, s.d, float32(scale), 0)
		gq, gk, gv := refAttentionBackward(d64, q64, k64, v64, s, scale)
		if nq < 5000 {
			loss := func() float64 {
				o, _ := refAttention(q64, k64, v64, s, scale)
				var l float64
				for i := range o {
					l += o[i] * d64[i]
				}
				return l
			}
			x.checkFD("Attention dq"+tag, loss, q64, gq, 4)
			x.checkFD("Attention dk"+tag, loss, k64, gk, 4)
			x.checkFD("Attention dv"+tag, loss, v64, gv, 4)
		}
		x.near("AttentionBackward dq"+tag, x.get(dq), gq, x.tol.Grad)
		x.near("AttentionBackward dk"+tag, x.get(dk), gk, x.tol.Grad)
		x.near("AttentionBackward dv"+tag, x.get(dv), gv, x.tol.Grad)
	}
}

// testAttentionDecode: against a direct reference, and consistent with
// full attention at each row's last position.
func testAttentionDecode(x *h) {
	be := x.be
	cacheTypes := []kernels.DType{kernels.F32}
	if be.Supports(kernels.BF16) {
		cacheTypes = append(cacheTypes, kernels.BF16)
	}
	for _, ct := range cacheTypes {
		for _, s := range attnShapes() {
			testAttentionDecodeShape(x, s, ct)
		}
	}
}

// testAttentionDecodeShape checks AttentionDecode with caches of dtype ct
// (a BF16 cache holds bf16-rounded values; the math stays F32, so the
// tolerance is F32's).
func testAttentionDecodeShape(x *h, s attnShape, ct kernels.DType) {
	be := x.be
	{
		b, tmax, hq, hkv, d := s.b, s.t, s.hq, s.hkv, s.d
		scale := 1 / math.Sqrt(float64(d))
		q := x.randn(b*tmax*hq*d, 1.5)
		kc, vc := x.randn(b*tmax*hkv*d, 1.5), x.randn(b*tmax*hkv*d, 1)
		kt, vt, lt := x.f32("kc", kc), x.f32("vc", vc), x.i32("lens", s.lens)
		kd, vd := kt, vt
		if ct == kernels.BF16 {
			for i := range kc {
				kc[i] = kernels.BF16ToF32(kernels.F32ToBF16(kc[i]))
				vc[i] = kernels.BF16ToF32(kernels.F32ToBF16(vc[i]))
			}
			kt, vt = x.f32("kc", kc), x.f32("vc", vc)
			kd, vd = x.view("kc16", ct, len(kc)), x.view("vc16", ct, len(vc))
			be.Upload(kd, kc)
			be.Upload(vd, vc)
		}
		full := x.view("full", kernels.F32, len(q))
		lse := x.view("lse", kernels.F32, b*hq*tmax)
		be.Attention(full, lse, x.f32("q", q), kt, vt, lt, b, tmax, hq, hkv, d, float32(scale), 0)
		fo := x.get(full)

		// The decode query of row r is q at position lens[r]-1.
		q1 := make([]float32, b*hq*d)
		for r := range b {
			if p := int(s.lens[r]) - 1; p >= 0 {
				copy(q1[r*hq*d:(r+1)*hq*d], q[(r*tmax+p)*hq*d:])
			} else {
				copy(q1[r*hq*d:(r+1)*hq*d], x.randn(hq*d, 1))
			}
		}
		out := x.f32("out", x.randn(b*hq*d, 1))
		be.AttentionDecode(out, x.f32("q1", q1), kd, vd, lt, b, tmax, hq, hkv, d, float32(scale), 0)
		got := x.get(out)
		want := make([]float64, b*hq*d)
		consist := make([]float64, b*hq*d)
		g := hq / hkv
		for r := range b {
			n := int(s.lens[r])
			for hh := range hq {
				kh := hh / g
				if n == 0 {
					continue
				}
				p := n - 1
				for e := range d {
					consist[(r*hq+hh)*d+e] = float64(fo[((r*tmax+p)*hq+hh)*d+e])
				}
				sc := make([]float64, n)
				mx := math.Inf(-1)
				for j := range n {
					var dot float64
					for e := range d {
						dot += float64(q1[(r*hq+hh)*d+e]) * float64(kc[((r*tmax+j)*hkv+kh)*d+e])
					}
					sc[j] = dot * scale
					mx = math.Max(mx, sc[j])
				}
				var sum float64
				for j := range n {
					sum += math.Exp(sc[j] - mx)
				}
				for j := range n {
					pj := math.Exp(sc[j]-mx) / sum
					for e := range d {
						want[(r*hq+hh)*d+e] += pj * float64(vc[((r*tmax+j)*hkv+kh)*d+e])
					}
				}
			}
		}
		tag := sprint(" cache=", ct, " b=", b, " tmax=", tmax, " hq=", hq, " hkv=", hkv, " d=", d, " lens=", s.lens)
		x.near("AttentionDecode"+tag, got, want, x.tol.Attention)
		x.near("AttentionDecode vs Attention at the last position"+tag, got, consist, 2*x.tol.Attention)
	}
}

// testAttentionBF16: Attention and AttentionBackward with BF16 q, k and v
// (the mixed-precision path; tensor cores on GPUs for head dims 64 and
// 128, widened otherwise) against the float64 reference on the same
// bf16-rounded inputs. Skipped on backends without BF16.
func testAttentionBF16(x *h) {
	be := x.be
	if !be.Supports(kernels.BF16) {
		x.t.Skip("backend does not support BF16")
	}
	shapes := []attnShape{
		{2, 70, 4, 2, 64, []int32{70, 33}},
		{1, 130, 2, 1, 128, []int32{130}},
		{3, 40, 2, 2, 128, []int32{0, 17, 40}},
		{1, 9, 2, 2, 64, []int32{9}},
		{2, 20, 6, 2, 32, []int32{13, 20}}, // not a tensor-core head dim
	}
	round := func(v []float32) []float32 {
		out := make([]float32, len(v))
		for i, f := range v {
			out[i] = kernels.BF16ToF32(kernels.F32ToBF16(f))
		}
		return out
	}
	for _, s := range shapes {
		nq, nk := s.b*s.t*s.hq*s.d, s.b*s.t*s.hkv*s.d
		scale := 1 / math.Sqrt(float64(s.d))
		q, k, v := round(x.randn(nq, 1.5)), round(x.randn(nk, 1.5)), round(x.randn(nk, 1))
		bf := func(name string, vals []float32) kernels.Tensor {
			t := x.view(name, kernels.BF16, len(vals))
			be.Convert(t, x.f32(name+"32", vals))
			return t
		}
		qt, kt, vt, lt := bf("q", q), bf("k", k), bf("v", v), x.i32("lens", s.lens)
		out := x.f32("out", x.randn(nq, 1))
		lse := x.view("lse", kernels.F32, s.b*s.hq*s.t)
		be.Attention(out, lse, qt, kt, vt, lt, s.b, s.t, s.hq, s.hkv, s.d, float32(scale), 0)
		q64, k64, v64 := f64s(q), f64s(k), f64s(v)
		wo, wl := refAttention(q64, k64, v64, s, scale)
		tag := sprint(" b=", s.b, " t=", s.t, " hq=", s.hq, " hkv=", s.hkv, " d=", s.d, " lens=", s.lens)
		x.near("AttentionBF16 out"+tag, x.get(out), wo, x.tol.AttentionBF16)
		x.relRMS("AttentionBF16 out"+tag, x.get(out), wo, x.tol.AttentionBF16/4)
		gotL, wantL := definedLSE(x.get(lse), wl)
		// lse comes from fp32 scores of bf16 inputs: tight.
		x.near("AttentionBF16 lse"+tag, gotL, wantL, 1e-4)

		dout := x.randn(nq, 1)
		dq, dk, dv := x.f32("dq", x.randn(nq, 1)), x.f32("dk", x.randn(nk, 1)), x.f32("dv", x.randn(nk, 1))
		be.AttentionBackward(dq, dk, dv, x.f32("dout", dout), out, lse, qt, kt, vt, lt, s.b, s.t, s.hq, s.hkv, s.d, float32(scale), 0)
		gq, gk, gv := refAttentionBackward(f64s(dout), q64, k64, v64, s, scale)
		for _, c := range []struct {
			name string
			got  kernels.Tensor
			want []float64
		}{{"dq", dq, gq}, {"dk", dk, gk}, {"dv", dv, gv}} {
			got := x.get(c.got)
			x.near("AttentionBF16 backward "+c.name+tag, got, c.want, x.tol.AttentionBF16)
			// Elementwise bounds must allow for cancellation in single
			// entries; rounding is unbiased, so the error over the whole
			// tensor stays far smaller. A wrong fragment or mask does not.
			x.relRMS("AttentionBF16 backward "+c.name+tag, got, c.want, x.tol.AttentionBF16/4)
		}
	}
}
