package cpu

import "unsafe"

// decodeRows is the largest m that decodeGemm takes. A decode step
// multiplies batch rows (one token each) by every weight matrix; with so
// few rows the product is bound by reading the weights, so each weight row
// must be read from memory once per step for all rows, not once per
// packed block. Up to this many rows the A operand (m x k floats) stays in
// L2 while four weight rows at a time sit in L1; beyond it the packed
// GEMM's reuse wins.
const decodeRows = 32

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
	// About 64 KiB of B per chunk: enough to amortise a wake-up.
	grain := 1 + (1<<14)/(4*k+1)
	be.parallelFor(nt, grain, func(lo, hi int) {
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

// dotTileGo is the portable 4x4 tile: out[4*i+j] = dot(a[i], b[j]).
func dotTileGo(k int, a, b *[4]*float32, out *[16]float32) {
	for i := range 4 {
		ai := unsafe.Slice(a[i], k)
		for j := range 4 {
			out[4*i+j] = dot(ai, unsafe.Slice(b[j], k))
		}
	}
}
