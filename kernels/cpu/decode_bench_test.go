package cpu

import (
	"fmt"
	"testing"

	"sdzero/kernels"
)

// BenchmarkDecodeMatMul times decode-shaped products (m rows times a
// [n,k] weight) and reports the weight bytes streamed per second.
func BenchmarkDecodeMatMul(b *testing.B) {
	for _, s := range []struct{ m, n, k int }{{16, 50304, 256}, {16, 1024, 256}, {8, 151936, 1024}, {8, 3072, 1024}, {8, 1024, 3072}} {
		b.Run(fmt.Sprintf("m=%d,n=%d,k=%d", s.m, s.n, s.k), func(b *testing.B) {
			be := New(0)
			a, w, c := make([]float32, s.m*s.k), make([]float32, s.n*s.k), make([]float32, s.m*s.n)
			for i := range w {
				w[i] = float32(i%7) - 3
			}
			for i := range a {
				a[i] = float32(i%5) - 2
			}
			b.SetBytes(int64(4 * s.n * s.k))
			b.ResetTimer()
			for range b.N {
				be.decodeGemm(c, a, w, s.m, s.n, s.k, 1, 0)
			}
		})
	}
}

var benchThreads = 2

// BenchmarkDecodeMatMulBF16 is BenchmarkDecodeMatMul with BF16 operands
// (mixed precision's weight copies), which MatMul hands to the AMX decode
// kernel (decodeGemmBF16) where the CPU has AMX and to the bf16 GEMM
// otherwise. The weights here are re-read every iteration and may sit in
// the last-level cache: BenchmarkDecodeStepBF16 is the memory-bound
// figure.
func BenchmarkDecodeMatMulBF16(b *testing.B) {
	for _, s := range []struct{ m, n, k int }{{8, 151936, 1024}, {8, 3072, 1024}, {8, 1024, 3072}, {16, 50304, 256}} {
		b.Run(fmt.Sprintf("m=%d,n=%d,k=%d", s.m, s.n, s.k), func(b *testing.B) {
			be := NewBF16(0)
			if !be.Supports(kernels.BF16) {
				b.Skip("no bf16 unit")
			}
			x, _ := be.Alloc(kernels.BF16, s.m*s.k)
			w, _ := be.Alloc(kernels.BF16, s.n*s.k)
			c, _ := be.Alloc(kernels.F32, s.m*s.n)
			b.SetBytes(int64(2 * s.n * s.k))
			b.ResetTimer()
			for range b.N {
				be.MatMul(c, x, w, s.m, s.n, s.k, false, true, 1, 0)
			}
		})
	}
}

// BenchmarkStreamRead is the read-bandwidth probe over a buffer the size
// of Qwen3-0.6B's bf16 head (311 MB), the floor of the products above.
func BenchmarkStreamRead(b *testing.B) {
	be := New(0)
	x := make([]float32, 151936*1024/2)
	for i := range x {
		x[i] = 1
	}
	b.SetBytes(int64(4 * len(x)))
	b.ResetTimer()
	for range b.N {
		be.parallelDynamic(len(x), 1<<14, func(lo, hi int) { streamSum(x[lo:hi]) })
	}
}

// BenchmarkAttentionDecodeBF16 times one layer's AttentionDecode of the
// 0.6B decode bench (batch 8, 16 query / 8 kv heads of 128, BF16 caches
// of 96 positions, 80 filled).
func BenchmarkAttentionDecodeBF16(b *testing.B) {
	const rows, tmax, hq, hkv, d = 8, 96, 16, 8, 128
	be := NewBF16(benchThreads)
	if !be.Supports(kernels.BF16) {
		b.Skip("no bf16 unit")
	}
	nc := rows * tmax * hkv * d
	kc, _ := be.Alloc(kernels.BF16, nc)
	vc, _ := be.Alloc(kernels.BF16, nc)
	for i, v := range []kernels.Tensor{kc, vc} {
		h := u16("bench", v, nc)
		for j := range h {
			h[j] = kernels.F32ToBF16(float32((j+i)%11-5) / 8)
		}
	}
	q, _ := be.Alloc(kernels.F32, rows*hq*d)
	out, _ := be.Alloc(kernels.F32, rows*hq*d)
	lens, _ := be.Alloc(kernels.I32, rows)
	be.UploadInt32(lens, []int32{80, 80, 80, 80, 80, 80, 80, 80})
	for b.Loop() {
		be.AttentionDecode(out, q, kc, vc, lens, rows, tmax, hq, hkv, d, 0.088, 0)
	}
}
