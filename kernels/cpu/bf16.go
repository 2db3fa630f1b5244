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
	// ywork and xwork are the workers' own y and x panels when they pack
	// them per unit or per k chunk; partial holds split-k partial
	// products.
	ywork   [][]uint16
	xwork   [][]uint16
	partial []float32
	// tmp are F32 stand-ins: BF16 inputs widened, BF16 outputs computed
	// in F32 before rounding, products scaled by alpha.
	tmp [4][]float32
}

// aLayout says where an A panel's values are (in elements): row r, k
// step s of panel i at i*panel + s*kstep + r*stride. Packed panels (see
// packABF16) have stride 32, kstep 1024; an operand stored [rows,k] is
// read in place with stride k, kstep 32, panel 32k.
type aLayout struct{ stride, kstep, panel int }

// packedA is the layout of packed A panels of ps elements.
func packedA(ps int) aLayout { return aLayout{stride: 32, kstep: 1024, panel: ps} }

// tileFn computes an mt x nt grid of 32x32 blocks of C (row stride ldc):
// block (i, j) = [C +] A panel i . B panel j over ksteps steps of 32 along
// k; A panels as al says, packed B panels (see packBBF16) bpanel
// elements apart.
type tileFn func(a []uint16, al aLayout, b []uint16, bpanel int, c []float32, ldc, ksteps, mt, nt int, add bool)

// checkTiles panics unless a tileFn call stays inside its slices (the
// assembly kernels do not check).
func checkTiles(a []uint16, al aLayout, b []uint16, bpanel int, c []float32, ldc, ksteps, mt, nt int) {
	if ksteps < 1 || mt < 1 || nt < 1 || ldc < 32*nt ||
		len(a) < (mt-1)*al.panel+(ksteps-1)*al.kstep+31*al.stride+32 || len(b) < (nt-1)*bpanel+ksteps*1024 || len(c) < (32*mt-1)*ldc+32*nt {
		panic(fmt.Sprintf("cpu MatMul: bf16 tile call out of bounds (ksteps %d, mt %d, nt %d, ldc %d, A %+v, bpanel %d; a %d, b %d, c %d)",
			ksteps, mt, nt, ldc, al, bpanel, len(a), len(b), len(c)))
	}
}

// tilesGo is the portable tileFn: the reference the assembly kernels are
// tested against, reading the same layouts.
func tilesGo(a []uint16, al aLayout, b []uint16, bpanel int, c []float32, ldc, ksteps, mt, nt int, add bool) {
	checkTiles(a, al, b, bpanel, c, ldc, ksteps, mt, nt)
	var acc [32]float32
	for i := range mt {
		for j := range nt {
			for r := range 32 {
				clear(acc[:])
				for s := range ksteps {
					o := i*al.panel + s*al.kstep + r*al.stride
					ar := a[o : o+32]
					bs := b[j*bpanel+s*1024 : j*bpanel+s*1024+1024]
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
	if ta && rows == 32 && k%32 == 0 {
		// A stored [k,m], whole k steps: interleave row pairs (k, k+1)
		// into uint32s, then two 16x16 transposes of uint32 put each row
		// of op(A) in place with its k values adjacent.
		var pairs [16 * 32]uint32
		pf := unsafe.Slice((*float32)(unsafe.Pointer(&pairs[0])), len(pairs))
		df := unsafe.Slice((*float32)(unsafe.Pointer(&dst[0])), len(dst)/2)
		for s := 0; s < k/32; s++ {
			interleavePairs(a[s*32*m+i0:], m, pairs[:], 32, 16)
			transpose16x16(pf, 32, df[s*512:], 16, false)
			transpose16x16(pf[16:], 32, df[s*512+256:], 16, false)
		}
		return
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
		// Whole k steps: 16x16 transposes of uint32 pairs (moved as
		// float32 bit patterns) from 16 rows of B into 1 KiB of panel.
		kfull := k / 32 * 32
		bf := unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/2)
		df := unsafe.Slice((*float32)(unsafe.Pointer(&dst[0])), len(dst)/2)
		for t := range 2 {
			for s := 0; s < kfull/32; s++ {
				transpose16x16(bf[(j0+16*t)*k/2+s*16:], k/2, df[s*512+t*256:], 16, false)
			}
		}
		for jj := range 32 {
			src := b[(j0+jj)*k : (j0+jj+1)*k]
			s32 := unsafe.Slice((*uint32)(unsafe.Pointer(&src[0])), k/2)
			off := (jj/16)*256 + jj%16
			for p2 := kfull / 2; p2 < k/2; p2++ {
				blk := (*[512]uint32)(d32[(p2/16)*512:])
				blk[(off+(p2%16)*16)&511] = s32[p2]
			}
		}
		runtime.KeepAlive(b)
		return
	}
	// B stored [k,n]: interleave rows p and p+1, whole k steps 16 pair
	// rows at a time.
	kfull := k / 32 * 32
	for s := 0; s < kfull/32; s++ {
		interleavePairs(b[s*32*n+j0:], n, d32[s*512:], 16, 256)
	}
	for p := kfull; p < k; p += 2 {
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
// (bfKSteps*2 KiB) stays in L1 while the unit's two A panels (as much
// again each) come from L2. Best of interleaved runs at 1024^3 (per CPU
// second, loaded machine): 2x16 ~680 GFLOP/s, 4x8 ~670, 2x8 ~670, 8x8
// ~610, 1x32 ~450; k blocks of 8 or 32 steps ~650 and ~580.
const (
	bfRowPanels = 2
	bfColPanels = 16
	bfKSteps    = 16
	// Streaming y (see tilesBF16): for at most bfStreamRows row panels
	// (256 rows) and a packed y of at least bfStreamElems (2 MiB).
	bfStreamRows  = 8
	bfStreamElems = 1 << 20
	bfStreamUnit  = 1 << 19
	// Split k (see splitKBF16) from this k on, in chunks of at least
	// bfSplitSteps k steps, for C at most bfStreamRows*32 x bfSplitCols.
	bfSplitK     = 4096
	bfSplitSteps = 64
	bfSplitCols  = 2048
)

// bfOperand is one operand of a bf16 product in the role the tile kernels
// give it: x, the row operand (rows x k), or y, the column operand (k x
// cols). major says x is stored [rows,k] (k contiguous: read in place) or
// y stored [cols,k]; otherwise x is stored [k,rows], y [k,cols].
type bfOperand struct {
	v     []uint16
	n     int // rows of x, columns of y
	major bool
}

// packCost estimates the cost, per element, of preparing an operand for
// the tile kernels: x in place 0 where the kernels read it so (direct: AMX
// and whole k steps), x otherwise 1, y's row pairs interleaved or its
// uint32 pairs transposed 1 (each a pass over the 2-byte values with
// AVX-512 transposes). Writing C transposed costs 2 per element (4-byte
// values). (On AVX512_BF16 both operands are always packed, so a weight
// times a few hundred rows is not swapped: measured 1.2-1.5x faster
// forward products at Qwen3-0.6B shapes.)
func packCost(x, y bfOperand, direct bool) int {
	cx := 1
	if x.major && direct {
		cx = 0
	}
	return cx*len(x.v) + len(y.v)
}

// gemmBF16 is gemm for BF16 operands with float32 accumulation. The tile
// kernels read a row operand (read in place when its k is contiguous, else
// packed) and a packed column operand in pair layout; C = op(A) op(B) is
// computed directly or, when that packs less, as C^T = op(B)^T op(A)^T
// with each unit's block transposed into C (for a weight stored [out,in]
// times a few rows of activations, the weight is then read in place).
// Workers take units of C dynamically; each element of C is computed by
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
	if !ta && tb && be.decodeGemmBF16(c, a, b, m, n, k, beta != 0) {
		return // decode-shaped (a few rows times a weight): decode_bf16_amd64.go
	}
	x, y := bfOperand{a, m, !ta}, bfOperand{b, n, tb}
	xs, ys := bfOperand{b, n, tb}, bfOperand{a, m, !ta}
	direct := be.bf.kind == bf16AMX && k%32 == 0
	swap := packCost(xs, ys, direct)+2*m*n < packCost(x, y, direct)
	if swap {
		x, y = xs, ys
	}
	if !swap && !y.major && m <= bfStreamRows*32 && n <= bfSplitCols && k >= bfSplitK {
		be.splitKBF16(c, x, y, k, beta != 0)
	} else {
		be.tilesBF16(c, x, y, k, beta != 0, swap)
	}
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
}

// tilesBF16 computes C (+)= x . y (x rows by y columns), or its
// transpose into C (C is y.n x x.n row-major) when trans.
func (be *Backend) tilesBF16(c []float32, x, y bfOperand, k int, add, trans bool) {
	st := &be.bf
	ks := (k + 31) / 32
	ps := ks * 1024
	mp, np := (x.n+31)/32, (y.n+31)/32
	xfull, yfull := x.n/32, y.n/32
	// Whole x panels are read in place when x is stored [rows,k] and k is
	// whole k steps; the tile kernels' row stride is free (AMX only).
	direct := st.kind == bf16AMX && x.major && k%32 == 0
	npackX := mp
	if direct {
		npackX = mp - xfull
	}
	// A few rows times a big y (a weight: the LM head's forward and dx):
	// each unit packs its own y panels, which then stay in L2 instead of
	// going to memory and back, and covers all the rows (so no panel is
	// packed twice).
	streamY := !trans && mp <= bfStreamRows && np > bfColPanels && np*ps >= bfStreamElems
	ny := np
	if streamY {
		ny = 0
		for len(st.ywork) < be.pool.n {
			st.ywork = append(st.ywork, nil)
		}
	}
	// Many rows times a small y (the LM head's dW = dlogits^T x): each
	// unit packs its own x panels likewise; a unit covers all of y (whose
	// packed panels, at most bfStreamUnit elements, stay in L2), so that
	// no x panel is packed twice.
	streamX := !trans && !streamY && !direct && (np <= bfColPanels || np*ps <= bfStreamUnit) && mp*ps >= bfStreamElems
	if streamX {
		npackX = 0
		for len(st.xwork) < be.pool.n {
			st.xwork = append(st.xwork, nil)
		}
	}
	if len(st.apack) < npackX*ps {
		st.apack = make([]uint16, npackX*ps)
	}
	if len(st.bpack) < ny*ps {
		st.bpack = make([]uint16, ny*ps)
	}
	ap, bp := st.apack[:npackX*ps], st.bpack[:ny*ps]
	be.parallelFor(npackX+ny, 1+(1<<16)/ps, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if i < npackX {
				p := i + mp - npackX
				packABF16(ap[i*ps:(i+1)*ps], x.v, x.n, k, !x.major, p*32)
			} else {
				j := i - npackX
				packBBF16(bp[j*ps:(j+1)*ps], y.v, y.n, k, y.major, j*32)
			}
		}
	})
	// xPanels returns the operand slice and layout of x panels from i on
	// (all read in place, or all packed) and how many share it, up to hi;
	// xw holds the unit's own panels from i0 on when x streams.
	xPanels := func(i, hi int, xw []uint16, i0 int) ([]uint16, aLayout, int) {
		if direct && i < xfull {
			return x.v[i*32*k:], aLayout{stride: k, kstep: 32, panel: 32 * k}, min(hi, xfull) - i
		}
		if streamX {
			return xw[(i-i0)*ps:], packedA(ps), hi - i
		}
		return ap[(i-(mp-npackX))*ps:], packedA(ps), hi - i
	}
	rowP, colP := bfRowPanels, bfColPanels
	if streamY {
		// A unit's packed y panels stay within bfStreamUnit elements, so
		// that they stay in L2 (and there are units enough to balance).
		rowP, colP = mp, max(1, min(bfColPanels, bfStreamUnit/ps))
	}
	if streamX {
		colP = np
	}
	rb, cb := (mp+rowP-1)/rowP, (np+colP-1)/colP
	units := rb * cb
	tiles := st.tiles
	ldc := y.n
	if trans {
		ldc = x.n
	}
	var next atomic.Int64
	be.pool.run(min(be.pool.n, units), func(w int) {
		var edge [32 * 32]float32
		var blk []float32
		if trans {
			blk = be.workerBuf(w, bfRowPanels*bfColPanels*1024)
		}
		for {
			u := int(next.Add(1) - 1)
			if u >= units {
				return
			}
			// Column-block major: consecutive units share y panels.
			i0, j0 := (u%rb)*rowP, (u/rb)*colP
			i1, j1 := min(mp, i0+rowP), min(np, j0+colP)
			var xw []uint16
			if streamX {
				if len(st.xwork[w]) < bfRowPanels*ps {
					st.xwork[w] = make([]uint16, bfRowPanels*ps)
				}
				xw = st.xwork[w]
				for i := i0; i < i1; i++ {
					packABF16(xw[(i-i0)*ps:(i-i0+1)*ps], x.v, x.n, k, !x.major, i*32)
				}
			}
			// yp: the unit's y panels, from panel j0 on.
			yp := bp[min(len(bp), j0*ps):]
			if streamY {
				if len(st.ywork[w]) < colP*ps {
					st.ywork[w] = make([]uint16, colP*ps)
				}
				yp = st.ywork[w]
				if y.major {
					for j := j0; j < j1; j++ {
						packBBF16(yp[(j-j0)*ps:(j-j0+1)*ps], y.v, y.n, k, true, j*32)
					}
				} else {
					packRowsBF16(yp, y.v, y.n, k, j0, j1, ps)
				}
			}
			if trans {
				// The unit's whole block (padding included) into blk,
				// then transposed into C.
				lb := (j1 - j0) * 32
				for i := i0; i < i1; {
					xa, al, cnt := xPanels(i, i1, xw, i0)
					for s := 0; s < ks; s += bfKSteps {
						tiles(xa[s*al.kstep:], al, yp[s*1024:], ps, blk[(i-i0)*32*lb:], lb, min(bfKSteps, ks-s), cnt, j1-j0, s > 0)
					}
					i += cnt
				}
				rows, cols := min(x.n, i1*32)-i0*32, min(y.n, j1*32)-j0*32
				transposeOut(c[j0*32*ldc+i0*32:], ldc, blk, lb, rows, cols, add)
				continue
			}
			if fi, fj := min(i1, xfull), min(j1, yfull); fi > i0 && fj > j0 {
				for i := i0; i < fi; {
					xa, al, cnt := xPanels(i, fi, xw, i0)
					if streamY {
						// One row panel at a time: C is then written 32
						// rows of the unit's whole width at a time, not
						// 128-byte pieces of every row per column panel
						// (the LM head's logits, rows ~200 KB apart:
						// ~18% faster at 256 x 50304 x 256).
						cnt = 1
					}
					for s := 0; s < ks; s += bfKSteps {
						tiles(xa[s*al.kstep:], al, yp[s*1024:], ps, c[i*32*ldc+j0*32:], ldc, min(bfKSteps, ks-s), cnt, fj-j0, add || s > 0)
					}
					i += cnt
				}
			}
			// Edge blocks (past the last whole row or column panel) go
			// through a buffer and are computed as the full blocks are,
			// so that a row's result does not depend on whether its
			// panel is whole (what continuous batching's one-prompt
			// prefills rely on): AMX tiles continue from C between k
			// chunks, the same sums as all of k at once; AVX512_BF16
			// adds each chunk's sum to C.
			for i := i0; i < i1; i++ {
				for j := j0; j < j1; j++ {
					if i < xfull && j < yfull {
						continue
					}
					xa, al, _ := xPanels(i, i+1, xw, i0)
					rows, cols := min(32, x.n-i*32), min(32, y.n-j*32)
					step := ks
					if st.kind != bf16AMX {
						step = bfKSteps
					}
					for s := 0; s < ks; s += step {
						tiles(xa[s*al.kstep:], al, yp[(j-j0)*ps+s*1024:], ps, edge[:], 32, min(step, ks-s), 1, 1, false)
						addEdge(c[i*32*ldc+j*32:], ldc, edge[:], 32, rows, cols, add || s > 0)
					}
				}
			}
		}
	})
}

// addEdge sets (or, with add, adds to) the rows x cols corner of C at c
// (row stride ldc) from the block e (row stride lde).
func addEdge(c []float32, ldc int, e []float32, lde, rows, cols int, add bool) {
	for r := range rows {
		cr, er := c[r*ldc:r*ldc+cols], e[r*lde:r*lde+cols]
		if add {
			for q, v := range er {
				cr[q] += v
			}
		} else {
			copy(cr, er)
		}
	}
}

// splitKBF16 is tilesBF16 for a small C (at most 256 x bfSplitCols) and
// a long k with y stored [k,cols] (the LM head's dx = dlogits W): k is cut
// into chunks, a number fixed by k alone; workers take chunks and walk
// each in slabs of a few k steps, packing that slab's rows of y (a
// contiguous block of y) into a buffer that stays in L2 and multiplying
// every x panel by it into a private padded partial product; the
// partials are then added to C in chunk order. y is read from memory once
// and its packed form never leaves L2; the arithmetic does not depend on
// the thread count or the scheduling.
func (be *Backend) splitKBF16(c []float32, x, y bfOperand, k int, add bool) {
	st := &be.bf
	ks := (k + 31) / 32
	mp, np := (x.n+31)/32, (y.n+31)/32
	nch := max(1, min(16, ks/bfSplitSteps))
	// A slab's packed y (np*slab KiB x 2) is at most 512 KiB, so that it,
	// the partial product and the x rows of the slab share L2.
	slab := max(4, min(bfKSteps, 256/np))
	pw, ph := np*32, mp*32
	if len(st.partial) < nch*ph*pw {
		st.partial = make([]float32, nch*ph*pw)
	}
	for len(st.ywork) < be.pool.n {
		st.ywork = append(st.ywork, nil)
	}
	// x: whole row panels read in place where they can be (k whole
	// steps), the rest packed over all of k.
	xfull := 0
	if st.kind == bf16AMX && x.major && k%32 == 0 {
		xfull = x.n / 32
	}
	xps := ks * 1024
	npackX := mp - xfull
	if len(st.apack) < npackX*xps {
		st.apack = make([]uint16, npackX*xps)
	}
	ap := st.apack[:npackX*xps]
	be.parallelFor(npackX, 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			packABF16(ap[i*xps:(i+1)*xps], x.v, x.n, k, !x.major, (xfull+i)*32)
		}
	})
	tiles := st.tiles
	var next atomic.Int64
	be.pool.run(min(be.pool.n, nch), func(w int) {
		if len(st.ywork[w]) < np*slab*1024 {
			st.ywork[w] = make([]uint16, np*slab*1024)
		}
		yb := st.ywork[w]
		for {
			ch := int(next.Add(1) - 1)
			if ch >= nch {
				return
			}
			part := st.partial[ch*ph*pw : (ch+1)*ph*pw]
			s0, s1 := ch*ks/nch, (ch+1)*ks/nch
			for s := s0; s < s1; s += slab {
				cs := min(slab, s1-s)
				k0, k1 := s*32, min(k, (s+cs)*32)
				// Rows k0..k1 of y stored [k,cols] are a contiguous block.
				packRowsBF16(yb, y.v[k0*y.n:k1*y.n], y.n, k1-k0, 0, np, cs*1024)
				if xfull > 0 {
					tiles(x.v[k0:], aLayout{stride: k, kstep: 32, panel: 32 * k}, yb, cs*1024, part, pw, cs, xfull, np, s > s0)
				}
				if npackX > 0 {
					tiles(ap[s*1024:], packedA(xps), yb, cs*1024, part[xfull*32*pw:], pw, cs, npackX, np, s > s0)
				}
			}
		}
	})
	m, n := x.n, y.n
	be.parallelFor(m, 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			cr := c[i*n : (i+1)*n]
			for ch := range nch {
				pr := st.partial[ch*ph*pw+i*pw : ch*ph*pw+i*pw+n]
				if ch == 0 && !add {
					copy(cr, pr)
					continue
				}
				for j, v := range pr {
					cr[j] += v
				}
			}
		}
	})
}

// transposeOut sets (or, if add, adds to) c[j*ldc+i] = blk[i*lb+j] for
// i < rows, j < cols, in 16x16 blocks.
func transposeOut(c []float32, ldc int, blk []float32, lb, rows, cols int, add bool) {
	for j0 := 0; j0 < cols; j0 += 16 {
		for i0 := 0; i0 < rows; i0 += 16 {
			if i0+16 <= rows && j0+16 <= cols {
				transpose16x16(blk[i0*lb+j0:], lb, c[j0*ldc+i0:], ldc, add)
				continue
			}
			for j := j0; j < min(cols, j0+16); j++ {
				for i := i0; i < min(rows, i0+16); i++ {
					if add {
						c[j*ldc+i] += blk[i*lb+j]
					} else {
						c[j*ldc+i] = blk[i*lb+j]
					}
				}
			}
		}
	}
}

// interleavePairsGo is the portable interleavePairs.
func interleavePairsGo(src []uint16, stride int, dst []uint32, drow, half int) {
	for q := range 16 {
		r0 := (*[32]uint16)(src[2*q*stride:])
		r1 := (*[32]uint16)(src[(2*q+1)*stride:])
		d0 := (*[16]uint32)(dst[q*drow:])
		d1 := (*[16]uint32)(dst[q*drow+half:])
		for c := range 16 {
			d0[c] = uint32(r0[c]) | uint32(r1[c])<<16
			d1[c] = uint32(r0[16+c]) | uint32(r1[16+c])<<16
		}
	}
}

// transpose16Go is the portable transpose16x16.
func transpose16Go(src []float32, sstride int, dst []float32, dstride int, add bool) {
	for i := range 16 {
		row := src[i*sstride : i*sstride+16]
		for j, v := range row {
			if add {
				dst[j*dstride+i] += v
			} else {
				dst[j*dstride+i] = v
			}
		}
	}
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
			f32ToBF16Slice(dst, xf[(r*t+i)*width:(r*t+i+1)*width])
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
