//go:build amd64

#include "textflag.h"

// REDUCEROW folds the accumulators of one row of out (columns 0..3 in
// z0..z3; y0..y3 are their low halves) to four floats stored at off(DX).
// VHADDPS has no EVEX form, so the folds land in X0..X7 first.
#define REDUCEROW(z0, z1, z2, z3, y0, y1, y2, y3, off) \
	VEXTRACTF64X4 $1, z0, Y0; \
	VADDPS y0, Y0, Y0; \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS X1, X0, X0; \
	VEXTRACTF64X4 $1, z1, Y2; \
	VADDPS y1, Y2, Y2; \
	VEXTRACTF128 $1, Y2, X3; \
	VADDPS X3, X2, X2; \
	VEXTRACTF64X4 $1, z2, Y4; \
	VADDPS y2, Y4, Y4; \
	VEXTRACTF128 $1, Y4, X5; \
	VADDPS X5, X4, X4; \
	VEXTRACTF64X4 $1, z3, Y6; \
	VADDPS y3, Y6, Y6; \
	VEXTRACTF128 $1, Y6, X7; \
	VADDPS X7, X6, X6; \
	VHADDPS X2, X0, X0; \
	VHADDPS X6, X4, X4; \
	VHADDPS X4, X0, X0; \
	VMOVUPS X0, off(DX)

// ZEROACC clears the sixteen accumulators Z16..Z31 of the 4x4 tiles.
#define ZEROACC \
	VPXORD Z16, Z16, Z16; VPXORD Z17, Z17, Z17; VPXORD Z18, Z18, Z18; VPXORD Z19, Z19, Z19; \
	VPXORD Z20, Z20, Z20; VPXORD Z21, Z21, Z21; VPXORD Z22, Z22, Z22; VPXORD Z23, Z23, Z23; \
	VPXORD Z24, Z24, Z24; VPXORD Z25, Z25, Z25; VPXORD Z26, Z26, Z26; VPXORD Z27, Z27, Z27; \
	VPXORD Z28, Z28, Z28; VPXORD Z29, Z29, Z29; VPXORD Z30, Z30, Z30; VPXORD Z31, Z31, Z31

// func decodeDot4x4AVX512(k int, a *[4]*float32, b *[4]*float32, out *[16]float32)
//
// out[4*i+j] = dot(a[i][0:k], b[j][0:k]) for i, j < 4. Sixteen zmm
// accumulators (Z16..Z31, acc(i,j) = Z(16+4i+j)) hold 16-lane partial sums
// over k; each 16-float step loads the four B rows once and the four A
// rows once (8 loads for 16 FMAs). A tail of k%16 floats is read with a
// zeroing mask, so no element past k is touched. The lane sums are then
// folded 512 -> 256 -> 128 bits and combined with two rounds of VHADDPS,
// which leaves the four sums of one row of out in one xmm: the same fixed
// order for every element, whatever m, n or the thread count.
TEXT ·decodeDot4x4AVX512(SB), NOSPLIT, $0-32
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ out+24(FP), DX
	MOVQ 0(AX), R8
	MOVQ 8(AX), R9
	MOVQ 16(AX), R10
	MOVQ 24(AX), R11
	MOVQ 0(BX), SI
	MOVQ 8(BX), DI
	MOVQ 16(BX), R12
	MOVQ 24(BX), R13
	ZEROACC
	XORQ AX, AX
	MOVQ CX, BX
	SHRQ $4, BX
	JZ   tail

loop:
	// Weight rows stream from memory once: fetch 1 KiB ahead of each.
	PREFETCHT0 1024(SI)(AX*1)
	PREFETCHT0 1024(DI)(AX*1)
	PREFETCHT0 1024(R12)(AX*1)
	PREFETCHT0 1024(R13)(AX*1)
	VMOVUPS (SI)(AX*1), Z0
	VMOVUPS (DI)(AX*1), Z1
	VMOVUPS (R12)(AX*1), Z2
	VMOVUPS (R13)(AX*1), Z3
	VMOVUPS (R8)(AX*1), Z4
	VFMADD231PS Z0, Z4, Z16
	VFMADD231PS Z1, Z4, Z17
	VFMADD231PS Z2, Z4, Z18
	VFMADD231PS Z3, Z4, Z19
	VMOVUPS (R9)(AX*1), Z5
	VFMADD231PS Z0, Z5, Z20
	VFMADD231PS Z1, Z5, Z21
	VFMADD231PS Z2, Z5, Z22
	VFMADD231PS Z3, Z5, Z23
	VMOVUPS (R10)(AX*1), Z6
	VFMADD231PS Z0, Z6, Z24
	VFMADD231PS Z1, Z6, Z25
	VFMADD231PS Z2, Z6, Z26
	VFMADD231PS Z3, Z6, Z27
	VMOVUPS (R11)(AX*1), Z7
	VFMADD231PS Z0, Z7, Z28
	VFMADD231PS Z1, Z7, Z29
	VFMADD231PS Z2, Z7, Z30
	VFMADD231PS Z3, Z7, Z31
	ADDQ $64, AX
	DECQ BX
	JNZ  loop

tail:
	ANDQ $15, CX
	JZ   reduce
	MOVL $1, BX
	SHLL CX, BX
	DECL BX
	KMOVW BX, K1
	VMOVUPS.Z (SI)(AX*1), K1, Z0
	VMOVUPS.Z (DI)(AX*1), K1, Z1
	VMOVUPS.Z (R12)(AX*1), K1, Z2
	VMOVUPS.Z (R13)(AX*1), K1, Z3
	VMOVUPS.Z (R8)(AX*1), K1, Z4
	VFMADD231PS Z0, Z4, Z16
	VFMADD231PS Z1, Z4, Z17
	VFMADD231PS Z2, Z4, Z18
	VFMADD231PS Z3, Z4, Z19
	VMOVUPS.Z (R9)(AX*1), K1, Z5
	VFMADD231PS Z0, Z5, Z20
	VFMADD231PS Z1, Z5, Z21
	VFMADD231PS Z2, Z5, Z22
	VFMADD231PS Z3, Z5, Z23
	VMOVUPS.Z (R10)(AX*1), K1, Z6
	VFMADD231PS Z0, Z6, Z24
	VFMADD231PS Z1, Z6, Z25
	VFMADD231PS Z2, Z6, Z26
	VFMADD231PS Z3, Z6, Z27
	VMOVUPS.Z (R11)(AX*1), K1, Z7
	VFMADD231PS Z0, Z7, Z28
	VFMADD231PS Z1, Z7, Z29
	VFMADD231PS Z2, Z7, Z30
	VFMADD231PS Z3, Z7, Z31

reduce:
	REDUCEROW(Z16, Z17, Z18, Z19, Y16, Y17, Y18, Y19, 0)
	REDUCEROW(Z20, Z21, Z22, Z23, Y20, Y21, Y22, Y23, 16)
	REDUCEROW(Z24, Z25, Z26, Z27, Y24, Y25, Y26, Y27, 32)
	REDUCEROW(Z28, Z29, Z30, Z31, Y28, Y29, Y30, Y31, 48)
	VZEROUPPER
	RET

// func streamSumAVX512(x *float32, n int) float32
//
// Sum of x[0:n], n a multiple of 64, with four independent accumulators so
// that the loop is bound by loads alone: the read-bandwidth probe.
TEXT ·streamSumAVX512(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	SHRQ $6, CX
	JZ   sdone

sloop:
	VADDPS 0(SI), Z0, Z0
	VADDPS 64(SI), Z1, Z1
	VADDPS 128(SI), Z2, Z2
	VADDPS 192(SI), Z3, Z3
	ADDQ $256, SI
	DECQ CX
	JNZ  sloop

sdone:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	MOVSS X0, ret+16(FP)
	VZEROUPPER
	RET

// func dotF32BF16AVX512(q *float32, k *uint16, n int) float32
//
// sum q[i]*k[i] over n (a multiple of 16) elements, k bf16: each 16 words
// widen exactly to float32 (zero-extend, shift left 16) and meet q in one
// FMA; two accumulators.
TEXT ·dotF32BF16AVX512(SB), NOSPLIT, $0-28
	MOVQ q+0(FP), DI
	MOVQ k+8(FP), SI
	MOVQ n+16(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z4, Z4, Z4
	SHRQ $4, CX
	JZ   dbdone
	TESTQ $1, CX
	JZ   dbpairs
	VPMOVZXWD (SI), Z1
	VPSLLD $16, Z1, Z1
	VFMADD231PS (DI), Z1, Z0
	ADDQ $32, SI
	ADDQ $64, DI
	SHRQ $1, CX
	JZ   dbdone
	JMP  dbloop

dbpairs:
	SHRQ $1, CX

dbloop:
	VPMOVZXWD (SI), Z1
	VPSLLD $16, Z1, Z1
	VFMADD231PS (DI), Z1, Z0
	VPMOVZXWD 32(SI), Z2
	VPSLLD $16, Z2, Z2
	VFMADD231PS 64(DI), Z2, Z4
	ADDQ $64, SI
	ADDQ $128, DI
	DECQ CX
	JNZ  dbloop

dbdone:
	VADDPS Z4, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	MOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func axpyBF16AVX512(y *float32, a float32, v *uint16, n int)
//
// y[i] += a*v[i] over n (a multiple of 16) elements, v bf16 (widened
// exactly as in dotF32BF16AVX512).
TEXT ·axpyBF16AVX512(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), DI
	VBROADCASTSS a+8(FP), Z2
	MOVQ v+16(FP), SI
	MOVQ n+24(FP), CX
	SHRQ $4, CX
	JZ   abdone

abloop:
	VPMOVZXWD (SI), Z1
	VPSLLD $16, Z1, Z1
	VMOVUPS (DI), Z3
	VFMADD231PS Z1, Z2, Z3
	VMOVUPS Z3, (DI)
	ADDQ $32, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  abloop

abdone:
	VZEROUPPER
	RET

// func attnDotsBF16(q *float32, k *uint16, kstride int, n int, d int, scale float32, out *float32)
//
// out[j] = scale * dot(q[0:d], k_j[0:d]) for j < n (n >= 1), k_j the bf16
// row at k + j*kstride bytes, d a multiple of 16: for each row the very
// arithmetic of dotF32BF16AVX512 (two accumulators, the same fold), then
// one float32 multiply, so that the scores are those of a dotBF16 call
// per row without the call.
TEXT ·attnDotsBF16(SB), NOSPLIT, $0-56
	MOVQ q+0(FP), R8
	MOVQ k+8(FP), R9
	MOVQ kstride+16(FP), R10
	MOVQ n+24(FP), R11
	MOVQ d+32(FP), R12
	VMOVSS scale+40(FP), X7
	MOVQ out+48(FP), DX
	SHRQ $4, R12
	// Cache rows are kstride apart (the other kv heads between): fetch
	// the row 16 ahead (its first 256 bytes, d <= 128 whole), which the
	// hardware's stream prefetch does not find far enough ahead.
	MOVQ R10, R13
	SHLQ $4, R13
ad_row:
	PREFETCHT0 (R9)(R13*1)
	PREFETCHT0 64(R9)(R13*1)
	PREFETCHT0 128(R9)(R13*1)
	PREFETCHT0 192(R9)(R13*1)
	MOVQ R8, DI
	MOVQ R9, SI
	MOVQ R12, CX
	VPXORD Z0, Z0, Z0
	VPXORD Z4, Z4, Z4
	TESTQ $1, CX
	JZ   ad_pairs
	VPMOVZXWD (SI), Z1
	VPSLLD $16, Z1, Z1
	VFMADD231PS (DI), Z1, Z0
	ADDQ $32, SI
	ADDQ $64, DI
	SHRQ $1, CX
	JZ   ad_fold
	JMP  ad_loop
ad_pairs:
	SHRQ $1, CX
ad_loop:
	VPMOVZXWD (SI), Z1
	VPSLLD $16, Z1, Z1
	VFMADD231PS (DI), Z1, Z0
	VPMOVZXWD 32(SI), Z2
	VPSLLD $16, Z2, Z2
	VFMADD231PS 64(DI), Z2, Z4
	ADDQ $64, SI
	ADDQ $128, DI
	DECQ CX
	JNZ  ad_loop
ad_fold:
	VADDPS Z4, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VMULSS X7, X0, X0
	VMOVSS X0, (DX)
	ADDQ $4, DX
	ADDQ R10, R9
	DECQ R11
	JNZ  ad_row
	VZEROUPPER
	RET

// func attnAxpysBF16(y *float32, p *float32, v *uint16, vstride int, n int, d int)
//
// y[i] += p[j]*v_j[i] for j = 0..n-1 in order (n >= 1), v_j the bf16 row
// at v + j*vstride bytes, i < d, d a multiple of 16: per element the FMAs
// of n axpyBF16AVX512 calls, with y held in registers across the rows
// (64 elements at a time, then 16).
TEXT ·attnAxpysBF16(SB), NOSPLIT, $0-48
	MOVQ y+0(FP), DI
	MOVQ v+16(FP), R9
	MOVQ d+40(FP), R12
	SHRQ $4, R12
	// The row 16 ahead's 128 bytes of this pass are fetched as in
	// attnDotsBF16.
	MOVQ vstride+24(FP), BX
	SHLQ $4, BX
ay_wide:
	CMPQ R12, $4
	JLT  ay_narrow
	VMOVUPS (DI), Z8
	VMOVUPS 64(DI), Z9
	VMOVUPS 128(DI), Z10
	VMOVUPS 192(DI), Z11
	MOVQ p+8(FP), AX
	MOVQ R9, SI
	MOVQ n+32(FP), CX
ay_wrow:
	PREFETCHT0 (SI)(BX*1)
	PREFETCHT0 64(SI)(BX*1)
	VBROADCASTSS (AX), Z2
	VPMOVZXWD (SI), Z1
	VPSLLD $16, Z1, Z1
	VFMADD231PS Z1, Z2, Z8
	VPMOVZXWD 32(SI), Z3
	VPSLLD $16, Z3, Z3
	VFMADD231PS Z3, Z2, Z9
	VPMOVZXWD 64(SI), Z4
	VPSLLD $16, Z4, Z4
	VFMADD231PS Z4, Z2, Z10
	VPMOVZXWD 96(SI), Z5
	VPSLLD $16, Z5, Z5
	VFMADD231PS Z5, Z2, Z11
	ADDQ $4, AX
	ADDQ vstride+24(FP), SI
	DECQ CX
	JNZ  ay_wrow
	VMOVUPS Z8, (DI)
	VMOVUPS Z9, 64(DI)
	VMOVUPS Z10, 128(DI)
	VMOVUPS Z11, 192(DI)
	ADDQ $256, DI
	ADDQ $128, R9
	SUBQ $4, R12
	JMP  ay_wide
ay_narrow:
	TESTQ R12, R12
	JZ   ay_done
	VMOVUPS (DI), Z8
	MOVQ p+8(FP), AX
	MOVQ R9, SI
	MOVQ n+32(FP), CX
ay_nrow:
	VBROADCASTSS (AX), Z2
	VPMOVZXWD (SI), Z1
	VPSLLD $16, Z1, Z1
	VFMADD231PS Z1, Z2, Z8
	ADDQ $4, AX
	ADDQ vstride+24(FP), SI
	DECQ CX
	JNZ  ay_nrow
	VMOVUPS Z8, (DI)
	ADDQ $64, DI
	ADDQ $32, R9
	DECQ R12
	JMP  ay_narrow
ay_done:
	VZEROUPPER
	RET

// VDPBF16PS zmm_acc, zmm_w, zmm_x (EVEX.512.F3.0F38.W0 52 /r, AVX512_BF16):
// acc[l] += x[2l]*w[2l] + x[2l+1]*w[2l+1] over 16 lanes, register form.
// EVEX bytes 62 P0 P1 P2 52 ModRM, for acc = Z16+r (r < 16), w = Z0..Z3
// (vvvv), x = Z4..Z7 (rm):
//
//	P0 = R X B R' 0 0 1 0 (inverted; map 0F38): E2 for Z16-23, 62 for Z24-31
//	P1 = 0_vvvv_1_10, vvvv = ~w: 7E for Z0, 76 Z1, 6E Z2, 66 Z3
//	P2 = z L'L b V' aaa = 0_10_0_1_000 = 48 (512 bits, no broadcast, w < 16)
//	ModRM = 11_acc_x (low three bits of each)
//
// (checked against GNU as: vdpbf16ps zmm16, zmm0, zmm4 = 62 E2 7E 48 52 C4).
#define VDPX(p0, p1, modrm) BYTE $0x62; BYTE $p0; BYTE $p1; BYTE $0x48; BYTE $0x52; BYTE $modrm

// DOT4X4BF16 is one k step of decodeDotBF16Rows from the operands in
// Z0..Z7: acc(i,j) = Z(16+4i+j) += x row i (Z4+i) . w row j (Zj).
#define DOT4X4BF16 \
	VDPX(0xE2, 0x7E, 0xC4); VDPX(0xE2, 0x76, 0xCC); VDPX(0xE2, 0x6E, 0xD4); VDPX(0xE2, 0x66, 0xDC); \
	VDPX(0xE2, 0x7E, 0xE5); VDPX(0xE2, 0x76, 0xED); VDPX(0xE2, 0x6E, 0xF5); VDPX(0xE2, 0x66, 0xFD); \
	VDPX(0x62, 0x7E, 0xC6); VDPX(0x62, 0x76, 0xCE); VDPX(0x62, 0x6E, 0xD6); VDPX(0x62, 0x66, 0xDE); \
	VDPX(0x62, 0x7E, 0xE7); VDPX(0x62, 0x76, 0xEF); VDPX(0x62, 0x6E, 0xF7); VDPX(0x62, 0x66, 0xFF)

// FOLD sets dst = sh(a) + sh(b) of src1, src2: two shuffles (VSHUFF32X4 of
// 128-bit lanes, or VSHUFPS within them) picking complementary halves of
// each source, summed.
#define FOLD(sh, a, b, src2, src1, dst) \
	sh $a, src2, src1, Z0; \
	sh $b, src2, src1, Z1; \
	VADDPS Z1, Z0, dst

// func decodeDotBF16Rows(k int, xp *[32]*uint16, groups int, w *[4]*uint16, out *float32)
//
// For each group g < groups of four x rows (pointers xp[4g..4g+3]) and
// the four weight rows w[0..3]: out[16g + 4i + j] = dot(x row i, w row j)
// over k bf16 values, accumulated in float32 by VDPBF16PS. acc(i,j) =
// Z(16+4i+j) holds 16 lanes, lane l the pairs at 32s+2l, 32s+2l+1 of
// every 32-element step s; each step loads the four weight rows and the
// four x rows once (8 loads for 16 VDPBF16PS); a tail of k%32 elements is
// loaded with a zeroing mask on both operands (0*0 adds +0: nothing past k
// is read or counted). The sixteen accumulators are then summed by a
// fixed tree of lane folds (512 -> 256 bits pairing rows 0,1 and 2,3 of
// one column; 256 -> 128 pairing those; then within 128-bit lanes across
// columns 0,1 and 2,3 twice), which leaves row i of the group in 128-bit
// lane i: the same order for every element, whatever m, n or the thread
// count. The weight rows (the tile walked by decodeDotBF16, 2k bytes
// each) are fetched a tile ahead, 8k bytes on.
TEXT ·decodeDotBF16Rows(SB), NOSPLIT, $0-40
	// K1 masks the k%32 tail, for every group.
	MOVQ k+0(FP), CX
	ANDQ $31, CX
	MOVL $1, BX
	SHLL CX, BX
	DECL BX
	KMOVD BX, K1
	MOVQ k+0(FP), CX
	MOVQ w+24(FP), BX
	MOVQ 0(BX), SI
	MOVQ 8(BX), DI
	MOVQ 16(BX), R12
	MOVQ 24(BX), R13
	MOVQ out+32(FP), DX
	XORQ R15, R15

bgroup:
	MOVQ xp+8(FP), AX
	MOVQ 0(AX)(R15*1), R8
	MOVQ 8(AX)(R15*1), R9
	MOVQ 16(AX)(R15*1), R10
	MOVQ 24(AX)(R15*1), R11
	ZEROACC
	XORQ AX, AX
	LEAQ (CX*8), R14
	MOVQ CX, BX
	SHRQ $5, BX
	JZ   btail

bloop:
	PREFETCHT0 (SI)(R14*1)
	PREFETCHT0 (DI)(R14*1)
	PREFETCHT0 (R12)(R14*1)
	PREFETCHT0 (R13)(R14*1)
	ADDQ $64, R14
	VMOVDQU16 (SI)(AX*1), Z0
	VMOVDQU16 (DI)(AX*1), Z1
	VMOVDQU16 (R12)(AX*1), Z2
	VMOVDQU16 (R13)(AX*1), Z3
	VMOVDQU16 (R8)(AX*1), Z4
	VMOVDQU16 (R9)(AX*1), Z5
	VMOVDQU16 (R10)(AX*1), Z6
	VMOVDQU16 (R11)(AX*1), Z7
	DOT4X4BF16
	ADDQ $64, AX
	DECQ BX
	JNZ  bloop

btail:
	TESTQ $31, CX
	JZ    breduce
	VMOVDQU16.Z (SI)(AX*1), K1, Z0
	VMOVDQU16.Z (DI)(AX*1), K1, Z1
	VMOVDQU16.Z (R12)(AX*1), K1, Z2
	VMOVDQU16.Z (R13)(AX*1), K1, Z3
	VMOVDQU16.Z (R8)(AX*1), K1, Z4
	VMOVDQU16.Z (R9)(AX*1), K1, Z5
	VMOVDQU16.Z (R10)(AX*1), K1, Z6
	VMOVDQU16.Z (R11)(AX*1), K1, Z7
	DOT4X4BF16

breduce:
	// 512 -> 256: column j's rows 0,1 into Z(16+j), rows 2,3 into Z(24+j).
	FOLD(VSHUFF32X4, 0x44, 0xEE, Z20, Z16, Z16)
	FOLD(VSHUFF32X4, 0x44, 0xEE, Z21, Z17, Z17)
	FOLD(VSHUFF32X4, 0x44, 0xEE, Z22, Z18, Z18)
	FOLD(VSHUFF32X4, 0x44, 0xEE, Z23, Z19, Z19)
	FOLD(VSHUFF32X4, 0x44, 0xEE, Z28, Z24, Z24)
	FOLD(VSHUFF32X4, 0x44, 0xEE, Z29, Z25, Z25)
	FOLD(VSHUFF32X4, 0x44, 0xEE, Z30, Z26, Z26)
	FOLD(VSHUFF32X4, 0x44, 0xEE, Z31, Z27, Z27)
	// 256 -> 128: column j in Z(16+j), row i's four partials in lane i.
	FOLD(VSHUFF32X4, 0x88, 0xDD, Z24, Z16, Z16)
	FOLD(VSHUFF32X4, 0x88, 0xDD, Z25, Z17, Z17)
	FOLD(VSHUFF32X4, 0x88, 0xDD, Z26, Z18, Z18)
	FOLD(VSHUFF32X4, 0x88, 0xDD, Z27, Z19, Z19)
	// Within lanes: columns 0,1 into Z16, 2,3 into Z18, then lane i of
	// Z16 = row i's four sums, columns 0..3.
	FOLD(VSHUFPS, 0x44, 0xEE, Z17, Z16, Z16)
	FOLD(VSHUFPS, 0x44, 0xEE, Z19, Z18, Z18)
	FOLD(VSHUFPS, 0x88, 0xDD, Z18, Z16, Z16)
	VMOVUPS Z16, (DX)
	ADDQ $64, DX
	ADDQ $32, R15
	MOVQ groups+16(FP), AX
	SHLQ $5, AX
	CMPQ R15, AX
	JLT  bgroup
	VZEROUPPER
	RET
