// Package cpu is sdzero's CPU compute backend (Go and Go assembly, no cgo): every kernels.Backend op
// on host memory, parallelised over a small pool of worker goroutines owned
// by the Backend (New(threads); 0 means GOMAXPROCS).
//
// MatMul is a BLIS-style blocked product (packed panels, cache blocking,
// dynamic work units, split-k for long reductions, a streaming path for
// m <= 4) around an assembly micro-kernel chosen at run time on amd64:
// AVX-512 (8x32) or AVX2/FMA (6x16); other architectures and older CPUs use
// a portable Go kernel. Softmax-type loops (cross-entropy, distillation,
// attention, SwiGLU), AdamW and sums of squares also have AVX2 paths with Go
// fallbacks; everything builds with CGO_ENABLED=0.
//
// Numerics follow PyTorch float32 conventions; reductions that decide
// stability (norm means, softmax sums, log-sum-exp, KL terms) accumulate in
// float64.
package cpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"

	"sdzero/kernels"
)

// Backend is the CPU implementation of kernels.Backend. Like every backend it
// is meant for use by one goroutine at a time; ops fan out internally to the
// worker pool.
type Backend struct {
	pool    *pool
	kern    microKernel
	scratch gemmScratch
	// rowScratch holds per-worker buffers for row-wise ops (see workerBuf).
	rowScratch [][]float32
	// bf is the bf16 matrix unit and its buffers (see NewBF16).
	bf bf16State

	mu  sync.Mutex
	err error // first error since the last Sync
}

// New returns a CPU backend using threads goroutines for its ops
// (threads <= 0 means runtime.GOMAXPROCS(0)).
func New(threads int) *Backend { return newWithKernel(threads, bestKernel()) }

// newWithKernel is New with a given MatMul micro-kernel (tests use it to
// cover every kernel the machine can run).
func newWithKernel(threads int, kern microKernel) *Backend {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	p := newPool(threads)
	b := &Backend{pool: p, kern: kern}
	// The workers only reference the pool state, so the Backend can be
	// collected; stopping the state then ends the workers.
	runtime.AddCleanup(b, func(st *poolState) { st.stop() }, p.st)
	return b
}

// Kernel names the MatMul micro-kernel in use ("avx512", "avx2" or "go").
func (be *Backend) Kernel() string { return be.kern.name }

// Threads returns the number of goroutines the backend's ops may use.
func (be *Backend) Threads() int { return be.pool.n }

// Name returns "cpu".
func (be *Backend) Name() string { return "cpu" }

// Supports reports true for F32 and I32, and for BF16 on backends from
// NewBF16 on CPUs with AMX or AVX512_BF16; F16 (and BF16 otherwise) is a
// storage type only.
func (be *Backend) Supports(d kernels.DType) bool {
	return d == kernels.F32 || d == kernels.I32 || d == kernels.BF16 && be.bf.kind != bf16None
}

// fail records the first error for Sync.
func (be *Backend) fail(op string, format string, args ...any) {
	be.mu.Lock()
	if be.err == nil {
		be.err = fmt.Errorf("cpu %s: %s", op, fmt.Sprintf(format, args...))
	}
	be.mu.Unlock()
}

// Sync returns (and clears) the first error an op recorded since the
// previous Sync; CPU ops run synchronously, so there is nothing to wait for.
func (be *Backend) Sync() error {
	be.mu.Lock()
	defer be.mu.Unlock()
	err := be.err
	be.err = nil
	return err
}

// buffer is the storage behind one Alloc: exactly one of the slices is set,
// according to the dtype.
type buffer struct {
	dtype kernels.DType
	f     []float32
	i     []int32
	h     []uint16 // BF16 or F16 bits
}

// Backend returns "cpu".
func (*buffer) Backend() string { return "cpu" }

// Alloc returns a zero-filled tensor of n elements.
func (be *Backend) Alloc(d kernels.DType, n int) (kernels.Tensor, error) {
	if n < 0 {
		return kernels.Tensor{}, fmt.Errorf("cpu Alloc: negative size %d", n)
	}
	b := &buffer{dtype: d}
	switch d {
	case kernels.F32:
		b.f = make([]float32, n)
		if n > 0 {
			adviseHuge(unsafe.Pointer(&b.f[0]), 4*n)
		}
	case kernels.I32:
		b.i = make([]int32, n)
	case kernels.BF16, kernels.F16:
		b.h = make([]uint16, n)
		if n > 0 {
			adviseHuge(unsafe.Pointer(&b.h[0]), 2*n)
		}
	default:
		return kernels.Tensor{}, fmt.Errorf("cpu Alloc: unsupported dtype %v", d)
	}
	return kernels.Tensor{DType: d, N: n, Buf: b}, nil
}

// Free drops the tensor's memory (the garbage collector reclaims it once no
// view refers to it).
func (be *Backend) Free(t kernels.Tensor) {
	if !t.Valid() {
		return
	}
	b := buf("Free", t)
	b.f, b.i, b.h = nil, nil, nil
}

func buf(op string, t kernels.Tensor) *buffer {
	if !t.Valid() {
		panic(fmt.Sprintf("cpu %s: invalid (zero) tensor", op))
	}
	b, ok := t.Buf.(*buffer)
	if !ok {
		panic(fmt.Sprintf("cpu %s: tensor belongs to backend %q", op, t.Buf.Backend()))
	}
	if b.dtype != t.DType {
		panic(fmt.Sprintf("cpu %s: tensor dtype %v but buffer holds %v", op, t.DType, b.dtype))
	}
	return b
}

func checkN(op string, t kernels.Tensor, n int) {
	if n < 0 || n > t.N {
		panic(fmt.Sprintf("cpu %s: need %d elements, tensor has %d", op, n, t.N))
	}
}

// f32 returns the first n float32 elements of t, panicking (naming op) if t
// is not F32 or is shorter than n.
func f32(op string, t kernels.Tensor, n int) []float32 {
	b := buf(op, t)
	if t.DType != kernels.F32 {
		panic(fmt.Sprintf("cpu %s: want F32 tensor, got %v", op, t.DType))
	}
	checkN(op, t, n)
	if t.Off < 0 || t.Off+n > len(b.f) {
		panic(fmt.Sprintf("cpu %s: view [%d,%d) outside buffer of %d (freed?)", op, t.Off, t.Off+n, len(b.f)))
	}
	return b.f[t.Off : t.Off+n : t.Off+n]
}

// i32 is f32 for I32 tensors.
func i32(op string, t kernels.Tensor, n int) []int32 {
	b := buf(op, t)
	if t.DType != kernels.I32 {
		panic(fmt.Sprintf("cpu %s: want I32 tensor, got %v", op, t.DType))
	}
	checkN(op, t, n)
	if t.Off < 0 || t.Off+n > len(b.i) {
		panic(fmt.Sprintf("cpu %s: view [%d,%d) outside buffer of %d (freed?)", op, t.Off, t.Off+n, len(b.i)))
	}
	return b.i[t.Off : t.Off+n : t.Off+n]
}

// u16 is f32 for BF16/F16 tensors.
func u16(op string, t kernels.Tensor, n int) []uint16 {
	b := buf(op, t)
	if t.DType != kernels.BF16 && t.DType != kernels.F16 {
		panic(fmt.Sprintf("cpu %s: want BF16/F16 tensor, got %v", op, t.DType))
	}
	checkN(op, t, n)
	if t.Off < 0 || t.Off+n > len(b.h) {
		panic(fmt.Sprintf("cpu %s: view [%d,%d) outside buffer of %d (freed?)", op, t.Off, t.Off+n, len(b.h)))
	}
	return b.h[t.Off : t.Off+n : t.Off+n]
}

// Upload copies src into dst[0:len(src)], rounding to nearest even for
// BF16/F16 destinations.
func (be *Backend) Upload(dst kernels.Tensor, src []float32) {
	const op = "Upload"
	switch dst.DType {
	case kernels.F32:
		copy(f32(op, dst, len(src)), src)
	case kernels.BF16:
		d := u16(op, dst, len(src))
		for i, v := range src {
			d[i] = kernels.F32ToBF16(v)
		}
	case kernels.F16:
		d := u16(op, dst, len(src))
		for i, v := range src {
			d[i] = kernels.F32ToF16(v)
		}
	default:
		panic(fmt.Sprintf("cpu %s: cannot upload float32 into %v tensor", op, dst.DType))
	}
}

// Download copies src[0:len(dst)] into dst as float32.
func (be *Backend) Download(dst []float32, src kernels.Tensor) {
	const op = "Download"
	switch src.DType {
	case kernels.F32:
		copy(dst, f32(op, src, len(dst)))
	case kernels.BF16:
		s := u16(op, src, len(dst))
		for i, v := range s {
			dst[i] = kernels.BF16ToF32(v)
		}
	case kernels.F16:
		s := u16(op, src, len(dst))
		for i, v := range s {
			dst[i] = kernels.F16ToF32(v)
		}
	default:
		panic(fmt.Sprintf("cpu %s: cannot download %v tensor as float32", op, src.DType))
	}
}

// UploadInt32 copies ids into an I32 tensor.
func (be *Backend) UploadInt32(dst kernels.Tensor, src []int32) {
	copy(i32("UploadInt32", dst, len(src)), src)
}

// DownloadInt32 copies the first len(dst) elements of an I32 tensor.
func (be *Backend) DownloadInt32(dst []int32, src kernels.Tensor) {
	copy(dst, i32("DownloadInt32", src, len(dst)))
}

// UploadRaw copies little-endian bytes into dst, bit for bit.
func (be *Backend) UploadRaw(dst kernels.Tensor, src []byte) {
	const op = "UploadRaw"
	es := dst.DType.Size()
	if len(src)%es != 0 {
		panic(fmt.Sprintf("cpu %s: %d bytes is not a whole number of %v elements", op, len(src), dst.DType))
	}
	n := len(src) / es
	switch dst.DType {
	case kernels.F32:
		d := f32(op, dst, n)
		for i := range d {
			d[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case kernels.I32:
		d := i32(op, dst, n)
		for i := range d {
			d[i] = int32(binary.LittleEndian.Uint32(src[4*i:]))
		}
	default:
		d := u16(op, dst, n)
		for i := range d {
			d[i] = binary.LittleEndian.Uint16(src[2*i:])
		}
	}
}

// DownloadRaw copies len(dst) bytes of src's little-endian storage.
func (be *Backend) DownloadRaw(dst []byte, src kernels.Tensor) {
	const op = "DownloadRaw"
	es := src.DType.Size()
	if len(dst)%es != 0 {
		panic(fmt.Sprintf("cpu %s: %d bytes is not a whole number of %v elements", op, len(dst), src.DType))
	}
	n := len(dst) / es
	switch src.DType {
	case kernels.F32:
		s := f32(op, src, n)
		for i, v := range s {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	case kernels.I32:
		s := i32(op, src, n)
		for i, v := range s {
			binary.LittleEndian.PutUint32(dst[4*i:], uint32(v))
		}
	default:
		s := u16(op, src, n)
		for i, v := range s {
			binary.LittleEndian.PutUint16(dst[2*i:], v)
		}
	}
}

// Copy copies src into dst (same dtype and N).
func (be *Backend) Copy(dst, src kernels.Tensor) {
	const op = "Copy"
	if dst.DType != src.DType || dst.N != src.N {
		panic(fmt.Sprintf("cpu %s: dst %v[%d] vs src %v[%d]", op, dst.DType, dst.N, src.DType, src.N))
	}
	switch dst.DType {
	case kernels.F32:
		copy(f32(op, dst, dst.N), f32(op, src, src.N))
	case kernels.I32:
		copy(i32(op, dst, dst.N), i32(op, src, src.N))
	default:
		copy(u16(op, dst, dst.N), u16(op, src, src.N))
	}
}

// Convert copies src into dst converting between F32, BF16 and F16.
func (be *Backend) Convert(dst, src kernels.Tensor) {
	const op = "Convert"
	if dst.N != src.N {
		panic(fmt.Sprintf("cpu %s: dst has %d elements, src %d", op, dst.N, src.N))
	}
	if dst.DType == src.DType {
		be.Copy(dst, src)
		return
	}
	n := dst.N
	switch {
	case src.DType == kernels.F32 && dst.DType == kernels.BF16:
		s, d := f32(op, src, n), u16(op, dst, n)
		be.parallelFor(n, 1<<15, func(lo, hi int) { f32ToBF16Slice(d[lo:hi], s[lo:hi]) })
	case src.DType == kernels.F32 && dst.DType == kernels.F16:
		s, d := f32(op, src, n), u16(op, dst, n)
		be.parallelFor(n, 1<<15, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				d[i] = kernels.F32ToF16(s[i])
			}
		})
	case src.DType == kernels.BF16 && dst.DType == kernels.F32:
		s, d := u16(op, src, n), f32(op, dst, n)
		be.parallelFor(n, 1<<15, func(lo, hi int) { bf16ToF32Slice(d[lo:hi], s[lo:hi]) })
	case src.DType == kernels.F16 && dst.DType == kernels.F32:
		s, d := u16(op, src, n), f32(op, dst, n)
		be.parallelFor(n, 1<<15, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				d[i] = kernels.F16ToF32(s[i])
			}
		})
	case src.DType == kernels.BF16 && dst.DType == kernels.F16:
		s, d := u16(op, src, n), u16(op, dst, n)
		for i := range d {
			d[i] = kernels.F32ToF16(kernels.BF16ToF32(s[i]))
		}
	case src.DType == kernels.F16 && dst.DType == kernels.BF16:
		s, d := u16(op, src, n), u16(op, dst, n)
		for i := range d {
			d[i] = kernels.F32ToBF16(kernels.F16ToF32(s[i]))
		}
	default:
		panic(fmt.Sprintf("cpu %s: cannot convert %v to %v", op, src.DType, dst.DType))
	}
}
