package cpu

import (
	"sdzero/kernels"
)

// Mixed-precision attention forward: with BF16 q, k and v, the blocked
// attention's two products (S = QK^T, O = PV) run as bf16 GEMMs (AMX or
// AVX512_BF16 tiles, F32 accumulation) on the bf16 values read in place
// of an F32 widening. The softmax and its statistics are F32; the
// probabilities are rounded to bf16 once as the operand of PV, as
// tensor-core attention on GPUs does (kernelstest's AttentionBF16
// tolerance bounds that rounding). Heads run one kv group after another,
// each product parallel inside gemmBF16.
//
// The backward stays on the F32 blocked path over the widened values: a
// bf16 backward on the same GEMMs (five products per kv group, dP and dK
// with bf16 hi/lo pairs for accuracy; commit 21274a9) measured 287 ms
// against the F32 path's 241 ms per 0.6B step on the loaded machine (its
// eight parallel regions per kv group wait on each other), and was removed.

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
