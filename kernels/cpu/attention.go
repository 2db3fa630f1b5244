package cpu

import (
	"fmt"
	"math"

	"sdzero/kernels"
)

// dotGo is the portable dot.
func dotGo(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// axpyGo is the portable axpy.
func axpyGo(y []float32, a float32, x []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += a * x[i]
	}
}

// rowLens reads and validates lens, clamping bad values (recorded for Sync).
func (be *Backend) rowLens(op string, lens kernels.Tensor, b, t int) []int {
	ls := i32(op, lens, b)
	out := make([]int, b)
	for r, l := range ls {
		switch {
		case l < 0:
			be.fail(op, "lens[%d] = %d is negative", r, l)
		case int(l) > t:
			be.fail(op, "lens[%d] = %d exceeds %d positions", r, l, t)
			out[r] = t
		default:
			out[r] = int(l)
		}
	}
	return out
}

func checkGQA(op string, hq, hkv int) {
	if hkv <= 0 || hq%hkv != 0 {
		panic(fmt.Sprintf("cpu %s: %d query heads not a multiple of %d kv heads", op, hq, hkv))
	}
}

// Attention is causal grouped-query attention over a right-padded batch.
func (be *Backend) Attention(out, lse, q, k, v, lens kernels.Tensor, b, t, hq, hkv, d int, scale float32, window int) {
	const op = "Attention"
	checkDims(op, b, t, hq, hkv, d)
	checkGQA(op, hq, hkv)
	if be.attnBF16(q, k, v, t, hq, hkv, d, scale, window) {
		be.attentionBF16(out, lse, q, k, v, lens, b, t, hq, hkv, d, scale) // attn_bf16.go
		return
	}
	if q.DType == kernels.BF16 || k.DType == kernels.BF16 || v.DType == kernels.BF16 {
		// Mixed precision: the bf16 values widened exactly, F32 products.
		nq, nkv := b*t*hq*d, b*t*hkv*d
		be.Attention(out, lse, be.widened(op, 1, q, nq), be.widened(op, 2, k, nkv), be.widened(op, 3, v, nkv), lens, b, t, hq, hkv, d, scale, window)
		return
	}
	os, ls := f32(op, out, b*t*hq*d), f32(op, lse, b*hq*t)
	qs, ks, vs := f32(op, q, b*t*hq*d), f32(op, k, b*t*hkv*d), f32(op, v, b*t*hkv*d)
	L := be.rowLens(op, lens, b, t)
	// The blocked path computes full causal blocks; a window narrower than
	// the sequence takes the per-query path, which visits only the keys in
	// the window (O(t*W)).
	windowed := window > 0 && window < t
	if scale > 0 && t >= attnBlockedMin && !windowed {
		be.attentionBlocked(os, ls, qs, ks, vs, L, b, t, hq, hkv, d, scale)
		return
	}
	group := hq / hkv
	be.parallelFor(b*hq, 1, func(lo, hi int) {
		p := make([]float32, t)
		acc := make([]float32, d)
		for bh := lo; bh < hi; bh++ {
			r, h := bh/hq, bh%hq
			kh := h / group
			for i := 0; i < t; i++ {
				o := os[((r*t+i)*hq+h)*d : ((r*t+i)*hq+h+1)*d]
				if i >= L[r] {
					clear(o)
					ls[(r*hq+h)*t+i] = 0
					continue
				}
				qi := qs[((r*t+i)*hq+h)*d : ((r*t+i)*hq+h+1)*d]
				j0 := windowStart(i, window)
				mx := float32(math.Inf(-1))
				for j := j0; j <= i; j++ {
					s := scale * dot(qi, ks[((r*t+j)*hkv+kh)*d:])
					p[j] = s
					mx = max(mx, s)
				}
				var sum float64
				for j := j0; j <= i; j++ {
					e := exp32(p[j] - mx)
					p[j] = e
					sum += float64(e)
				}
				clear(acc)
				inv := float32(1 / sum)
				for j := j0; j <= i; j++ {
					axpy(acc, p[j]*inv, vs[((r*t+j)*hkv+kh)*d:])
				}
				copy(o, acc)
				ls[(r*hq+h)*t+i] = mx + float32(math.Log(sum))
			}
		}
	})
}

// AttentionBackward overwrites dq, dk and dv.
func (be *Backend) AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, lens kernels.Tensor, b, t, hq, hkv, d int, scale float32, window int) {
	const op = "AttentionBackward"
	checkDims(op, b, t, hq, hkv, d)
	checkGQA(op, hq, hkv)
	qb := attnQB
	if q.DType == kernels.BF16 || k.DType == kernels.BF16 || v.DType == kernels.BF16 {
		// The bf16 values widened exactly, in smaller query blocks than
		// F32 inputs get (their results need not match the F32 path's
		// bits): fewer masked products.
		nq, nkv := b*t*hq*d, b*t*hkv*d
		q, k, v = be.widened(op, 1, q, nq), be.widened(op, 2, k, nkv), be.widened(op, 3, v, nkv)
		qb = attnQBMixed
	}
	dqs, dks, dvs := f32(op, dq, b*t*hq*d), f32(op, dk, b*t*hkv*d), f32(op, dv, b*t*hkv*d)
	dos, os, ls := f32(op, dout, b*t*hq*d), f32(op, out, b*t*hq*d), f32(op, lse, b*hq*t)
	qs, ks, vs := f32(op, q, b*t*hq*d), f32(op, k, b*t*hkv*d), f32(op, v, b*t*hkv*d)
	L := be.rowLens(op, lens, b, t)
	if scale > 0 && t >= attnBlockedMin && !(window > 0 && window < t) {
		be.attentionBackwardBlocked(dqs, dks, dvs, dos, os, ls, qs, ks, vs, L, b, t, hq, hkv, d, scale, qb)
		return
	}
	group := hq / hkv
	// One task per (row, kv head): it owns dk/dv of that head and dq of
	// the query heads in its group, so there are no write conflicts.
	be.parallelFor(b*hkv, 1, func(lo, hi int) {
		p := make([]float32, t)
		for bk := lo; bk < hi; bk++ {
			r, kh := bk/hkv, bk%hkv
			for j := 0; j < t; j++ {
				clear(dks[((r*t+j)*hkv+kh)*d : ((r*t+j)*hkv+kh+1)*d])
				clear(dvs[((r*t+j)*hkv+kh)*d : ((r*t+j)*hkv+kh+1)*d])
			}
			for h := kh * group; h < (kh+1)*group; h++ {
				for i := 0; i < t; i++ {
					dqi := dqs[((r*t+i)*hq+h)*d : ((r*t+i)*hq+h+1)*d]
					clear(dqi)
					if i >= L[r] {
						continue
					}
					qi := qs[((r*t+i)*hq+h)*d : ((r*t+i)*hq+h+1)*d]
					doi := dos[((r*t+i)*hq+h)*d : ((r*t+i)*hq+h+1)*d]
					D := dot(doi, os[((r*t+i)*hq+h)*d:])
					l := ls[(r*hq+h)*t+i]
					j0 := windowStart(i, window)
					for j := j0; j <= i; j++ {
						kj := ks[((r*t+j)*hkv+kh)*d:]
						p[j] = exp32(scale*dot(qi, kj) - l)
					}
					for j := j0; j <= i; j++ {
						off := ((r*t+j)*hkv + kh) * d
						dp := dot(doi, vs[off:])
						ds := p[j] * (dp - D) * scale
						axpy(dqi, ds, ks[off:])
						axpy(dks[off:off+d], ds, qi)
						axpy(dvs[off:off+d], p[j], doi)
					}
				}
			}
		}
	})
}

// AttentionDecode attends one query per row to the first lens[r] cached
// positions.
func (be *Backend) AttentionDecode(out, q, kc, vc, lens kernels.Tensor, b, tmax, hq, hkv, d int, scale float32, window int) {
	const op = "AttentionDecode"
	checkDims(op, b, tmax, hq, hkv, d)
	checkGQA(op, hq, hkv)
	if kc.DType == kernels.BF16 || vc.DType == kernels.BF16 {
		if be.attentionDecodeBF16(out, q, kc, vc, lens, b, tmax, hq, hkv, d, scale, window) {
			return // decode.go: the caches read in place
		}
		n := b * tmax * hkv * d
		be.AttentionDecode(out, q, be.widened(op, 1, kc, n), be.widened(op, 2, vc, n), lens, b, tmax, hq, hkv, d, scale, window)
		return
	}
	os, qs := f32(op, out, b*hq*d), f32(op, q, b*hq*d)
	ks, vs := f32(op, kc, b*tmax*hkv*d), f32(op, vc, b*tmax*hkv*d)
	L := be.rowLens(op, lens, b, tmax)
	group := hq / hkv
	be.parallelFor(b*hq, 1+4096/(tmax*d+1), func(lo, hi int) {
		p := make([]float32, tmax)
		acc := make([]float32, d)
		for bh := lo; bh < hi; bh++ {
			r, h := bh/hq, bh%hq
			kh := h / group
			o := os[bh*d : (bh+1)*d]
			n := L[r]
			if n == 0 {
				clear(o)
				continue
			}
			qi := qs[bh*d : (bh+1)*d]
			// The query sits at position n-1: at most window cache rows.
			j0 := windowStart(n-1, window)
			mx := float32(math.Inf(-1))
			for j := j0; j < n; j++ {
				s := scale * dot(qi, ks[((r*tmax+j)*hkv+kh)*d:])
				p[j] = s
				mx = max(mx, s)
			}
			var sum float64
			for j := j0; j < n; j++ {
				e := exp32(p[j] - mx)
				p[j] = e
				sum += float64(e)
			}
			clear(acc)
			inv := float32(1 / sum)
			for j := j0; j < n; j++ {
				axpy(acc, p[j]*inv, vs[((r*tmax+j)*hkv+kh)*d:])
			}
			copy(o, acc)
		}
	})
}

func logf64(x float64) float64 { return math.Log(x) }

// windowStart is the first key a query at position i sees: i-window+1
// under a sliding window (transformers' mask i-W < j <= i), else 0.
func windowStart(i, window int) int {
	if window > 0 && i-window+1 > 0 {
		return i - window + 1
	}
	return 0
}
