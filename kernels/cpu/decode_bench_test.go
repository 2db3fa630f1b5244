package cpu

import (
	"fmt"
	"testing"
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
