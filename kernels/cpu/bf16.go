package cpu

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"sdzero/kernels"
)

// bf16Kind is the matrix unit behind BF16 MatMuls.
type bf16Kind uint8

const (
	bf16None   bf16Kind = iota // BF16 operands unsupported (F32 only)
	bf16AVX512                 // AVX512_BF16 VDPBF16PS
	bf16AMX                    // AMX tiles, TDPBF16PS
)

func (k bf16Kind) String() string {
	switch k {
	case bf16AMX:
		return "amx"
	case bf16AVX512:
		return "avx512bf16"
	}
	return ""
}

// hostBF16 is the CPU's bf16 unit, detected (and, for AMX on Linux, the
// tile permission requested) once per process: both are facts about the
// machine, not state of a Backend.
var hostBF16 = sync.OnceValue(detectBF16)

// BF16Unit names the bf16 matrix unit this CPU offers ("amx",
// "avx512bf16") or returns "" if it has none (other architectures, older
// CPUs, or an OS that does not enable the state).
func BF16Unit() string { return hostBF16().String() }

// NewBF16 is New with BF16 operands enabled where the CPU has a bf16
// matrix unit (BF16Unit() != ""): Supports(kernels.BF16) is then true, so
// precision "auto" picks mixed precision, and MatMul multiplies BF16
// operands on AMX or AVX512_BF16 with float32 accumulation. Elsewhere it
// is New. F32 products are the same as New's, bit for bit.
func NewBF16(threads int) *Backend {
	be := New(threads)
	be.enableBF16(hostBF16())
	return be
}

// enableBF16 switches BF16 operands on with kind's kernel (tests force
// each kind the machine has).
func (be *Backend) enableBF16(kind bf16Kind) {
	be.bf.kind = kind
	if kind != bf16None {
		be.bf.tiles = tileKernel(kind)
	}
}

// BF16Kernel names the kernel behind BF16 MatMuls ("amx", "avx512bf16"),
// or "" when the backend multiplies F32 only.
func (be *Backend) BF16Kernel() string { return be.bf.kind.String() }

// bf16State is a Backend's bf16 kernel and its reusable buffers (a
// Backend runs one op at a time).
type bf16State struct {
	kind  bf16Kind
	tiles tileFn
	apack []uint16
	bpack []uint16
	// tmp are F32 stand-ins: BF16 inputs widened, BF16 outputs computed
	// in F32 before rounding, products scaled by alpha.
	tmp [4][]float32
}

// tileFn computes an mt x nt grid of 32x32 blocks of C (row stride ldc):
// block (i, j) = [C +] A panel i . B panel j over ksteps steps of 32 along
// k, panels pstride elements apart in the packed a and b (see packABF16
// and packBBF16).
type tileFn func(a, b []uint16, c []float32, ldc, ksteps, pstride, mt, nt int, add bool)

// checkTiles panics unless a tileFn call stays inside its slices (the
// assembly kernels do not check).
func checkTiles(a, b []uint16, c []float32, ldc, ksteps, pstride, mt, nt int) {
	if ksteps < 1 || mt < 1 || nt < 1 || ldc < 32*nt ||
		len(a) < (mt-1)*pstride+ksteps*1024 || len(b) < (nt-1)*pstride+ksteps*1024 || len(c) < (32*mt-1)*ldc+32*nt {
		panic(fmt.Sprintf("cpu MatMul: bf16 tile call out of bounds (ksteps %d, mt %d, nt %d, ldc %d, pstride %d; a %d, b %d, c %d)",
			ksteps, mt, nt, ldc, pstride, len(a), len(b), len(c)))
	}
}

// tilesGo is the portable tileFn: the reference the assembly kernels are
// tested against, reading the same packed layout.
func tilesGo(a, b []uint16, c []float32, ldc, ksteps, pstride, mt, nt int, add bool) {
	checkTiles(a, b, c, ldc, ksteps, pstride, mt, nt)
	var acc [32]float32
	for i := range mt {
		for j := range nt {
			for r := range 32 {
				clear(acc[:])
				for s := range ksteps {
					ar := a[i*pstride+s*1024+r*32 : i*pstride+s*1024+r*32+32]
					bs := b[j*pstride+s*1024 : j*pstride+s*1024+1024]
					for q := range 32 {
						av := kernels.BF16ToF32(ar[q])
						for col := range 32 {
							acc[col] += av * kernels.BF16ToF32(bs[(col/16)*512+(q/2)*32+(col%16)*2+q%2])
						}
					}
				}
				cr := c[(i*32+r)*ldc+j*32 : (i*32+r)*ldc+j*32+32]
				for col, v := range acc {
					if add {
						cr[col] += v
					} else {
						cr[col] = v
					}
				}
			}
		}
	}
}

// packABF16 packs rows [i0, i0+32) of op(A) (m x k; A stored [k,m] if ta)
// into one panel: per k step s of 32, row r's 32 values at s*1024+r*32,
// zero-padded past m and k. dst holds ceil(k/32)*1024 elements.
func packABF16(dst, a []uint16, m, k int, ta bool, i0 int) {
	rows := min(32, m-i0)
	if rows < 32 || k%32 != 0 {
		clear(dst)
	}
	if ta && rows == 32 {
		// A stored [k,m]: a 16-bit transpose, one k step (2 KiB, in L1)
		// at a time; fixed-size views drop the bounds checks.
		for p := range k {
			row := (*[32]uint16)(a[p*m+i0:])
			blk := (*[1024]uint16)(dst[(p/32)*1024:])
			q := p % 32
			for r, v := range row {
				blk[(r*32+q)&1023] = v
			}
		}
		return
	}
	if !ta {
		for r := range rows {
			src := a[(i0+r)*k : (i0+r+1)*k]
			for s := 0; s*32 < k; s++ {
				copy(dst[s*1024+r*32:s*1024+r*32+32], src[s*32:min(k, s*32+32)])
			}
		}
		return
	}
	for p := range k {
		src := a[p*m+i0 : p*m+i0+rows]
		d := dst[(p/32)*1024+p%32:]
		for r, v := range src {
			d[r*32] = v
		}
	}
}

// packBBF16 packs columns [j0, j0+32) of op(B) (k x n; B stored [n,k] if
// tb) into one panel in the pair (VNNI) layout the dot-product units
// read: per k step s, column half t (16 columns), pair row q/2, column c,
// element (q, c) at s*1024 + t*512 + (q/2)*32 + c*2 + q%2. Zero-padded
// past n and k.
func packBBF16(dst, b []uint16, n, k int, tb bool, j0 int) {
	cols := min(32, n-j0)
	if cols < 32 || k%32 != 0 {
		clear(dst)
	}
	if cols == 32 && k%2 == 0 {
		packBBF16Pairs(dst, b, n, k, tb, j0)
		return
	}
	if tb {
		// Column j of op(B) is row j of B: pairs along k are adjacent.
		for jj := range cols {
			src := b[(j0+jj)*k : (j0+jj+1)*k]
			d := dst[(jj/16)*512+(jj%16)*2:]
			p := 0
			for ; p+1 < k; p += 2 {
				o := (p/32)*1024 + (p%32/2)*32
				d[o], d[o+1] = src[p], src[p+1]
			}
			if p < k {
				d[(p/32)*1024+(p%32/2)*32] = src[p]
			}
		}
		return
	}
	for p := range k {
		src := b[p*n+j0 : p*n+j0+cols]
		d := dst[(p/32)*1024+(p%32/2)*32+p%2:]
		for jj, v := range src {
			d[(jj/16)*512+(jj%16)*2] = v
		}
	}
}

// packBBF16Pairs is packBBF16 for a whole panel (32 columns) and even k,
// moving each (k, k+1) pair as one uint32.
func packBBF16Pairs(dst, b []uint16, n, k int, tb bool, j0 int) {
	d32 := unsafe.Slice((*uint32)(unsafe.Pointer(&dst[0])), len(dst)/2)
	if tb {
		// Row j of B holds column j of op(B): its uint32 pairs go to
		// every 16th uint32 of the panel.
		for jj := range 32 {
			src := b[(j0+jj)*k : (j0+jj+1)*k]
			s32 := unsafe.Slice((*uint32)(unsafe.Pointer(&src[0])), k/2)
			off := (jj/16)*256 + jj%16
			for p2, v := range s32 {
				blk := (*[512]uint32)(d32[(p2/16)*512:])
				blk[(off+(p2%16)*16)&511] = v
			}
		}
		runtime.KeepAlive(b)
		return
	}
	// B stored [k,n]: interleave rows p and p+1.
	for p := 0; p < k; p += 2 {
		r0 := (*[32]uint16)(b[p*n+j0:])
		r1 := (*[32]uint16)(b[(p+1)*n+j0:])
		o := (p/32)*512 + (p%32/2)*16
		d0 := (*[16]uint32)(d32[o:])
		d1 := (*[16]uint32)(d32[o+256:])
		for c := range 16 {
			d0[c] = uint32(r0[c]) | uint32(r1[c])<<16
			d1[c] = uint32(r0[16+c]) | uint32(r1[16+c])<<16
		}
	}
	runtime.KeepAlive(dst)
}

// BF16 blocking: units of bfRowPanels x bfColPanels 32x32 blocks of C;
// within a unit, k runs in blocks of bfKSteps*32 so that a packed B panel
// (bfKSteps*2 KiB) stays in L1 while the unit's A panels stream from L2.
const (
	bfRowPanels = 4
	bfColPanels = 8
	bfKSteps    = 16
)

// gemmBF16 is gemm for BF16 operands with float32 accumulation: both
// operands are packed whole (every worker shares the panels), then
// workers take units of C dynamically. Each element of C is computed by
// one unit in a fixed order, so the result does not depend on the thread
// count or the scheduling.
func (be *Backend) gemmBF16(c []float32, a, b []uint16, m, n, k int, ta, tb bool, alpha, beta float32) {
	if k == 0 || alpha == 0 {
		scaleC(c, beta)
		return
	}
	if alpha != 1 {
		// alpha cannot be folded into bf16 operands exactly: form the
		// product, then scale and add.
		p := be.bfTmp(0, m*n)
		be.gemmBF16(p, a, b, m, n, k, ta, tb, 1, 0)
		be.parallelFor(m*n, grainElem, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				v := alpha * p[i]
				if beta != 0 {
					v += beta * c[i]
				}
				c[i] = v
			}
		})
		return
	}
	if beta != 0 && beta != 1 {
		be.parallelFor(m*n, grainElem, func(lo, hi int) { scaleC(c[lo:hi], beta) })
	}
	add := beta != 0
	st := &be.bf
	ks := (k + 31) / 32
	ps := ks * 1024
	mp, np := (m+31)/32, (n+31)/32
	if len(st.apack) < mp*ps {
		st.apack = make([]uint16, mp*ps)
	}
	if len(st.bpack) < np*ps {
		st.bpack = make([]uint16, np*ps)
	}
	ap, bp := st.apack[:mp*ps], st.bpack[:np*ps]
	be.parallelFor(mp+np, 1+(1<<16)/ps, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if i < mp {
				packABF16(ap[i*ps:(i+1)*ps], a, m, k, ta, i*32)
			} else {
				j := i - mp
				packBBF16(bp[j*ps:(j+1)*ps], b, n, k, tb, j*32)
			}
		}
	})
	mfull, nfull := m/32, n/32
	rb, cb := (mp+bfRowPanels-1)/bfRowPanels, (np+bfColPanels-1)/bfColPanels
	units := rb * cb
	tiles := st.tiles
	var next atomic.Int64
	be.pool.run(min(be.pool.n, units), func(int) {
		var edge [32 * 32]float32
		for {
			u := int(next.Add(1) - 1)
			if u >= units {
				return
			}
			// Column-block major: consecutive units share B panels.
			i0, j0 := (u%rb)*bfRowPanels, (u/rb)*bfColPanels
			i1, j1 := min(mp, i0+bfRowPanels), min(np, j0+bfColPanels)
			if fi, fj := min(i1, mfull), min(j1, nfull); fi > i0 && fj > j0 {
				for s := 0; s < ks; s += bfKSteps {
					tiles(ap[i0*ps+s*1024:], bp[j0*ps+s*1024:], c[i0*32*n+j0*32:], n, min(bfKSteps, ks-s), ps, fi-i0, fj-j0, add || s > 0)
				}
			}
			// Edge blocks (past the last whole row or column panel) go
			// through a buffer, over all of k at once.
			for i := i0; i < i1; i++ {
				for j := j0; j < j1; j++ {
					if i < mfull && j < nfull {
						continue
					}
					tiles(ap[i*ps:], bp[j*ps:], edge[:], 32, ks, ps, 1, 1, false)
					rows, cols := min(32, m-i*32), min(32, n-j*32)
					for r := range rows {
						cr := c[(i*32+r)*n+j*32 : (i*32+r)*n+j*32+cols]
						er := edge[r*32 : r*32+cols]
						if add {
							for x, v := range er {
								cr[x] += v
							}
						} else {
							copy(cr, er)
						}
					}
				}
			}
		}
	})
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
}

// bfTmp returns F32 stand-in buffer slot (contents unspecified) of at
// least n elements.
func (be *Backend) bfTmp(slot, n int) []float32 {
	t := &be.bf.tmp[slot]
	if len(*t) < n {
		*t = make([]float32, n)
	}
	return (*t)[:n]
}

// tmpTensor wraps F32 stand-in slot as a tensor of this backend.
func (be *Backend) tmpTensor(slot, n int) kernels.Tensor {
	f := be.bfTmp(slot, n)
	return kernels.Tensor{DType: kernels.F32, N: n, Buf: &buffer{dtype: kernels.F32, f: f}}
}

// wantBF16 panics unless the backend takes BF16 operands (op names the
// caller).
func (be *Backend) wantBF16(op string) {
	if be.bf.kind == bf16None {
		panic(fmt.Sprintf("cpu %s: BF16 operand, but this backend computes in F32 only (cpu.NewBF16 enables BF16 where the CPU has AMX or AVX512_BF16)", op))
	}
}

// widened returns the first n elements of t converted to F32 in stand-in
// slot when t is BF16 (an exact conversion), and t itself otherwise.
func (be *Backend) widened(op string, slot int, t kernels.Tensor, n int) kernels.Tensor {
	if !t.Valid() || t.DType != kernels.BF16 {
		return t
	}
	be.wantBF16(op)
	checkN(op, t, n)
	w := be.tmpTensor(slot, n)
	be.Convert(w, t.View(0, n))
	return w
}

// narrowed returns an F32 stand-in (slot 0) for the first n elements of a
// BF16 output and a function that rounds it into out; other outputs are
// returned as they are, with a no-op.
func (be *Backend) narrowed(op string, out kernels.Tensor, n int) (kernels.Tensor, func()) {
	if !out.Valid() || out.DType != kernels.BF16 {
		return out, func() {}
	}
	be.wantBF16(op)
	checkN(op, out, n)
	w := be.tmpTensor(0, n)
	return w, func() { be.Convert(out.View(0, n), w) }
}

// cacheWriteBF16 is CacheWrite into a BF16 cache from BF16 rows (copied)
// or F32 rows (rounded to nearest even).
func (be *Backend) cacheWriteBF16(cache, x, start kernels.Tensor, b, t, tmax, width int) {
	const op = "CacheWrite"
	be.wantBF16(op)
	c, st := u16(op, cache, b*tmax*width), i32(op, start, b)
	var xh []uint16
	var xf []float32
	if x.DType == kernels.F32 {
		xf = f32(op, x, b*t*width)
	} else {
		xh = u16(op, x, b*t*width)
	}
	for r := range b {
		for i := range t {
			p := int(st[r]) + i
			if p < 0 || p >= tmax {
				continue
			}
			dst := c[(r*tmax+p)*width : (r*tmax+p+1)*width]
			if xh != nil {
				copy(dst, xh[(r*t+i)*width:(r*t+i+1)*width])
				continue
			}
			for j, v := range xf[(r*t+i)*width : (r*t+i+1)*width] {
				dst[j] = kernels.F32ToBF16(v)
			}
		}
	}
}

// matMulBF16 is MatMulBatched with at least one BF16 operand: two BF16
// operands multiply on the bf16 unit; a BF16 operand beside an F32 one is
// widened (exactly) and multiplied in F32.
func (be *Backend) matMulBF16(c, a, b kernels.Tensor, batch, m, n, k int, transA, transB bool, alpha, beta float32, strideA, strideB, strideC int) {
	const op = "MatMul"
	be.wantBF16(op)
	if a.DType != b.DType {
		na, nb := (batch-1)*strideA+m*k, (batch-1)*strideB+k*n
		be.MatMulBatched(c, be.widened(op, 1, a, na), be.widened(op, 2, b, nb), batch, m, n, k, transA, transB, alpha, beta, strideA, strideB, strideC)
		return
	}
	as := u16(op, a, (batch-1)*strideA+m*k)
	bs := u16(op, b, (batch-1)*strideB+k*n)
	cs := f32(op, c, (batch-1)*strideC+m*n)
	for i := range batch {
		be.gemmBF16(cs[i*strideC:i*strideC+m*n], as[i*strideA:i*strideA+m*k], bs[i*strideB:i*strideB+k*n], m, n, k, transA, transB, alpha, beta)
	}
}
