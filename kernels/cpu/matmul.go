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
	if a.DType != kernels.F32 || b.DType != kernels.F32 {
		panic(fmt.Sprintf("cpu %s: inputs %v and %v; the cpu backend multiplies F32 only", op, a.DType, b.DType))
	}
	as := f32(op, a, (batch-1)*strideA+m*k)
	bs := f32(op, b, (batch-1)*strideB+k*n)
	cs := f32(op, c, (batch-1)*strideC+m*n)
	if batch > 1 && m*n*k <= smallGemm && batch >= be.pool.n {
		// Many small products (attention-sized): one per task.
		be.parallelFor(batch, 1+smallGemm/(m*n*k+1), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				gemmSmall(cs[i*strideC:i*strideC+m*n], as[i*strideA:i*strideA+m*k], bs[i*strideB:i*strideB+k*n], m, n, k, transA, transB, alpha, beta)
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
// used by one goroutine at a time).
type gemmScratch struct {
	bpack []float32
	apack [][]float32
}

// gemm is one C = alpha*op(A)*op(B) + beta*C on slices (row-major, A
// stored [k,m] if ta, B stored [n,k] if tb).
func (be *Backend) gemm(c, a, b []float32, m, n, k int, ta, tb bool, alpha, beta float32) {
	if k == 0 || alpha == 0 {
		scaleC(c, beta)
		return
	}
	if m*n*k <= smallGemm {
		gemmSmall(c, a, b, m, n, k, ta, tb, alpha, beta)
		return
	}
	kern := be.kern
	mr, nr := kern.mr, kern.nr
	// Balance the row blocks: as many as mcBlock needs, of equal size.
	nmb := (m + mcBlock - 1) / mcBlock
	mc := ((m+nmb-1)/nmb + mr - 1) / mr * mr
	nc := ncBlock / nr * nr
	if beta != 0 && beta != 1 {
		be.parallelFor(m, 1+grainElem/(n+1), func(lo, hi int) { scaleC(c[lo*n:hi*n], beta) })
	}
	threads := be.pool.n
	sc := &be.scratch
	if len(sc.apack) < threads {
		sc.apack = make([][]float32, threads)
	}
	for i := range threads {
		if len(sc.apack[i]) < mc*kcBlock {
			sc.apack[i] = make([]float32, mc*kcBlock)
		}
	}
	if need := kcBlock * (min(nc, n) + nr); len(sc.bpack) < need {
		sc.bpack = make([]float32, need)
	}
	mblocks := (m + mc - 1) / mc
	for pc := 0; pc < k; pc += kcBlock {
		kc := min(kcBlock, k-pc)
		add := pc > 0 || beta != 0
		for jc := 0; jc < n; jc += nc {
			ncur := min(nc, n-jc)
			npan := (ncur + nr - 1) / nr
			bp := sc.bpack
			be.parallelFor(npan, 1+4096/(kc*nr), func(lo, hi int) {
				for jp := lo; jp < hi; jp++ {
					packB(bp[jp*kc*nr:(jp+1)*kc*nr], b, n, k, tb, pc, kc, jc+jp*nr, min(nr, ncur-jp*nr), nr)
				}
			})
			// Work units: (row block, range of column panels), row-block
			// major so that a worker usually keeps its packed A.
			nsplit := 1
			if threads > 1 && mblocks < 4*threads {
				nsplit = min(npan, (4*threads+mblocks-1)/mblocks)
			}
			units := mblocks * nsplit
			var next atomic.Int64
			be.pool.run(min(threads, units), func(w int) {
				ap := sc.apack[w]
				packed := -1
				var tmp [maxTile]float32
				for {
					u := int(next.Add(1) - 1)
					if u >= units {
						return
					}
					ib, js := u/nsplit, u%nsplit
					ic := ib * mc
					mcur := min(mc, m-ic)
					if packed != ib {
						packA(ap, a, m, k, ta, pc, kc, ic, mcur, mr, alpha)
						packed = ib
					}
					plo, phi := js*npan/nsplit, (js+1)*npan/nsplit
					for jp := plo; jp < phi; jp++ {
						j0 := jc + jp*nr
						ncols := min(nr, n-j0)
						bpan := bp[jp*kc*nr : (jp+1)*kc*nr]
						for ir := 0; ir < mcur; ir += mr {
							rows := min(mr, mcur-ir)
							apan := ap[ir*kc : ir*kc+mr*kc]
							ci := (ic+ir)*n + j0
							if rows == mr && ncols == nr {
								kern.fn(kc, apan, bpan, c[ci:], n, add)
								continue
							}
							t := tmp[:mr*nr]
							kern.fn(kc, apan, bpan, t, nr, false)
							for i := range rows {
								cr := c[ci+i*n : ci+i*n+ncols]
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
			})
		}
	}
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
			for i := range rows {
				src := a[(ic+ir+i)*k+pc : (ic+ir+i)*k+pc+kc]
				for p, v := range src {
					pan[p*mr+i] = v * alpha
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
		// in 8x8 blocks: 8 sequential read streams, contiguous writes.
		j := 0
		for ; j+8 <= cols; j += 8 {
			r0 := b[(j0+j)*k+pc:]
			for p := 0; p < kc; p++ {
				d := dst[p*nr+j : p*nr+j+8 : p*nr+j+8]
				d[0] = r0[p]
				d[1] = r0[k+p]
				d[2] = r0[2*k+p]
				d[3] = r0[3*k+p]
				d[4] = r0[4*k+p]
				d[5] = r0[5*k+p]
				d[6] = r0[6*k+p]
				d[7] = r0[7*k+p]
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

// microKernel computes an mr x nr tile of C from packed panels: with a
// holding kc steps of mr values and b kc steps of nr values, it forms
// t[i][j] = sum_p a[p*mr+i]*b[p*nr+j] and stores t into c (row stride
// ldc), or adds it when add is true.
type microKernel struct {
	name   string
	mr, nr int
	fn     func(kc int, a, b, c []float32, ldc int, add bool)
}

// maxTile bounds mr*nr over all kernels (edge tiles go through a buffer).
const maxTile = 16 * 32

// genericKernel is the portable pure-Go micro-kernel (4 x 16).
var genericKernel = microKernel{name: "go", mr: 4, nr: 16, fn: kernGeneric}

func kernGeneric(kc int, a, b, c []float32, ldc int, add bool) {
	const mr, nr = 4, 16
	var t [mr * nr]float32
	a, b = a[:kc*mr], b[:kc*nr]
	for p := range kc {
		bp := (*[nr]float32)(b[p*nr:])
		ap := (*[mr]float32)(a[p*mr:])
		for i := range mr {
			av := ap[i]
			tr := (*[nr]float32)(t[i*nr:])
			for j := range nr {
				tr[j] += av * bp[j]
			}
		}
	}
	for i := range mr {
		cr := c[i*ldc : i*ldc+nr]
		tr := t[i*nr : i*nr+nr]
		if add {
			for j := range cr {
				cr[j] += tr[j]
			}
		} else {
			copy(cr, tr)
		}
	}
}
