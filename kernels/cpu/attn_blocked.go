package cpu

import (
	"sync/atomic"
)

// Blocked attention: per (row, head), the scores of a block of queries
// against all earlier keys are one MatMul (on the worker's own packing
// buffers), the causal softmax runs on rows of that block, and the output
// is a second MatMul. This does up to twice the causal flops (the masked
// half of each block) but at micro-kernel speed instead of scalar dot
// products. The backward recomputes P from the saved log-sum-exp.

// attnQB is the number of queries per block (bounds the scores scratch to
// attnQB x t floats per worker).
const attnQB = 256

// attnQBMixed is the query block of the backward over widened bf16
// inputs: smaller blocks skip more of the causal mask's zero products (at
// Qwen3-0.6B's seq 256, heads 16x8 of 128, per CPU second: 256 rows 38
// GFLOP/s, 128 rows 42, 64 rows 47, 32 rows 48).
const attnQBMixed = 64

// attnBlockedMin is the sequence length from which the blocked path pays.
const attnBlockedMin = 32

// serialGemm computes C = op(A) op(B) (add: C += ...) with worker w's
// packing buffers, for use inside a parallel region.
func (be *Backend) serialGemm(w int, c, a, b []float32, m, n, k int, ta, tb, add bool) {
	beta := float32(0)
	if add {
		beta = 1
	}
	be.serialGemmAB(w, c, a, b, m, n, k, ta, tb, 1, beta)
}

// serialGemmAB is serialGemm with BLAS alpha and beta.
func (be *Backend) serialGemmAB(w int, c, a, b []float32, m, n, k int, ta, tb bool, alpha, beta float32) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(c[:m*n], beta)
		return
	}
	if m*n*k <= smallGemm {
		gemmSmall(c, a, b, m, n, k, ta, tb, alpha, beta)
		return
	}
	if beta != 0 && beta != 1 {
		scaleC(c[:m*n], beta)
	}
	g := gemmArgs{c: c, a: a, b: b, m: m, n: n, k: k, ta: ta, tb: tb, alpha: alpha, kern: be.kern}
	g.serial(be.scratch.apack[w], be.scratch.bpack[w], 0, k, beta != 0)
}

// ensureSerialGemm sizes every worker's packing buffers for serialGemm.
func (be *Backend) ensureSerialGemm() {
	mr, nr := be.kern.mr, be.kern.nr
	be.scratch.ensure(be.pool.n, max(mr, mcBlock/mr*mr), ncBlock/nr*nr+nr)
}

// gatherHead copies head h of x [t, heads, d] rows [0, n) into dst [n, d].
func gatherHead(dst, x []float32, n, heads, h, d int) {
	for i := range n {
		copy(dst[i*d:(i+1)*d], x[(i*heads+h)*d:(i*heads+h+1)*d])
	}
}

// scatterHead copies src [n, d] into head h of x [t, heads, d] rows [0, n).
func scatterHead(x, src []float32, n, heads, h, d int) {
	for i := range n {
		copy(x[(i*heads+h)*d:(i*heads+h+1)*d], src[i*d:(i+1)*d])
	}
}

// clearHead zeroes head h of x [t, heads, d] rows [from, t).
func clearHead(x []float32, from, t, heads, h, d int) {
	for i := from; i < t; i++ {
		clear(x[(i*heads+h)*d : (i*heads+h+1)*d])
	}
}

// attentionBlocked is Attention for scale > 0 and t >= attnBlockedMin.
func (be *Backend) attentionBlocked(os, ls, qs, ks, vs []float32, L []int, b, t, hq, hkv, d int, scale float32) {
	group := hq / hkv
	qb := min(attnQB, t)
	be.ensureSerialGemm()
	threads := be.pool.n
	per := 3*t*d + qb*t + qb*d
	for w := range threads {
		be.workerBuf(w, per)
	}
	var next atomic.Int64
	be.pool.run(min(threads, b*hq), func(w int) {
		buf := be.rowScratch[w][:per]
		qh, kh, vh := buf[:t*d], buf[t*d:2*t*d], buf[2*t*d:3*t*d]
		sc := buf[3*t*d : 3*t*d+qb*t]
		ob := buf[3*t*d+qb*t:]
		for {
			u := int(next.Add(1) - 1)
			if u >= b*hq {
				return
			}
			r, h := u/hq, u%hq
			n := L[r]
			orow := os[r*t*hq*d : (r+1)*t*hq*d]
			lrow := ls[(r*hq+h)*t : (r*hq+h+1)*t]
			clearHead(orow, n, t, hq, h, d)
			clear(lrow[n:])
			if n == 0 {
				continue
			}
			gatherHead(qh, qs[r*t*hq*d:], n, hq, h, d)
			gatherHead(kh, ks[r*t*hkv*d:], n, hkv, h/group, d)
			gatherHead(vh, vs[r*t*hkv*d:], n, hkv, h/group, d)
			for q0 := 0; q0 < n; q0 += qb {
				q1 := min(n, q0+qb)
				nq, nk := q1-q0, q1
				s := sc[:nq*nk]
				be.serialGemm(w, s, qh[q0*d:], kh, nq, nk, d, false, true, false)
				for i := range nq {
					row := s[i*nk : (i+1)*nk]
					valid := row[:q0+i+1]
					mx := maxOf(valid)
					sum := expSubScaled(valid, valid, mx, scale)
					scaleRow(valid, float32(1/sum))
					clear(row[q0+i+1:])
					lrow[q0+i] = scale*mx + float32(logf64(sum))
				}
				o := ob[:nq*d]
				be.serialGemm(w, o, s, vh, nq, d, nk, false, false, false)
				for i := range nq {
					copy(orow[((q0+i)*hq+h)*d:((q0+i)*hq+h+1)*d], o[i*d:(i+1)*d])
				}
			}
		}
	})
}

// attentionBackwardBlocked is AttentionBackward for scale > 0 and
// t >= attnBlockedMin, in blocks of qb queries: one task per (row, kv head), owning dk and dv of
// that head and dq of the query heads that share it.
func (be *Backend) attentionBackwardBlocked(dqs, dks, dvs, dos, os, ls, qs, ks, vs []float32, L []int, b, t, hq, hkv, d int, scale float32, qb int) {
	group := hq / hkv
	qb = min(qb, t)
	be.ensureSerialGemm()
	threads := be.pool.n
	per := 7*t*d + 2*qb*t + qb*d
	for w := range threads {
		be.workerBuf(w, per)
	}
	var next atomic.Int64
	be.pool.run(min(threads, b*hkv), func(w int) {
		buf := be.rowScratch[w][:per]
		part := func(i int) []float32 { return buf[i*t*d : (i+1)*t*d] }
		kh, vh, qh, doh, oh, dkh, dvh := part(0), part(1), part(2), part(3), part(4), part(5), part(6)
		sc := buf[7*t*d : 7*t*d+qb*t]
		dp := buf[7*t*d+qb*t : 7*t*d+2*qb*t]
		dqb := buf[7*t*d+2*qb*t:]
		for {
			u := int(next.Add(1) - 1)
			if u >= b*hkv {
				return
			}
			r, kv := u/hkv, u%hkv
			n := L[r]
			krow, vrow := dks[r*t*hkv*d:(r+1)*t*hkv*d], dvs[r*t*hkv*d:(r+1)*t*hkv*d]
			clearHead(krow, n, t, hkv, kv, d)
			clearHead(vrow, n, t, hkv, kv, d)
			qrow := dqs[r*t*hq*d : (r+1)*t*hq*d]
			for h := kv * group; h < (kv+1)*group; h++ {
				clearHead(qrow, n, t, hq, h, d)
			}
			if n == 0 {
				continue
			}
			gatherHead(kh, ks[r*t*hkv*d:], n, hkv, kv, d)
			gatherHead(vh, vs[r*t*hkv*d:], n, hkv, kv, d)
			clear(dkh[:n*d])
			clear(dvh[:n*d])
			for h := kv * group; h < (kv+1)*group; h++ {
				gatherHead(qh, qs[r*t*hq*d:], n, hq, h, d)
				gatherHead(doh, dos[r*t*hq*d:], n, hq, h, d)
				gatherHead(oh, os[r*t*hq*d:], n, hq, h, d)
				lrow := ls[(r*hq+h)*t : (r*hq+h+1)*t]
				for q0 := 0; q0 < n; q0 += qb {
					q1 := min(n, q0+qb)
					nq, nk := q1-q0, q1
					p := sc[:nq*nk]
					be.serialGemm(w, p, qh[q0*d:], kh, nq, nk, d, false, true, false)
					for i := range nq {
						row := p[i*nk : (i+1)*nk]
						valid := row[:q0+i+1]
						scaleRow(valid, scale)
						expSub(valid, valid, lrow[q0+i])
						clear(row[q0+i+1:])
					}
					// dV += P^T dO; dP = dO V^T.
					be.serialGemm(w, dvh, p, doh[q0*d:], nk, d, nq, true, false, true)
					g := dp[:nq*nk]
					be.serialGemm(w, g, doh[q0*d:], vh, nq, nk, d, false, true, false)
					// dS = P * (dP - D) * scale, D = dO . O per query.
					for i := range nq {
						D := dot(doh[(q0+i)*d:(q0+i+1)*d], oh[(q0+i)*d:])
						pr, gr := p[i*nk:(i+1)*nk], g[i*nk:(i+1)*nk]
						for j := range pr {
							gr[j] = pr[j] * (gr[j] - D) * scale
						}
					}
					// dQ = dS K; dK += dS^T Q.
					dq := dqb[:nq*d]
					be.serialGemm(w, dq, g, kh, nq, d, nk, false, false, false)
					for i := range nq {
						copy(qrow[((q0+i)*hq+h)*d:((q0+i)*hq+h+1)*d], dq[i*d:(i+1)*d])
					}
					be.serialGemm(w, dkh, g, qh[q0*d:], nk, d, nq, true, false, true)
				}
			}
			scatterHead(krow, dkh, n, hkv, kv, d)
			scatterHead(vrow, dvh, n, hkv, kv, d)
		}
	})
}
