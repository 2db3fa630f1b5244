package cpu

import (
	"fmt"
	"sync/atomic"

	"sdzero/kernels"
)

// MatMul computes C = alpha*op(A)*op(B) + beta*C.
func (be *Backend) MatMul(c, a, b kernels.Tensor, m, n, k int, transA, transB bool, alpha, beta float32) {
	be.MatMulBatched(c, a, b, 1, m, n, k, transA, transB, alpha, beta, m*k, k*n, m*n)
}

// MatMulBatched runs batch MatMuls, matrix i of each operand starting at
// i*stride elements.
func (be *Backend) MatMulBatched(c, a, b kernels.Tensor, batch, m, n, k int, transA, transB bool, alpha, beta float32, strideA, strideB, strideC int) {
	const op = "MatMul"
	checkDims(op, batch, m, n, k, strideA, strideB, strideC)
	if batch == 0 || m == 0 || n == 0 {
		return
	}
	if a.DType == kernels.BF16 || b.DType == kernels.BF16 {
		be.matMulBF16(c, a, b, batch, m, n, k, transA, transB, alpha, beta, strideA, strideB, strideC)
		return
	}
	if a.DType != kernels.F32 || b.DType != kernels.F32 {
		panic(fmt.Sprintf("cpu %s: inputs %v and %v; the cpu backend multiplies F32 only", op, a.DType, b.DType))
	}
	as := f32(op, a, (batch-1)*strideA+m*k)
	bs := f32(op, b, (batch-1)*strideB+k*n)
	cs := f32(op, c, (batch-1)*strideC+m*n)
	if batch > 1 && batch >= be.pool.n && m*n*k <= 1<<22 {
		// Many modest products (per-head attention-sized): whole products
		// per worker, each on the worker's own packing buffers.
		be.ensureSerialGemm()
		be.parallelForW(batch, 1+smallGemm/(m*n*k+1), func(w, lo, hi int) {
			for i := lo; i < hi; i++ {
				be.serialGemmAB(w, cs[i*strideC:i*strideC+m*n], as[i*strideA:i*strideA+m*k], bs[i*strideB:i*strideB+k*n], m, n, k, transA, transB, alpha, beta)
			}
		})
		return
	}
	for i := range batch {
		be.gemm(cs[i*strideC:i*strideC+m*n], as[i*strideA:i*strideA+m*k], bs[i*strideB:i*strideB+k*n], m, n, k, transA, transB, alpha, beta)
	}
}

// smallGemm is the m*n*k below which packing does not pay.
const smallGemm = 1 << 14

// Cache blocking: a kcBlock x nr panel of B stays in L1 while the kernel
// streams an mc x kcBlock block of A from L2; the kcBlock x nc block of B
// sits in L2/L3.
const (
	kcBlock = 256
	mcBlock = 96 // rounded to a multiple of the kernel's mr
	ncBlock = 3072
)

// gemmScratch holds the packing buffers, reused across calls (a Backend is
// used by one goroutine at a time): one A and one B buffer per worker, and
// the split-k partial products.
type gemmScratch struct {
	apack, bpack, partial [][]float32
}

// ensure sizes the buffers for threads workers, mc-row A blocks and B
// blocks of ncols columns (rounded up to whole panels).
func (sc *gemmScratch) ensure(threads, mc, ncols int) {
	if len(sc.apack) < threads {
		sc.apack = append(sc.apack, make([][]float32, threads-len(sc.apack))...)
		sc.bpack = append(sc.bpack, make([][]float32, threads-len(sc.bpack))...)
	}
	for i := range threads {
		if len(sc.apack[i]) < mc*kcBlock {
			sc.apack[i] = make([]float32, mc*kcBlock)
		}
		if len(sc.bpack[i]) < ncols*kcBlock {
			sc.bpack[i] = make([]float32, ncols*kcBlock)
		}
	}
}

// gemm is one C = alpha*op(A)*op(B) + beta*C on slices (row-major, A
// stored [k,m] if ta, B stored [n,k] if tb).
//
// Blocking follows BLIS: for each kcBlock slice of k and ncBlock slice of
// n, the B block is packed into nr-wide panels shared by all workers, and
// workers take (row block, column range) units, packing their mc x kc block
// of A into mr-high panels (A stored [k,m] is read in place instead, except
// for edge panels). Products with a long k and a small C split k across the
// workers instead, each with private partial sums, to avoid two barriers per
// k block.
func (be *Backend) gemm(c, a, b []float32, m, n, k int, ta, tb bool, alpha, beta float32) {
	if k == 0 || alpha == 0 {
		scaleC(c, beta)
		return
	}
	if m <= decodeRows && !ta && tb {
		// Decode-shaped (x times a weight): decode.go. Before the small
		// case too, so that a row's result never depends on m.
		be.decodeGemm(c, a, b, m, n, k, alpha, beta)
		return
	}
	if m*n*k <= smallGemm {
		gemmSmall(c, a, b, m, n, k, ta, tb, alpha, beta)
		return
	}
	if m <= gemvRows {
		be.gemv(c, a, b, m, n, k, ta, tb, alpha, beta)
		return
	}
	threads := be.pool.n
	g := gemmArgs{c: c, a: a, b: b, m: m, n: n, k: k, ta: ta, tb: tb, alpha: alpha, kern: be.kern}
	sc := &be.scratch
	if threads > 1 && k >= 4*kcBlock*threads && m*n <= 1<<18 {
		be.gemmSplitK(g, beta)
		return
	}
	kern := be.kern
	mr, nr := kern.mr, kern.nr
	// Row blocks of equal size, their count a multiple of the thread count
	// when there are enough rows, so that workers need not share a block
	// (and pack the same A twice).
	nmb := (m + mcBlock - 1) / mcBlock
	if m >= threads*2*mr {
		nmb = (nmb + threads - 1) / threads * threads
	}
	mc := ((m+nmb-1)/nmb + mr - 1) / mr * mr
	mblocks := (m + mc - 1) / mc
	nc := ncBlock / nr * nr
	if beta != 0 && beta != 1 {
		be.parallelFor(m, 1+grainElem/(n+1), func(lo, hi int) { scaleC(c[lo*n:hi*n], beta) })
	}
	sc.ensure(threads, mc, min(nc, n)+nr)
	for pc := 0; pc < k; pc += kcBlock {
		kc := min(kcBlock, k-pc)
		add := pc > 0 || beta != 0
		for jc := 0; jc < n; jc += nc {
			ncur := min(nc, n-jc)
			npan := (ncur + nr - 1) / nr
			bp := sc.bpack[0]
			be.parallelFor(npan, 1+4096/(kc*nr), func(lo, hi int) {
				for jp := lo; jp < hi; jp++ {
					packB(bp[jp*kc*nr:(jp+1)*kc*nr], b, n, k, tb, pc, kc, jc+jp*nr, min(nr, ncur-jp*nr), nr)
				}
			})
			// Work units: (row block, range of column panels), row-block
			// major so that a worker usually keeps its packed A.
			nsplit := 1
			if mblocks < threads {
				nsplit = min(npan, (2*threads+mblocks-1)/mblocks)
			}
			units := mblocks * nsplit
			var next atomic.Int64
			be.pool.run(min(threads, units), func(w int) {
				ap := sc.apack[w]
				packed := -1
				for {
					u := int(next.Add(1) - 1)
					if u >= units {
						return
					}
					ib, js := u/nsplit, u%nsplit
					ic := ib * mc
					mcur := min(mc, m-ic)
					if packed != ib {
						g.packA(ap, pc, kc, ic, mcur)
						packed = ib
					}
					g.macro(ap, bp, pc, kc, ic, mcur, jc, js*npan/nsplit, (js+1)*npan/nsplit, add)
				}
			})
		}
	}
}

// gemmArgs is one product as the blocked loops see it.
type gemmArgs struct {
	c, a, b []float32
	m, n, k int
	ta, tb  bool
	alpha   float32
	kern    microKernel
}

// directA reports whether A is read in place: stored [k,m] it is already
// in panel layout (the packed B panel, not A, must stay L1-resident).
func (g *gemmArgs) directA() bool { return g.ta && g.alpha == 1 }

// packA packs the A block of rows [ic, ic+mcur) and k range [pc, pc+kc)
// (only its edge panel when A is read in place).
func (g *gemmArgs) packA(ap []float32, pc, kc, ic, mcur int) {
	mr := g.kern.mr
	if !g.directA() {
		packA(ap, g.a, g.m, g.k, g.ta, pc, kc, ic, mcur, mr, g.alpha)
	} else if r := mcur % mr; r != 0 {
		ir := mcur - r
		packA(ap[ir*kc:], g.a, g.m, g.k, g.ta, pc, kc, ic+ir, r, mr, g.alpha)
	}
}

// macro runs the micro-kernel over rows [ic, ic+mcur) and the packed B
// panels [plo, phi) of the column block starting at jc, storing into C (or
// adding when add).
func (g *gemmArgs) macro(ap, bp []float32, pc, kc, ic, mcur, jc, plo, phi int, add bool) {
	mr, nr, n := g.kern.mr, g.kern.nr, g.n
	direct := g.directA()
	var tmp [maxTile]float32
	for jp := plo; jp < phi; jp++ {
		j0 := jc + jp*nr
		ncols := min(nr, n-j0)
		bpan := bp[jp*kc*nr : (jp+1)*kc*nr]
		for ir := 0; ir < mcur; ir += mr {
			rows := min(mr, mcur-ir)
			apan, as := ap[ir*kc:ir*kc+mr*kc], mr
			if direct && rows == mr {
				apan, as = g.a[pc*g.m+ic+ir:], g.m
			}
			ci := (ic+ir)*n + j0
			if rows == mr && ncols == nr {
				g.kern.fn(kc, apan, as, bpan, nr, g.c[ci:], n, add)
				continue
			}
			t := tmp[:mr*nr]
			g.kern.fn(kc, apan, as, bpan, nr, t, nr, false)
			for i := range rows {
				cr := g.c[ci+i*n : ci+i*n+ncols]
				tr := t[i*nr : i*nr+ncols]
				if add {
					for j := range cr {
						cr[j] += tr[j]
					}
				} else {
					copy(cr, tr)
				}
			}
		}
	}
}

// serial computes C (+)= op(A)[:, k0:k1] op(B)[k0:k1, :] on one goroutine
// with the given packing buffers; add=false overwrites C.
func (g *gemmArgs) serial(ap, bp []float32, k0, k1 int, add bool) {
	mr, nr := g.kern.mr, g.kern.nr
	mc := max(mr, mcBlock/mr*mr)
	nc := ncBlock / nr * nr
	for pc := k0; pc < k1; pc += kcBlock {
		kc := min(kcBlock, k1-pc)
		for jc := 0; jc < g.n; jc += nc {
			ncur := min(nc, g.n-jc)
			npan := (ncur + nr - 1) / nr
			for jp := range npan {
				packB(bp[jp*kc*nr:(jp+1)*kc*nr], g.b, g.n, g.k, g.tb, pc, kc, jc+jp*nr, min(nr, ncur-jp*nr), nr)
			}
			for ic := 0; ic < g.m; ic += mc {
				mcur := min(mc, g.m-ic)
				g.packA(ap, pc, kc, ic, mcur)
				g.macro(ap, bp, pc, kc, ic, mcur, jc, 0, npan, add || pc > k0)
			}
		}
	}
}

// gemmSplitK splits k into chunks that the workers take dynamically (so
// that a descheduled worker delays the product by one chunk at most). Chunk
// 0 accumulates into C itself, after C is scaled by beta, every other chunk
// into its own partial product; the partials are then added to C in chunk
// order. Which worker computes a chunk never changes the arithmetic, so the
// result is bit-identical from run to run (for a given thread count), which
// resumable training depends on.
func (be *Backend) gemmSplitK(g gemmArgs, beta float32) {
	threads := be.pool.n
	m, n, k := g.m, g.n, g.k
	sc := &be.scratch
	mr, nr := g.kern.mr, g.kern.nr
	sc.ensure(threads, max(mr, mcBlock/mr*mr), min(ncBlock/nr*nr, n)+nr)
	blocks := (k + kcBlock - 1) / kcBlock
	nchunks := min(blocks, 4*threads)
	if len(sc.partial) < nchunks {
		sc.partial = append(sc.partial, make([][]float32, nchunks-len(sc.partial))...)
	}
	for ch := 1; ch < nchunks; ch++ {
		if len(sc.partial[ch]) < m*n {
			sc.partial[ch] = make([]float32, m*n)
		}
	}
	if beta != 0 && beta != 1 {
		be.parallelFor(m*n, grainElem, func(lo, hi int) { scaleC(g.c[lo:hi], beta) })
	}
	var next atomic.Int64
	be.pool.run(threads, func(w int) {
		for {
			ch := int(next.Add(1) - 1)
			if ch >= nchunks {
				return
			}
			gw := g
			add := beta != 0
			if ch > 0 {
				gw.c = sc.partial[ch][:m*n]
				add = false
			}
			k0 := ch * blocks / nchunks * kcBlock
			k1 := min(k, (ch+1)*blocks/nchunks*kcBlock)
			gw.serial(sc.apack[w], sc.bpack[w], k0, k1, add)
		}
	})
	be.parallelFor(m*n, grainElem, func(lo, hi int) {
		c := g.c[lo:hi]
		for ch := 1; ch < nchunks; ch++ {
			p := sc.partial[ch][lo:hi]
			for i := range c {
				c[i] += p[i]
			}
		}
	})
}

// gemvRows is the largest m that gemv handles: with so few rows each
// element of B is used at most gemvRows times, so packing B costs as much
// as the product and B is best streamed once (decoding is the case).
const gemvRows = 4

// gemv computes C = alpha*op(A)*op(B) + beta*C for m <= gemvRows by
// streaming B once, parallel over column ranges.
func (be *Backend) gemv(c, a, b []float32, m, n, k int, ta, tb bool, alpha, beta float32) {
	// Rows of op(A), contiguous.
	var rowsBuf [gemvRows][]float32
	ar := rowsBuf[:m]
	if ta {
		t := make([]float32, m*k)
		for p := range k {
			for i := range m {
				t[i*k+p] = a[p*m+i]
			}
		}
		a = t
	}
	for i := range m {
		ar[i] = a[i*k : (i+1)*k]
	}
	if tb {
		// B stored [n,k]: C[i,j] = dot(A_i, B_j).
		be.parallelFor(n, 1+(1<<14)/(k+1), func(lo, hi int) {
			for j := lo; j < hi; j++ {
				bj := b[j*k : (j+1)*k]
				for i, ai := range ar {
					v := alpha * dot(ai, bj)
					if beta != 0 {
						v += beta * c[i*n+j]
					}
					c[i*n+j] = v
				}
			}
		})
		return
	}
	// B stored [k,n]: C_i = sum_p A[i,p] * B_p, by column blocks.
	be.parallelFor(n, 512, func(lo, hi int) {
		for i, ai := range ar {
			ci := c[i*n+lo : i*n+hi]
			scaleC(ci, beta)
			for p, av := range ai {
				axpy(ci, alpha*av, b[p*n+lo:p*n+hi])
			}
		}
	})
}

// scaleC sets c *= beta, writing zeros (not NaN*0) when beta is 0.
func scaleC(c []float32, beta float32) {
	switch beta {
	case 1:
	case 0:
		clear(c)
	default:
		for i := range c {
			c[i] *= beta
		}
	}
}

// packA copies alpha*op(A)[ic:ic+mcur, pc:pc+kc] into micro-panels of mr
// rows: panel r holds element (i, p) at p*mr+i, zero-padded to mr rows.
func packA(dst, a []float32, m, k int, ta bool, pc, kc, ic, mcur, mr int, alpha float32) {
	for ir := 0; ir < mcur; ir += mr {
		rows := min(mr, mcur-ir)
		pan := dst[ir*kc : ir*kc+mr*kc]
		if ta {
			// A stored [k,m]: row p of A holds column p of op(A).
			for p := range kc {
				src := a[(pc+p)*m+ic+ir : (pc+p)*m+ic+ir+rows]
				d := pan[p*mr : p*mr+mr]
				for i, v := range src {
					d[i] = v * alpha
				}
				clear(d[rows:])
			}
		} else {
			if mr == 8 && rows == 8 && alpha == 1 {
				nb := kc / 8
				transpose8(a[(ic+ir)*k+pc:], k, pan, 8, nb)
				for i := range 8 {
					src := a[(ic+ir+i)*k+pc+8*nb : (ic+ir+i)*k+pc+kc]
					for p, v := range src {
						pan[(8*nb+p)*8+i] = v
					}
				}
				continue
			}
			for i := range rows {
				src := a[(ic+ir+i)*k+pc : (ic+ir+i)*k+pc+kc]
				if alpha == 1 {
					for p, v := range src {
						pan[p*mr+i] = v
					}
				} else {
					for p, v := range src {
						pan[p*mr+i] = v * alpha
					}
				}
			}
			for i := rows; i < mr; i++ {
				for p := range kc {
					pan[p*mr+i] = 0
				}
			}
		}
	}
}

// packB copies op(B)[pc:pc+kc, j0:j0+cols] into one micro-panel of nr
// columns: element (p, j) at p*nr+j, zero-padded to nr columns.
func packB(dst, b []float32, n, k int, tb bool, pc, kc, j0, cols, nr int) {
	if tb {
		// B stored [n,k]: row j of B holds column j of op(B). Transpose
		// in 8x8 blocks.
		j := 0
		nb := kc / 8
		for ; j+8 <= cols; j += 8 {
			transpose8(b[(j0+j)*k+pc:], k, dst[j:], nr, nb)
			for i := range 8 {
				src := b[(j0+j+i)*k+pc+8*nb : (j0+j+i)*k+pc+kc]
				for p, v := range src {
					dst[(8*nb+p)*nr+j+i] = v
				}
			}
		}
		for ; j < cols; j++ {
			src := b[(j0+j)*k+pc : (j0+j)*k+pc+kc]
			for p, v := range src {
				dst[p*nr+j] = v
			}
		}
		if cols < nr {
			for p := range kc {
				clear(dst[p*nr+cols : p*nr+nr])
			}
		}
		return
	}
	for p := range kc {
		d := dst[p*nr : p*nr+nr]
		copy(d, b[(pc+p)*n+j0:(pc+p)*n+j0+cols])
		clear(d[cols:])
	}
}

// transpose8Go is the portable transpose8.
func transpose8Go(src []float32, sstride int, dst []float32, dstride int, blocks int) {
	for i := range 8 {
		row := src[i*sstride : i*sstride+8*blocks]
		for p, v := range row {
			dst[p*dstride+i] = v
		}
	}
}

// gemmSmall is the unpacked path for tiny products.
func gemmSmall(c, a, b []float32, m, n, k int, ta, tb bool, alpha, beta float32) {
	var buf [256]float32
	var acc []float32
	if n <= len(buf) {
		acc = buf[:n]
	} else {
		acc = make([]float32, n)
	}
	for i := range m {
		clear(acc)
		for p := range k {
			var av float32
			if ta {
				av = a[p*m+i]
			} else {
				av = a[i*k+p]
			}
			if tb {
				for j := range acc {
					acc[j] += av * b[j*k+p]
				}
			} else {
				axpy(acc, av, b[p*n:p*n+n])
			}
		}
		cr := c[i*n : (i+1)*n]
		if beta == 0 {
			for j := range cr {
				cr[j] = alpha * acc[j]
			}
		} else {
			for j := range cr {
				cr[j] = alpha*acc[j] + beta*cr[j]
			}
		}
	}
}

// microKernel computes an mr x nr tile of C from panels: it forms
// t[i][j] = sum_p a[p*as+i]*b[p*bs+j] over kc >= 1 steps and stores t into
// c (row stride ldc), or adds it when add is true. Packed panels have
// as = mr and bs = nr.
type microKernel struct {
	name   string
	mr, nr int
	fn     func(kc int, a []float32, as int, b []float32, bs int, c []float32, ldc int, add bool)
}

// maxTile bounds mr*nr over all kernels (edge tiles go through a buffer).
const maxTile = 16 * 32

// genericKernel is the portable pure-Go micro-kernel (4 x 4, sixteen
// scalar accumulators that fit the registers of arm64 and most others).
var genericKernel = microKernel{name: "go", mr: 4, nr: 4, fn: kernGeneric}

func kernGeneric(kc int, a []float32, as int, b []float32, bs int, c []float32, ldc int, add bool) {
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	var c20, c21, c22, c23, c30, c31, c32, c33 float32
	for p := range kc {
		ap := (*[4]float32)(a[p*as:])
		bp := (*[4]float32)(b[p*bs:])
		b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
		a0 := ap[0]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		a1 := ap[1]
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		a2 := ap[2]
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		a3 := ap[3]
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	t := [16]float32{c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33}
	for i := range 4 {
		cr := (*[4]float32)(c[i*ldc:])
		tr := (*[4]float32)(t[i*4:])
		if add {
			cr[0] += tr[0]
			cr[1] += tr[1]
			cr[2] += tr[2]
			cr[3] += tr[3]
		} else {
			*cr = *tr
		}
	}
}
