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
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23
	VPXORD Z24, Z24, Z24
	VPXORD Z25, Z25, Z25
	VPXORD Z26, Z26, Z26
	VPXORD Z27, Z27, Z27
	VPXORD Z28, Z28, Z28
	VPXORD Z29, Z29, Z29
	VPXORD Z30, Z30, Z30
	VPXORD Z31, Z31, Z31
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
ad_row:
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
