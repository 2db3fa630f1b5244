//go:build !amd64

package cpu

import "sdzero/kernels"

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

// f32ToBF16Slice sets d[i] = kernels.F32ToBF16(s[i]).
func f32ToBF16Slice(d []uint16, s []float32) {
	for i := range min(len(d), len(s)) {
		d[i] = kernels.F32ToBF16(s[i])
	}
}

// bf16ToF32Slice sets d[i] = kernels.BF16ToF32(s[i]).
func bf16ToF32Slice(d []float32, s []uint16) {
	for i := range min(len(d), len(s)) {
		d[i] = kernels.BF16ToF32(s[i])
	}
}

// interleavePairs is interleavePairsGo (see amx_amd64.go).
func interleavePairs(src []uint16, stride int, dst []uint32, drow, half int) {
	interleavePairsGo(src, stride, dst, drow, half)
}
