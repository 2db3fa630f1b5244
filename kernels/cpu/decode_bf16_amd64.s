//go:build amd64

#include "textflag.h"

// The decode product on AMX with the weight as the A (rows) operand, read
// in place: see amx_amd64.s for how the AMX instructions are encoded as
// bytes (VEX C4, map 0F38). Here the B tile's row stride is in R8, an
// extended register, so its TILELOADD/TILESTORED have VEX.X' = 0: second
// byte 101_00010 = A2, SIB 00_000_000 (index R8, base AX).
//
// Registers: AX the packed x^T tile, BX the weight's row stride, SI the
// block's rows at the current k step, R8 = 64, R9 the block's first row,
// R10 the k-step count, R13 the output, R14 the block count, R15 16
// weight rows.
//
// Tiles: tmm0 accumulates the block (16 weight rows x 16 x columns,
// fp32); tmm6 holds the k step's x^T tile (16 pair-rows x 16 columns x 2
// bf16); tmm4 the block's 16 rows x 32 k of the weight.

#define LDTILECFG_AX BYTE $0xC4; BYTE $0xE2; BYTE $0x78; BYTE $0x49; BYTE $0x00
#define TILERELEASE BYTE $0xC4; BYTE $0xE2; BYTE $0x78; BYTE $0x49; BYTE $0xC0
#define TILEZERO0 BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x49; BYTE $0xC0

// TILELOADD tmm6 <- (AX)(R8*1): ModRM 00_110_100.
#define LOADB BYTE $0xC4; BYTE $0xA2; BYTE $0x7B; BYTE $0x4B; BYTE $0x34; BYTE $0x00
// TILELOADD tmm4 <- (SI)(BX*1): ModRM 00_100_100, SIB 00_011_110.
#define LOAD4SI BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x24; BYTE $0x1E
// TILESTORED (AX)(R8*1) <- tmm0: ModRM 00_000_100.
#define STORE0 BYTE $0xC4; BYTE $0xA2; BYTE $0x7A; BYTE $0x4B; BYTE $0x04; BYTE $0x00

// TDPBF16PS tmm0 += tmm4 . tmm6: byte2 0_1001_0_10 = 4A (vvvv = ~6),
// ModRM 11_000_100.
#define TDP_0_4 BYTE $0xC4; BYTE $0xE2; BYTE $0x4A; BYTE $0x5C; BYTE $0xC4

// func decodeAMX(cfg *byte, w *uint16, wstride int, xp *uint16, ksteps int, out *float32, nblk int)
//
// For nblk blocks of 16 weight rows (rows wstride bytes apart, block b at
// w + 16*b*wstride) computes out[r][c] = sum over ksteps*32 k of w[r][k] *
// x^T[k][c] for the block's rows r and c < 16: a 16x16 fp32 tile, 64
// bytes a row, blocks 1024 bytes apart. xp holds x^T packed per k step
// (1024 bytes: 16 pair-rows of 16 columns x 2 bf16, see decodePackX).
// Each output element is the same sequence of TDPBF16PS steps over k
// whatever the other rows and columns: a row's result does not depend on
// the batch.
//
// One block at a time, all of k, is what reads memory fastest (measured
// on the 0.6B step, see docs/cpu-notes.md): a block is 16 contiguous
// rows, so the tile loads walk 16*wstride contiguous bytes in few enough
// 4 KiB pages for the hardware prefetchers to follow. Four blocks side by
// side (64 rows, one load of x^T for four products) and a software
// prefetch of the next block were both slower.
TEXT ·decodeAMX(SB), NOSPLIT, $0-56
	MOVQ cfg+0(FP), AX
	LDTILECFG_AX
	MOVQ w+8(FP), R9
	MOVQ wstride+16(FP), BX
	MOVQ out+40(FP), R13
	MOVQ nblk+48(FP), R14
	MOVQ $64, R8
	MOVQ BX, R15
	SHLQ $4, R15
dx_blk:
	TILEZERO0
	MOVQ R9, SI
	MOVQ xp+24(FP), AX
	MOVQ ksteps+32(FP), R10
dx_k:
	LOADB
	LOAD4SI
	TDP_0_4
	ADDQ $64, SI
	ADDQ $1024, AX
	DECQ R10
	JNZ dx_k
	MOVQ R13, AX
	STORE0
	ADDQ $1024, R13
	ADDQ R15, R9
	DECQ R14
	JNZ dx_blk
	TILERELEASE
	RET
