//go:build !amd64

package cpu

// expSub sets dst[i] = exp(x[i]-m) (dst nil: only sums) and returns the
// float64 sum of those values.
func expSub(dst, x []float32, m float32) float64 { return expSubGo(dst, x, m, 1) }

// expSubScaled is expSub of (x[i]-m)*scale.
func expSubScaled(dst, x []float32, m, scale float32) float64 { return expSubGo(dst, x, m, scale) }

// expSubPrefetch is expSubScaled (pf, the next row, is not prefetched here).
func expSubPrefetch(dst, x []float32, m, scale float32, pf []float32) float64 {
	return expSubGo(dst, x, m, scale)
}

// dot returns sum a[i]*b[i] over len(a) elements.
func dot(a, b []float32) float32 { return dotGo(a, b) }

// axpy computes y += a*x over len(y) elements.
func axpy(y []float32, a float32, x []float32) { axpyGo(y, a, x) }

// maxOf returns the largest element of x (-Inf for an empty x).
func maxOf(x []float32) float32 { return maxGo(x) }

// adamwVec has no vector path here: adamwGo does all the elements.
func adamwVec(p, g, m, v []float32, c *[8]float32) int { return 0 }

// sumSquares returns the float64 sum of x[i]^2.
func sumSquares(x []float32) float64 { return sumSquaresGo(x) }

// klSums returns sum et*(t-s) and sum es*(t-s) in float64.
func klSums(s, t, es, et []float32) (float64, float64) { return klSumsGo(s, t, es, et) }

// distillGrad sets g from the distillation constants c; g may alias s.
func distillGrad(g, s, t, es, et []float32, c *[6]float32) { distillGradGo(g, s, t, es, et, c) }

// swigluVec has no vector path here.
func swigluVec(o, g, u []float32) int { return 0 }

// swigluBwdVec has no vector path here.
func swigluBwdVec(dg, du, d, g, u []float32) int { return 0 }

// rmsScale sets o[i] = w[i]*(x[i]*s) (RMSNorm).
func rmsScale(o, x, w []float32, s float32) { rmsScaleGo(o, x, w, s) }

// rmsAcc adds (dr[i]*x[i])*s to acc[i] in float64.
func rmsAcc(acc []float64, dr, x []float32, s float64) { rmsAccGo(acc, dr, x, s) }

// rmsDx adds float32((dr[i]*w[i])*s - x[i]*c), formed in float64, to dx[i].
func rmsDx(dx, dr, w, x []float32, s, c float64) { rmsDxGo(dx, dr, w, x, s, c) }

// scaleRow multiplies x by c.
func scaleRow(x []float32, c float32) { scaleRowGo(x, c) }

// ropeRotate is ropeRotateGo over every pair.
func ropeRotate(x, cs []float32, heads, half int, inverse bool) {
	ropeRotateGo(x, cs, heads, half, 0, inverse)
}
