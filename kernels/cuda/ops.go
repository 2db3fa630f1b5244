package cuda

import (
	"fmt"
	"math"
	"unsafe"

	"sdzero/kernels"
)

// Kernel files.
const (
	fileElem = "elementwise.cu"
	fileNorm = "norm.cu"
	fileAttn = "attention.cu"
	fileTC   = "attention_tc.cu"
	fileLoss = "loss.cu"
	fileSamp = "sample.cu"
)

const (
	attnQ        = 8  // queries (or keys) per attention block: one per warp
	attnT        = 32 // keys (or queries) per shared-memory tile
	attnMaxD     = 256
	decodeWarps  = 4
	decodeGWarps = 8    // warps of sdz_attn_decode_g
	decodeMaxG   = 8    // SDZ_MAXG: query heads per kv head sdz_attn_decode_g serves
	tcRows       = 64   // rows (queries or keys) per tensor-core attention block: 16 per warp
	tcTile       = 32   // keys (dq) or queries (dk/dv) per tile of the tensor-core backward
	sortMax      = 1024 // candidates sdz_sample_sorted and sdz_distill_topk hold in shared memory
	rowThreads   = 512  // threads per row for the loss and sampling kernels
)

// tensorBuf returns t's buffer, panicking with the op's name on misuse.
func tensorBuf(op, name string, t kernels.Tensor) *devBuf {
	if !t.Valid() {
		panic(fmt.Sprintf("cuda %s: %s is the zero Tensor", op, name))
	}
	db, ok := t.Buf.(*devBuf)
	if !ok {
		panic(fmt.Sprintf("cuda %s: %s belongs to backend %q", op, name, t.Buf.Backend()))
	}
	if db.freed {
		panic(fmt.Sprintf("cuda %s: %s used after Free", op, name))
	}
	if t.Off < 0 || t.N < 0 || t.Off+t.N > db.n {
		panic(fmt.Sprintf("cuda %s: %s view [%d,%d) outside its %d-element buffer", op, name, t.Off, t.Off+t.N, db.n))
	}
	return db
}

// ptr checks that t has dtype dt and at least n elements, and returns the
// device address of its first element.
func ptr(op, name string, t kernels.Tensor, dt kernels.DType, n int) devPtr {
	db := tensorBuf(op, name, t)
	if t.DType != dt {
		panic(fmt.Sprintf("cuda %s: %s is %s, want %s", op, name, t.DType, dt))
	}
	return sized(op, name, t, db, n)
}

// anyPtr is ptr without the dtype check.
func anyPtr(op, name string, t kernels.Tensor, n int) devPtr {
	return sized(op, name, t, tensorBuf(op, name, t), n)
}

func sized(op, name string, t kernels.Tensor, db *devBuf, n int) devPtr {
	if n < 0 || n > t.N {
		panic(fmt.Sprintf("cuda %s: %s has %d elements, need %d", op, name, t.N, n))
	}
	return devPtr(db.ptr + uintptr(t.Off*t.DType.Size()))
}

// optPtr is ptr for an optional tensor: 0 when t is the zero Tensor.
func optPtr(op, name string, t kernels.Tensor, dt kernels.DType, n int) devPtr {
	if !t.Valid() {
		return 0
	}
	return ptr(op, name, t, dt, n)
}

func nonNeg(op string, dims ...int) {
	for _, d := range dims {
		if d < 0 {
			panic(fmt.Sprintf("cuda %s: negative dimension in %v", op, dims))
		}
	}
}

// lowOut returns the dtype of an op output that may be F32 or BF16, and
// panics naming op otherwise.
func lowOut(op string, t kernels.Tensor) kernels.DType {
	if t.DType != kernels.F32 && t.DType != kernels.BF16 {
		panic(fmt.Sprintf("cuda %s: output is %s, want F32 or BF16", op, t.DType))
	}
	return t.DType
}

func boolInt(v bool) int {
	if v {
		return 1
	}
	return 0
}

func isFloat(d kernels.DType) bool { return d == kernels.F32 || d == kernels.BF16 || d == kernels.F16 }

// Alloc returns a zero-filled tensor of n elements.
func (b *Backend) Alloc(d kernels.DType, n int) (kernels.Tensor, error) {
	if b.capturing {
		return kernels.Tensor{}, fmt.Errorf("cuda Alloc: %w", errCapturing)
	}
	if n < 0 {
		return kernels.Tensor{}, fmt.Errorf("cuda Alloc: negative size %d", n)
	}
	size := d.Size()
	if n > math.MaxInt/size {
		return kernels.Tensor{}, fmt.Errorf("cuda Alloc: %d elements of %s overflow", n, d)
	}
	defer b.enter()()
	p, c, err := b.alloc.get(n * size)
	if err != nil {
		return kernels.Tensor{}, fmt.Errorf("cuda Alloc %s[%d]: %w", d, n, err)
	}
	if n > 0 {
		if err := b.drv.err("cuMemsetD8Async", b.drv.cuMemsetD8Async(p, 0, uint64(n*size), b.stream)); err != nil {
			b.alloc.put(p, c)
			return kernels.Tensor{}, fmt.Errorf("cuda Alloc %s[%d]: %w", d, n, err)
		}
	}
	return kernels.Tensor{DType: d, N: n, Buf: &devBuf{ptr: p, class: c, n: n, dtype: d}}, nil
}

// Free returns a tensor's memory to the allocator's cache.
func (b *Backend) Free(t kernels.Tensor) {
	if b.refuseInCapture("Free") {
		return
	}
	if !t.Valid() {
		return
	}
	db := tensorBuf("Free", "tensor", t)
	if t.Off != 0 || t.N != db.n {
		panic(fmt.Sprintf("cuda Free: tensor is a view [%d,%d) of a %d-element buffer", t.Off, t.Off+t.N, db.n))
	}
	defer b.enter()()
	db.freed = true
	b.alloc.put(db.ptr, db.class)
}

// Upload copies src into dst, converting to dst's dtype.
func (b *Backend) Upload(dst kernels.Tensor, src []float32) {
	if b.refuseInCapture("Upload") {
		return
	}
	const op = "Upload"
	p := anyPtr(op, "dst", dst, len(src))
	if !isFloat(dst.DType) {
		panic(fmt.Sprintf("cuda Upload: dst is %s, want F32, BF16 or F16", dst.DType))
	}
	if len(src) == 0 {
		return
	}
	defer b.enter()()
	sz := dst.DType.Size()
	b.uploadChunks(op, uintptr(p), len(src)*sz, func(buf []byte, off int) {
		i0 := off / sz
		switch dst.DType {
		case kernels.F32:
			copy(buf, unsafe.Slice((*byte)(unsafe.Pointer(&src[i0])), len(buf)))
		case kernels.BF16:
			for i := 0; i < len(buf)/2; i++ {
				h := kernels.F32ToBF16(src[i0+i])
				buf[2*i], buf[2*i+1] = byte(h), byte(h>>8)
			}
		case kernels.F16:
			for i := 0; i < len(buf)/2; i++ {
				h := kernels.F32ToF16(src[i0+i])
				buf[2*i], buf[2*i+1] = byte(h), byte(h>>8)
			}
		}
	})
}

// Download copies src's first len(dst) elements to dst as float32.
func (b *Backend) Download(dst []float32, src kernels.Tensor) {
	if b.refuseInCapture("Download") {
		return
	}
	const op = "Download"
	p := anyPtr(op, "src", src, len(dst))
	if !isFloat(src.DType) {
		panic(fmt.Sprintf("cuda Download: src is %s, want F32, BF16 or F16", src.DType))
	}
	if len(dst) == 0 {
		return
	}
	defer b.enter()()
	sz := src.DType.Size()
	b.downloadChunks(op, uintptr(p), len(dst)*sz, func(buf []byte, off int) {
		i0 := off / sz
		switch src.DType {
		case kernels.F32:
			copy(unsafe.Slice((*byte)(unsafe.Pointer(&dst[i0])), len(buf)), buf)
		case kernels.BF16:
			for i := 0; i < len(buf)/2; i++ {
				dst[i0+i] = kernels.BF16ToF32(uint16(buf[2*i]) | uint16(buf[2*i+1])<<8)
			}
		case kernels.F16:
			for i := 0; i < len(buf)/2; i++ {
				dst[i0+i] = kernels.F16ToF32(uint16(buf[2*i]) | uint16(buf[2*i+1])<<8)
			}
		}
	})
}

// UploadInt32 copies ids into an I32 tensor.
func (b *Backend) UploadInt32(dst kernels.Tensor, src []int32) {
	if b.refuseInCapture("UploadInt32") {
		return
	}
	p := ptr("UploadInt32", "dst", dst, kernels.I32, len(src))
	if len(src) == 0 {
		return
	}
	defer b.enter()()
	b.uploadChunks("UploadInt32", uintptr(p), 4*len(src), func(buf []byte, off int) {
		copy(buf, unsafe.Slice((*byte)(unsafe.Pointer(&src[off/4])), len(buf)))
	})
}

// DownloadInt32 copies an I32 tensor's first len(dst) elements to dst.
func (b *Backend) DownloadInt32(dst []int32, src kernels.Tensor) {
	if b.refuseInCapture("DownloadInt32") {
		return
	}
	p := ptr("DownloadInt32", "src", src, kernels.I32, len(dst))
	if len(dst) == 0 {
		return
	}
	defer b.enter()()
	b.downloadChunks("DownloadInt32", uintptr(p), 4*len(dst), func(buf []byte, off int) {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&dst[off/4])), len(buf)), buf)
	})
}

// UploadRaw copies raw little-endian bytes into dst.
func (b *Backend) UploadRaw(dst kernels.Tensor, src []byte) {
	if b.refuseInCapture("UploadRaw") {
		return
	}
	p := anyPtr("UploadRaw", "dst", dst, 0)
	if len(src) > dst.N*dst.DType.Size() {
		panic(fmt.Sprintf("cuda UploadRaw: %d bytes into a %d-byte tensor", len(src), dst.N*dst.DType.Size()))
	}
	if len(src) == 0 {
		return
	}
	defer b.enter()()
	b.uploadChunks("UploadRaw", uintptr(p), len(src), func(buf []byte, off int) { copy(buf, src[off:]) })
}

// DownloadRaw copies len(dst) bytes of src's storage.
func (b *Backend) DownloadRaw(dst []byte, src kernels.Tensor) {
	if b.refuseInCapture("DownloadRaw") {
		return
	}
	p := anyPtr("DownloadRaw", "src", src, 0)
	if len(dst) > src.N*src.DType.Size() {
		panic(fmt.Sprintf("cuda DownloadRaw: %d bytes from a %d-byte tensor", len(dst), src.N*src.DType.Size()))
	}
	if len(dst) == 0 {
		return
	}
	defer b.enter()()
	b.downloadChunks("DownloadRaw", uintptr(p), len(dst), func(buf []byte, off int) { copy(dst[off:], buf) })
}

// Copy copies src into dst (same dtype and N).
func (b *Backend) Copy(dst, src kernels.Tensor) {
	if dst.DType != src.DType || dst.N != src.N {
		panic(fmt.Sprintf("cuda Copy: dst %s[%d] vs src %s[%d]", dst.DType, dst.N, src.DType, src.N))
	}
	pd := anyPtr("Copy", "dst", dst, dst.N)
	ps := anyPtr("Copy", "src", src, src.N)
	if dst.N == 0 {
		return
	}
	defer b.enter()()
	b.check("Copy", "cuMemcpyDtoDAsync", b.drv.cuMemcpyDtoDAsync(uintptr(pd), uintptr(ps), uint64(dst.N*dst.DType.Size()), b.stream))
}

// Convert copies src into dst converting between F32, BF16 and F16.
func (b *Backend) Convert(dst, src kernels.Tensor) {
	if dst.N != src.N || !isFloat(dst.DType) || !isFloat(src.DType) {
		panic(fmt.Sprintf("cuda Convert: dst %s[%d] vs src %s[%d]", dst.DType, dst.N, src.DType, src.N))
	}
	if dst.DType == src.DType {
		b.Copy(dst, src)
		return
	}
	pd := anyPtr("Convert", "dst", dst, dst.N)
	ps := anyPtr("Convert", "src", src, src.N)
	if dst.N == 0 {
		return
	}
	defer b.enter()()
	b.launch("Convert", fileElem, "sdz_convert", b.gridStride(int64(dst.N)), dim3{256, 1, 1}, 0,
		pd, int(dst.DType), ps, int(src.DType), int64(dst.N))
}

// Fill sets every element of an F32 tensor to v.
func (b *Backend) Fill(t kernels.Tensor, v float32) {
	p := ptr("Fill", "t", t, kernels.F32, t.N)
	if t.N == 0 {
		return
	}
	defer b.enter()()
	b.check("Fill", "cuMemsetD32Async", b.drv.cuMemsetD32Async(uintptr(p), math.Float32bits(v), uint64(t.N), b.stream))
}

// Scale multiplies n elements of x by s.
func (b *Backend) Scale(x kernels.Tensor, s float32, n int) {
	p := ptr("Scale", "x", x, kernels.F32, n)
	if n == 0 {
		return
	}
	defer b.enter()()
	b.launch("Scale", fileElem, "sdz_scale", b.gridStride(int64(n)), dim3{256, 1, 1}, 0, p, s, int64(n))
}

// AXPY computes y += alpha*x over n elements.
func (b *Backend) AXPY(y, x kernels.Tensor, alpha float32, n int) {
	py := ptr("AXPY", "y", y, kernels.F32, n)
	px := ptr("AXPY", "x", x, kernels.F32, n)
	if n == 0 {
		return
	}
	defer b.enter()()
	b.launch("AXPY", fileElem, "sdz_axpy", b.gridStride(int64(n)), dim3{256, 1, 1}, 0, py, px, alpha, int64(n))
}

// Add computes out = a + b over n elements.
func (b *Backend) Add(out, a, c kernels.Tensor, n int) {
	po := ptr("Add", "out", out, kernels.F32, n)
	pa := ptr("Add", "a", a, kernels.F32, n)
	pc := ptr("Add", "b", c, kernels.F32, n)
	if n == 0 {
		return
	}
	defer b.enter()()
	b.launch("Add", fileElem, "sdz_add", b.gridStride(int64(n)), dim3{256, 1, 1}, 0, po, pa, pc, int64(n))
}

// SumSquares returns the sum of squares of x's first n elements, in double.
func (b *Backend) SumSquares(x kernels.Tensor, n int) float64 {
	if b.refuseInCapture("SumSquares") {
		return math.NaN()
	}
	p := ptr("SumSquares", "x", x, kernels.F32, n)
	if n == 0 {
		return 0
	}
	defer b.enter()()
	g := grid1(int64(n), 256, sumsqParts)
	b.launch("SumSquares", fileElem, "sdz_sumsq_partial", g, dim3{256, 1, 1}, 0, devPtr(b.sumsq), p, int64(n))
	res := b.sumsq + 8*sumsqParts
	b.launch("SumSquares", fileElem, "sdz_sumsq_final", dim3{1, 1, 1}, dim3{1024, 1, 1}, 0,
		devPtr(res), devPtr(b.sumsq), int(g[0]))
	out := math.NaN()
	b.downloadChunks("SumSquares", res, 8, func(buf []byte, _ int) {
		out = *(*float64)(unsafe.Pointer(&buf[0]))
	})
	if b.firstErr != nil {
		return math.NaN()
	}
	return out
}

// MatMul computes C = alpha*op(A)*op(B) + beta*C through cuBLAS.
func (b *Backend) MatMul(c, a, bm kernels.Tensor, m, n, k int, transA, transB bool, alpha, beta float32) {
	b.gemm("MatMul", c, a, bm, 1, m, n, k, transA, transB, alpha, beta, 0, 0, 0, false)
}

// MatMulBatched runs batch MatMuls with element strides between matrices.
func (b *Backend) MatMulBatched(c, a, bm kernels.Tensor, batch, m, n, k int, transA, transB bool, alpha, beta float32, strideA, strideB, strideC int) {
	b.gemm("MatMulBatched", c, a, bm, batch, m, n, k, transA, transB, alpha, beta, strideA, strideB, strideC, true)
}

func cudaType(d kernels.DType) int32 {
	switch d {
	case kernels.BF16:
		return cudaR16BF
	case kernels.F16:
		return cudaR16F
	}
	return cudaR32F
}

// gemm is row-major C = alpha*op(A)op(B) + beta*C as the column-major
// C^T = op(B)^T op(A)^T: cuBLAS gets B first, then A, with m and n swapped.
func (b *Backend) gemm(op string, c, a, bm kernels.Tensor, batch, m, n, k int, transA, transB bool, alpha, beta float32, sA, sB, sC int, batched bool) {
	nonNeg(op, batch, m, n, k, sA, sB, sC)
	for _, d := range []int{m, n, k, batch} {
		if d > math.MaxInt32 {
			panic(fmt.Sprintf("cuda %s: dimension %d exceeds 2^31-1", op, d))
		}
	}
	if !isFloat(a.DType) || !isFloat(bm.DType) {
		panic(fmt.Sprintf("cuda %s: A is %s and B is %s; want F32, BF16 or F16", op, a.DType, bm.DType))
	}
	need := func(stride, per int) int {
		if batch == 0 {
			return 0
		}
		return (batch-1)*stride + per
	}
	pc := ptr(op, "C", c, kernels.F32, need(sC, m*n))
	pa := anyPtr(op, "A", a, need(sA, m*k))
	pb := anyPtr(op, "B", bm, need(sB, k*n))
	if m == 0 || n == 0 || batch == 0 {
		return
	}
	defer b.enter()()
	if k == 0 {
		// C = beta*C (and BLAS semantics: beta == 0 overwrites).
		for i := 0; i < batch; i++ {
			pi := pc + devPtr(4*i*sC)
			if beta == 0 {
				b.check(op, "cuMemsetD32Async", b.drv.cuMemsetD32Async(uintptr(pi), 0, uint64(m*n), b.stream))
			} else if beta != 1 {
				b.launch(op, fileElem, "sdz_scale", b.gridStride(int64(m*n)), dim3{256, 1, 1}, 0, pi, beta, int64(m*n))
			}
		}
		return
	}
	at, bt := a.DType, bm.DType
	// Mixed input dtypes: widen the 16-bit operand to F32 in scratch.
	var scratch [][2]int
	defer func() {
		for _, s := range scratch {
			b.alloc.put(uintptr(s[0]), s[1])
		}
	}()
	widen := func(p devPtr, d kernels.DType, cnt int) (devPtr, bool) {
		sp, cls, ok := b.scratch(op, 4*cnt)
		if !ok {
			return 0, false
		}
		scratch = append(scratch, [2]int{int(sp), cls})
		b.launch(op, fileElem, "sdz_convert", b.gridStride(int64(cnt)), dim3{256, 1, 1}, 0,
			devPtr(sp), int(kernels.F32), p, int(d), int64(cnt))
		return devPtr(sp), true
	}
	if at != bt {
		var ok bool
		if at != kernels.F32 {
			if pa, ok = widen(pa, at, need(sA, m*k)); !ok {
				return
			}
			at = kernels.F32
		}
		if bt != kernels.F32 {
			if pb, ok = widen(pb, bt, need(sB, k*n)); !ok {
				return
			}
			bt = kernels.F32
		}
	}
	compute := int32(cublasCompute32F)
	if at == kernels.F32 && b.opts.TF32 {
		compute = cublasCompute32FTF32
	}
	opA, lda := int32(cublasOpN), int32(k)
	if transA {
		opA, lda = cublasOpT, int32(m)
	}
	opB, ldb := int32(cublasOpN), int32(n)
	if transB {
		opB, ldb = cublasOpT, int32(k)
	}
	// Host-pointer-mode scalars, read by cuBLAS during the call.
	pAlpha := unsafe.Add(b.args, 16*maxKernelArgs)
	pBeta := unsafe.Add(b.args, 16*maxKernelArgs+8)
	*(*float32)(pAlpha) = alpha
	*(*float32)(pBeta) = beta
	var r int32
	call := "cublasGemmEx"
	if !batched {
		r = b.blas.cublasGemmEx(b.cublas, opB, opA, int32(n), int32(m), int32(k), pAlpha,
			uintptr(pb), cudaType(bt), ldb, uintptr(pa), cudaType(at), lda, pBeta,
			uintptr(pc), cudaR32F, int32(n), compute, cublasGemmDefault)
	} else {
		call = "cublasGemmStridedBatchedEx"
		r = b.blas.cublasGemmStridedBatchedEx(b.cublas, opB, opA, int32(n), int32(m), int32(k), pAlpha,
			uintptr(pb), cudaType(bt), ldb, int64(sB), uintptr(pa), cudaType(at), lda, int64(sA), pBeta,
			uintptr(pc), cudaR32F, int32(n), int64(sC), int32(batch), compute, cublasGemmDefault)
	}
	if r != 0 {
		b.fail(op, fmt.Errorf("%w (m=%d n=%d k=%d transA=%v transB=%v A %s B %s)", b.blas.err(call, r), m, n, k, transA, transB, at, bt))
	}
}

// AddBias adds bias [dim] to every row of y [rows,dim].
func (b *Backend) AddBias(y, bias kernels.Tensor, rows, dim int) {
	nonNeg("AddBias", rows, dim)
	py := ptr("AddBias", "y", y, kernels.F32, rows*dim)
	pb := ptr("AddBias", "bias", bias, kernels.F32, dim)
	if rows == 0 || dim == 0 {
		return
	}
	defer b.enter()()
	b.launch("AddBias", fileElem, "sdz_add_bias", b.gridStride(int64(rows*dim)), dim3{256, 1, 1}, 0, py, pb, int64(rows), dim)
}

// BiasBackward accumulates the column sums of dy into dbias.
func (b *Backend) BiasBackward(dbias, dy kernels.Tensor, rows, dim int) {
	nonNeg("BiasBackward", rows, dim)
	pd := ptr("BiasBackward", "dbias", dbias, kernels.F32, dim)
	py := ptr("BiasBackward", "dy", dy, kernels.F32, rows*dim)
	if rows == 0 || dim == 0 {
		return
	}
	defer b.enter()()
	b.colsum("BiasBackward", pd, py, 0, 0, rows, dim)
}

// colsum accumulates dst[col] += sum_r dy[r,col] (times x[r,col]*rstd[r]
// when x != 0) deterministically: per-chunk partials, then a fixed-order sum.
func (b *Backend) colsum(op string, dst, dy, x, rstd devPtr, rows, dim int) {
	colBlocks := (dim + 31) / 32
	chunks := max(1, min((4*b.numSM+colBlocks-1)/colBlocks, (rows+7)/8, 1024))
	per := (rows + chunks - 1) / chunks
	chunks = (rows + per - 1) / per
	part, cls, ok := b.scratch(op, 4*chunks*dim)
	if !ok {
		return
	}
	defer b.alloc.put(part, cls)
	b.launch(op, fileElem, "sdz_colsum_partial", dim3{uint32(colBlocks), uint32(chunks), 1}, dim3{32, 8, 1}, 0,
		devPtr(part), dy, x, rstd, rows, dim, per)
	b.launch(op, fileElem, "sdz_colsum_final", grid1(int64(dim), 256, math.MaxInt32), dim3{256, 1, 1}, 0,
		dst, devPtr(part), chunks, dim)
}

// Embedding gathers rows of table: out[i] = table[ids[i]].
func (b *Backend) Embedding(out, table, ids kernels.Tensor, n, dim int) {
	nonNeg("Embedding", n, dim)
	if dim == 0 || n == 0 {
		return
	}
	po := ptr("Embedding", "out", out, kernels.F32, n*dim)
	pt := ptr("Embedding", "table", table, kernels.F32, dim)
	pi := ptr("Embedding", "ids", ids, kernels.I32, n)
	defer b.enter()()
	b.launch("Embedding", fileElem, "sdz_embedding", b.gridStride(int64(n*dim)), dim3{256, 1, 1}, 0,
		po, pt, pi, n, dim, table.N/dim, devPtr(b.errWord), 1)
}

// EmbeddingBackward accumulates dout[i] into dtable[ids[i]] (atomic adds).
func (b *Backend) EmbeddingBackward(dtable, dout, ids kernels.Tensor, n, dim int) {
	nonNeg("EmbeddingBackward", n, dim)
	if dim == 0 || n == 0 {
		return
	}
	pt := ptr("EmbeddingBackward", "dtable", dtable, kernels.F32, dim)
	po := ptr("EmbeddingBackward", "dout", dout, kernels.F32, n*dim)
	pi := ptr("EmbeddingBackward", "ids", ids, kernels.I32, n)
	defer b.enter()()
	b.launch("EmbeddingBackward", fileElem, "sdz_embedding_bwd", b.gridStride(int64(n*dim)), dim3{256, 1, 1}, 0,
		pt, po, pi, n, dim, dtable.N/dim, devPtr(b.errWord), 2)
}

// GatherRows copies rows: dst[i] = src[idx[i]] (any 2- or 4-byte dtype).
func (b *Backend) GatherRows(dst, src, idx kernels.Tensor, n, dim int) {
	nonNeg("GatherRows", n, dim)
	if dst.DType != src.DType {
		panic(fmt.Sprintf("cuda GatherRows: dst is %s, src is %s", dst.DType, src.DType))
	}
	if dim == 0 || n == 0 {
		return
	}
	pd := anyPtr("GatherRows", "dst", dst, n*dim)
	ps := anyPtr("GatherRows", "src", src, 0)
	pi := ptr("GatherRows", "idx", idx, kernels.I32, n)
	name := "sdz_gather4"
	if dst.DType.Size() == 2 {
		name = "sdz_gather2"
	}
	defer b.enter()()
	b.launch("GatherRows", fileElem, name, b.gridStride(int64(n*dim)), dim3{256, 1, 1}, 0,
		pd, ps, pi, n, dim, src.N/dim, devPtr(b.errWord), 3)
}

// RMSNorm normalises each row of x and scales by w; rstd keeps 1/rms.
func (b *Backend) RMSNorm(out, rstd, x, w kernels.Tensor, rows, dim int, eps float32) {
	nonNeg("RMSNorm", rows, dim)
	po := ptr("RMSNorm", "out", out, lowOut("RMSNorm", out), rows*dim)
	pr := ptr("RMSNorm", "rstd", rstd, kernels.F32, rows)
	px := ptr("RMSNorm", "x", x, kernels.F32, rows*dim)
	pw := ptr("RMSNorm", "w", w, kernels.F32, dim)
	if rows == 0 {
		return
	}
	defer b.enter()()
	b.launch("RMSNorm", fileNorm, "sdz_rmsnorm", dim3{uint32(rows), 1, 1}, dim3{256, 1, 1}, 0,
		po, int(out.DType), pr, px, pw, rows, dim, eps)
}

// RMSNormBackward accumulates into dx and dw (dw deterministically).
func (b *Backend) RMSNormBackward(dx, dw, dout, x, w, rstd kernels.Tensor, rows, dim int) {
	const op = "RMSNormBackward"
	nonNeg(op, rows, dim)
	pdx := ptr(op, "dx", dx, kernels.F32, rows*dim)
	pdw := ptr(op, "dw", dw, kernels.F32, dim)
	pdo := ptr(op, "dout", dout, kernels.F32, rows*dim)
	px := ptr(op, "x", x, kernels.F32, rows*dim)
	pw := ptr(op, "w", w, kernels.F32, dim)
	pr := ptr(op, "rstd", rstd, kernels.F32, rows)
	if rows == 0 || dim == 0 {
		return
	}
	defer b.enter()()
	b.launch(op, fileNorm, "sdz_rmsnorm_bwd_dx", dim3{uint32(rows), 1, 1}, dim3{256, 1, 1}, 0,
		pdx, pdo, px, pw, pr, rows, dim)
	b.colsum(op, pdw, pdo, px, pr, rows, dim)
}

// RoPE rotates x [tokens,heads,headDim] in place (HF rotate_half layout).
func (b *Backend) RoPE(x, pos kernels.Tensor, tokens, heads, headDim int, theta float32, inverse bool) {
	b.rope("RoPE", x, pos, kernels.Tensor{}, tokens, heads, headDim, theta, inverse)
}

// RoPEFreqs is RoPE with the inverse frequencies invFreq [headDim/2].
func (b *Backend) RoPEFreqs(x, pos, invFreq kernels.Tensor, tokens, heads, headDim int, inverse bool) {
	b.rope("RoPEFreqs", x, pos, invFreq, tokens, heads, headDim, 0, inverse)
}

// rope rotates x with invFreq, or with theta's frequencies (a cached
// table) when invFreq is the zero Tensor.
func (b *Backend) rope(op string, x, pos, invFreq kernels.Tensor, tokens, heads, headDim int, theta float32, inverse bool) {
	nonNeg(op, tokens, heads, headDim)
	if headDim%2 != 0 {
		panic(fmt.Sprintf("cuda %s: odd headDim %d", op, headDim))
	}
	px := ptr(op, "x", x, kernels.F32, tokens*heads*headDim)
	pp := ptr(op, "pos", pos, kernels.I32, tokens)
	var tab devPtr
	if invFreq.Valid() {
		tab = ptr(op, "invFreq", invFreq, kernels.F32, headDim/2)
	}
	if tokens == 0 || heads == 0 || headDim == 0 {
		return
	}
	defer b.enter()()
	if !invFreq.Valid() {
		t, ok := b.ropeTable(op, theta, headDim)
		if !ok {
			return
		}
		tab = devPtr(t)
	}
	b.launch(op, fileElem, "sdz_rope", b.gridStride(int64(tokens*heads*headDim/2)), dim3{256, 1, 1}, 0,
		px, pp, tab, tokens, heads, headDim, boolInt(inverse))
}

func attnCheck(op string, bsz, t, hq, hkv, d int) {
	nonNeg(op, bsz, t, hq, hkv, d)
	if hkv == 0 || hq%hkv != 0 {
		panic(fmt.Sprintf("cuda %s: %d query heads not a multiple of %d kv heads", op, hq, hkv))
	}
	if d > attnMaxD {
		panic(fmt.Sprintf("cuda %s: head dim %d > %d", op, d, attnMaxD))
	}
}

// attnInputs checks q, k and v (all F32, or all BF16 for the tensor-core
// path) and returns their addresses and whether they are BF16.
func attnInputs(op string, q, k, v kernels.Tensor, nq, nkv int) (pq, pk, pv devPtr, low bool) {
	dt := q.DType
	if dt != kernels.F32 && dt != kernels.BF16 {
		panic(fmt.Sprintf("cuda %s: q is %s, want F32 or BF16", op, dt))
	}
	return ptr(op, "q", q, dt, nq), ptr(op, "k", k, dt, nkv), ptr(op, "v", v, dt, nkv), dt == kernels.BF16
}

// tensorCoreAttn reports whether BF16 attention with head dim d runs on
// the tensor-core kernels (sm_80+, d 64 or 128); otherwise BF16 inputs are
// widened to F32 for the CUDA-core kernels.
func (b *Backend) tensorCoreAttn(d int) bool {
	return !b.opts.NoTensorCoreAttention && b.ccMajor >= 8 && (d == 64 || d == 128)
}

// widenF32 converts cnt 16-bit elements at p into a new F32 scratch block
// (release with b.alloc.put).
func (b *Backend) widenF32(op string, p devPtr, dt kernels.DType, cnt int) (devPtr, int, bool) {
	sp, cls, ok := b.scratch(op, 4*cnt)
	if !ok {
		return 0, 0, false
	}
	b.launch(op, fileElem, "sdz_convert", b.gridStride(int64(cnt)), dim3{256, 1, 1}, 0,
		devPtr(sp), int(kernels.F32), p, int(dt), int64(cnt))
	return devPtr(sp), cls, true
}

// widenQKV widens BF16 q, k, v for the F32 kernels; release frees them.
func (b *Backend) widenQKV(op string, pq, pk, pv devPtr, nq, nkv int) (q, k, v devPtr, release func(), ok bool) {
	var held [][2]int
	release = func() {
		for _, h := range held {
			b.alloc.put(uintptr(h[0]), h[1])
		}
	}
	out := [3]devPtr{}
	for i, x := range []struct {
		p devPtr
		n int
	}{{pq, nq}, {pk, nkv}, {pv, nkv}} {
		w, cls, good := b.widenF32(op, x.p, kernels.BF16, x.n)
		if !good {
			release()
			return 0, 0, 0, func() {}, false
		}
		held = append(held, [2]int{int(w), cls})
		out[i] = w
	}
	return out[0], out[1], out[2], release, true
}

// Attention is causal GQA over a right-padded batch, sliding-window where
// 0 < window < t. F32 inputs run the
// flash-style CUDA-core kernel; BF16 inputs run the tensor-core kernel
// (attention_tc.cu) where the head dim allows.
func (b *Backend) Attention(out, lse, q, k, v, lens kernels.Tensor, bsz, t, hq, hkv, d int, scale float32, window int) {
	const op = "Attention"
	attnCheck(op, bsz, t, hq, hkv, d)
	w := kernelWindow(window, t)
	nq, nkv := bsz*t*hq*d, bsz*t*hkv*d
	po := ptr(op, "out", out, kernels.F32, nq)
	pl := ptr(op, "lse", lse, kernels.F32, bsz*hq*t)
	pq, pk, pv, low := attnInputs(op, q, k, v, nq, nkv)
	pn := ptr(op, "lens", lens, kernels.I32, bsz)
	if bsz == 0 || t == 0 || hq == 0 || d == 0 {
		return
	}
	defer b.enter()()
	if low && b.tensorCoreAttn(d) {
		smem := 2 * (tcRows*(d+8) + d*(tcRows+8))
		b.launch(op, fileTC, fmt.Sprintf("sdz_attn_fwd_tc%d%s", d, tcWindowSuffix(w)), dim3{uint32((t + tcRows - 1) / tcRows), uint32(hq), uint32(bsz)},
			dim3{128, 1, 1}, smem, po, pl, pq, pk, pv, pn, t, hq, hkv, scale, w)
		return
	}
	if low {
		var release func()
		var ok bool
		if pq, pk, pv, release, ok = b.widenQKV(op, pq, pk, pv, nq, nkv); !ok {
			return
		}
		defer release()
	}
	smem := 4 * (attnT*(d+1) + attnT*d + attnQ*d)
	b.launch(op, fileAttn, "sdz_attn_fwd", dim3{uint32((t + attnQ - 1) / attnQ), uint32(hq), uint32(bsz)},
		dim3{32 * attnQ, 1, 1}, smem, po, pl, pq, pk, pv, pn, bsz, t, hq, hkv, d, scale, w)
}

// AttentionBackward overwrites dq, dk and dv (deterministic, no atomics).
func (b *Backend) AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, lens kernels.Tensor, bsz, t, hq, hkv, d int, scale float32, window int) {
	const op = "AttentionBackward"
	attnCheck(op, bsz, t, hq, hkv, d)
	w := kernelWindow(window, t)
	nq, nkv := bsz*t*hq*d, bsz*t*hkv*d
	pdq := ptr(op, "dq", dq, kernels.F32, nq)
	pdk := ptr(op, "dk", dk, kernels.F32, nkv)
	pdv := ptr(op, "dv", dv, kernels.F32, nkv)
	pdo := ptr(op, "dout", dout, kernels.F32, nq)
	po := ptr(op, "out", out, kernels.F32, nq)
	pl := ptr(op, "lse", lse, kernels.F32, bsz*hq*t)
	pq, pk, pv, low := attnInputs(op, q, k, v, nq, nkv)
	pn := ptr(op, "lens", lens, kernels.I32, bsz)
	if bsz == 0 || t == 0 || hq == 0 || d == 0 {
		return
	}
	defer b.enter()()
	delta, cls, ok := b.scratch(op, 4*bsz*hq*t)
	if !ok {
		return
	}
	defer b.alloc.put(delta, cls)
	rows := bsz * t * hq
	b.launch(op, fileAttn, "sdz_attn_delta", dim3{uint32((rows + 7) / 8), 1, 1}, dim3{256, 1, 1}, 0,
		devPtr(delta), pdo, po, pn, bsz, t, hq, d, boolInt(low && b.tensorCoreAttn(d)))
	if low && b.tensorCoreAttn(d) {
		grid := dim3{uint32((t + tcRows - 1) / tcRows), uint32(hq), uint32(bsz)}
		b.launch(op, fileTC, fmt.Sprintf("sdz_attn_dq_tc%d%s", d, tcWindowSuffix(w)), grid, dim3{128, 1, 1}, 2*(2*tcTile*(d+8)+d*(tcTile+8)),
			pdq, pdo, pl, devPtr(delta), pq, pk, pv, pn, t, hq, hkv, scale, w)
		grid[1] = uint32(hkv)
		b.launch(op, fileTC, fmt.Sprintf("sdz_attn_dkdv_tc%d%s", d, tcWindowSuffix(w)), grid, dim3{128, 1, 1}, 2*(2*tcTile*(d+8)+2*d*(tcTile+8))+4*2*tcTile,
			pdk, pdv, pdo, pl, devPtr(delta), pq, pk, pv, pn, t, hq, hkv, scale, w)
		return
	}
	if low {
		var release func()
		if pq, pk, pv, release, ok = b.widenQKV(op, pq, pk, pv, nq, nkv); !ok {
			return
		}
		defer release()
	}
	smemQ := 4 * (2*attnT*(d+1) + 2*attnQ*d)
	b.launch(op, fileAttn, "sdz_attn_bwd_dq", dim3{uint32((t + attnQ - 1) / attnQ), uint32(hq), uint32(bsz)},
		dim3{32 * attnQ, 1, 1}, smemQ, pdq, pdo, pl, devPtr(delta), pq, pk, pv, pn, bsz, t, hq, hkv, d, scale, w)
	smemKV := 4 * (2*attnT*(d+1) + 2*attnQ*d + 2*attnT)
	b.launch(op, fileAttn, "sdz_attn_bwd_dkdv", dim3{uint32((t + attnQ - 1) / attnQ), uint32(hkv), uint32(bsz)},
		dim3{32 * attnQ, 1, 1}, smemKV, pdk, pdv, pdo, pl, devPtr(delta), pq, pk, pv, pn, bsz, t, hq, hkv, d, scale, w)
}

// AttentionDecode attends one query per row to the first lens[r] cache rows.
// The caches may be F32 or BF16 (both the same). Groups of up to decodeMaxG
// query heads per kv head read each cache row once (sdz_attn_decode_g).
func (b *Backend) AttentionDecode(out, q, kc, vc, lens kernels.Tensor, bsz, tmax, hq, hkv, d int, scale float32, window int) {
	const op = "AttentionDecode"
	attnCheck(op, bsz, tmax, hq, hkv, d)
	w := kernelWindow(window, tmax)
	po := ptr(op, "out", out, kernels.F32, bsz*hq*d)
	pq := ptr(op, "q", q, kernels.F32, bsz*hq*d)
	cdt := kc.DType
	if cdt != kernels.F32 && cdt != kernels.BF16 {
		panic(fmt.Sprintf("cuda %s: kc is %s, want F32 or BF16", op, cdt))
	}
	pk := ptr(op, "kc", kc, cdt, bsz*tmax*hkv*d)
	pv := ptr(op, "vc", vc, cdt, bsz*tmax*hkv*d)
	pn := ptr(op, "lens", lens, kernels.I32, bsz)
	if bsz == 0 || hq == 0 || d == 0 {
		return
	}
	defer b.enter()()
	if g := hq / hkv; g <= decodeMaxG {
		smem := 4 * decodeGWarps * g * (d + 2)
		a := 1 // ceil(d/32) rounded up to a power of two: the kernel's registers per lane
		for 32*a < d {
			a *= 2
		}
		b.launch(op, fileAttn, fmt.Sprintf("sdz_attn_decode_g%d", a), dim3{uint32(hkv), uint32(bsz), 1}, dim3{32 * decodeGWarps, 1, 1}, smem,
			po, pq, pk, pv, pn, tmax, hq, hkv, d, scale, int(cdt), w)
		return
	}
	smem := 4 * (2*decodeWarps + decodeWarps*d)
	b.launch(op, fileAttn, "sdz_attn_decode", dim3{uint32(hq), uint32(bsz), 1}, dim3{32 * decodeWarps, 1, 1}, smem,
		po, pq, pk, pv, pn, bsz, tmax, hq, hkv, d, scale, int(cdt), w)
}

// CacheWrite copies x [b,t,width] into cache rows start[r].. (2- or 4-byte
// elements; positions >= tmax are dropped).
func (b *Backend) CacheWrite(cache, x, start kernels.Tensor, bsz, t, tmax, width int) {
	const op = "CacheWrite"
	nonNeg(op, bsz, t, tmax, width)
	if cache.DType != x.DType {
		panic(fmt.Sprintf("cuda CacheWrite: cache is %s, x is %s", cache.DType, x.DType))
	}
	pc := anyPtr(op, "cache", cache, bsz*tmax*width)
	px := anyPtr(op, "x", x, bsz*t*width)
	ps := ptr(op, "start", start, kernels.I32, bsz)
	if bsz == 0 || t == 0 || width == 0 {
		return
	}
	name := "sdz_cache_write4"
	if x.DType.Size() == 2 {
		name = "sdz_cache_write2"
	}
	defer b.enter()()
	b.launch(op, fileElem, name, b.gridStride(int64(bsz*t*width)), dim3{256, 1, 1}, 0, pc, px, ps, bsz, t, tmax, width)
}

// SwiGLU computes out = silu(gate)*up.
func (b *Backend) SwiGLU(out, gate, up kernels.Tensor, n int) {
	po := ptr("SwiGLU", "out", out, lowOut("SwiGLU", out), n)
	pg := ptr("SwiGLU", "gate", gate, kernels.F32, n)
	pu := ptr("SwiGLU", "up", up, kernels.F32, n)
	if n == 0 {
		return
	}
	defer b.enter()()
	b.launch("SwiGLU", fileElem, "sdz_swiglu", b.gridStride(int64(n)), dim3{256, 1, 1}, 0, po, int(out.DType), pg, pu, int64(n))
}

// SwiGLUBackward overwrites dgate and dup.
func (b *Backend) SwiGLUBackward(dgate, dup, dout, gate, up kernels.Tensor, n int) {
	const op = "SwiGLUBackward"
	pdg := ptr(op, "dgate", dgate, kernels.F32, n)
	pdu := ptr(op, "dup", dup, kernels.F32, n)
	pdo := ptr(op, "dout", dout, kernels.F32, n)
	pg := ptr(op, "gate", gate, kernels.F32, n)
	pu := ptr(op, "up", up, kernels.F32, n)
	if n == 0 {
		return
	}
	defer b.enter()()
	b.launch(op, fileElem, "sdz_swiglu_bwd", b.gridStride(int64(n)), dim3{256, 1, 1}, 0, pdg, pdu, pdo, pg, pu, int64(n))
}

// CrossEntropy computes the weighted per-row loss and optionally dlogits.
// As on the CPU, an invalid w means weight 1 and an invalid loss is skipped.
func (b *Backend) CrossEntropy(loss, dlogits, logits, targets, w kernels.Tensor, rows, vocab int, gscale float32) {
	const op = "CrossEntropy"
	nonNeg(op, rows, vocab)
	pl := optPtr(op, "loss", loss, kernels.F32, rows)
	var pd devPtr
	if dlogits.Valid() {
		pd = ptr(op, "dlogits", dlogits, lowOut(op, dlogits), rows*vocab)
	}
	px := ptr(op, "logits", logits, kernels.F32, rows*vocab)
	pt := ptr(op, "targets", targets, kernels.I32, rows)
	pw := optPtr(op, "w", w, kernels.F32, rows)
	if rows == 0 {
		return
	}
	defer b.enter()()
	b.launch(op, fileLoss, "sdz_cross_entropy", dim3{uint32(rows), 1, 1}, dim3{rowThreads, 1, 1}, 0,
		pl, pd, int(dlogits.DType), px, pt, pw, rows, vocab, gscale, devPtr(b.errWord), 4)
}

// LogProbs sets out[r] = log_softmax(logits[r])[targets[r]].
func (b *Backend) LogProbs(out, logits, targets kernels.Tensor, rows, vocab int) {
	const op = "LogProbs"
	nonNeg(op, rows, vocab)
	po := ptr(op, "out", out, kernels.F32, rows)
	px := ptr(op, "logits", logits, kernels.F32, rows*vocab)
	pt := ptr(op, "targets", targets, kernels.I32, rows)
	if rows == 0 {
		return
	}
	defer b.enter()()
	b.launch(op, fileLoss, "sdz_logprobs", dim3{uint32(rows), 1, 1}, dim3{rowThreads, 1, 1}, 0,
		po, px, pt, rows, vocab, devPtr(b.errWord), 5)
}

// Distill computes the per-row divergence between student and teacher
// (invalid w: weight 1; invalid loss: not written; Temp <= 0: 1).
func (b *Backend) Distill(loss, dstudent, s, t, w kernels.Tensor, rows, vocab int, p kernels.DistillParams, gscale float32) {
	const op = "Distill"
	nonNeg(op, rows, vocab)
	if !(p.Temp > 0) {
		p.Temp = 1 // as the CPU backend: no temperature
	}
	pl := optPtr(op, "loss", loss, kernels.F32, rows)
	var pd devPtr
	if dstudent.Valid() {
		pd = ptr(op, "dstudent", dstudent, lowOut(op, dstudent), rows*vocab)
	}
	ddt := int(dstudent.DType)
	ps := ptr(op, "s", s, kernels.F32, rows*vocab)
	pt := ptr(op, "t", t, kernels.F32, rows*vocab)
	pw := optPtr(op, "w", w, kernels.F32, rows)
	if rows == 0 || vocab == 0 {
		return
	}
	defer b.enter()()
	if p.TopK > 0 && p.TopK < vocab && p.TopK <= sortMax {
		b.launch(op, fileLoss, "sdz_distill_topk", dim3{uint32(rows), 1, 1}, dim3{rowThreads, 1, 1}, 0,
			pl, pd, ddt, ps, pt, pw, rows, vocab, p.TopK, p.Temp, p.ForwardWeight, gscale)
		return
	}
	k := p.TopK
	if k >= vocab {
		k = 0
	}
	b.launch(op, fileLoss, "sdz_distill_full", dim3{uint32(rows), 1, 1}, dim3{rowThreads, 1, 1}, 0,
		pl, pd, ddt, ps, pt, pw, rows, vocab, k, p.Temp, p.ForwardWeight, gscale)
}

// Sample draws one id per row (argmax for temp <= 0).
func (b *Backend) Sample(out, logits, u kernels.Tensor, rows, vocab int, temp float32, topK int, topP float32) {
	const op = "Sample"
	nonNeg(op, rows, vocab)
	po := ptr(op, "out", out, kernels.I32, rows)
	px := ptr(op, "logits", logits, kernels.F32, rows*vocab)
	if rows == 0 {
		return
	}
	if vocab == 0 {
		panic("cuda Sample: empty vocabulary")
	}
	if temp <= 0 {
		defer b.enter()()
		b.launch(op, fileSamp, "sdz_sample_argmax", dim3{uint32(rows), 1, 1}, dim3{rowThreads, 1, 1}, 0,
			po, px, rows, vocab)
		return
	}
	pu := ptr(op, "u", u, kernels.F32, rows)
	k := topK
	if k <= 0 || k >= vocab {
		k = vocab
	}
	defer b.enter()()
	if k <= sortMax {
		b.launch(op, fileSamp, "sdz_sample_sorted", dim3{uint32(rows), 1, 1}, dim3{rowThreads, 1, 1}, 0,
			po, px, pu, rows, vocab, k, temp, topP)
		return
	}
	b.launch(op, fileSamp, "sdz_sample_full", dim3{uint32(rows), 1, 1}, dim3{rowThreads, 1, 1}, 0,
		po, px, pu, rows, vocab, k, temp, topP)
}

// AdamW updates n parameters in one launch (PyTorch's AdamW).
func (b *Backend) AdamW(p, g, m, v kernels.Tensor, n int, a kernels.AdamWParams) {
	const op = "AdamW"
	if a.Step < 1 {
		panic(fmt.Sprintf("cuda AdamW: step %d < 1", a.Step))
	}
	pp := ptr(op, "p", p, kernels.F32, n)
	pg := ptr(op, "g", g, kernels.F32, n)
	pm := ptr(op, "m", m, kernels.F32, n)
	pv := ptr(op, "v", v, kernels.F32, n)
	if n == 0 {
		return
	}
	bc1 := 1 - math.Pow(float64(a.Beta1), float64(a.Step))
	bc2 := 1 - math.Pow(float64(a.Beta2), float64(a.Step))
	stepSize := float32(float64(a.LR) / bc1)
	bc2sqrt := float32(math.Sqrt(bc2))
	defer b.enter()()
	b.launch(op, fileElem, "sdz_adamw", b.gridStride(int64(n)), dim3{256, 1, 1}, 0,
		pp, pg, pm, pv, int64(n), a.LR, a.Beta1, a.Beta2, a.Eps, a.WeightDecay, a.GradScale, stepSize, bc2sqrt)
}

// kernelWindow is the W the attention kernels take: window, or 0 (full
// causal attention) where window <= 0 or the window covers all t positions,
// so that full layers and windows wider than the sequence run the unchanged
// full path and W fits a C int.
func kernelWindow(window, t int) int {
	if window <= 0 || window >= t {
		return 0
	}
	return window
}

// tcWindowSuffix names the tensor-core kernel instance for kernel window
// w: "w" (windowed) or "" (full causal, which keeps the registers it had
// before windows; see attention_tc.cu).
func tcWindowSuffix(w int) string {
	if w > 0 {
		return "w"
	}
	return ""
}
