//go:build amd64

package cpu

import (
	"golang.org/x/sys/cpu"

	"sdzero/kernels"
)

// amxTiles is the AMX kernel (see amx_amd64.s): an mt x nt grid of 32x32
// blocks of C from bf16 A panels (strides in bytes) and packed B panels.
//
//go:noescape
func amxTiles(cfg *byte, a *uint16, b *uint16, c *float32, ldc int, ksteps int, apanel int, bpanel int, mt int, nt int, astride int, akstep int, add bool)

// dpbf16x8 is the AVX512_BF16 kernel: an 8x32 block of C from rows 0-7 of
// a packed A panel and a packed B panel.
//
//go:noescape
func dpbf16x8(a *uint16, b *uint16, c *float32, ldc int, ksteps int, add bool)

// cpuidex executes CPUID with EAX=leaf, ECX=sub.
//
//go:noescape
func cpuidex(leaf, sub uint32) (eax, ebx, ecx, edx uint32)

// xgetbv0 reads XCR0, the state components the OS saves and restores.
func xgetbv0() (eax, edx uint32)

// XCR0 bits: SSE/AVX state (1, 2), AVX-512 opmask and ZMM (5, 6, 7) and
// AMX tile configuration and data (17, 18).
const (
	xcr0AVX512 = 1<<1 | 1<<2 | 1<<5 | 1<<6 | 1<<7
	xcr0AMX    = 1<<17 | 1<<18
)

// detectBF16 finds the best bf16 matrix unit this CPU and OS allow: AMX
// needs AMX-TILE and AMX-BF16 (CPUID.(7,0):EDX bits 24 and 22), the tile
// state enabled in XCR0 and, on Linux, the process's permission to use it
// (requested here, once per process); AVX512_BF16 is CPUID.(7,1):EAX bit 5
// with AVX-512 state enabled.
func detectBF16() bf16Kind {
	maxLeaf, _, _, _ := cpuidex(0, 0)
	if maxLeaf < 7 {
		return bf16None
	}
	_, _, ecx1, _ := cpuidex(1, 0)
	if ecx1&(1<<27) == 0 { // OSXSAVE: XGETBV is usable
		return bf16None
	}
	xcr0, _ := xgetbv0()
	_, ebx7, _, edx7 := cpuidex(7, 0)
	if edx7&(1<<22) != 0 && edx7&(1<<24) != 0 && xcr0&xcr0AMX == xcr0AMX && requestTilePermission() {
		return bf16AMX
	}
	eax71, _, _, _ := cpuidex(7, 1)
	if ebx7&(1<<16) != 0 && eax71&(1<<5) != 0 && xcr0&xcr0AVX512 == xcr0AVX512 && cpu.X86.HasAVX512F {
		return bf16AVX512
	}
	return bf16None
}

// amxConfig is the 64-byte tile configuration amxTiles loads: palette 1,
// tiles 0-7 each 16 rows of 64 bytes (colsb as little-endian uint16 at
// byte 16+2t, rows at byte 48+t).
func amxConfig() [64]byte {
	var c [64]byte
	c[0] = 1
	for t := range 8 {
		c[16+2*t] = 64
		c[48+t] = 16
	}
	return c
}

// tileKernel returns the kernel for kind (kind != bf16None).
func tileKernel(kind bf16Kind) tileFn {
	switch kind {
	case bf16AMX:
		if hostBF16() != bf16AMX { // also requests the tile permission
			panic("cpu: AMX kernel requested on a CPU or OS without AMX")
		}
		cfg := amxConfig()
		return func(a []uint16, al aLayout, b []uint16, bpanel int, c []float32, ldc, ksteps, mt, nt int, add bool) {
			checkTiles(a, al, b, bpanel, c, ldc, ksteps, mt, nt)
			amxTiles(&cfg[0], &a[0], &b[0], &c[0], ldc, ksteps, 2*al.panel, 2*bpanel, mt, nt, 2*al.stride, 2*al.kstep, add)
		}
	case bf16AVX512:
		return func(a []uint16, al aLayout, b []uint16, bpanel int, c []float32, ldc, ksteps, mt, nt int, add bool) {
			checkTiles(a, al, b, bpanel, c, ldc, ksteps, mt, nt)
			if al.stride != 32 || al.kstep != 1024 {
				panic("cpu MatMul: the AVX512_BF16 kernel reads packed A panels only")
			}
			for j := range nt {
				for i := range mt {
					for g := range 4 {
						dpbf16x8(&a[i*al.panel+g*256], &b[j*bpanel], &c[(i*32+g*8)*ldc+j*32], ldc, ksteps, add)
					}
				}
			}
		}
	}
	return tilesGo
}

// transpose16 transposes a 16x16 block of 32-bit values (see
// amx_amd64.s); strides in bytes.
//
//go:noescape
func transpose16(src *float32, sstride int, dst *float32, dstride int, add bool)

// transpose16x16 sets (or, with add, adds to) dst[j*dstride+i] =
// src[i*sstride+j] for i, j < 16 (element strides): AVX-512 where the CPU
// has it (every CPU with a bf16 unit does).
func transpose16x16(src []float32, sstride int, dst []float32, dstride int, add bool) {
	_, _ = src[15*sstride+15], dst[15*dstride+15]
	if cpu.X86.HasAVX512F {
		transpose16(&src[0], 4*sstride, &dst[0], 4*dstride, add)
		return
	}
	transpose16Go(src, sstride, dst, dstride, add)
}

//go:noescape
func f32ToBF16AVX512(dst *uint16, src *float32, n int)

//go:noescape
func bf16ToF32AVX512(dst *float32, src *uint16, n int)

// f32ToBF16Slice sets d[i] = kernels.F32ToBF16(s[i]) (bit for bit), 16 at
// a time with AVX-512 where the CPU has it.
func f32ToBF16Slice(d []uint16, s []float32) {
	n := min(len(d), len(s))
	v := 0
	if cpu.X86.HasAVX512F && n >= 16 {
		v = n &^ 15
		f32ToBF16AVX512(&d[0], &s[0], v)
	}
	for i := v; i < n; i++ {
		d[i] = kernels.F32ToBF16(s[i])
	}
}

// bf16ToF32Slice sets d[i] = kernels.BF16ToF32(s[i]).
func bf16ToF32Slice(d []float32, s []uint16) {
	n := min(len(d), len(s))
	v := 0
	if cpu.X86.HasAVX512F && n >= 16 {
		v = n &^ 15
		bf16ToF32AVX512(&d[0], &s[0], v)
	}
	for i := v; i < n; i++ {
		d[i] = kernels.BF16ToF32(s[i])
	}
}

//go:noescape
func interleave16x32(src *uint16, stride int, dst *uint32, drow int, dhalf int)

// interleavePairs sets dst[q*drow+c] (c < 16) and dst[q*drow+half+c-16]
// (c >= 16) to src[2q*stride+c] | src[(2q+1)*stride+c]<<16 for q < 16, c
// < 32 (strides in elements): the (k, k+1) pairs of 32 columns over one
// k step of a matrix stored [k,cols].
func interleavePairs(src []uint16, stride int, dst []uint32, drow, half int) {
	_, _ = src[31*stride+31], dst[15*drow+half+15]
	if cpu.X86.HasAVX512F {
		interleave16x32(&src[0], 2*stride, &dst[0], 4*drow, 4*half)
		return
	}
	interleavePairsGo(src, stride, dst, drow, half)
}
