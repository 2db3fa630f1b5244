package cpu

import (
	"sdzero/kernels"
)

// Mixed-precision attention: with BF16 q, k and v, the blocked attention's
// five products (QK^T, PV forward; QK^T, dO V^T, P^T dO, dS K, dS^T Q
// backward) run as bf16 GEMMs (AMX or AVX512_BF16 tiles, F32
// accumulation) on the bf16 values read in place of an F32 widening. The
// softmax, its statistics and dS are F32; the probabilities, dO and dS are
// rounded to bf16 once as the operands of the products that read them, as
// tensor-core attention on GPUs does (kernelstest's AttentionBF16
// tolerance bounds that rounding), except where cancellation would turn
// that rounding into large errors: dP = dO V^T takes dO as a bf16 pair
// hi + lo (dP - D cancels), and dK = dS^T Q takes dS as one (the early
// keys sum the dS of many queries, of both signs), one more product each.
// Measured on kernelstest's AttentionBF16 shapes: dS rounded once put
// single dK entries at 1.4x the tolerance; the pairs bring dK's relative
// RMS error from 2.6e-3 to 2.0e-3 and every entry within it. Heads run one after another, each
// product parallel inside gemmBF16.

// attnBF16Max is the longest sequence the bf16 kernels take: a kv head's
// whole score block (its query heads' rows by every key) is one product,
// so the scratch grows as group*t*t; longer sequences take the F32 path.
const attnBF16Max = 512

// attnBF16MinWork is the least work per kv head (group*t*t*d
// multiply-adds of QK^T) for which the bf16 kernels pay: below it their
// per-product parallel regions cost more than the F32 path's single
// region over heads (llm.c-sized heads of 64 over 64 tokens: 2^18, 6x
// slower on a loaded machine; Qwen3-0.6B's 2 x 256 x 256 x 128: 2^24).
const attnBF16MinWork = 1 << 22

// attnBF16 reports whether the bf16 kernels take an attention call: BF16
// q, k and v on a backend with bf16 GEMMs, full causal attention (a
// narrower window takes the per-query F32 path), and a sequence short
// enough for whole score blocks with enough work per kv head.
func (be *Backend) attnBF16(q, k, v kernels.Tensor, t, hq, hkv, d int, scale float32, window int) bool {
	return q.DType == kernels.BF16 && k.DType == kernels.BF16 && v.DType == kernels.BF16 &&
		be.bf.kind != bf16None && scale > 0 && t >= attnBlockedMin && t <= attnBF16Max && !(window > 0 && window < t) &&
		hq/hkv*t*t*d >= attnBF16MinWork
}

// gatherHead16 copies head h of x [t, heads, d] rows [0, n) into dst [n, d].
func gatherHead16(dst, x []uint16, n, heads, h, d int) {
	for i := range n {
		copy(dst[i*d:(i+1)*d], x[(i*heads+h)*d:(i*heads+h+1)*d])
	}
}

// splitBF16 writes x as a bf16 pair: hi = bf16(x), lo = bf16(x - hi), so
// that hi + lo is within 2^-17 of x (relative). x and the pair have equal
// length, tmp (scratch) at least as long.
func splitBF16(hi, lo []uint16, x, tmp []float32) {
	tmp = tmp[:len(x)]
	f32ToBF16Slice(hi, x)
	bf16ToF32Slice(tmp, hi)
	for j, v := range x {
		tmp[j] = v - tmp[j]
	}
	f32ToBF16Slice(lo, tmp)
}

// attentionBF16 is Attention for BF16 q, k, v where attnBF16 holds. Per
// (row, kv head), the query heads sharing the kv head are stacked into one
// [group*n, d] operand, so each product covers the whole group.
func (be *Backend) attentionBF16(out, lse, q, k, v, lens kernels.Tensor, b, t, hq, hkv, d int, scale float32) {
	const op = "Attention"
	os, ls := f32(op, out, b*t*hq*d), f32(op, lse, b*hq*t)
	qs, ks, vs := u16(op, q, b*t*hq*d), u16(op, k, b*t*hkv*d), u16(op, v, b*t*hkv*d)
	L := be.rowLens(op, lens, b, t)
	G := hq / hkv
	sc, pb := make([]float32, G*t*t), make([]uint16, G*t*t)
	qg, kh, vh := make([]uint16, G*t*d), make([]uint16, t*d), make([]uint16, t*d)
	og := make([]float32, G*t*d)
	for r := range b {
		n := L[r]
		orow := os[r*t*hq*d : (r+1)*t*hq*d]
		for kv := range hkv {
			for h := kv * G; h < (kv+1)*G; h++ {
				clearHead(orow, n, t, hq, h, d)
				clear(ls[(r*hq+h)*t+n : (r*hq+h+1)*t])
			}
			if n == 0 {
				continue
			}
			m := G * n
			for g := range G {
				gatherHead16(qg[g*n*d:], qs[r*t*hq*d:], n, hq, kv*G+g, d)
			}
			gatherHead16(kh, ks[r*t*hkv*d:], n, hkv, kv, d)
			gatherHead16(vh, vs[r*t*hkv*d:], n, hkv, kv, d)
			s, p := sc[:m*n], pb[:m*n]
			be.gemmBF16(s, qg[:m*d], kh[:n*d], m, n, d, false, true, 1, 0)
			be.parallelFor(m, 16, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					g, pos := i/n, i%n
					row, prow := s[i*n:(i+1)*n], p[i*n:(i+1)*n]
					valid := row[:pos+1]
					mx := maxOf(valid)
					sum := expSubScaled(valid, valid, mx, scale)
					scaleRow(valid, float32(1/sum))
					f32ToBF16Slice(prow[:pos+1], valid)
					clear(prow[pos+1:])
					ls[(r*hq+kv*G+g)*t+pos] = scale*mx + float32(logf64(sum))
				}
			})
			o := og[:m*d]
			be.gemmBF16(o, p, vh[:n*d], m, d, n, false, false, 1, 0)
			for g := range G {
				scatterHead(orow, o[g*n*d:], n, hq, kv*G+g, d)
			}
		}
	}
}

// attentionBackwardBF16 is AttentionBackward for BF16 q, k, v where
// attnBF16 holds, stacked by kv head as attentionBF16.
func (be *Backend) attentionBackwardBF16(dq, dk, dv, dout, out, lse, q, k, v, lens kernels.Tensor, b, t, hq, hkv, d int, scale float32) {
	const op = "AttentionBackward"
	dqs, dks, dvs := f32(op, dq, b*t*hq*d), f32(op, dk, b*t*hkv*d), f32(op, dv, b*t*hkv*d)
	dos, os, ls := f32(op, dout, b*t*hq*d), f32(op, out, b*t*hq*d), f32(op, lse, b*hq*t)
	qs, ks, vs := u16(op, q, b*t*hq*d), u16(op, k, b*t*hkv*d), u16(op, v, b*t*hkv*d)
	L := be.rowLens(op, lens, b, t)
	G := hq / hkv
	pf, gf := make([]float32, G*t*t), make([]float32, G*t*t)
	p16, g16 := make([]uint16, G*t*t), make([]uint16, 2*G*t*t) // dS: hi rows, then lo rows
	qg2 := make([]uint16, 2*G*t*d)                             // Q stacked twice, for dK = dS_hi^T Q + dS_lo^T Q
	kh, vv := make([]uint16, t*d), make([]uint16, 2*t*d)       // vv: [V | V] per key, for dP = [hi | lo] [V | V]^T
	dohl, doh := make([]uint16, 2*G*t*d), make([]uint16, G*t*d)
	dkh, dvh, dqg, dd := make([]float32, t*d), make([]float32, t*d), make([]float32, G*t*d), make([]float32, G*t)
	tmp := make([]float32, max(be.pool.n, 1)*max(t, 2*d)) // splitBF16's scratch, per worker
	for r := range b {
		n := L[r]
		krow, vrow := dks[r*t*hkv*d:(r+1)*t*hkv*d], dvs[r*t*hkv*d:(r+1)*t*hkv*d]
		qrow := dqs[r*t*hq*d : (r+1)*t*hq*d]
		for kv := range hkv {
			clearHead(krow, n, t, hkv, kv, d)
			clearHead(vrow, n, t, hkv, kv, d)
			for h := kv * G; h < (kv+1)*G; h++ {
				clearHead(qrow, n, t, hq, h, d)
			}
			if n == 0 {
				continue
			}
			m := G * n
			gatherHead16(kh, ks[r*t*hkv*d:], n, hkv, kv, d)
			for i := range n {
				src := vs[((r*t+i)*hkv+kv)*d : ((r*t+i)*hkv+kv+1)*d]
				copy(vv[2*i*d:], src)
				copy(vv[(2*i+1)*d:], src)
			}
			for g := range G {
				h := kv*G + g
				gatherHead16(qg2[g*n*d:], qs[r*t*hq*d:], n, hq, h, d)
				// dO as a bf16 pair hi + lo; D = dO . O in F32.
				for i := range n {
					off := ((r*t+i)*hq + h) * d
					row := g*n + i
					splitBF16(dohl[2*row*d:(2*row+1)*d], dohl[(2*row+1)*d:(2*row+2)*d], dos[off:off+d], tmp)
					copy(doh[row*d:(row+1)*d], dohl[2*row*d:(2*row+1)*d])
					dd[row] = dot(dos[off:off+d], os[off:off+d])
				}
			}
			copy(qg2[m*d:2*m*d], qg2[:m*d])
			p, gr := pf[:m*n], gf[:m*n]
			pl, gl := p16[:m*n], g16[:2*m*n]
			be.gemmBF16(p, qg2[:m*d], kh[:n*d], m, n, d, false, true, 1, 0)
			be.gemmBF16(gr, dohl[:2*m*d], vv[:2*n*d], m, n, 2*d, false, true, 1, 0)
			// P from the saved log-sum-exp; dS = P * (dP - D) * scale.
			be.parallelForW(m, 16, func(w, lo, hi int) {
				for i := lo; i < hi; i++ {
					g, pos := i/n, i%n
					nv := pos + 1
					pr, gq := p[i*n:i*n+nv], gr[i*n:i*n+nv]
					scaleRow(pr, scale)
					expSub(pr, pr, ls[(r*hq+kv*G+g)*t+pos])
					D := dd[i]
					for j := range pr {
						gq[j] = pr[j] * (gq[j] - D) * scale
					}
					f32ToBF16Slice(pl[i*n:i*n+nv], pr)
					clear(pl[i*n+nv : (i+1)*n])
					splitBF16(gl[i*n:i*n+nv], gl[(m+i)*n:(m+i)*n+nv], gq, tmp[w*max(t, 2*d):])
					clear(gl[i*n+nv : (i+1)*n])
					clear(gl[(m+i)*n+nv : (m+i+1)*n])
				}
			})
			// dV = P^T dO; dQ = dS K; dK = [dS_hi; dS_lo]^T [Q; Q].
			be.gemmBF16(dvh[:n*d], pl, doh[:m*d], n, d, m, true, false, 1, 0)
			be.gemmBF16(dqg[:m*d], gl[:m*n], kh[:n*d], m, d, n, false, false, 1, 0)
			be.gemmBF16(dkh[:n*d], gl, qg2[:2*m*d], n, d, 2*m, true, false, 1, 0)
			for g := range G {
				scatterHead(qrow, dqg[g*n*d:], n, hq, kv*G+g, d)
			}
			scatterHead(krow, dkh, n, hkv, kv, d)
			scatterHead(vrow, dvh, n, hkv, kv, d)
		}
	}
}
