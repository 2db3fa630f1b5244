package cpu

import (
	"fmt"
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
				b.ResetTimer()
				for b.Loop() {
					be.MatMul(z, x, y, c.m, c.n, c.k, c.ta, c.tb, 1, 0)
				}
				b.ReportMetric(2*float64(c.m)*float64(c.n)*float64(c.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkAttention is the model benchmark's attention: batch 4 x 64
// tokens, 4 heads of 64 (forward and backward).
func BenchmarkAttention(b *testing.B) {
	be := New(0)
	rng := rand.New(rand.NewPCG(1, 1))
	B, T, H, D := 4, 64, 4, 64
	n := B * T * H * D
	q, k, v, out := benchTensor(b, be, n, rng), benchTensor(b, be, n, rng), benchTensor(b, be, n, rng), benchTensor(b, be, n, rng)
	dq, dk, dv, dout := benchTensor(b, be, n, rng), benchTensor(b, be, n, rng), benchTensor(b, be, n, rng), benchTensor(b, be, n, rng)
	lse := benchTensor(b, be, B*H*T, rng)
	lens, _ := be.Alloc(kernels.I32, B)
	be.UploadInt32(lens, []int32{64, 64, 64, 64})
	// Causal attention: ~ 2 * (T*(T+1)/2) * D * 2 flops per head (QK^T and PV).
	flops := float64(B*H) * float64(T*(T+1)/2) * float64(D) * 4
	b.Run("fwd", func(b *testing.B) {
		for b.Loop() {
			be.Attention(out, lse, q, k, v, lens, B, T, H, H, D, 0.125)
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	b.Run("bwd", func(b *testing.B) {
		for b.Loop() {
			be.AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, lens, B, T, H, H, D, 0.125)
		}
		b.ReportMetric(2*flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
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
	for b.Loop() {
		be.CrossEntropy(loss, logits, logits, tg, w, rows, vocab, 1)
	}
	b.ReportMetric(float64(rows*vocab)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
}
