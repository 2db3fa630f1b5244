//go:build amd64

package cpu

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// interleaveRows packs one k step of 32 rows into ncb B panels, row pair
// by row pair (see gemm_bf16_amd64.s); strides in bytes.
//
//go:noescape
func interleaveRows(src *uint16, sstride int, ncb int, dst *uint32, pstride int)

// packRowsFast is packRowsBF16's AVX-512 path for whole k steps and
// whole panels; it reports false (doing nothing) where it does not apply.
func packRowsFast(dst, b []uint16, n, kc, j0, j1, ps int) bool {
	if !cpu.X86.HasAVX512F || kc%32 != 0 || j1*32 > n || j1 <= j0 {
		return false
	}
	ncb := j1 - j0
	// Bounds: the last k step's rows and the last panel's last pair row.
	_, _ = b[(kc-1)*n+j1*32-1], dst[(ncb-1)*ps+kc/32*1024-1]
	for s := 0; s < kc/32; s++ {
		interleaveRows(&b[s*32*n+j0*32], 2*n, ncb, (*uint32)(unsafe.Pointer(&dst[s*1024])), 2*ps)
	}
	return true
}
