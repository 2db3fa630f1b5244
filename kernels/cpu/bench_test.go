package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"sdzero/kernels"
)

func benchTensor(b *testing.B, be *Backend, n int, rng *rand.Rand) kernels.Tensor {
	t, err := be.Alloc(kernels.F32, n)
	if err != nil {
		b.Fatal(err)
	}
	be.Upload(t, randSlice(rng, n))
	return t
}

// BenchmarkMatMul reports GFLOP/s for square products and the three
// products of an LM head (tokens 256, hidden 256, vocab 50304): forward
// logits = x W^T, dx = dlogits W, dW = dlogits^T x.
func BenchmarkMatMul(b *testing.B) {
	cases := []struct {
		name    string
		m, n, k int
		ta, tb  bool
	}{
		{"256x256x256", 256, 256, 256, false, false},
		{"256x256x256_NT", 256, 256, 256, false, true},
		{"1024x1024x1024", 1024, 1024, 1024, false, false},
		{"lmhead_fwd_256x50304x256_NT", 256, 50304, 256, false, true},
		{"lmhead_dx_256x256x50304_NN", 256, 256, 50304, false, false},
		{"lmhead_dW_50304x256x256_TN", 50304, 256, 256, true, false},
		{"mlp_256x1024x256_NT", 256, 1024, 256, false, true},
		{"decode_4x3072x1024_NT", 4, 3072, 1024, false, true},
	}
	for _, kern := range microKernels() {
		for _, c := range cases {
			b.Run(fmt.Sprintf("%s/%s", kern.name, c.name), func(b *testing.B) {
				if kern.name == "go" && c.m*c.n*c.k > 1<<28 {
					b.Skip("pure-Go kernel: large sizes skipped")
				}
				be := newWithKernel(0, kern)
				rng := rand.New(rand.NewPCG(1, 1))
				x, y, z := benchTensor(b, be, c.m*c.k, rng), benchTensor(b, be, c.k*c.n, rng), benchTensor(b, be, c.m*c.n, rng)
				flops := 2 * float64(c.m) * float64(c.n) * float64(c.k)
				be.MatMul(z, x, y, c.m, c.n, c.k, c.ta, c.tb, 1, 0) // warm the scratch buffers
				c0 := cpuSeconds()
				for b.Loop() {
					be.MatMul(z, x, y, c.m, c.n, c.k, c.ta, c.tb, 1, 0)
				}
				report(b, flops, c0, "GFLOP/s")
			})
		}
	}
}

// BenchmarkAttention: the model benchmark's attention (batch 4 x 64
// tokens, 4 heads of 64) and a Qwen3-0.6B-shaped one (1 x 512 tokens, 16
// query and 8 kv heads of 128), forward and backward. GFLOP/s counts the
// causal flops (QK^T and PV; twice that for the backward).
func BenchmarkAttention(b *testing.B) {
	for _, s := range []struct {
		name             string
		B, T, HQ, HKV, D int
	}{{"b4_t64_h4_d64", 4, 64, 4, 4, 64}, {"b1_t512_h16x8_d128", 1, 512, 16, 8, 128}} {
		be := New(0)
		rng := rand.New(rand.NewPCG(1, 1))
		nq, nk := s.B*s.T*s.HQ*s.D, s.B*s.T*s.HKV*s.D
		q, k, v, out := benchTensor(b, be, nq, rng), benchTensor(b, be, nk, rng), benchTensor(b, be, nk, rng), benchTensor(b, be, nq, rng)
		dq, dk, dv, dout := benchTensor(b, be, nq, rng), benchTensor(b, be, nk, rng), benchTensor(b, be, nk, rng), benchTensor(b, be, nq, rng)
		lse := benchTensor(b, be, s.B*s.HQ*s.T, rng)
		lens, _ := be.Alloc(kernels.I32, s.B)
		ls := make([]int32, s.B)
		for i := range ls {
			ls[i] = int32(s.T)
		}
		be.UploadInt32(lens, ls)
		scale := float32(1 / math.Sqrt(float64(s.D)))
		flops := float64(s.B*s.HQ) * float64(s.T*(s.T+1)/2) * float64(s.D) * 4
		b.Run(s.name+"/fwd", func(b *testing.B) {
			c0 := cpuSeconds()
			for b.Loop() {
				be.Attention(out, lse, q, k, v, lens, s.B, s.T, s.HQ, s.HKV, s.D, scale, 0)
			}
			report(b, flops, c0, "GFLOP/s")
		})
		b.Run(s.name+"/bwd", func(b *testing.B) {
			c0 := cpuSeconds()
			for b.Loop() {
				be.AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, lens, s.B, s.T, s.HQ, s.HKV, s.D, scale, 0)
			}
			report(b, 2*flops, c0, "GFLOP/s")
		})
	}
}

// BenchmarkCrossEntropy: 256 rows of the 50304 vocabulary, loss and
// in-place gradient.
func BenchmarkCrossEntropy(b *testing.B) {
	be := New(0)
	rng := rand.New(rand.NewPCG(1, 1))
	rows, vocab := 256, 50304
	logits := benchTensor(b, be, rows*vocab, rng)
	loss := benchTensor(b, be, rows, rng)
	w := benchTensor(b, be, rows, rng)
	be.Fill(w, 1)
	tg, _ := be.Alloc(kernels.I32, rows)
	c0 := cpuSeconds()
	for b.Loop() {
		// Re-fill the logits: the in-place gradient overwrites them.
		be.CrossEntropy(loss, logits, logits, tg, w, rows, vocab, 1)
	}
	report(b, float64(rows*vocab), c0, "Gelem/s")
}

// report adds work/second (wall clock) and work per CPU-second of the
// process (steadier on a shared machine; multiply by the thread count for
// the unloaded estimate) as metrics, per op of size work.
func report(b *testing.B, work, cpu0 float64, unit string) {
	total := work * float64(b.N)
	b.ReportMetric(total/b.Elapsed().Seconds()/1e9, unit)
	if c := cpuSeconds() - cpu0; cpu0 > 0 && c > 0 {
		b.ReportMetric(total/c/1e9, unit+"-per-cpu")
	}
}

// BenchmarkDistill: 64 rows of a Qwen-sized vocabulary (151936), loss and
// in-place student gradient, full vocabulary and teacher top-64.
func BenchmarkDistill(b *testing.B) {
	be := New(0)
	rng := rand.New(rand.NewPCG(1, 1))
	rows, vocab := 64, 151936
	s := benchTensor(b, be, rows*vocab, rng)
	t := benchTensor(b, be, rows*vocab, rng)
	ds := benchTensor(b, be, rows*vocab, rng)
	loss := benchTensor(b, be, rows, rng)
	w := benchTensor(b, be, rows, rng)
	be.Fill(w, 1)
	for _, p := range []kernels.DistillParams{{Temp: 1, ForwardWeight: 0.5}, {Temp: 1, TopK: 64}} {
		b.Run(fmt.Sprintf("topk=%d", p.TopK), func(b *testing.B) {
			c0 := cpuSeconds()
			for b.Loop() {
				be.Distill(loss, ds, s, t, w, rows, vocab, p, 1)
			}
			report(b, float64(rows*vocab), c0, "Gelem/s")
		})
	}
}

// BenchmarkAdamW: one step over 17M parameters (the model benchmark's
// size: vocab 50304 x hidden 256 embeddings plus four layers).
func BenchmarkAdamW(b *testing.B) {
	be := New(0)
	rng := rand.New(rand.NewPCG(1, 1))
	n := 17 << 20
	p, g, m, v := benchTensor(b, be, n, rng), benchTensor(b, be, n, rng), benchTensor(b, be, n, rng), benchTensor(b, be, n, rng)
	be.Fill(v, 0.01)
	a := kernels.AdamWParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, GradScale: 1}
	c0 := cpuSeconds()
	for b.Loop() {
		a.Step++
		be.AdamW(p, g, m, v, n, a)
	}
	report(b, float64(n), c0, "Gelem/s")
}

// BenchmarkAttentionBF16 compares, at Qwen3-0.6B's attention shape (seq
// 256, 16 query heads over 8 kv heads of 128), the bf16 kernels
// (attn_bf16.go) with the F32 blocked path on the same values widened,
// which is what BF16 inputs took before (plus their widening).
func BenchmarkAttentionBF16(b *testing.B) {
	be := NewBF16(0)
	if !be.Supports(kernels.BF16) {
		b.Skip("no bf16 GEMMs on this CPU")
	}
	const B, T, HQ, HKV, D = 1, 256, 16, 8, 128
	rng := rand.New(rand.NewPCG(1, 1))
	nq, nk := B*T*HQ*D, B*T*HKV*D
	q, k, v, out := benchTensor(b, be, nq, rng), benchTensor(b, be, nk, rng), benchTensor(b, be, nk, rng), benchTensor(b, be, nq, rng)
	dq, dk, dv, dout := benchTensor(b, be, nq, rng), benchTensor(b, be, nk, rng), benchTensor(b, be, nk, rng), benchTensor(b, be, nq, rng)
	lse := benchTensor(b, be, B*HQ*T, rng)
	low := func(x kernels.Tensor) kernels.Tensor {
		t, _ := be.Alloc(kernels.BF16, x.N)
		be.Convert(t, x)
		be.Convert(x, t) // the F32 path sees the same (bf16) values
		return t
	}
	ql, kl, vl := low(q), low(k), low(v)
	lens, _ := be.Alloc(kernels.I32, B)
	be.UploadInt32(lens, []int32{T})
	scale := float32(1 / math.Sqrt(float64(D)))
	flops := float64(B*HQ) * float64(T*(T+1)/2) * float64(D) * 4
	for _, c := range []struct {
		name    string
		q, k, v kernels.Tensor
	}{{"bf16", ql, kl, vl}, {"f32", q, k, v}} {
		b.Run(c.name+"/fwd", func(b *testing.B) {
			c0 := cpuSeconds()
			for b.Loop() {
				be.Attention(out, lse, c.q, c.k, c.v, lens, B, T, HQ, HKV, D, scale, 0)
			}
			report(b, flops, c0, "GFLOP/s")
		})
		b.Run(c.name+"/bwd", func(b *testing.B) {
			c0 := cpuSeconds()
			for b.Loop() {
				be.AttentionBackward(dq, dk, dv, dout, out, lse, c.q, c.k, c.v, lens, B, T, HQ, HKV, D, scale, 0)
			}
			report(b, 2*flops, c0, "GFLOP/s")
		})
	}
}

// BenchmarkAdamWBF16 compares the fused optimiser pass with AdamW followed
// by Convert, over 64 Mi parameters (memory-bound).
func BenchmarkAdamWBF16(b *testing.B) {
	be := NewBF16(0)
	rng := rand.New(rand.NewPCG(1, 1))
	n := 64 << 20
	p, g, m, v := benchTensor(b, be, n, rng), benchTensor(b, be, n, rng), benchTensor(b, be, n, rng), benchTensor(b, be, n, rng)
	low, _ := be.Alloc(kernels.BF16, n)
	be.Fill(v, 0.01)
	be.Convert(low, p) // first touch outside the timings
	a := kernels.AdamWParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, GradScale: 1}
	b.Run("fused", func(b *testing.B) {
		for b.Loop() {
			a.Step++
			be.AdamWBF16(p, g, m, v, low, n, a)
		}
	})
	b.Run("adamw+convert", func(b *testing.B) {
		for b.Loop() {
			a.Step++
			be.AdamW(p, g, m, v, n, a)
			be.Convert(low, p)
		}
	})
}

// BenchmarkSwiGLU: 256 tokens of Qwen3-0.6B's MLP (intermediate 3072),
// forward into F32 and into BF16, and backward.
func BenchmarkSwiGLU(b *testing.B) {
	be := NewBF16(0)
	rng := rand.New(rand.NewPCG(1, 1))
	n := 256 * 3072
	g, u, d, o := benchTensor(b, be, n, rng), benchTensor(b, be, n, rng), benchTensor(b, be, n, rng), benchTensor(b, be, n, rng)
	dg, du := benchTensor(b, be, n, rng), benchTensor(b, be, n, rng)
	low, _ := be.Alloc(kernels.BF16, n)
	b.Run("fwd", func(b *testing.B) {
		for b.Loop() {
			be.SwiGLU(o, g, u, n)
		}
	})
	if be.Supports(kernels.BF16) {
		b.Run("fwd_bf16", func(b *testing.B) {
			for b.Loop() {
				be.SwiGLU(low, g, u, n)
			}
		})
	}
	b.Run("bwd", func(b *testing.B) {
		for b.Loop() {
			be.SwiGLUBackward(dg, du, d, g, u, n)
		}
	})
}
