package cuda

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"sdzero/kernels"
)

// GPU benchmarks at Qwen3-0.6B-like sizes (they skip without a GPU):
//
//	go test -run '^$' -bench GPU -benchtime 10x ./kernels/cuda

func benchBackend(b *testing.B, tf32 bool) *Backend {
	b.Helper()
	if ok, why := Available(); !ok {
		b.Skipf("no usable CUDA GPU: %s", why)
	}
	be, err := New(Options{TF32: tf32})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { be.Close() })
	return be
}

func benchRand(be *Backend, b *testing.B, d kernels.DType, n int, s float64) kernels.Tensor {
	t, err := be.Alloc(d, n)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(n), 3))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * s)
	}
	be.Upload(t, v)
	return t
}

func benchSync(b *testing.B, be *Backend) {
	if err := be.Sync(); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkGPUMatMul(b *testing.B) {
	const m, n, k = 4096, 4096, 4096
	for _, c := range []struct {
		name string
		d    kernels.DType
		tf32 bool
	}{{"F32", kernels.F32, false}, {"TF32", kernels.F32, true}, {"BF16", kernels.BF16, false}} {
		b.Run(c.name, func(b *testing.B) {
			be := benchBackend(b, c.tf32)
			x, w := benchRand(be, b, c.d, m*k, 1), benchRand(be, b, c.d, n*k, 1)
			y, _ := be.Alloc(kernels.F32, m*n)
			be.MatMul(y, x, w, m, n, k, false, true, 1, 0)
			benchSync(b, be)
			b.ResetTimer()
			for range b.N {
				be.MatMul(y, x, w, m, n, k, false, true, 1, 0)
			}
			benchSync(b, be)
			b.ReportMetric(2*m*n*k*float64(b.N)/b.Elapsed().Seconds()/1e12, "TFLOP/s")
		})
	}
}

func BenchmarkGPUAttention(b *testing.B) {
	const bs, t, hq, hkv, d = 4, 1024, 16, 8, 128
	be := benchBackend(b, false)
	nq, nk := bs*t*hq*d, bs*t*hkv*d
	out, _ := be.Alloc(kernels.F32, nq)
	lse, _ := be.Alloc(kernels.F32, bs*hq*t)
	lens, _ := be.Alloc(kernels.I32, bs)
	be.UploadInt32(lens, []int32{t, t, t, t})
	dout := benchRand(be, b, kernels.F32, nq, 1)
	dq, _ := be.Alloc(kernels.F32, nq)
	dk, _ := be.Alloc(kernels.F32, nk)
	dv, _ := be.Alloc(kernels.F32, nk)
	flops := 4.0 * bs * hq * t * t / 2 * d // causal: half the QK^T and PV work
	// F32: the CUDA-core kernels; BF16: the tensor-core kernels.
	for _, dt := range []kernels.DType{kernels.F32, kernels.BF16} {
		q, k, v := benchRand(be, b, dt, nq, 1), benchRand(be, b, dt, nk, 1), benchRand(be, b, dt, nk, 1)
		b.Run(dt.String()+"/fwd", func(b *testing.B) {
			for range b.N {
				be.Attention(out, lse, q, k, v, lens, bs, t, hq, hkv, d, 0.088, 0)
			}
			benchSync(b, be)
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e12, "TFLOP/s")
		})
		b.Run(dt.String()+"/bwd", func(b *testing.B) {
			for range b.N {
				be.AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, lens, bs, t, hq, hkv, d, 0.088, 0)
			}
			benchSync(b, be)
			b.ReportMetric(2.5*flops*float64(b.N)/b.Elapsed().Seconds()/1e12, "TFLOP/s")
		})
	}
}

func BenchmarkGPULoss(b *testing.B) {
	const rows, vocab = 2048, 151936
	be := benchBackend(b, false)
	logits := benchRand(be, b, kernels.F32, rows*vocab, 2)
	teacher := benchRand(be, b, kernels.F32, rows*vocab, 2)
	grad, _ := be.Alloc(kernels.F32, rows*vocab)
	loss, _ := be.Alloc(kernels.F32, rows)
	tg, _ := be.Alloc(kernels.I32, rows)
	ids := make([]int32, rows)
	for i := range ids {
		ids[i] = int32(i * 61 % vocab)
	}
	be.UploadInt32(tg, ids)
	gbps := func(b *testing.B, bytes float64) {
		b.ReportMetric(bytes*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
	}
	b.Run("CrossEntropy", func(b *testing.B) {
		for range b.N {
			be.CrossEntropy(loss, grad, logits, tg, kernels.Tensor{}, rows, vocab, 1)
		}
		benchSync(b, be)
		gbps(b, 3*4*rows*vocab)
	})
	for _, k := range []int{0, 64} {
		b.Run(fmt.Sprintf("Distill/topk=%d", k), func(b *testing.B) {
			for range b.N {
				be.Distill(loss, grad, logits, teacher, kernels.Tensor{}, rows, vocab, kernels.DistillParams{Temp: 1, TopK: k, ForwardWeight: 0.5}, 1)
			}
			benchSync(b, be)
			gbps(b, 4*4*rows*vocab)
		})
	}
}

func BenchmarkGPUSample(b *testing.B) {
	const rows, vocab = 64, 151936
	be := benchBackend(b, false)
	logits := benchRand(be, b, kernels.F32, rows*vocab, 3)
	u, _ := be.Alloc(kernels.F32, rows)
	uv := make([]float32, rows)
	for i := range uv {
		uv[i] = float32(i) / rows
	}
	be.Upload(u, uv)
	out, _ := be.Alloc(kernels.I32, rows)
	for _, c := range []struct {
		name string
		temp float32
		k    int
		p    float32
	}{{"argmax", 0, 0, 1}, {"full", 1, 0, 1}, {"topp0.9", 1, 0, 0.9}, {"topk50", 0.7, 50, 0.95}} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				be.Sample(out, logits, u, rows, vocab, c.temp, c.k, c.p)
			}
			benchSync(b, be)
		})
	}
}
