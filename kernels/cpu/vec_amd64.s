#include "textflag.h"

// Constants for expSubAVX2, each replicated over 8 lanes.
DATA expc<>+0(SB)/8, $0xc2aeac50c2aeac50   // -87.3365478515625 lower clamp
DATA expc<>+8(SB)/8, $0xc2aeac50c2aeac50
DATA expc<>+16(SB)/8, $0xc2aeac50c2aeac50
DATA expc<>+24(SB)/8, $0xc2aeac50c2aeac50
DATA expc<>+32(SB)/8, $0x42b0000042b00000  // 88.0 upper clamp
DATA expc<>+40(SB)/8, $0x42b0000042b00000
DATA expc<>+48(SB)/8, $0x42b0000042b00000
DATA expc<>+56(SB)/8, $0x42b0000042b00000
DATA expc<>+64(SB)/8, $0x3fb8aa3b3fb8aa3b  // log2(e)
DATA expc<>+72(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA expc<>+80(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA expc<>+88(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA expc<>+96(SB)/8, $0x3f3180003f318000  // ln2 hi 0.693359375
DATA expc<>+104(SB)/8, $0x3f3180003f318000
DATA expc<>+112(SB)/8, $0x3f3180003f318000
DATA expc<>+120(SB)/8, $0x3f3180003f318000
DATA expc<>+128(SB)/8, $0xb95e8083b95e8083 // ln2 lo -2.12194440e-4
DATA expc<>+136(SB)/8, $0xb95e8083b95e8083
DATA expc<>+144(SB)/8, $0xb95e8083b95e8083
DATA expc<>+152(SB)/8, $0xb95e8083b95e8083
DATA expc<>+160(SB)/8, $0x3950696739506967 // 1.9875691500e-4
DATA expc<>+168(SB)/8, $0x3950696739506967
DATA expc<>+176(SB)/8, $0x3950696739506967
DATA expc<>+184(SB)/8, $0x3950696739506967
DATA expc<>+192(SB)/8, $0x3ab743ce3ab743ce // 1.3981999507e-3
DATA expc<>+200(SB)/8, $0x3ab743ce3ab743ce
DATA expc<>+208(SB)/8, $0x3ab743ce3ab743ce
DATA expc<>+216(SB)/8, $0x3ab743ce3ab743ce
DATA expc<>+224(SB)/8, $0x3c0889083c088908 // 8.3334519073e-3
DATA expc<>+232(SB)/8, $0x3c0889083c088908
DATA expc<>+240(SB)/8, $0x3c0889083c088908
DATA expc<>+248(SB)/8, $0x3c0889083c088908
DATA expc<>+256(SB)/8, $0x3d2aa9c13d2aa9c1 // 4.1665795894e-2
DATA expc<>+264(SB)/8, $0x3d2aa9c13d2aa9c1
DATA expc<>+272(SB)/8, $0x3d2aa9c13d2aa9c1
DATA expc<>+280(SB)/8, $0x3d2aa9c13d2aa9c1
DATA expc<>+288(SB)/8, $0x3e2aaaaa3e2aaaaa // 1.6666665459e-1
DATA expc<>+296(SB)/8, $0x3e2aaaaa3e2aaaaa
DATA expc<>+304(SB)/8, $0x3e2aaaaa3e2aaaaa
DATA expc<>+312(SB)/8, $0x3e2aaaaa3e2aaaaa
DATA expc<>+320(SB)/8, $0x3f0000003f000000 // 5.0000001201e-1
DATA expc<>+328(SB)/8, $0x3f0000003f000000
DATA expc<>+336(SB)/8, $0x3f0000003f000000
DATA expc<>+344(SB)/8, $0x3f0000003f000000
DATA expc<>+352(SB)/8, $0x3f8000003f800000 // 1.0
DATA expc<>+360(SB)/8, $0x3f8000003f800000
DATA expc<>+368(SB)/8, $0x3f8000003f800000
DATA expc<>+376(SB)/8, $0x3f8000003f800000
DATA expc<>+384(SB)/8, $0x0000007f0000007f // int32 127
DATA expc<>+392(SB)/8, $0x0000007f0000007f
DATA expc<>+400(SB)/8, $0x0000007f0000007f
DATA expc<>+408(SB)/8, $0x0000007f0000007f
GLOBL expc<>(SB), RODATA|NOPTR, $416

// func expSubAVX2(dst, x *float32, n int, m, scale float32) float64
// dst[i] = exp((x[i]-m)*scale) for i < n (n a multiple of 8; dst may be
// nil), and returns the sum of those values accumulated in float64.
TEXT ·expSubAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS m+24(FP), Y15
	VBROADCASTSS scale+28(FP), Y12
	VMOVUPS expc<>+0(SB), Y14
	VMOVUPS expc<>+32(SB), Y13
	VXORPD Y10, Y10, Y10
	VXORPD Y11, Y11, Y11
	SHRQ $3, CX
	JZ expdone
exploop:
	VMOVUPS (SI), Y0
	VSUBPS Y15, Y0, Y0
	VMULPS Y12, Y0, Y0
	VMAXPS Y0, Y14, Y0
	VMINPS Y0, Y13, Y0
	VMULPS expc<>+64(SB), Y0, Y1
	VROUNDPS $0, Y1, Y1
	VFNMADD231PS expc<>+96(SB), Y1, Y0
	VFNMADD231PS expc<>+128(SB), Y1, Y0
	VMOVUPS expc<>+160(SB), Y2
	VFMADD213PS expc<>+192(SB), Y0, Y2
	VFMADD213PS expc<>+224(SB), Y0, Y2
	VFMADD213PS expc<>+256(SB), Y0, Y2
	VFMADD213PS expc<>+288(SB), Y0, Y2
	VFMADD213PS expc<>+320(SB), Y0, Y2
	VMULPS Y0, Y0, Y3
	VFMADD213PS Y0, Y3, Y2
	VADDPS expc<>+352(SB), Y2, Y2
	VCVTPS2DQ Y1, Y1
	VPADDD expc<>+384(SB), Y1, Y1
	VPSLLD $23, Y1, Y1
	VMULPS Y1, Y2, Y2
	TESTQ DI, DI
	JZ expnostore
	VMOVUPS Y2, (DI)
	ADDQ $32, DI
expnostore:
	VCVTPS2PD X2, Y4
	VADDPD Y4, Y10, Y10
	VEXTRACTF128 $1, Y2, X5
	VCVTPS2PD X5, Y5
	VADDPD Y5, Y11, Y11
	ADDQ $32, SI
	DECQ CX
	JNZ exploop
expdone:
	VADDPD Y11, Y10, Y10
	VEXTRACTF128 $1, Y10, X11
	VADDPD X11, X10, X10
	VPERMILPD $1, X10, X11
	VADDSD X11, X10, X10
	MOVSD X10, ret+32(FP)
	VZEROUPPER
	RET

// func dotAVX2(a, b *float32, n int) float32
// Returns sum a[i]*b[i] for n a multiple of 8.
TEXT ·dotAVX2(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	SHRQ $3, CX
	JZ dotdone
	TESTQ $1, CX
	JZ dotpairs
	VMOVUPS (SI), Y2
	VFMADD231PS (DI), Y2, Y0
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JZ dotdone
dotpairs:
	VMOVUPS (SI), Y2
	VMOVUPS 32(SI), Y3
	VFMADD231PS (DI), Y2, Y0
	VFMADD231PS 32(DI), Y3, Y1
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $2, CX
	JNZ dotpairs
dotdone:
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVHLPS X0, X0, X1
	VADDPS X1, X0, X0
	VMOVSHDUP X0, X1
	VADDSS X1, X0, X0
	MOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func axpyAVX2(y, x *float32, n int, a float32)
// y[i] += a*x[i] for n a multiple of 8.
TEXT ·axpyAVX2(SB), NOSPLIT, $0-28
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS a+24(FP), Y15
	SHRQ $3, CX
	JZ axpydone
axpyloop:
	VMOVUPS (DI), Y0
	VFMADD231PS (SI), Y15, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ axpyloop
axpydone:
	VZEROUPPER
	RET

// func maxAVX2(x *float32, n int) float32
// Returns the largest of x[0:n], n a positive multiple of 8 (NaNs may be
// skipped: callers propagate them through later arithmetic).
TEXT ·maxAVX2(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VMOVUPS (SI), Y0
	VMOVAPS Y0, Y1
	ADDQ $32, SI
	SHRQ $3, CX
	DECQ CX
	JZ maxdone
maxloop:
	VMAXPS (SI), Y0, Y0
	ADDQ $32, SI
	DECQ CX
	JZ maxdone
	VMAXPS (SI), Y1, Y1
	ADDQ $32, SI
	DECQ CX
	JNZ maxloop
maxdone:
	VMAXPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VMAXPS X1, X0, X0
	VMOVHLPS X0, X0, X1
	VMAXPS X1, X0, X0
	VMOVSHDUP X0, X1
	VMAXSS X1, X0, X0
	MOVSS X0, ret+16(FP)
	VZEROUPPER
	RET

// func adamwAVX2(p, gr, m, v *float32, n int, c *[8]float32)
// One AdamW step over n (a multiple of 8) elements with the float32
// constants c = [gradScale, decay, w1, beta2, 1-beta2, sqrt(bc2), eps,
// -lr/bc1], rounding every operation like the Go loop (no fused ops).
TEXT ·adamwAVX2(SB), NOSPLIT, $0-48
	MOVQ p+0(FP), DI
	MOVQ gr+8(FP), SI
	MOVQ m+16(FP), R8
	MOVQ v+24(FP), R9
	MOVQ n+32(FP), CX
	MOVQ c+40(FP), AX
	VBROADCASTSS 0(AX), Y8
	VBROADCASTSS 4(AX), Y9
	VBROADCASTSS 8(AX), Y10
	VBROADCASTSS 12(AX), Y11
	VBROADCASTSS 16(AX), Y12
	VBROADCASTSS 20(AX), Y13
	VBROADCASTSS 24(AX), Y14
	VBROADCASTSS 28(AX), Y15
	SHRQ $3, CX
	JZ adamdone
adamloop:
	VMOVUPS (SI), Y0
	VMULPS Y8, Y0, Y0
	VMOVUPS (DI), Y1
	VMULPS Y9, Y1, Y1
	VMOVUPS (R8), Y2
	VSUBPS Y2, Y0, Y3
	VMULPS Y10, Y3, Y3
	VADDPS Y3, Y2, Y2
	VMOVUPS (R9), Y4
	VMULPS Y11, Y4, Y4
	VMULPS Y12, Y0, Y5
	VMULPS Y0, Y5, Y5
	VADDPS Y5, Y4, Y4
	VSQRTPS Y4, Y6
	VDIVPS Y13, Y6, Y6
	VADDPS Y14, Y6, Y6
	VMULPS Y15, Y2, Y7
	VDIVPS Y6, Y7, Y7
	VADDPS Y7, Y1, Y1
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, (R8)
	VMOVUPS Y4, (R9)
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, R8
	ADDQ $32, R9
	DECQ CX
	JNZ adamloop
adamdone:
	VZEROUPPER
	RET

// func sumSquaresAVX2(x *float32, n int) float64
// Returns sum x[i]^2 over n (a multiple of 8) elements, in float64.
TEXT ·sumSquaresAVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	SHRQ $3, CX
	JZ ssdone
ssloop:
	VCVTPS2PD (SI), Y2
	VCVTPS2PD 16(SI), Y3
	VFMADD231PD Y2, Y2, Y0
	VFMADD231PD Y3, Y3, Y1
	ADDQ $32, SI
	DECQ CX
	JNZ ssloop
ssdone:
	VADDPD Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD X1, X0, X0
	VPERMILPD $1, X0, X1
	VADDSD X1, X0, X0
	MOVSD X0, ret+16(FP)
	VZEROUPPER
	RET

// func klSumsAVX2(s, t, es, et *float32, n int) (a, b float64)
// a = sum et[i]*(t[i]-s[i]), b = sum es[i]*(t[i]-s[i]) over n (a multiple
// of 8), products and sums in float64.
TEXT ·klSumsAVX2(SB), NOSPLIT, $0-56
	MOVQ s+0(FP), SI
	MOVQ t+8(FP), DI
	MOVQ es+16(FP), R8
	MOVQ et+24(FP), R9
	MOVQ n+32(FP), CX
	VXORPD Y10, Y10, Y10
	VXORPD Y11, Y11, Y11
	VXORPD Y12, Y12, Y12
	VXORPD Y13, Y13, Y13
	SHRQ $3, CX
	JZ kldone
klloop:
	VCVTPS2PD (DI), Y0
	VCVTPS2PD 16(DI), Y1
	VCVTPS2PD (SI), Y2
	VCVTPS2PD 16(SI), Y3
	VSUBPD Y2, Y0, Y0
	VSUBPD Y3, Y1, Y1
	VCVTPS2PD (R9), Y4
	VCVTPS2PD 16(R9), Y5
	VFMADD231PD Y4, Y0, Y10
	VFMADD231PD Y5, Y1, Y11
	VCVTPS2PD (R8), Y6
	VCVTPS2PD 16(R8), Y7
	VFMADD231PD Y6, Y0, Y12
	VFMADD231PD Y7, Y1, Y13
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, R8
	ADDQ $32, R9
	DECQ CX
	JNZ klloop
kldone:
	VADDPD Y11, Y10, Y10
	VEXTRACTF128 $1, Y10, X11
	VADDPD X11, X10, X10
	VPERMILPD $1, X10, X11
	VADDSD X11, X10, X10
	MOVSD X10, a+40(FP)
	VADDPD Y13, Y12, Y12
	VEXTRACTF128 $1, Y12, X13
	VADDPD X13, X12, X12
	VPERMILPD $1, X12, X13
	VADDSD X13, X12, X12
	MOVSD X12, b+48(FP)
	VZEROUPPER
	RET

// func distillGradAVX2(gr, s, t, es, et *float32, n int, c *[6]float32)
// With c = [is, it, inv, off, cfw, crw]: p = es*is, q = et*it,
// d = (s-t)*inv + off, gr = cfw*(p-q) + (crw*p)*d, over n (a multiple of 8);
// gr may alias s.
TEXT ·distillGradAVX2(SB), NOSPLIT, $0-56
	MOVQ gr+0(FP), DX
	MOVQ s+8(FP), SI
	MOVQ t+16(FP), DI
	MOVQ es+24(FP), R8
	MOVQ et+32(FP), R9
	MOVQ n+40(FP), CX
	MOVQ c+48(FP), AX
	VBROADCASTSS 0(AX), Y10
	VBROADCASTSS 4(AX), Y11
	VBROADCASTSS 8(AX), Y12
	VBROADCASTSS 12(AX), Y13
	VBROADCASTSS 16(AX), Y14
	VBROADCASTSS 20(AX), Y15
	SHRQ $3, CX
	JZ dgdone
dgloop:
	VMOVUPS (R8), Y0
	VMULPS Y10, Y0, Y0
	VMOVUPS (R9), Y1
	VMULPS Y11, Y1, Y1
	VMOVUPS (SI), Y2
	VSUBPS (DI), Y2, Y2
	VMULPS Y12, Y2, Y2
	VADDPS Y13, Y2, Y2
	VSUBPS Y1, Y0, Y3
	VMULPS Y14, Y3, Y3
	VMULPS Y15, Y0, Y4
	VMULPS Y2, Y4, Y4
	VADDPS Y4, Y3, Y3
	VMOVUPS Y3, (DX)
	ADDQ $32, DX
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, R8
	ADDQ $32, R9
	DECQ CX
	JNZ dgloop
dgdone:
	VZEROUPPER
	RET

// Fused element-wise kernels (AVX-512). The exponential is expSubAVX2's
// instruction for instruction on 16 lanes (same constants from expc<>,
// same rounding at each step), so these routines round exactly as the
// expSubScaled + scalar Go loops they replace.

DATA swnegone<>+0(SB)/4, $0xbf800000 // -1.0
GLOBL swnegone<>(SB), RODATA|NOPTR, $4

// EXPSETUP loads the exponential's constants (Z12..Z26); Z15 = m = 0 and
// Z12 = scale = -1, as SwiGLU's expSubScaled(e, gate, 0, -1).
#define EXPSETUP \
	VXORPS Z15, Z15, Z15; \
	VBROADCASTSS swnegone<>(SB), Z12; \
	VBROADCASTSS expc<>+0(SB), Z14; \
	VBROADCASTSS expc<>+32(SB), Z13; \
	VBROADCASTSS expc<>+64(SB), Z16; \
	VBROADCASTSS expc<>+96(SB), Z17; \
	VBROADCASTSS expc<>+128(SB), Z18; \
	VBROADCASTSS expc<>+160(SB), Z19; \
	VBROADCASTSS expc<>+192(SB), Z20; \
	VBROADCASTSS expc<>+224(SB), Z21; \
	VBROADCASTSS expc<>+256(SB), Z22; \
	VBROADCASTSS expc<>+288(SB), Z23; \
	VBROADCASTSS expc<>+320(SB), Z24; \
	VBROADCASTSS expc<>+352(SB), Z25; \
	VBROADCASTSS expc<>+384(SB), Z26

// SIGMOID sets Z2 = 1/(1+exp(-x)) for x in Z0 (Z0, Z1, Z3 clobbered).
#define SIGMOID \
	VSUBPS Z15, Z0, Z0; \
	VMULPS Z12, Z0, Z0; \
	VMAXPS Z0, Z14, Z0; \
	VMINPS Z0, Z13, Z0; \
	VMULPS Z16, Z0, Z1; \
	VRNDSCALEPS $0, Z1, Z1; \
	VFNMADD231PS Z17, Z1, Z0; \
	VFNMADD231PS Z18, Z1, Z0; \
	VMOVAPS Z19, Z2; \
	VFMADD213PS Z20, Z0, Z2; \
	VFMADD213PS Z21, Z0, Z2; \
	VFMADD213PS Z22, Z0, Z2; \
	VFMADD213PS Z23, Z0, Z2; \
	VFMADD213PS Z24, Z0, Z2; \
	VMULPS Z0, Z0, Z3; \
	VFMADD213PS Z0, Z3, Z2; \
	VADDPS Z25, Z2, Z2; \
	VCVTPS2DQ Z1, Z1; \
	VPADDD Z26, Z1, Z1; \
	VPSLLD $23, Z1, Z1; \
	VMULPS Z1, Z2, Z2; \
	VADDPS Z25, Z2, Z2; \
	VDIVPS Z2, Z25, Z2

// func swigluAVX512(o, g, u *float32, n int)
// o[i] = (g[i]*sig(g[i]))*u[i] for n a multiple of 16.
TEXT ·swigluAVX512(SB), NOSPLIT, $0-32
	MOVQ o+0(FP), DI
	MOVQ gate+8(FP), SI
	MOVQ up+16(FP), DX
	MOVQ n+24(FP), CX
	EXPSETUP
	SHRQ $4, CX
	JZ swdone
swloop:
	VMOVUPS (SI), Z0
	SIGMOID
	VMOVUPS (SI), Z0
	VMULPS Z2, Z0, Z0
	VMULPS (DX), Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, DI
	DECQ CX
	JNZ swloop
swdone:
	VZEROUPPER
	RET

// func swigluBwdAVX512(dg, du, d, g, u *float32, n int)
// With s = sig(g[i]): du[i] = d[i]*(g[i]*s) and
// dg[i] = (d[i]*u[i])*(s*(1+g[i]*(1-s))), for n a multiple of 16.
TEXT ·swigluBwdAVX512(SB), NOSPLIT, $0-48
	MOVQ dg+0(FP), DI
	MOVQ du+8(FP), R8
	MOVQ dy+16(FP), R9
	MOVQ gate+24(FP), SI
	MOVQ up+32(FP), DX
	MOVQ n+40(FP), CX
	EXPSETUP
	SHRQ $4, CX
	JZ sbdone
sbloop:
	VMOVUPS (SI), Z0
	SIGMOID
	VMOVUPS (SI), Z0
	VMOVUPS (R9), Z5
	VMULPS Z2, Z0, Z4
	VMULPS Z4, Z5, Z4
	VMOVUPS Z4, (R8)
	VSUBPS Z2, Z25, Z6
	VMULPS Z6, Z0, Z6
	VADDPS Z25, Z6, Z6
	VMULPS Z6, Z2, Z6
	VMULPS (DX), Z5, Z7
	VMULPS Z6, Z7, Z7
	VMOVUPS Z7, (DI)
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, DI
	ADDQ $64, R8
	ADDQ $64, R9
	DECQ CX
	JNZ sbloop
sbdone:
	VZEROUPPER
	RET

// func rmsScaleAVX512(o, x, w *float32, n int, s float32)
// o[i] = w[i]*(x[i]*s) for n a multiple of 16 (RMSNorm's scaling).
TEXT ·rmsScaleAVX512(SB), NOSPLIT, $0-36
	MOVQ o+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS s+32(FP), Z1
	SHRQ $4, CX
	JZ rsdone
rsloop:
	VMULPS (SI), Z1, Z0
	VMULPS (DX), Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, DI
	DECQ CX
	JNZ rsloop
rsdone:
	VZEROUPPER
	RET

// func rmsAccAVX512(acc *float64, dr, x *float32, n int, s float64)
// acc[i] += (float64(dr[i])*float64(x[i]))*s for n a multiple of 8
// (RMSNormBackward's weight gradient).
TEXT ·rmsAccAVX512(SB), NOSPLIT, $0-40
	MOVQ acc+0(FP), DI
	MOVQ dr+8(FP), SI
	MOVQ x+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSD s+32(FP), Z5
	SHRQ $3, CX
	JZ radone
raloop:
	VCVTPS2PD (SI), Z0
	VCVTPS2PD (DX), Z1
	VMULPD Z1, Z0, Z0
	VMULPD Z5, Z0, Z0
	VADDPD (DI), Z0, Z0
	VMOVUPD Z0, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $64, DI
	DECQ CX
	JNZ raloop
radone:
	VZEROUPPER
	RET

// func rmsDxAVX512(dx, dr, w, x *float32, n int, s, c float64)
// dx[i] += float32((float64(dr[i])*float64(w[i]))*s - float64(x[i])*c)
// for n a multiple of 8 (RMSNormBackward's input gradient).
TEXT ·rmsDxAVX512(SB), NOSPLIT, $0-56
	MOVQ dx+0(FP), DI
	MOVQ dr+8(FP), SI
	MOVQ w+16(FP), DX
	MOVQ x+24(FP), R8
	MOVQ n+32(FP), CX
	VBROADCASTSD s+40(FP), Z5
	VBROADCASTSD c+48(FP), Z6
	SHRQ $3, CX
	JZ rddone
rdloop:
	VCVTPS2PD (SI), Z0
	VCVTPS2PD (DX), Z1
	VMULPD Z1, Z0, Z0
	VMULPD Z5, Z0, Z0
	VCVTPS2PD (R8), Z2
	VMULPD Z6, Z2, Z2
	VSUBPD Z2, Z0, Z0
	VCVTPD2PS Z0, Y0
	VADDPS (DI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, R8
	ADDQ $32, DI
	DECQ CX
	JNZ rdloop
rddone:
	VZEROUPPER
	RET

// func scaleAVX512(x *float32, n int, c float32)
// x[i] *= c for n a multiple of 16.
TEXT ·scaleAVX512(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS c+16(FP), Z1
	SHRQ $4, CX
	JZ scdone
scloop:
	VMULPS (DI), Z1, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, DI
	DECQ CX
	JNZ scloop
scdone:
	VZEROUPPER
	RET

// EXP16 sets Z2 = exp((x-m)*scale) for x in Z0, with m in Z15, scale in
// Z12 and the other constants as EXPSETUP loads them: expSubAVX2's
// instructions on 16 lanes (Z0, Z1, Z3 clobbered).
#define EXP16 \
	VSUBPS Z15, Z0, Z0; \
	VMULPS Z12, Z0, Z0; \
	VMAXPS Z0, Z14, Z0; \
	VMINPS Z0, Z13, Z0; \
	VMULPS Z16, Z0, Z1; \
	VRNDSCALEPS $0, Z1, Z1; \
	VFNMADD231PS Z17, Z1, Z0; \
	VFNMADD231PS Z18, Z1, Z0; \
	VMOVAPS Z19, Z2; \
	VFMADD213PS Z20, Z0, Z2; \
	VFMADD213PS Z21, Z0, Z2; \
	VFMADD213PS Z22, Z0, Z2; \
	VFMADD213PS Z23, Z0, Z2; \
	VFMADD213PS Z24, Z0, Z2; \
	VMULPS Z0, Z0, Z3; \
	VFMADD213PS Z0, Z3, Z2; \
	VADDPS Z25, Z2, Z2; \
	VCVTPS2DQ Z1, Z1; \
	VPADDD Z26, Z1, Z1; \
	VPSLLD $23, Z1, Z1; \
	VMULPS Z1, Z2, Z2

// func expSubAVX512(dst, x *float32, n int, m, scale float32, pf *float32) float64
// expSubAVX2 on 16 lanes, n a multiple of 8: the same values into dst
// (nil: none) and the same float64 sum, in the same order (Z10's lane j
// sums the elements j mod 8, as expSubAVX2's Y10 and Y11 do). pf (nil:
// none) is prefetched into L2 as x is read, 64 bytes per 16 elements (the
// next row of a softmax, whose max pass then reads it from L2 while this
// pass's arithmetic hides the memory latency).
TEXT ·expSubAVX512(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ pf+32(FP), R8
	TESTQ R8, R8
	JNZ e5pf
	MOVQ SI, R8
e5pf:
	EXPSETUP
	VBROADCASTSS m+24(FP), Z15
	VBROADCASTSS scale+28(FP), Z12
	VXORPD Z10, Z10, Z10
	MOVQ CX, DX
	SHRQ $4, CX
	JZ e5tail
e5loop:
	PREFETCHT1 (R8)
	VMOVUPS (SI), Z0
	EXP16
	TESTQ DI, DI
	JZ e5nostore
	VMOVUPS Z2, (DI)
	ADDQ $64, DI
e5nostore:
	VCVTPS2PD Y2, Z4
	VADDPD Z4, Z10, Z10
	VEXTRACTF32X8 $1, Z2, Y5
	VCVTPS2PD Y5, Z5
	VADDPD Z5, Z10, Z10
	ADDQ $64, SI
	ADDQ $64, R8
	DECQ CX
	JNZ e5loop
e5tail:
	TESTQ $8, DX
	JZ e5done
	VMOVUPS (SI), Y0
	EXP16
	TESTQ DI, DI
	JZ e5nostore8
	VMOVUPS Y2, (DI)
e5nostore8:
	VCVTPS2PD Y2, Z4
	VADDPD Z4, Z10, Z10
e5done:
	VEXTRACTF64X4 $1, Z10, Y11
	VADDPD Y11, Y10, Y10
	VEXTRACTF128 $1, Y10, X11
	VADDPD X11, X10, X10
	VPERMILPD $1, X10, X11
	VADDSD X11, X10, X10
	MOVSD X10, ret+40(FP)
	VZEROUPPER
	RET

// func ropeAVX512(x, cs *float32, n, half, heads int, inverse bool)
//
// For each of heads vectors [x1 half | x2 half] (8*half bytes apart) and
// j < n in steps of 16, with c = cs[j], s = cs[half+j]: x1' = x1*c - x2*s,
// x2' = x2*c + x1*s (inverse: x1*c + x2*s, x2*c - x1*s), each product
// rounded before the sum as ropeRotateGo's.
TEXT ·ropeAVX512(SB), NOSPLIT, $0-41
	MOVQ x+0(FP), DI
	MOVQ n+16(FP), R10
	SHRQ $4, R10
	JZ   rpdone
	MOVQ half+24(FP), R8
	SHLQ $2, R8               // bytes from x1 to x2, cos to sin
	MOVQ heads+32(FP), R9
	MOVBLZX inverse+40(FP), R11
rphead:
	MOVQ cs+8(FP), SI
	MOVQ DI, DX
	MOVQ R10, CX
rploop:
	VMOVUPS (DX), Z0          // x1
	VMOVUPS (DX)(R8*1), Z1    // x2
	VMOVUPS (SI), Z2          // cos
	VMOVUPS (SI)(R8*1), Z3    // sin
	VMULPS Z2, Z0, Z4         // x1*c
	VMULPS Z3, Z1, Z5         // x2*s
	VMULPS Z2, Z1, Z6         // x2*c
	VMULPS Z3, Z0, Z7         // x1*s
	TESTQ R11, R11
	JNZ  rpinv
	VSUBPS Z5, Z4, Z4
	VADDPS Z7, Z6, Z6
	JMP  rpstore
rpinv:
	VADDPS Z5, Z4, Z4
	VSUBPS Z7, Z6, Z6
rpstore:
	VMOVUPS Z4, (DX)
	VMOVUPS Z6, (DX)(R8*1)
	ADDQ $64, DX
	ADDQ $64, SI
	DECQ CX
	JNZ  rploop
	LEAQ (DI)(R8*2), DI       // next head: 2*half floats on
	DECQ R9
	JNZ  rphead
rpdone:
	VZEROUPPER
	RET
