//go:build amd64

package cpu

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"

	"sdzero/kernels"
)

// decodeAMX is the AMX decode kernel (see decode_bf16_amd64.s): nblk
// blocks of 16 weight rows read in place times a packed x^T, each block's
// 16x16 fp32 result stored row-major at out (strides in bytes).
//
//go:noescape
func decodeAMX(cfg *byte, w *uint16, wstride int, xp *uint16, ksteps int, out *float32, nblk int)

// decodeAMXConfig is decodeAMX's tile configuration: every tile 16 rows
// of 64 bytes, as amxTiles's.
var decodeAMXConfig = amxConfig()

// decodeBlock is the number of weight rows decodeAMX multiplies at once
// (one tile).
const decodeBlock = 16

// decodeChunkBytes is about how many weight bytes a worker takes at a
// time: small enough (in L2 twice over) that a second pass for rows 16-31
// of x reads it from there.
const decodeChunkBytes = 1 << 19

// decodeBF16On routes decode-shaped BF16 products to decodeGemmBF16 (tests
// and benchmarks switch it off to compare with the GEMM).
var decodeBF16On = true

// decodeAMXBlocks checks decodeAMX's bounds and calls it for nblk blocks
// of w (rows of k elements, the first ks*32 of each multiplied), xp one
// half's packed x^T (ks k steps), out nblk*256 floats.
func decodeAMXBlocks(w []uint16, k int, xp []uint16, ks int, out []float32, nblk int) {
	if nblk < 1 || ks < 1 || len(w) < (decodeBlock*nblk-1)*k+ks*32 || len(xp) < ks*512 || len(out) < nblk*decodeBlock*16 {
		panic(fmt.Sprintf("cpu MatMul: decode AMX call out of bounds (nblk %d, k %d, ksteps %d; w %d, xp %d, out %d)", nblk, k, ks, len(w), len(xp), len(out)))
	}
	decodeAMX(&decodeAMXConfig[0], &w[0], 2*k, &xp[0], ks, &out[0], nblk)
}

// decodePackX packs x (m <= 32 rows of k bf16) for decodeAMX: xpad gets
// the rows' first kf = 32*ks elements, zero rows up to halves*16; then,
// for each half h (x rows 16h..16h+15) and k step s, the 16 x 16 uint32
// pairs (k, k+1) of those rows transposed into xp[(h*ks+s)*512:], pair
// row p at 32p, x row c at 2c: the B-operand (VNNI) layout.
func decodePackX(xp, xpad, x []uint16, m, k, ks, halves int) {
	kf := 32 * ks
	_, _ = xpad[halves*16*kf-1], xp[halves*ks*512-1]
	clear(xpad[m*kf : halves*16*kf])
	for i := range m {
		copy(xpad[i*kf:(i+1)*kf], x[i*k:i*k+kf])
	}
	pf := unsafe.Slice((*float32)(unsafe.Pointer(&xpad[0])), halves*16*kf/2)
	df := unsafe.Slice((*float32)(unsafe.Pointer(&xp[0])), halves*ks*256)
	for h := range halves {
		for s := range ks {
			transpose16x16(pf[h*16*kf/2+s*16:], kf/2, df[(h*ks+s)*256:], 16, false)
		}
	}
	runtime.KeepAlive(xpad)
	runtime.KeepAlive(xp)
}

// decodeGemmBF16 computes C (+)= X W^T for BF16 X [m,k] and W stored
// [n,k] (a linear layer's weight) with m <= decodeRows, on AMX: the
// product a decode step makes, bound by reading W. W is the AMX rows
// operand, loaded straight from memory 16 rows x 32 k at a time (no
// packing) and prefetched a block ahead; x^T, small, is packed once per
// call; workers take chunks of W's rows dynamically and transpose their
// 16-column results into C. Every element is the same TDPBF16PS sequence
// over the first k&^31 products, then the remaining k%32 added in order
// in float32: a row's result depends on neither the other rows, m, n nor
// the thread count (what continuous batching relies on). Without AMX,
// AVX512_BF16 takes the product as dot products (decodeDotBF16). It
// reports false, doing nothing, where it does not apply (no bf16 unit, m
// too big, k < 32 on AMX).
func (be *Backend) decodeGemmBF16(c []float32, x, w []uint16, m, n, k int, add bool) bool {
	st := &be.bf
	if !decodeBF16On || m < 1 || m > decodeRows {
		return false
	}
	if st.kind == bf16AVX512 {
		be.decodeDotBF16(c, x, w, m, n, k, add)
		return true
	}
	if st.kind != bf16AMX || k < 32 {
		return false
	}
	_, _, _ = x[m*k-1], w[n*k-1], c[m*n-1]
	ks := k / 32
	kf := 32 * ks
	halves := (m + 15) / 16
	npad, nxp := halves*16*kf, halves*ks*512
	if len(st.apack) < npad+nxp {
		st.apack = make([]uint16, npad+nxp)
	}
	xp := st.apack[npad : npad+nxp]
	decodePackX(xp, st.apack[:npad], x, m, k, ks, halves)

	nb := (n + decodeBlock - 1) / decodeBlock
	full := n / decodeBlock
	g := max(1, decodeChunkBytes/(2*decodeBlock*k))
	if nw := be.pool.n; nb < 4*nw*g {
		// Few blocks: at least four chunks per worker where there are
		// enough, for the dynamic schedule to even out.
		g = max(1, nb/(4*nw))
	}
	chunks := (nb + g - 1) / g
	for len(st.ywork) < be.pool.n {
		st.ywork = append(st.ywork, nil)
	}
	nw := min(be.pool.n, chunks)
	for wk := range nw {
		be.workerBuf(wk, halves*g*decodeBlock*16) // grown here, not by the workers at once
	}
	var next atomic.Int64
	be.pool.run(nw, func(wk int) {
		out := be.workerBuf(wk, halves*g*decodeBlock*16)
		for {
			ch := int(next.Add(1) - 1)
			if ch >= chunks {
				return
			}
			b0, b1 := ch*g, min(nb, (ch+1)*g)
			fb := min(b1, full) - b0
			var wp []uint16
			if b1 > full {
				// The last, partial block from a zero-padded copy: the
				// tile loads read 16 whole rows.
				if len(st.ywork[wk]) < decodeBlock*k {
					st.ywork[wk] = make([]uint16, decodeBlock*k)
				}
				wp = st.ywork[wk][:decodeBlock*k]
				nr := n - full*decodeBlock
				copy(wp, w[full*decodeBlock*k:n*k])
				clear(wp[nr*k:])
			}
			for h := range halves {
				o := out[h*g*decodeBlock*16 : (h+1)*g*decodeBlock*16]
				if fb > 0 {
					decodeAMXBlocks(w[b0*decodeBlock*k:], k, xp[h*ks*512:], ks, o, fb)
				}
				if wp != nil {
					decodeAMXBlocks(wp, k, xp[h*ks*512:], ks, o[fb*decodeBlock*16:], 1)
				}
			}
			// out holds, per half, the chunk's rows r at r*16: column i
			// of C^T is row i of C.
			j0 := b0 * decodeBlock
			rows := min(n, b1*decodeBlock) - j0
			for i := range m {
				o := out[(i/16)*g*decodeBlock*16+i%16:]
				cr := c[i*n+j0 : i*n+j0+rows]
				if kf < k {
					xt := x[i*k+kf : (i+1)*k]
					for r := range cr {
						v := o[r*16]
						wt := w[(j0+r)*k+kf : (j0+r+1)*k]
						for p, xv := range xt {
							v += kernels.BF16ToF32(xv) * kernels.BF16ToF32(wt[p])
						}
						if add {
							cr[r] += v
						} else {
							cr[r] = v
						}
					}
					continue
				}
				if add {
					for r := range cr {
						cr[r] += o[r*16]
					}
				} else {
					for r := range cr {
						cr[r] = o[r*16]
					}
				}
			}
		}
	})
	runtime.KeepAlive(x)
	runtime.KeepAlive(w)
	return true
}

// decodeDotBF16 is decodeGemmBF16 on AVX512_BF16 (no AMX): C (+)= X W^T
// as dot products over W's rows read in place (the GEMM would pack every
// weight per call), parallel over tiles of four output features, each
// read from memory once for all the rows of x by one decodeDotBF16Rows
// call. Tiles are handed out dynamically in chunks of about 128 KiB of W:
// the kernel fetches one tile ahead, so a chunk's first tile waits on
// memory, and at 32 KiB chunks that held a one-row step's weight stream
// at 36 GB/s against 51. Edge tiles and groups repeat the last row of W
// or x (those results are dropped), so that every element is one dot
// product in a fixed order, whatever m, n and the thread count.
func (be *Backend) decodeDotBF16(c []float32, x, w []uint16, m, n, k int, add bool) {
	_, _, _ = x[m*k-1], w[n*k-1], c[m*n-1]
	groups := (m + 3) / 4
	var xp [decodeRows]*uint16 // the kernel takes *[32]: a compile error if decodeRows changes
	for i := range 4 * groups {
		xp[i] = &x[min(i, m-1)*k]
	}
	nt := (n + 3) / 4
	be.parallelDynamic(nt, 1+(1<<17)/(8*k+1), func(lo, hi int) {
		var wp [4]*uint16
		var out [decodeRows * 4]float32
		for jt := lo; jt < hi; jt++ {
			j0 := 4 * jt
			nj := min(4, n-j0)
			for j := range wp {
				wp[j] = &w[(j0+min(j, nj-1))*k]
			}
			decodeDotBF16Rows(k, &xp, groups, &wp, &out[0])
			if nj < 4 {
				addEdge(c[j0:], n, out[:], 4, m, nj, add)
				continue
			}
			for i := range m {
				// Whole tiles as 16-byte moves (copy's call costs as
				// much as a small tile's products).
				cp, op := (*[4]float32)(c[i*n+j0:]), (*[4]float32)(out[4*i:])
				if add {
					cp[0], cp[1], cp[2], cp[3] = cp[0]+op[0], cp[1]+op[1], cp[2]+op[2], cp[3]+op[3]
				} else {
					*cp = *op
				}
			}
		}
	})
	runtime.KeepAlive(x)
	runtime.KeepAlive(w)
}
