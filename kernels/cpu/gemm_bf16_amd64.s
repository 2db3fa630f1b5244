//go:build amd64

#include "textflag.h"

// func interleaveRows(src *uint16, sstride int, ncb int, dst *uint32, pstride int)
//
// One k step (32 rows) of a matrix stored [k,cols] into ncb packed B
// panels (pair layout, see packBBF16): for pair row q (rows 2q, 2q+1,
// sstride bytes apart) and column block j (32 columns), dst + j*pstride +
// q*64 gets the 16 pairs of columns 0-15 and 1024 bytes further those of
// columns 16-31 (bytes). Each row pair is read front to back, two
// sequential streams the hardware prefetcher follows (interleave16x32
// walks 32 rows per column block instead). The shuffles are
// interleave16x32's.
TEXT ·interleaveRows(SB), NOSPLIT, $0-40
	MOVQ src+0(FP), SI
	MOVQ sstride+8(FP), BX
	MOVQ dst+24(FP), DI
	MOVQ pstride+32(FP), R8
	MOVQ $16, DX
ir_q:
	MOVQ SI, R10              // row 2q
	LEAQ (SI)(BX*1), R11      // row 2q+1
	MOVQ DI, R12              // panel 0, pair row q
	MOVQ ncb+16(FP), CX
ir_j:
	VMOVDQU32 (R10), Z0
	VMOVDQU32 (R11), Z1
	VPUNPCKLWD Z1, Z0, Z2          // columns 0-3, 8-11, 16-19, 24-27
	VPUNPCKHWD Z1, Z0, Z3          // columns 4-7, 12-15, 20-23, 28-31
	VSHUFI32X4 $0x44, Z3, Z2, Z4   // lo0 lo1 hi0 hi1
	VSHUFI32X4 $0xD8, Z4, Z4, Z4   // lo0 hi0 lo1 hi1: columns 0-15
	VSHUFI32X4 $0xEE, Z3, Z2, Z5   // lo2 lo3 hi2 hi3
	VSHUFI32X4 $0xD8, Z5, Z5, Z5   // columns 16-31
	VMOVDQU32 Z4, (R12)
	VMOVDQU32 Z5, 1024(R12)
	ADDQ $64, R10
	ADDQ $64, R11
	ADDQ R8, R12
	DECQ CX
	JNZ ir_j
	LEAQ (SI)(BX*2), SI
	ADDQ $64, DI
	DECQ DX
	JNZ ir_q
	VZEROUPPER
	RET
