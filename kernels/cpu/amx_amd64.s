#include "textflag.h"

// BF16 matrix kernels: AMX tiles (TDPBF16PS) and AVX512_BF16 (VDPBF16PS).
//
// Go's assembler has no AMX or AVX512_BF16 mnemonics, so those instructions
// are written as bytes. The AMX ones are VEX-encoded:
//
//	C4 | R'X'B'm-mmmm | W v'v'v'v' L pp | opcode | ModRM [| SIB]
//
// with R', X', B' and v'v'v'v' stored inverted, m-mmmm = 00010 (map 0F38),
// W = 0, L = 0 and pp the implied prefix (00 none, 01 66, 10 F3, 11 F2).
// Every register used below is < 8, so the second byte is always
// 111_00010 = E2, and the third is 0_1111_0_pp = 78|pp when vvvv is unused:
//
//	LDTILECFG (AX)       C4 E2 78 49 00        NP 49 /0, ModRM 00_000_000
//	TILERELEASE          C4 E2 78 49 C0        NP 49 C0
//	TILELOADD t, (b)(i*1) C4 E2 7B 4B ModRM SIB  F2 4B /r, ModRM 00_ttt_100,
//	                                           SIB 00_iii_bbb: base b, row
//	                                           stride in register i
//	TILESTORED (b)(i*1), t C4 E2 7A 4B ModRM SIB  F3 4B /r, same ModRM/SIB
//	TILEZERO t           C4 E2 7B 49 ModRM     F2 49, ModRM 11_ttt_000
//	TDPBF16PS c, a, b    C4 E2 byte2 5C ModRM  F3 5C, ModRM 11_ccc_aaa (c the
//	                                           fp32 accumulator, a the rows
//	                                           tile) and b, the VNNI pair
//	                                           tile, in vvvv: byte2 =
//	                                           0_(~b&15)_0_10
//
// Register numbers: AX 0, CX 1, DX 2, BX 3, SI 6, DI 7. The SIB bytes used:
// (AX)(BX*1) 18, (CX)(BX*1) 19, (DI)(BX*1) 1F, (SI)(AX*1) 06, (DX)(AX*1) 02.
//
// Tiles: tmm0..3 accumulate a 32x32 fp32 block of C (tmm0 rows 0-15 cols
// 0-15, tmm1 rows 0-15 cols 16-31, tmm2 rows 16-31 cols 0-15, tmm3 rows
// 16-31 cols 16-31); tmm4/tmm5 hold rows 0-15/16-31 of A (16 rows x 32
// bf16), tmm6/tmm7 columns 0-15/16-31 of B (16 pair-rows x 16 columns x 2
// bf16). The tile configuration (see amxConfig) gives all eight 16 rows of
// 64 bytes.
//
// Packed layouts (see packABF16, packBBF16): per k step of 32, an A panel
// holds 32 rows x 32 bf16 (2048 bytes, row stride 64) and a B panel two
// 16-column halves of 16 pair-rows x 16 columns x 2 (1024 bytes each, row
// stride 64).

#define LDTILECFG_AX BYTE $0xC4; BYTE $0xE2; BYTE $0x78; BYTE $0x49; BYTE $0x00
#define TILERELEASE BYTE $0xC4; BYTE $0xE2; BYTE $0x78; BYTE $0x49; BYTE $0xC0

// TILELOADD tmm t from (base)(BX*1): ModRM 00_ttt_100.
#define TILELOADD(modrm, sib) BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $modrm; BYTE $sib
#define TILESTORED(modrm, sib) BYTE $0xC4; BYTE $0xE2; BYTE $0x7A; BYTE $0x4B; BYTE $modrm; BYTE $sib

// TILEZERO tmm0..3: ModRM 11_ttt_000.
#define TILEZERO0 BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x49; BYTE $0xC0
#define TILEZERO1 BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x49; BYTE $0xC8
#define TILEZERO2 BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x49; BYTE $0xD0
#define TILEZERO3 BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x49; BYTE $0xD8

// TDPBF16PS: tmm0 += tmm4.tmm6 (vvvv ~6 = 1001: byte2 0_1001_0_10 = 4A,
// ModRM 11_000_100 = C4); tmm1 += tmm4.tmm7 (~7 = 1000: 42, 11_001_100 =
// CC); tmm2 += tmm5.tmm6 (4A, 11_010_101 = D5); tmm3 += tmm5.tmm7 (42,
// 11_011_101 = DD).
#define TDP_0_4_6 BYTE $0xC4; BYTE $0xE2; BYTE $0x4A; BYTE $0x5C; BYTE $0xC4
#define TDP_1_4_7 BYTE $0xC4; BYTE $0xE2; BYTE $0x42; BYTE $0x5C; BYTE $0xCC
#define TDP_2_5_6 BYTE $0xC4; BYTE $0xE2; BYTE $0x4A; BYTE $0x5C; BYTE $0xD5
#define TDP_3_5_7 BYTE $0xC4; BYTE $0xE2; BYTE $0x42; BYTE $0x5C; BYTE $0xDD

// func amxTiles(cfg *byte, a *uint16, b *uint16, c *float32, ldc int, ksteps int, apanel int, bpanel int, mt int, nt int, astride int, akstep int, add bool)
//
// Computes an mt x nt grid of 32x32 blocks of C (row stride ldc floats):
// block (i, j) = [C +] A panel i . B panel j over ksteps steps of 32. B
// panels are packed (bpanel bytes apart). An A panel's rows are astride
// bytes apart and each k step advances akstep bytes, panels apanel bytes
// apart: a packed panel has astride 64, akstep 2048; an A stored [m,k]
// read in place has astride 2k, akstep 64 (TILELOADD takes any stride). B
// panels are the outer loop so that one stays in L1 while the A panels
// stream. The configuration is loaded and released in this one call: tile
// state is per thread, and a goroutine may move to another thread between
// calls (never within one: assembly is not preempted).
TEXT ·amxTiles(SB), NOSPLIT, $0-97
	MOVQ cfg+0(FP), AX
	LDTILECFG_AX
	MOVQ b+16(FP), R10        // B panel j
	MOVQ c+24(FP), R12        // C at column block j
	MOVQ ldc+32(FP), R15
	SHLQ $2, R15              // C row stride in bytes
	MOVQ akstep+88(FP), R14
amx_j:
	MOVQ a+8(FP), R9          // A panel i
	MOVQ R12, R11             // C block (i, j)
	MOVQ mt+64(FP), R13
amx_i:
	MOVBLZX add+96(FP), AX
	TESTQ AX, AX
	JZ amx_zero
	MOVQ R15, BX
	MOVQ R11, AX
	TILELOADD(0x04, 0x18)     // tmm0 <- (AX)(BX*1)
	ADDQ $64, AX
	TILELOADD(0x0C, 0x18)     // tmm1
	MOVQ R15, AX
	SHLQ $4, AX
	ADDQ R11, AX
	TILELOADD(0x14, 0x18)     // tmm2
	ADDQ $64, AX
	TILELOADD(0x1C, 0x18)     // tmm3
	JMP amx_k0
amx_zero:
	TILEZERO0
	TILEZERO1
	TILEZERO2
	TILEZERO3
amx_k0:
	MOVQ $64, BX              // B row stride
	MOVQ astride+80(FP), AX   // A row stride
	MOVQ R9, SI
	MOVQ AX, DX
	SHLQ $4, DX
	ADDQ R9, DX               // A rows 16-31
	MOVQ R10, DI
	LEAQ 1024(R10), CX
	MOVQ ksteps+40(FP), R8
amx_k:
	TILELOADD(0x24, 0x06)     // tmm4 <- (SI)(AX*1): A rows 0-15
	TILELOADD(0x34, 0x1F)     // tmm6 <- (DI)(BX*1): B cols 0-15
	TDP_0_4_6
	TILELOADD(0x3C, 0x19)     // tmm7 <- (CX)(BX*1): B cols 16-31
	TDP_1_4_7
	TILELOADD(0x2C, 0x02)     // tmm5 <- (DX)(AX*1): A rows 16-31
	TDP_2_5_6
	TDP_3_5_7
	ADDQ R14, SI
	ADDQ R14, DX
	ADDQ $2048, DI
	ADDQ $2048, CX
	DECQ R8
	JNZ amx_k
	MOVQ R15, BX
	MOVQ R11, AX
	TILESTORED(0x04, 0x18)    // (AX)(BX*1) <- tmm0
	ADDQ $64, AX
	TILESTORED(0x0C, 0x18)    // tmm1
	MOVQ R15, AX
	SHLQ $4, AX
	ADDQ R11, AX
	TILESTORED(0x14, 0x18)    // tmm2
	ADDQ $64, AX
	TILESTORED(0x1C, 0x18)    // tmm3
	// Next A panel, 32 rows further down C.
	ADDQ apanel+48(FP), R9
	MOVQ R15, AX
	SHLQ $5, AX
	ADDQ AX, R11
	DECQ R13
	JNZ amx_i
	// Next B panel, 32 columns to the right.
	ADDQ bpanel+56(FP), R10
	ADDQ $128, R12
	DECQ nt+72(FP)
	JNZ amx_j
	TILERELEASE
	RET

// VDPBF16PS zmm_acc, zmm_b, dword bcst [SI + 64*r] (EVEX.512.F3.0F38.W0 52 /r,
// AVX512_BF16): acc[j] += a.lo*b[2j] + a.hi*b[2j+1] for the bf16 pair a of
// row r broadcast to all 16 lanes. EVEX bytes 62 P0 P1 P2 52 ModRM disp8:
//
//	P0 = R' X' B' R'' 0 0 1 0 (inverted; map 0F38): F2 for acc < 8, 72 for 8-15
//	P1 = W v'v'v'v' 1 pp = 0_vvvv_1_10 with vvvv = ~b&15: 7E for Z16, 76 for Z17
//	P2 = z L'L b V'' aaa = 0_10_1_0_000 = 50 (512 bits, broadcast, b >= 16)
//	ModRM = 01_acc_110 (base SI, disp8), disp8 = 64r/4 (scaled by the
//	broadcast element size)
#define DPBF(p0, p1, modrm, d8) BYTE $0x62; BYTE $p0; BYTE $p1; BYTE $0x50; BYTE $0x52; BYTE $modrm; BYTE $d8

// Row r of an 8-row group: acc Z(2r) with B cols 0-15 (Z16), Z(2r+1)
// with cols 16-31 (Z17).
#define DPROW(p0a, p0b, ma, mb, d8) DPBF(p0a, 0x7E, ma, d8); DPBF(p0b, 0x76, mb, d8)

// func dpbf16x8(a *uint16, b *uint16, c *float32, ldc int, ksteps int, add bool)
//
// The AVX512_BF16 kernel: an 8x32 block of C (row stride ldc floats) =
// [C +] rows 0-7 of the A panel at a (same packed layout as the AMX
// kernel's, 64 bytes per row per k step) times the B panel at b, over
// ksteps steps of 32. Sixteen accumulators Z0-Z15, B in Z16/Z17.
TEXT ·dpbf16x8(SB), NOSPLIT, $0-41
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ ksteps+32(FP), R8
	// The caller walks down C in 8-row blocks: fetch the next block's
	// rows (8 rows of 128 bytes, 8 ldc on) while this one computes, so
	// that adding to (or writing) a C too big for the caches does not
	// wait on memory at every block (the LM head's dW, 622 MB of C).
	MOVQ c+16(FP), R11
	MOVQ ldc+24(FP), R10
	SHLQ $2, R10
	LEAQ (R11)(R10*8), R11
	MOVQ $8, R9
dp_pf:
	PREFETCHT0 (R11)
	PREFETCHT0 64(R11)
	ADDQ R10, R11
	DECQ R9
	JNZ dp_pf
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
dp_k:
	MOVQ $16, R9
dp_p:
	VMOVUPS (DI), Z16
	VMOVUPS 1024(DI), Z17
	DPROW(0xF2, 0xF2, 0x46, 0x4E, 0x00)   // row 0: Z0, Z1
	DPROW(0xF2, 0xF2, 0x56, 0x5E, 0x10)   // row 1: Z2, Z3
	DPROW(0xF2, 0xF2, 0x66, 0x6E, 0x20)   // row 2: Z4, Z5
	DPROW(0xF2, 0xF2, 0x76, 0x7E, 0x30)   // row 3: Z6, Z7
	DPROW(0x72, 0x72, 0x46, 0x4E, 0x40)   // row 4: Z8, Z9
	DPROW(0x72, 0x72, 0x56, 0x5E, 0x50)   // row 5: Z10, Z11
	DPROW(0x72, 0x72, 0x66, 0x6E, 0x60)   // row 6: Z12, Z13
	DPROW(0x72, 0x72, 0x76, 0x7E, 0x70)   // row 7: Z14, Z15
	ADDQ $4, SI
	ADDQ $64, DI
	DECQ R9
	JNZ dp_p
	// Next k step: A advanced 64 bytes of its 2048, B 1024 of its 2048.
	ADDQ $1984, SI
	ADDQ $1024, DI
	DECQ R8
	JNZ dp_k
	MOVQ c+16(FP), DX
	MOVQ ldc+24(FP), R8
	SHLQ $2, R8
	MOVBLZX add+40(FP), R9
	TESTQ R9, R9
	JZ dp_store
	VADDPS (DX), Z0, Z0
	VADDPS 64(DX), Z1, Z1
	ADDQ R8, DX
	VADDPS (DX), Z2, Z2
	VADDPS 64(DX), Z3, Z3
	ADDQ R8, DX
	VADDPS (DX), Z4, Z4
	VADDPS 64(DX), Z5, Z5
	ADDQ R8, DX
	VADDPS (DX), Z6, Z6
	VADDPS 64(DX), Z7, Z7
	ADDQ R8, DX
	VADDPS (DX), Z8, Z8
	VADDPS 64(DX), Z9, Z9
	ADDQ R8, DX
	VADDPS (DX), Z10, Z10
	VADDPS 64(DX), Z11, Z11
	ADDQ R8, DX
	VADDPS (DX), Z12, Z12
	VADDPS 64(DX), Z13, Z13
	ADDQ R8, DX
	VADDPS (DX), Z14, Z14
	VADDPS 64(DX), Z15, Z15
	MOVQ c+16(FP), DX
dp_store:
	VMOVUPS Z0, (DX)
	VMOVUPS Z1, 64(DX)
	ADDQ R8, DX
	VMOVUPS Z2, (DX)
	VMOVUPS Z3, 64(DX)
	ADDQ R8, DX
	VMOVUPS Z4, (DX)
	VMOVUPS Z5, 64(DX)
	ADDQ R8, DX
	VMOVUPS Z6, (DX)
	VMOVUPS Z7, 64(DX)
	ADDQ R8, DX
	VMOVUPS Z8, (DX)
	VMOVUPS Z9, 64(DX)
	ADDQ R8, DX
	VMOVUPS Z10, (DX)
	VMOVUPS Z11, 64(DX)
	ADDQ R8, DX
	VMOVUPS Z12, (DX)
	VMOVUPS Z13, 64(DX)
	ADDQ R8, DX
	VMOVUPS Z14, (DX)
	VMOVUPS Z15, 64(DX)
	VZEROUPPER
	RET

// func cpuidex(leaf, sub uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuidex(SB), NOSPLIT, $0-24
	MOVL leaf+0(FP), AX
	MOVL sub+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func xgetbv0() (eax, edx uint32)
TEXT ·xgetbv0(SB), NOSPLIT, $0-8
	MOVL $0, CX
	XGETBV
	MOVL AX, eax+0(FP)
	MOVL DX, edx+4(FP)
	RET

// func transpose16(src *float32, sstride int, dst *float32, dstride int, add bool)
//
// Transposes a 16x16 block of 32-bit elements (AVX-512F): row i of dst
// (dstride bytes apart) is column i of src (rows sstride bytes apart);
// with add, the float32 values are added to dst instead of stored. The
// shuffle network: 32-bit and 64-bit unpacks within 128-bit lanes, then
// two rounds of 128-bit lane shuffles (VSHUFI32X4 0x88 takes lanes 0 and
// 2 of each source, 0xDD lanes 1 and 3).
TEXT ·transpose16(SB), NOSPLIT, $0-33
	MOVQ src+0(FP), SI
	MOVQ sstride+8(FP), BX
	MOVQ dst+16(FP), DI
	MOVQ dstride+24(FP), DX
	MOVBLZX add+32(FP), CX
	VMOVUPS (SI), Z0
	ADDQ BX, SI
	VMOVUPS (SI), Z1
	ADDQ BX, SI
	VMOVUPS (SI), Z2
	ADDQ BX, SI
	VMOVUPS (SI), Z3
	ADDQ BX, SI
	VMOVUPS (SI), Z4
	ADDQ BX, SI
	VMOVUPS (SI), Z5
	ADDQ BX, SI
	VMOVUPS (SI), Z6
	ADDQ BX, SI
	VMOVUPS (SI), Z7
	ADDQ BX, SI
	VMOVUPS (SI), Z8
	ADDQ BX, SI
	VMOVUPS (SI), Z9
	ADDQ BX, SI
	VMOVUPS (SI), Z10
	ADDQ BX, SI
	VMOVUPS (SI), Z11
	ADDQ BX, SI
	VMOVUPS (SI), Z12
	ADDQ BX, SI
	VMOVUPS (SI), Z13
	ADDQ BX, SI
	VMOVUPS (SI), Z14
	ADDQ BX, SI
	VMOVUPS (SI), Z15
	VUNPCKLPS Z1, Z0, Z16
	VUNPCKHPS Z1, Z0, Z17
	VUNPCKLPS Z3, Z2, Z18
	VUNPCKHPS Z3, Z2, Z19
	VUNPCKLPS Z5, Z4, Z20
	VUNPCKHPS Z5, Z4, Z21
	VUNPCKLPS Z7, Z6, Z22
	VUNPCKHPS Z7, Z6, Z23
	VUNPCKLPS Z9, Z8, Z24
	VUNPCKHPS Z9, Z8, Z25
	VUNPCKLPS Z11, Z10, Z26
	VUNPCKHPS Z11, Z10, Z27
	VUNPCKLPS Z13, Z12, Z28
	VUNPCKHPS Z13, Z12, Z29
	VUNPCKLPS Z15, Z14, Z30
	VUNPCKHPS Z15, Z14, Z31
	VUNPCKLPD Z18, Z16, Z0
	VUNPCKHPD Z18, Z16, Z1
	VUNPCKLPD Z19, Z17, Z2
	VUNPCKHPD Z19, Z17, Z3
	VUNPCKLPD Z22, Z20, Z4
	VUNPCKHPD Z22, Z20, Z5
	VUNPCKLPD Z23, Z21, Z6
	VUNPCKHPD Z23, Z21, Z7
	VUNPCKLPD Z26, Z24, Z8
	VUNPCKHPD Z26, Z24, Z9
	VUNPCKLPD Z27, Z25, Z10
	VUNPCKHPD Z27, Z25, Z11
	VUNPCKLPD Z30, Z28, Z12
	VUNPCKHPD Z30, Z28, Z13
	VUNPCKLPD Z31, Z29, Z14
	VUNPCKHPD Z31, Z29, Z15
	VSHUFI32X4 $0x88, Z4, Z0, Z16
	VSHUFI32X4 $0xDD, Z4, Z0, Z20
	VSHUFI32X4 $0x88, Z12, Z8, Z24
	VSHUFI32X4 $0xDD, Z12, Z8, Z28
	VSHUFI32X4 $0x88, Z5, Z1, Z17
	VSHUFI32X4 $0xDD, Z5, Z1, Z21
	VSHUFI32X4 $0x88, Z13, Z9, Z25
	VSHUFI32X4 $0xDD, Z13, Z9, Z29
	VSHUFI32X4 $0x88, Z6, Z2, Z18
	VSHUFI32X4 $0xDD, Z6, Z2, Z22
	VSHUFI32X4 $0x88, Z14, Z10, Z26
	VSHUFI32X4 $0xDD, Z14, Z10, Z30
	VSHUFI32X4 $0x88, Z7, Z3, Z19
	VSHUFI32X4 $0xDD, Z7, Z3, Z23
	VSHUFI32X4 $0x88, Z15, Z11, Z27
	VSHUFI32X4 $0xDD, Z15, Z11, Z31
	VSHUFI32X4 $0x88, Z24, Z16, Z0
	VSHUFI32X4 $0xDD, Z24, Z16, Z8
	VSHUFI32X4 $0x88, Z25, Z17, Z1
	VSHUFI32X4 $0xDD, Z25, Z17, Z9
	VSHUFI32X4 $0x88, Z26, Z18, Z2
	VSHUFI32X4 $0xDD, Z26, Z18, Z10
	VSHUFI32X4 $0x88, Z27, Z19, Z3
	VSHUFI32X4 $0xDD, Z27, Z19, Z11
	VSHUFI32X4 $0x88, Z28, Z20, Z4
	VSHUFI32X4 $0xDD, Z28, Z20, Z12
	VSHUFI32X4 $0x88, Z29, Z21, Z5
	VSHUFI32X4 $0xDD, Z29, Z21, Z13
	VSHUFI32X4 $0x88, Z30, Z22, Z6
	VSHUFI32X4 $0xDD, Z30, Z22, Z14
	VSHUFI32X4 $0x88, Z31, Z23, Z7
	VSHUFI32X4 $0xDD, Z31, Z23, Z15
	TESTQ CX, CX
	JNZ tr_add
	VMOVUPS Z0, (DI)
	ADDQ DX, DI
	VMOVUPS Z1, (DI)
	ADDQ DX, DI
	VMOVUPS Z2, (DI)
	ADDQ DX, DI
	VMOVUPS Z3, (DI)
	ADDQ DX, DI
	VMOVUPS Z4, (DI)
	ADDQ DX, DI
	VMOVUPS Z5, (DI)
	ADDQ DX, DI
	VMOVUPS Z6, (DI)
	ADDQ DX, DI
	VMOVUPS Z7, (DI)
	ADDQ DX, DI
	VMOVUPS Z8, (DI)
	ADDQ DX, DI
	VMOVUPS Z9, (DI)
	ADDQ DX, DI
	VMOVUPS Z10, (DI)
	ADDQ DX, DI
	VMOVUPS Z11, (DI)
	ADDQ DX, DI
	VMOVUPS Z12, (DI)
	ADDQ DX, DI
	VMOVUPS Z13, (DI)
	ADDQ DX, DI
	VMOVUPS Z14, (DI)
	ADDQ DX, DI
	VMOVUPS Z15, (DI)
	VZEROUPPER
	RET
tr_add:
	VADDPS (DI), Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ DX, DI
	VADDPS (DI), Z1, Z1
	VMOVUPS Z1, (DI)
	ADDQ DX, DI
	VADDPS (DI), Z2, Z2
	VMOVUPS Z2, (DI)
	ADDQ DX, DI
	VADDPS (DI), Z3, Z3
	VMOVUPS Z3, (DI)
	ADDQ DX, DI
	VADDPS (DI), Z4, Z4
	VMOVUPS Z4, (DI)
	ADDQ DX, DI
	VADDPS (DI), Z5, Z5
	VMOVUPS Z5, (DI)
	ADDQ DX, DI
	VADDPS (DI), Z6, Z6
	VMOVUPS Z6, (DI)
	ADDQ DX, DI
	VADDPS (DI), Z7, Z7
	VMOVUPS Z7, (DI)
	ADDQ DX, DI
	VADDPS (DI), Z8, Z8
	VMOVUPS Z8, (DI)
	ADDQ DX, DI
	VADDPS (DI), Z9, Z9
	VMOVUPS Z9, (DI)
	ADDQ DX, DI
	VADDPS (DI), Z10, Z10
	VMOVUPS Z10, (DI)
	ADDQ DX, DI
	VADDPS (DI), Z11, Z11
	VMOVUPS Z11, (DI)
	ADDQ DX, DI
	VADDPS (DI), Z12, Z12
	VMOVUPS Z12, (DI)
	ADDQ DX, DI
	VADDPS (DI), Z13, Z13
	VMOVUPS Z13, (DI)
	ADDQ DX, DI
	VADDPS (DI), Z14, Z14
	VMOVUPS Z14, (DI)
	ADDQ DX, DI
	VADDPS (DI), Z15, Z15
	VMOVUPS Z15, (DI)
	VZEROUPPER
	RET

// func f32ToBF16AVX512(dst *uint16, src *float32, n int)
//
// Rounds n (a multiple of 16) float32 values to bfloat16 exactly as
// kernels.F32ToBF16 does, 16 at a time: b + 0x7fff + ((b >> 16) & 1),
// high half; NaN lanes (|b| > 0x7f800000) become (b >> 16) | 0x40. (Not
// VCVTNEPS2BF16: it flushes subnormal inputs to zero.)
TEXT ·f32ToBF16AVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	JZ cvt_done
	MOVL $1, AX
	VPBROADCASTD AX, Z31
	MOVL $0x7fff, AX
	VPBROADCASTD AX, Z30
	MOVL $0x7fffffff, AX
	VPBROADCASTD AX, Z29
	MOVL $0x7f800000, AX
	VPBROADCASTD AX, Z28
	MOVL $0x40, AX
	VPBROADCASTD AX, Z27
cvt_loop:
	VMOVDQU32 (SI), Z0
	VPSRLD $16, Z0, Z1
	VPANDD Z31, Z1, Z2
	VPADDD Z30, Z2, Z2
	VPADDD Z0, Z2, Z2
	VPSRLD $16, Z2, Z2
	VPANDD Z29, Z0, Z3
	VPCMPUD $6, Z28, Z3, K1
	VPORD Z27, Z1, K1, Z2
	VPMOVDW Z2, (DI)
	ADDQ $64, SI
	ADDQ $32, DI
	DECQ CX
	JNZ cvt_loop
	VZEROUPPER
cvt_done:
	RET

// func bf16ToF32AVX512(dst *float32, src *uint16, n int)
//
// Widens n (a multiple of 16) bfloat16 values to float32 (exact: the bits
// shifted into the high half).
TEXT ·bf16ToF32AVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	JZ wid_done
wid_loop:
	VPMOVZXWD (SI), Z0
	VPSLLD $16, Z0, Z0
	VMOVDQU32 Z0, (DI)
	ADDQ $32, SI
	ADDQ $64, DI
	DECQ CX
	JNZ wid_loop
	VZEROUPPER
wid_done:
	RET

// func interleave16x32(src *uint16, stride int, dst *uint32, drow int, dhalf int)
//
// For q = 0..15, row q of dst pairs rows 2q and 2q+1 of src (32 uint16
// each, rows stride bytes apart): dst[q][c] = src[2q][c] |
// src[2q+1][c]<<16, columns 0-15 at dst + q*drow and 16-31 dhalf bytes
// further (bytes). VPUNPCKLWD/HWD interleave
// within 128-bit lanes (words 0-3 and 4-7 of each lane); two lane
// shuffles each put the 32 pairs back in column order.
TEXT ·interleave16x32(SB), NOSPLIT, $0-40
	MOVQ src+0(FP), SI
	MOVQ stride+8(FP), BX
	MOVQ dst+16(FP), DI
	MOVQ drow+24(FP), DX
	MOVQ dhalf+32(FP), R8
	MOVQ $16, CX
il_loop:
	VMOVDQU32 (SI), Z0
	VMOVDQU32 (SI)(BX*1), Z1
	VPUNPCKLWD Z1, Z0, Z2          // columns 0-3, 8-11, 16-19, 24-27
	VPUNPCKHWD Z1, Z0, Z3          // columns 4-7, 12-15, 20-23, 28-31
	VSHUFI32X4 $0x44, Z3, Z2, Z4   // lo0 lo1 hi0 hi1
	VSHUFI32X4 $0xD8, Z4, Z4, Z4   // lo0 hi0 lo1 hi1: columns 0-15
	VSHUFI32X4 $0xEE, Z3, Z2, Z5   // lo2 lo3 hi2 hi3
	VSHUFI32X4 $0xD8, Z5, Z5, Z5   // columns 16-31
	VMOVDQU32 Z4, (DI)
	VMOVDQU32 Z5, (DI)(R8*1)
	LEAQ (SI)(BX*2), SI
	ADDQ DX, DI
	DECQ CX
	JNZ il_loop
	VZEROUPPER
	RET
