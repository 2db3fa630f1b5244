package cpu

import (
	"math"
	"sync/atomic"
	"time"
	"unsafe"

	"sdzero/kernels"
)

// decodeRows is the largest m that decodeGemm takes. A decode step
// multiplies batch rows (one token each) by every weight matrix; with so
// few rows the product is bound by reading the weights, so each weight row
// must be read from memory once per step for all rows, not once per
// packed block. Up to this many rows the A operand (m x k floats) stays in
// L2 while four weight rows at a time sit in L1; beyond it the packed
// GEMM's reuse wins.
const decodeRows = 32

// PrefillRows is decodeRows+1: below it, products with a weight take the
// decode kernels (and below attnBlockedMin positions attention takes the
// per-query path): kernels.PrefillRows.
func (be *Backend) PrefillRows() int { return max(decodeRows+1, attnBlockedMin) }

// decodeGemm computes C = alpha*A*B^T + beta*C for A [m,k] and B stored
// [n,k] (the layout of every linear layer's weight) with m <= decodeRows:
// parallel over output features (column ranges of whole 4-column tiles),
// each worker streaming its share of B exactly once while every row of A
// is reused from cache. Each element is one dot product in a fixed order
// (the tile's, see decodeDot4x4AVX512), independent of m, n and the
// number of workers, so a row's result does not depend on the batch it is
// in: what lets continuous batching reproduce the static batch.
func (be *Backend) decodeGemm(c, a, b []float32, m, n, k int, alpha, beta float32) {
	_, _, _ = a[m*k-1], b[n*k-1], c[m*n-1]
	tile := be.decodeTile()
	nt := (n + 3) / 4
	// About 128 KiB of B per chunk, handed out dynamically: a chunk's
	// first rows are not prefetched (0.6B fp32 decode 96.7 -> 85.1 ms
	// per step against 32 KiB chunks).
	grain := 1 + (1<<15)/(4*k+1)
	be.parallelDynamic(nt, grain, func(lo, hi int) {
		var ap, bp [4]*float32
		var out [16]float32
		for jt := lo; jt < hi; jt++ {
			j0 := 4 * jt
			nj := min(4, n-j0)
			for j := range 4 {
				// Edge tiles repeat the last column (its results are
				// dropped): the kernel always reads four valid rows.
				bp[j] = &b[(j0+min(j, nj-1))*k]
			}
			for i0 := 0; i0 < m; i0 += 4 {
				ni := min(4, m-i0)
				for i := range 4 {
					ap[i] = &a[(i0+min(i, ni-1))*k]
				}
				if tile != nil {
					tile(k, &ap, &bp, &out)
				} else {
					dotTileGo(k, &ap, &bp, &out)
				}
				for i := range ni {
					ci := c[(i0+i)*n+j0 : (i0+i)*n+j0+nj]
					for j := range ci {
						v := alpha * out[4*i+j]
						if beta != 0 {
							v += beta * ci[j]
						}
						ci[j] = v
					}
				}
			}
		}
	})
}

// parallelDynamic calls fn on the chunks [lo,hi) of grain items of [0,n),
// handed out in order to whichever worker is free. On a shared machine a
// descheduled worker then holds up the op by one chunk, not by its whole
// static share (parallelFor's), which for a memory-bound product is most
// of the time. Which worker computes a chunk does not change its values.
func (be *Backend) parallelDynamic(n, grain int, fn func(lo, hi int)) {
	grain = max(grain, 1)
	chunks := (n + grain - 1) / grain
	k := min(chunks, be.pool.n)
	if k <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	var next atomic.Int64
	be.pool.run(k, func(int) {
		for {
			c := int(next.Add(1)) - 1
			if c >= chunks {
				return
			}
			fn(c*grain, min((c+1)*grain, n))
		}
	})
}

// dotTileGo is the portable 4x4 tile: out[4*i+j] = dot(a[i], b[j]).
func dotTileGo(k int, a, b *[4]*float32, out *[16]float32) {
	for i := range 4 {
		ai := unsafe.Slice(a[i], k)
		for j := range 4 {
			out[4*i+j] = dot(ai, unsafe.Slice(b[j], k))
		}
	}
}

// ReadBandwidth measures the rate, in bytes per second, at which the
// backend's workers together read a buffer of about bytes bytes (at least
// 1 MiB, at most 1 GiB: past the last-level cache either way) that was
// written just before: the best of several streaming passes, each worker
// summing its share. It is the floor a memory-bound step can approach, so
// sdzero bench decode compares its achieved rate with it for a working
// set of the step's size (the CPU analogue of a GPU's MBU).
func (be *Backend) ReadBandwidth(bytes int64) float64 {
	n := int(min(max(bytes, 1<<20), 1<<30) / 4)
	buf := make([]float32, n)
	be.parallelFor(n, 1<<16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			buf[i] = 1
		}
	})
	part := make([]float32, be.pool.n)
	best := time.Duration(1 << 62)
	var total time.Duration
	for pass := 0; pass < 20 && (pass < 3 || total < 200*time.Millisecond); pass++ {
		t0 := time.Now()
		be.parallelForW(n, 1<<16, func(w, lo, hi int) { part[w] += streamSum(buf[lo:hi]) })
		d := time.Since(t0)
		best, total = min(best, d), total+d
	}
	if part[0] == 0 { // keep the sums live; a buffer of ones never sums to 0
		return 0
	}
	return float64(4*n) / best.Seconds()
}

// sampleBlock is the span of the block sums sampleFull skips over.
const sampleBlock = 512

// sampleFull is Sample's row for the whole vocabulary (no top-k, top-p
// 1), the rollout default: the vector exp of (x-max)/temp into e with one
// sum per block, then the inverse CDF at u*sum, skipping whole blocks and
// scanning only the one that crosses the target in float64. It returns -1
// for non-finite logits (Sample reports the row). The exps are float32
// (as on the GPU), so an id can differ from the float64 sampleRow only
// where u falls within float32 rounding of a CDF step.
func sampleFull(x []float32, u float64, temp float32, e []float32) int {
	n := len(x)
	mx := maxOf(x)
	scale := 1 / temp
	var bsBuf [256]float64
	nb := (n + sampleBlock - 1) / sampleBlock
	bs := bsBuf[:0]
	if nb > len(bsBuf) {
		bs = make([]float64, 0, nb)
	}
	var sum float64
	for b := range nb {
		lo, hi := b*sampleBlock, min((b+1)*sampleBlock, n)
		s := expSubScaled(e[lo:hi], x[lo:hi], mx, scale)
		bs = append(bs, s)
		sum += s
	}
	if !(sum > 0) || math.IsInf(sum, 0) {
		return -1
	}
	target := u * sum
	var c float64
	for b, s := range bs {
		if c+s <= target && b < nb-1 {
			c += s
			continue
		}
		last := -1
		for i := b * sampleBlock; i < n; i++ {
			v := float64(e[i])
			if v > 0 {
				last = i
			}
			c += v
			if c > target && v > 0 {
				return i
			}
		}
		// Rounding left the target past the end: the last id with mass.
		for i := b*sampleBlock - 1; last < 0 && i >= 0; i-- {
			if e[i] > 0 {
				last = i
			}
		}
		return max(last, 0)
	}
	return 0
}

// attentionDecodeBF16 is AttentionDecode over BF16 caches (mixed
// precision) with an F32 query: it reads each row's first lens[r] cache
// rows in place, widening as it multiplies, where the generic path would
// widen both whole caches (every row, all tmax positions) to F32 first: a
// decode step's attention then reads half the bytes and writes none. The
// arithmetic is that of the F32 path but for the softmax's exponential,
// which is the vector one (expRow: within 1e-6 relative of exp, TestVec).
// Workers take (row, kv head) units and run the unit's query heads one
// after another, so the K and V rows they share come from L1 for all but
// the first; the scores and the weighted sum of V rows are one assembly
// call each (attnScores, attnMix), not one per cache row. It reports
// false, doing nothing, for other operand types.
func (be *Backend) attentionDecodeBF16(out, q, kc, vc, lens kernels.Tensor, b, tmax, hq, hkv, d int, scale float32, window int) bool {
	if kc.DType != kernels.BF16 || vc.DType != kernels.BF16 || q.DType != kernels.F32 || out.DType != kernels.F32 {
		return false
	}
	const op = "AttentionDecode"
	os, qs := f32(op, out, b*hq*d), f32(op, q, b*hq*d)
	ks, vs := u16(op, kc, b*tmax*hkv*d), u16(op, vc, b*tmax*hkv*d)
	L := be.rowLens(op, lens, b, tmax)
	group := hq / hkv
	units := b * hkv
	nw := min(be.pool.n, units)
	for w := range nw {
		be.workerBuf(w, tmax+d) // grown here, not by the workers at once
	}
	var next atomic.Int64
	be.pool.run(nw, func(w int) {
		buf := be.workerBuf(w, tmax+d)
		p, acc := buf[:tmax], buf[tmax:tmax+d]
		for {
			u := int(next.Add(1) - 1)
			if u >= units {
				return
			}
			r, kh := u/hkv, u%hkv
			n := L[r]
			j0 := 0
			if n > 0 {
				j0 = windowStart(n-1, window)
			}
			// Cache rows j0.. of this kv head: stride hkv*d.
			off := ((r*tmax+j0)*hkv + kh) * d
			for h := kh * group; h < (kh+1)*group; h++ {
				bh := r*hq + h
				o := os[bh*d : (bh+1)*d]
				if n == 0 {
					clear(o)
					continue
				}
				pj := p[j0:n]
				attnScores(pj, qs[bh*d:(bh+1)*d], ks[off:], hkv*d, scale)
				// The softmax on 16 lanes (expRow, as CrossEntropy's):
				// scalar, it was half of the op's time.
				_, sum := expRow(pj, pj, nil)
				scaleRow(pj, float32(1/sum))
				clear(acc)
				attnMix(acc, pj, vs[off:], hkv*d)
				copy(o, acc)
			}
		}
	})
	return true
}

// attnScoresGo sets s[j] = scale*dotBF16(q, k[j*stride:j*stride+len(q)])
// for j < len(s).
func attnScoresGo(s, q []float32, k []uint16, stride int, scale float32) {
	d := len(q)
	for j := range s {
		s[j] = scale * dotBF16(q, k[j*stride:j*stride+d])
	}
}

// attnMixGo adds p[j]*v[j*stride:j*stride+len(y)] to y for j < len(p), in
// order.
func attnMixGo(y, p []float32, v []uint16, stride int) {
	d := len(y)
	for j, a := range p {
		axpyBF16(y, a, v[j*stride:j*stride+d])
	}
}
