//go:build !amd64

package cpu

// detectBF16 reports no bf16 unit: other architectures multiply in float32.
func detectBF16() bf16Kind { return bf16None }

// tileKernel returns the portable kernel (used by tests only, since
// detectBF16 never enables bf16 here).
func tileKernel(bf16Kind) tileFn { return tilesGo }

// transpose16x16 sets (or, with add, adds to) dst[j*dstride+i] =
// src[i*sstride+j] for i, j < 16.
func transpose16x16(src []float32, sstride int, dst []float32, dstride int, add bool) {
	transpose16Go(src, sstride, dst, dstride, add)
}
