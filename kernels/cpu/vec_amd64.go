//go:build amd64

package cpu

import "golang.org/x/sys/cpu"

// hasFMA reports whether the AVX2/FMA vector routines can run (read-only
// after start-up, derived from the hardware).
var hasFMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func expSubAVX2(dst, x *float32, n int, m, scale float32) float64

//go:noescape
func expSubAVX512(dst, x *float32, n int, m, scale float32, pf *float32) float64

//go:noescape
func maxAVX2(x *float32, n int) float32

// maxOf returns the largest element of x (-Inf for an empty x).
func maxOf(x []float32) float32 {
	n8 := len(x) &^ 7
	if !hasFMA || n8 == 0 {
		return maxGo(x)
	}
	m := maxAVX2(&x[0], n8)
	if n8 < len(x) {
		m = max(m, maxGo(x[n8:]))
	}
	return m
}

//go:noescape
func dotAVX2(a, b *float32, n int) float32

//go:noescape
func axpyAVX2(y, x *float32, n int, a float32)

// expSub sets dst[i] = exp(x[i]-m) (dst nil: only sums) and returns the
// float64 sum of those values. It is meant for x[i] <= m (softmax): the
// vector path saturates at exp(88) and flushes below exp(-87.3) to ~1e-38.
func expSub(dst, x []float32, m float32) float64 { return expSubScaled(dst, x, m, 1) }

// expSubScaled is expSub of (x[i]-m)*scale.
func expSubScaled(dst, x []float32, m, scale float32) float64 {
	return expSubPrefetch(dst, x, m, scale, nil)
}

// expSubPrefetch is expSubScaled that also prefetches pf[:len(x)] (nil:
// nothing) into L2 on the AVX-512 path: the next row of a softmax, so that
// its max pass reads from L2 while this pass computes.
func expSubPrefetch(dst, x []float32, m, scale float32, pf []float32) float64 {
	n8 := len(x) &^ 7
	var s float64
	if hasFMA && n8 > 0 {
		var d *float32
		if dst != nil {
			_ = dst[len(x)-1]
			d = &dst[0]
		}
		if hasAVX512 {
			// The same values and sum, 16 lanes at a time.
			var p *float32
			if len(pf) >= len(x) {
				p = &pf[0]
			}
			s = expSubAVX512(d, &x[0], n8, m, scale, p)
		} else {
			s = expSubAVX2(d, &x[0], n8, m, scale)
		}
	} else {
		n8 = 0
	}
	if dst != nil {
		return s + expSubGo(dst[n8:len(x)], x[n8:], m, scale)
	}
	return s + expSubGo(nil, x[n8:], m, scale)
}

// dot returns sum a[i]*b[i] over len(a) elements.
func dot(a, b []float32) float32 {
	n8 := len(a) &^ 7
	if !hasFMA || n8 == 0 {
		return dotGo(a, b)
	}
	_ = b[len(a)-1]
	s := dotAVX2(&a[0], &b[0], n8)
	if n8 < len(a) {
		s += dotGo(a[n8:], b[n8:len(a)])
	}
	return s
}

// axpy computes y += a*x over len(y) elements.
func axpy(y []float32, a float32, x []float32) {
	n8 := len(y) &^ 7
	if !hasFMA || n8 == 0 {
		axpyGo(y, a, x)
		return
	}
	_ = x[len(y)-1]
	axpyAVX2(&y[0], &x[0], n8, a)
	if n8 < len(y) {
		axpyGo(y[n8:], a, x[n8:len(y)])
	}
}

//go:noescape
func adamwAVX2(p, gr, m, v *float32, n int, c *[8]float32)

// adamwVec runs the vector AdamW over a prefix of the slices (all of equal
// length) and returns how many elements it did; the caller finishes the
// rest with adamwGo, which rounds identically.
func adamwVec(p, g, m, v []float32, c *[8]float32) int {
	n8 := len(p) &^ 7
	if !hasFMA || n8 == 0 || c[2] >= 0.5 {
		return 0
	}
	_, _, _ = g[n8-1], m[n8-1], v[n8-1]
	adamwAVX2(&p[0], &g[0], &m[0], &v[0], n8, c)
	return n8
}

//go:noescape
func sumSquaresAVX2(x *float32, n int) float64

// sumSquares returns the float64 sum of x[i]^2.
func sumSquares(x []float32) float64 {
	n8 := len(x) &^ 7
	if !hasFMA || n8 == 0 {
		return sumSquaresGo(x)
	}
	s := sumSquaresAVX2(&x[0], n8)
	if n8 < len(x) {
		s += sumSquaresGo(x[n8:])
	}
	return s
}

//go:noescape
func klSumsAVX2(s, t, es, et *float32, n int) (a, b float64)

//go:noescape
func distillGradAVX2(gr, s, t, es, et *float32, n int, c *[6]float32)

// klSums returns sum et*(t-s) and sum es*(t-s) in float64 (all slices of
// len(s)).
func klSums(s, t, es, et []float32) (float64, float64) {
	n8 := len(s) &^ 7
	if !hasFMA || n8 == 0 {
		return klSumsGo(s, t, es, et)
	}
	_, _, _ = t[n8-1], es[n8-1], et[n8-1]
	a, b := klSumsAVX2(&s[0], &t[0], &es[0], &et[0], n8)
	a2, b2 := klSumsGo(s[n8:], t[n8:len(s)], es[n8:len(s)], et[n8:len(s)])
	return a + a2, b + b2
}

// distillGrad sets g from the distillation constants c (see distillGradGo);
// g may alias s.
func distillGrad(g, s, t, es, et []float32, c *[6]float32) {
	n8 := len(s) &^ 7
	if hasFMA && n8 > 0 {
		_, _, _, _ = g[n8-1], t[n8-1], es[n8-1], et[n8-1]
		distillGradAVX2(&g[0], &s[0], &t[0], &es[0], &et[0], n8, c)
	} else {
		n8 = 0
	}
	distillGradGo(g[n8:len(s)], s[n8:], t[n8:len(s)], es[n8:len(s)], et[n8:len(s)], c)
}

//go:noescape
func swigluAVX512(o, gate, up *float32, n int)

//go:noescape
func swigluBwdAVX512(dg, du, dy, gate, up *float32, n int)

// hasAVX512 reports whether the AVX-512 routines can run.
var hasAVX512 = cpu.X86.HasAVX512F

// hasSwiGLUVec reports whether the AVX-512 SwiGLU routines run: their
// exponential is expSubAVX2's, so they stand in for it only where it runs
// (hasFMA, which tests may switch off).
func hasSwiGLUVec() bool { return hasAVX512 && hasFMA }

// swigluVec computes o[i] = silu(g[i])*u[i] over a prefix of the slices
// (a multiple of 16) and returns its length; the caller finishes the rest
// with the expSubScaled + Go loop, which rounds identically.
func swigluVec(o, g, u []float32) int {
	n := len(o) &^ 15
	if !hasSwiGLUVec() || n == 0 {
		return 0
	}
	_, _ = g[n-1], u[n-1]
	swigluAVX512(&o[0], &g[0], &u[0], n)
	return n
}

// swigluBwdVec is swigluVec for SwiGLUBackward.
func swigluBwdVec(dg, du, d, g, u []float32) int {
	n := len(dg) &^ 15
	if !hasSwiGLUVec() || n == 0 {
		return 0
	}
	_, _, _, _ = du[n-1], d[n-1], g[n-1], u[n-1]
	swigluBwdAVX512(&dg[0], &du[0], &d[0], &g[0], &u[0], n)
	return n
}

//go:noescape
func rmsScaleAVX512(o, x, w *float32, n int, s float32)

//go:noescape
func rmsAccAVX512(acc *float64, dr, x *float32, n int, s float64)

//go:noescape
func rmsDxAVX512(dx, dr, w, x *float32, n int, s, c float64)

// rmsScale sets o[i] = w[i]*(x[i]*s) (RMSNorm), 16 at a time with AVX-512;
// the products round as the scalar loop's.
func rmsScale(o, x, w []float32, s float32) {
	n := len(o)
	v := 0
	if hasAVX512 && n >= 16 {
		v = n &^ 15
		_, _ = x[v-1], w[v-1]
		rmsScaleAVX512(&o[0], &x[0], &w[0], v, s)
	}
	rmsScaleGo(o[v:], x[v:n], w[v:n], s)
}

// rmsAcc adds (dr[i]*x[i])*s to acc[i] in float64 (RMSNormBackward's
// weight gradient), 8 at a time with AVX-512.
func rmsAcc(acc []float64, dr, x []float32, s float64) {
	n := len(acc)
	v := 0
	if hasAVX512 && n >= 8 {
		v = n &^ 7
		_, _ = dr[v-1], x[v-1]
		rmsAccAVX512(&acc[0], &dr[0], &x[0], v, s)
	}
	rmsAccGo(acc[v:], dr[v:n], x[v:n], s)
}

// rmsDx adds float32((dr[i]*w[i])*s - x[i]*c), formed in float64, to dx[i]
// (RMSNormBackward's input gradient), 8 at a time with AVX-512.
func rmsDx(dx, dr, w, x []float32, s, c float64) {
	n := len(dx)
	v := 0
	if hasAVX512 && n >= 8 {
		v = n &^ 7
		_, _, _ = dr[v-1], w[v-1], x[v-1]
		rmsDxAVX512(&dx[0], &dr[0], &w[0], &x[0], v, s, c)
	}
	rmsDxGo(dx[v:], dr[v:n], w[v:n], x[v:n], s, c)
}

//go:noescape
func scaleAVX512(x *float32, n int, c float32)

// scaleRow multiplies x by c, 16 at a time with AVX-512.
func scaleRow(x []float32, c float32) {
	v := 0
	if hasAVX512 && len(x) >= 16 {
		v = len(x) &^ 15
		scaleAVX512(&x[0], v, c)
	}
	scaleRowGo(x[v:], c)
}

// ropeAVX512 rotates pairs j < n (n a multiple of 16) of each of heads
// vectors of 2*half floats at x by cs: ropeRotateGo's products and sums,
// 16 lanes at a time (see vec_amd64.s).
//
//go:noescape
func ropeAVX512(x, cs *float32, n, half, heads int, inverse bool)

// ropeRotate is ropeRotateGo over every pair, the first half&^15 of each
// vector with AVX-512 (the same values bit for bit: each lane's two
// products and sum are the same rounded float32 operations).
func ropeRotate(x, cs []float32, heads, half int, inverse bool) {
	v := 0
	if hasAVX512 && half >= 16 {
		_, _ = x[heads*2*half-1], cs[2*half-1]
		v = half &^ 15
		ropeAVX512(&x[0], &cs[0], v, half, heads, inverse)
	}
	if v < half {
		ropeRotateGo(x, cs, heads, half, v, inverse)
	}
}
