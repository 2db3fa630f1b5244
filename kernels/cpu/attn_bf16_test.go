package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"sdzero/kernels"
)

// refAttn64 is causal GQA attention and its backward in float64 over
// right-padded rows: out, lse [b,hq,t] and dq, dk, dv for dout.
func refAttn64(q, k, v, dout []float64, lens []int, b, t, hq, hkv, d int, scale float64) (out, lse, dq, dk, dv []float64) {
	out, lse = make([]float64, len(q)), make([]float64, b*hq*t)
	dq, dk, dv = make([]float64, len(q)), make([]float64, len(k)), make([]float64, len(v))
	G := hq / hkv
	p := make([]float64, t)
	for r := range b {
		for h := range hq {
			kh := h / G
			for i := range lens[r] {
				qi := q[((r*t+i)*hq+h)*d:][:d]
				mx := math.Inf(-1)
				for j := 0; j <= i; j++ {
					s := 0.0
					for e := range d {
						s += qi[e] * k[((r*t+j)*hkv+kh)*d+e]
					}
					p[j] = s * scale
					mx = math.Max(mx, p[j])
				}
				sum := 0.0
				for j := 0; j <= i; j++ {
					p[j] = math.Exp(p[j] - mx)
					sum += p[j]
				}
				lse[(r*hq+h)*t+i] = mx + math.Log(sum)
				o := out[((r*t+i)*hq+h)*d:][:d]
				for j := 0; j <= i; j++ {
					p[j] /= sum
					for e := range d {
						o[e] += p[j] * v[((r*t+j)*hkv+kh)*d+e]
					}
				}
				do := dout[((r*t+i)*hq+h)*d:][:d]
				D := 0.0
				for e := range d {
					D += do[e] * o[e]
				}
				for j := 0; j <= i; j++ {
					off := ((r*t+j)*hkv + kh) * d
					dp := 0.0
					for e := range d {
						dp += do[e] * v[off+e]
					}
					ds := p[j] * (dp - D) * scale
					for e := range d {
						dq[((r*t+i)*hq+h)*d+e] += ds * k[off+e]
						dk[off+e] += ds * qi[e]
						dv[off+e] += p[j] * do[e]
					}
				}
			}
		}
	}
	return
}

// TestAttentionBF16Kernels checks attentionBF16 (called directly, below
// the work threshold too) and the backward from its outputs against
// refAttn64 on
// the same bf16 values: out and the gradients within 3e-2 of
// |want| + rms(want) elementwise and 7.5e-3 relative RMS (kernelstest's
// AttentionBF16 bounds), lse within 1e-4; padded positions zero.
func TestAttentionBF16Kernels(t *testing.T) {
	be := NewBF16(3)
	if !be.Supports(kernels.BF16) {
		t.Skip("no bf16 GEMMs on this CPU")
	}
	rng := rand.New(rand.NewPCG(11, 12))
	for _, s := range []struct {
		b, t, hq, hkv, d int
		lens             []int
	}{
		{2, 70, 4, 2, 64, []int{70, 33}},
		{3, 40, 2, 2, 128, []int{0, 17, 40}},
		{1, 200, 6, 2, 32, []int{200}},
		{1, 256, 4, 1, 128, []int{251}},
	} {
		t.Run(fmt.Sprintf("b%d_t%d_h%dx%d_d%d", s.b, s.t, s.hq, s.hkv, s.d), func(t *testing.T) {
			nq, nk := s.b*s.t*s.hq*s.d, s.b*s.t*s.hkv*s.d
			bf := func(n int, sc float64) ([]float64, kernels.Tensor) {
				v := make([]float32, n)
				for i := range v {
					v[i] = kernels.BF16ToF32(kernels.F32ToBF16(float32(rng.NormFloat64() * sc)))
				}
				x, _ := be.Alloc(kernels.BF16, n)
				t.Cleanup(func() { be.Free(x) })
				be.Upload(x, v)
				return f64of(v), x
			}
			q64, qt := bf(nq, 1.5)
			k64, kt := bf(nk, 1.5)
			v64, vt := bf(nk, 1)
			dout := make([]float32, nq)
			for i := range dout {
				dout[i] = float32(rng.NormFloat64())
			}
			lens32 := make([]int32, s.b)
			for i, l := range s.lens {
				lens32[i] = int32(l)
			}
			lt, _ := be.Alloc(kernels.I32, s.b)
			defer be.Free(lt)
			be.UploadInt32(lt, lens32)
			scale := 1 / math.Sqrt(float64(s.d))
			wo, wl, wdq, wdk, wdv := refAttn64(q64, k64, v64, f64of(dout), s.lens, s.b, s.t, s.hq, s.hkv, s.d, scale)
			fill := func(n int) kernels.Tensor { // garbage the kernels must overwrite
				v := make([]float32, n)
				for i := range v {
					v[i] = 7
				}
				return be.tensor(t, v)
			}
			out, lse := fill(nq), fill(s.b*s.hq*s.t)
			be.attentionBF16(out, lse, qt, kt, vt, lt, s.b, s.t, s.hq, s.hkv, s.d, float32(scale))
			dq, dk, dv := fill(nq), fill(nk), fill(nk)
			be.AttentionBackward(dq, dk, dv, be.tensor(t, dout), out, lse, qt, kt, vt, lt, s.b, s.t, s.hq, s.hkv, s.d, float32(scale), 0)
			for _, c := range []struct {
				name string
				got  []float32
				want []float64
			}{{"out", be.host(out), wo}, {"dq", be.host(dq), wdq}, {"dk", be.host(dk), wdk}, {"dv", be.host(dv), wdv}} {
				checkBF16Attn(t, c.name, c.got, c.want)
			}
			gl := be.host(lse)
			for r := range s.b {
				for h := range s.hq {
					for i := range s.lens[r] {
						j := (r*s.hq+h)*s.t + i
						if math.Abs(float64(gl[j])-wl[j]) > 1e-4*(1+math.Abs(wl[j])) {
							t.Fatalf("lse[%d] = %g, want %g", j, gl[j], wl[j])
						}
					}
				}
			}
		})
	}
}

// checkBF16Attn applies the AttentionBF16 bounds to one output.
func checkBF16Attn(t *testing.T, name string, got []float32, want []float64) {
	t.Helper()
	var ss, es float64
	for _, w := range want {
		ss += w * w
	}
	rms := math.Sqrt(ss / float64(len(want)))
	for i, w := range want {
		e := float64(got[i]) - w
		es += e * e
		if w == 0 && got[i] != 0 && rms == 0 || math.Abs(e) > 3e-2*(math.Abs(w)+rms) {
			t.Fatalf("%s[%d] = %g, want %g (rms %g)", name, i, got[i], w, rms)
		}
	}
	if rel := math.Sqrt(es/float64(len(want))) / rms; rel > 7.5e-3 {
		t.Fatalf("%s: relative RMS error %.3g > 7.5e-3", name, rel)
	} else {
		t.Logf("%s: relative RMS error %.3g", name, rel)
	}
}

func f64of(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}
