package cuda

import (
	"math"
	"math/rand/v2"
	"testing"

	"sdzero/kernels"
)

// checkTensorCoreVsF32 runs attention forward and backward on the same
// bf16-rounded q, k, v through the tensor-core kernels (BF16 inputs) and
// the CUDA-core kernels (F32 inputs), and bounds their relative RMS
// difference: at real sizes (many tiles, long rows, GQA, ragged lengths)
// where the float64 reference of the conformance suite is too slow.
func checkTensorCoreVsF32(t *testing.T, be *Backend, bs, T, hq, hkv, d int, lens []int32) {
	t.Helper()
	checkTensorCoreVsF32Tol(t, be, bs, T, hq, hkv, d, lens, 0)
}

// checkTensorCoreVsF32Tol is checkTensorCoreVsF32 with every tolerance
// set to tol when tol > 0 (for BF16 inputs on the F32 kernels).
func checkTensorCoreVsF32Tol(t *testing.T, be *Backend, bs, T, hq, hkv, d int, lens []int32, tol float64) {
	t.Helper()
	checkTensorCoreVsF32Window(t, be, bs, T, hq, hkv, d, lens, tol, 0)
}

// checkTensorCoreVsF32Window is checkTensorCoreVsF32Tol for sliding-window
// attention (window 0: full causal).
func checkTensorCoreVsF32Window(t *testing.T, be *Backend, bs, T, hq, hkv, d int, lens []int32, tol float64, window int) {
	t.Helper()
	nq, nk := bs*T*hq*d, bs*T*hkv*d
	rng := rand.New(rand.NewPCG(uint64(T), uint64(d)))
	host := func(n int, s float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = kernels.BF16ToF32(kernels.F32ToBF16(float32(rng.NormFloat64() * s)))
		}
		return v
	}
	alloc := func(dt kernels.DType, n int) kernels.Tensor {
		x, err := be.Alloc(dt, n)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { be.Free(x) })
		return x
	}
	up := func(dt kernels.DType, v []float32) kernels.Tensor {
		x := alloc(dt, len(v))
		be.Upload(x, v)
		return x
	}
	qh, kh, vh, dh := host(nq, 1.5), host(nk, 1.5), host(nk, 1), host(nq, 1)
	ln := alloc(kernels.I32, bs)
	be.UploadInt32(ln, lens)
	dout := up(kernels.F32, dh)
	scale := float32(1 / math.Sqrt(float64(d)))
	type res struct{ out, lse, dq, dk, dv []float32 }
	run := func(dt kernels.DType) res {
		q, k, v := up(dt, qh), up(dt, kh), up(dt, vh)
		out, lse := alloc(kernels.F32, nq), alloc(kernels.F32, bs*hq*T)
		dq, dk, dv := alloc(kernels.F32, nq), alloc(kernels.F32, nk), alloc(kernels.F32, nk)
		be.Attention(out, lse, q, k, v, ln, bs, T, hq, hkv, d, scale, window)
		be.AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, ln, bs, T, hq, hkv, d, scale, window)
		get := func(x kernels.Tensor) []float32 {
			h := make([]float32, x.N)
			be.Download(h, x)
			return h
		}
		r := res{get(out), get(lse), get(dq), get(dk), get(dv)}
		if err := be.Sync(); err != nil {
			t.Fatal(err)
		}
		return r
	}
	ref, tc := run(kernels.F32), run(kernels.BF16)
	for _, c := range []struct {
		name      string
		got, want []float32
		tol       float64
	}{
		{"out", tc.out, ref.out, 3e-3}, {"lse", tc.lse, ref.lse, 1e-5},
		{"dq", tc.dq, ref.dq, 8e-3}, {"dk", tc.dk, ref.dk, 8e-3}, {"dv", tc.dv, ref.dv, 8e-3},
	} {
		if tol > 0 {
			c.tol = tol
		}
		var num, den float64
		for i := range c.want {
			if math.IsNaN(float64(c.got[i])) {
				t.Fatalf("%s[%d] is NaN", c.name, i)
			}
			e := float64(c.got[i]) - float64(c.want[i])
			num += e * e
			den += float64(c.want[i]) * float64(c.want[i])
		}
		r := math.Sqrt(num / math.Max(den, 1e-300))
		if !(r <= c.tol) {
			t.Errorf("b=%d T=%d hq=%d hkv=%d d=%d window=%d: tensor-core %s vs F32 kernels: relative RMS %.3g > %.1e", bs, T, hq, hkv, d, window, c.name, r, c.tol)
		} else {
			t.Logf("b=%d T=%d hq=%d hkv=%d d=%d window=%d: tensor-core %s vs F32 kernels: relative RMS %.3g", bs, T, hq, hkv, d, window, c.name, r)
		}
	}
}

func TestEmulatedTensorCoreVsF32(t *testing.T) {
	checkTensorCoreVsF32(t, newEmulated(t), 2, 150, 4, 1, 64, []int32{150, 97})
}

// TestGPUTensorCoreVsF32 checks Qwen3-0.6B and -4B attention shapes.
func TestGPUTensorCoreVsF32(t *testing.T) {
	be := gpuBackend(t, false)
	checkTensorCoreVsF32(t, be, 4, 1024, 16, 8, 128, []int32{1024, 1000, 513, 1})
	checkTensorCoreVsF32(t, be, 2, 2048, 32, 8, 128, []int32{2048, 1500})
	checkTensorCoreVsF32(t, be, 3, 777, 12, 4, 64, []int32{777, 64, 700})
}
