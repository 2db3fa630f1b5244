// Package cuda is sdzero's NVIDIA GPU backend. It implements
// kernels.Backend with the CUDA driver API, cuBLAS and NVRTC, all loaded at
// run time through purego: the binary builds with CGO_ENABLED=0 and needs
// no CUDA toolkit, only the driver and the libraries at run time.
//
// Kernels are CUDA C sources embedded in the binary (kernels/cuda/*.cu),
// compiled by NVRTC for the device at first use and cached on disk. GEMMs go
// through cuBLAS. Memory comes from a caching allocator over cuMemAlloc; all
// work is queued on one stream, and errors surface at Sync.
//
// Testing without a GPU: besides unit tests of the library search, the
// compile cache and the conversions, the tests build a CPU emulator of the
// kernels with g++ (testdata/emu: CUDA threads as coroutines, warp
// primitives as barriers) that also fakes the driver, cuBLAS and NVRTC, and
// run the conformance suite through this package's real Go code against it.
// On a GPU machine, scripts/gpu-check.sh prepares the real run.
package cuda

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"unsafe"

	"github.com/ebitengine/purego"

	"sdzero/kernels"
)

// Options configure New.
type Options struct {
	// Device is the CUDA device ordinal.
	Device int
	// LibDir is searched first for the CUDA libraries (a path list).
	LibDir string
	// CacheDir holds compiled kernels; empty means $SDZERO_CACHE_DIR or
	// os.UserCacheDir()/sdzero/cuda.
	CacheDir string
	// TF32 lets F32 GEMMs use TF32 tensor cores (about 3 significant
	// digits on inputs: faster, but outside the fp32 conformance
	// tolerance). False is strict FP32.
	TF32 bool
	// NoTensorCoreAttention runs BF16 attention on the CUDA-core kernels
	// (inputs widened to F32) instead of attention_tc.cu; NoGraphs makes
	// Record fail, so callers queue every op themselves. Both are escape
	// hatches (sdzero reads SDZERO_CUDA_NO_TC and SDZERO_CUDA_NO_GRAPHS):
	// should either path misbehave on some GPU, the rest still runs.
	NoTensorCoreAttention bool
	NoGraphs              bool
}

// Device-side failure codes written by kernels into the error word.
var deviceErrOps = map[int32]string{
	1: "Embedding: id out of range",
	2: "EmbeddingBackward: id out of range",
	3: "GatherRows: index out of range",
	4: "CrossEntropy: target >= vocab",
	5: "LogProbs: target >= vocab",
}

const (
	stageBytes    = 4 << 20 // each of the two pinned staging buffers
	argAreaBytes  = 4096    // kernel parameter block (pinned)
	maxKernelArgs = 32
	sumsqParts    = 1024
)

// Backend is the CUDA implementation of kernels.Backend. Like every
// backend it is used by one goroutine at a time; each call pins its
// goroutine to an OS thread and makes the context current there.
type Backend struct {
	opts Options

	drv   driverAPI
	blas  blasAPI
	nvrtc nvrtcAPI

	dev     int32
	ctx     uintptr
	stream  uintptr
	cublas  uintptr
	ctxHeld bool

	devName     string
	ccMajor     int
	ccMinor     int
	numSM       int
	smemOptin   int
	driverVer   int
	nvrtcVer    string
	blasVer     int
	target      compileTarget
	cacheDir    string
	libs        libSearch
	cacheErrors []string

	mods    map[string]*module
	smemSet map[uintptr]int

	alloc *cachingAllocator

	// Pinned host memory: the kernel argument block, cuBLAS scalars and
	// two staging buffers for transfers (each with an event marking the
	// end of its last copy).
	args    unsafe.Pointer
	stage   [2]unsafe.Pointer
	stageEv [2]uintptr
	stageIn [2]bool
	nextStg int

	errWord uintptr // device int32 written by kernels' range checks
	sumsq   uintptr // device doubles: partials + result

	invFreq map[[2]uint64]uintptr

	firstErr error
	closed   bool

	// capturing is set while Record runs fn: host-side transfers,
	// allocations and syncs are refused then.
	capturing bool
}

// module is one compiled .cu file and its looked-up kernels.
type module struct {
	handle uintptr
	funcs  map[string]uintptr
}

// devBuf is the kernels.Buffer of this backend.
type devBuf struct {
	ptr   uintptr
	class int
	n     int
	dtype kernels.DType
	freed bool
}

// Backend returns "cuda".
func (*devBuf) Backend() string { return "cuda" }

var _ kernels.Backend = (*Backend)(nil)

// Name returns "cuda".
func (b *Backend) Name() string { return "cuda" }

// Supports reports true for BF16 and F16 (MatMul inputs) as well as F32/I32.
func (b *Backend) Supports(d kernels.DType) bool {
	switch d {
	case kernels.F32, kernels.I32, kernels.BF16, kernels.F16:
		return true
	}
	return false
}

// Describe returns a one-line summary of the device and libraries.
func (b *Backend) Describe() string {
	return fmt.Sprintf("%s (sm_%d%d, %d SMs), driver %d.%d, cuBLAS %d, NVRTC %s -> %s, TF32 %v",
		b.devName, b.ccMajor, b.ccMinor, b.numSM, b.driverVer/1000, (b.driverVer%1000)/10, b.blasVer,
		b.nvrtcVer, b.target.Arch, b.opts.TF32)
}

// dlopen opens lib by path (or by soname when the search found no path).
func dlopen(k libKind, f libFound) (uintptr, string, error) {
	if f.Path != "" {
		h, err := purego.Dlopen(f.Path, rtldNowGlobal)
		if err != nil {
			return 0, f.Path, fmt.Errorf("dlopen %s: %w", f.Path, err)
		}
		return h, f.Path, nil
	}
	var errs []string
	for _, n := range libSonames[k] {
		h, err := purego.Dlopen(n, rtldNowGlobal)
		if err == nil {
			return h, n, nil
		}
		errs = append(errs, err.Error())
	}
	return 0, "", fmt.Errorf("dlopen %s by soname: %s", k, strings.Join(errs, "; "))
}

// loadLibraries finds and opens the four libraries and binds their
// functions into b.
func (b *Backend) loadLibraries() error {
	env := osSearchEnv()
	s := findLibs(searchDirs(b.opts.LibDir, env), env)
	b.libs = s
	handles := [numLibs]uintptr{}
	paths := [numLibs]string{}
	var failed []libKind
	var errs []string
	for k := libKind(0); k < numLibs; k++ {
		if k == libNVRTC && s.Libs[k].Path != "" {
			// NVRTC dlopens its builtins library by soname at compile
			// time; preloading it by path makes that lookup succeed.
			if bi := nvrtcBuiltins(s.Libs[k].Path, env); bi != "" {
				purego.Dlopen(bi, rtldNowGlobal)
			}
		}
		h, p, err := dlopen(k, s.Libs[k])
		if err != nil {
			failed = append(failed, k)
			if s.Libs[k].Path != "" {
				// Found but unusable (wrong architecture, missing
				// dependency): the loader's message matters.
				errs = append(errs, err.Error())
			}
			continue
		}
		handles[k], paths[k] = h, p
	}
	if len(failed) > 0 {
		msg := "cuda: CUDA libraries not available: "
		if len(errs) > 0 {
			msg += strings.Join(errs, "; ") + "; "
		}
		return errors.New(msg + s.describe(failed))
	}
	if err := bindAll(handles[libDriver], paths[libDriver], b.drv.symbols()); err != nil {
		return fmt.Errorf("cuda: %w", err)
	}
	if err := bindAll(handles[libBLAS], paths[libBLAS], b.blas.symbols()); err != nil {
		return fmt.Errorf("cuda: %w", err)
	}
	if err := bindAll(handles[libBLASLt], paths[libBLASLt], []symbol{{name: "cublasLtGetVersion", fptr: &b.blas.cublasLtGetVersion, optional: true}}); err != nil {
		return fmt.Errorf("cuda: %w", err)
	}
	if err := bindAll(handles[libNVRTC], paths[libNVRTC], b.nvrtc.symbols()); err != nil {
		return fmt.Errorf("cuda: %w", err)
	}
	return nil
}

// Available reports whether a CUDA device can be used, with a description
// of it or of why not.
func Available() (bool, string) {
	b := &Backend{}
	if err := b.loadLibraries(); err != nil {
		return false, err.Error()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := b.drv.err("cuInit", b.drv.cuInit(0)); err != nil {
		return false, "cuda: " + err.Error()
	}
	var n int32
	if err := b.drv.err("cuDeviceGetCount", b.drv.cuDeviceGetCount(&n)); err != nil {
		return false, "cuda: " + err.Error()
	}
	if n == 0 {
		return false, "cuda: no CUDA device"
	}
	var dev int32
	if err := b.drv.err("cuDeviceGet", b.drv.cuDeviceGet(&dev, 0)); err != nil {
		return false, "cuda: " + err.Error()
	}
	name := make([]byte, 256)
	b.drv.cuDeviceGetName(&name[0], int32(len(name)), dev)
	return true, fmt.Sprintf("%d CUDA device(s); device 0: %s", n, goString(&name[0]))
}

// New opens device opts.Device. It returns a descriptive error when the
// driver, a library or the device is missing (callers fall back to CPU).
func New(opts Options) (*Backend, error) {
	b := &Backend{opts: opts, mods: map[string]*module{}, smemSet: map[uintptr]int{}, invFreq: map[[2]uint64]uintptr{}}
	if err := b.loadLibraries(); err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := b.init(); err != nil {
		b.destroy()
		return nil, fmt.Errorf("cuda: device %d: %w", opts.Device, err)
	}
	return b, nil
}

// init creates the context, stream, cuBLAS handle and pinned buffers.
func (b *Backend) init() error {
	d := &b.drv
	if err := d.err("cuInit", d.cuInit(0)); err != nil {
		return err
	}
	var v int32
	if err := d.err("cuDriverGetVersion", d.cuDriverGetVersion(&v)); err != nil {
		return err
	}
	b.driverVer = int(v)
	var n int32
	if err := d.err("cuDeviceGetCount", d.cuDeviceGetCount(&n)); err != nil {
		return err
	}
	if b.opts.Device < 0 || b.opts.Device >= int(n) {
		return fmt.Errorf("no such device (%d CUDA devices)", n)
	}
	if err := d.err("cuDeviceGet", d.cuDeviceGet(&b.dev, int32(b.opts.Device))); err != nil {
		return err
	}
	name := make([]byte, 256)
	if err := d.err("cuDeviceGetName", d.cuDeviceGetName(&name[0], int32(len(name)), b.dev)); err != nil {
		return err
	}
	b.devName = goString(&name[0])
	attr := func(a int32) (int, error) {
		var x int32
		err := d.err("cuDeviceGetAttribute", d.cuDeviceGetAttribute(&x, a, b.dev))
		return int(x), err
	}
	var err error
	if b.ccMajor, err = attr(cuAttrCCMajor); err != nil {
		return err
	}
	if b.ccMinor, err = attr(cuAttrCCMinor); err != nil {
		return err
	}
	if b.numSM, err = attr(cuAttrMultiprocessorCount); err != nil {
		return err
	}
	if b.smemOptin, err = attr(cuAttrSmemOptin); err != nil {
		return err
	}
	if b.ccMajor < 6 {
		return fmt.Errorf("%s has compute capability %d.%d; sdzero needs 6.0 or newer", b.devName, b.ccMajor, b.ccMinor)
	}
	// The primary context is the one cuBLAS (through the runtime API)
	// uses too, so both libraries share memory and streams.
	if err := d.err("cuDevicePrimaryCtxRetain", d.cuDevicePrimaryCtxRetain(&b.ctx, b.dev)); err != nil {
		return err
	}
	b.ctxHeld = true
	if err := d.err("cuCtxSetCurrent", d.cuCtxSetCurrent(b.ctx)); err != nil {
		return err
	}
	if err := d.err("cuStreamCreate", d.cuStreamCreate(&b.stream, cuStreamNonBlocking)); err != nil {
		return err
	}
	bl := &b.blas
	if err := bl.err("cublasCreate", bl.cublasCreate(&b.cublas)); err != nil {
		return err
	}
	if err := bl.err("cublasSetStream", bl.cublasSetStream(b.cublas, b.stream)); err != nil {
		return err
	}
	if err := bl.err("cublasSetMathMode", bl.cublasSetMathMode(b.cublas, cublasDefaultMath)); err != nil {
		return err
	}
	var bv int32
	if bl.cublasGetVersion != nil && bl.cublasGetVersion(b.cublas, &bv) == 0 {
		b.blasVer = int(bv)
	}
	if b.nvrtcVer, err = b.nvrtc.version(); err != nil {
		return err
	}
	archs, err := b.nvrtc.supportedArchs()
	if err != nil {
		return err
	}
	if b.target, err = chooseTarget(b.ccMajor, b.ccMinor, archs); err != nil {
		return err
	}
	if b.cacheDir, err = cacheDir(b.opts.CacheDir, os.Getenv); err != nil {
		// No user cache dir (HOME unset): the temp dir still saves
		// recompiling within this machine's lifetime.
		b.cacheDir = filepath.Join(os.TempDir(), "sdzero-cuda-cache")
	}
	if err := d.err("cuMemAllocHost", d.cuMemAllocHost(&b.args, argAreaBytes)); err != nil {
		return err
	}
	for i := range b.stage {
		if err := d.err("cuMemAllocHost", d.cuMemAllocHost(&b.stage[i], stageBytes)); err != nil {
			return err
		}
		if err := d.err("cuEventCreate", d.cuEventCreate(&b.stageEv[i], cuEventDisableTiming)); err != nil {
			return err
		}
	}
	b.alloc = newCachingAllocator(devMem{b})
	if err := d.err("cuMemAlloc", d.cuMemAlloc(&b.errWord, 256)); err != nil {
		return err
	}
	if err := d.err("cuMemsetD8Async", d.cuMemsetD8Async(b.errWord, 0, 256, b.stream)); err != nil {
		return err
	}
	if err := d.err("cuMemAlloc", d.cuMemAlloc(&b.sumsq, 8*(sumsqParts+1))); err != nil {
		return err
	}
	return d.err("cuStreamSynchronize", d.cuStreamSynchronize(b.stream))
}

// devMem adapts the driver to the caching allocator.
type devMem struct{ b *Backend }

func (m devMem) alloc(n int) (uintptr, error) {
	var p uintptr
	err := m.b.drv.err("cuMemAlloc", m.b.drv.cuMemAlloc(&p, uint64(n)))
	return p, err
}

func (m devMem) free(p uintptr) error { return m.b.drv.err("cuMemFree", m.b.drv.cuMemFree(p)) }

func (m devMem) sync() error {
	return m.b.drv.err("cuStreamSynchronize", m.b.drv.cuStreamSynchronize(m.b.stream))
}

// destroy releases everything init created (safe on a partial init).
func (b *Backend) destroy() {
	d := &b.drv
	if b.ctxHeld {
		d.cuCtxSetCurrent(b.ctx)
	}
	if b.stream != 0 {
		d.cuStreamSynchronize(b.stream)
	}
	for _, m := range b.mods {
		d.cuModuleUnload(m.handle)
	}
	b.mods = nil
	for _, p := range b.invFreq {
		d.cuMemFree(p)
	}
	if b.alloc != nil {
		b.alloc.release()
	}
	if b.errWord != 0 {
		d.cuMemFree(b.errWord)
	}
	if b.sumsq != 0 {
		d.cuMemFree(b.sumsq)
	}
	for i := range b.stage {
		if b.stageEv[i] != 0 {
			d.cuEventDestroy(b.stageEv[i])
		}
		if b.stage[i] != nil {
			d.cuMemFreeHost(b.stage[i])
		}
	}
	if b.args != nil {
		d.cuMemFreeHost(b.args)
	}
	if b.cublas != 0 {
		b.blas.cublasDestroy(b.cublas)
	}
	if b.stream != 0 {
		d.cuStreamDestroy(b.stream)
	}
	if b.ctxHeld {
		d.cuDevicePrimaryCtxRelease(b.dev)
	}
	b.closed = true
}

// Close waits for queued work and releases the device. Tensors still
// allocated become invalid. It returns the first pending error.
func (b *Backend) Close() error {
	if b.closed {
		return nil
	}
	err := b.Sync()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.destroy()
	return err
}

// enter pins the calling goroutine to its OS thread and makes the context
// current there (a CUDA context is current per OS thread); the returned
// function undoes the pinning.
func (b *Backend) enter() func() {
	if b.closed {
		panic("cuda: backend used after Close")
	}
	runtime.LockOSThread()
	if r := b.drv.cuCtxSetCurrent(b.ctx); r != 0 {
		b.fail("cuCtxSetCurrent", b.drv.err("cuCtxSetCurrent", r))
	}
	return runtime.UnlockOSThread
}

// fail records the first error, naming the op.
func (b *Backend) fail(op string, err error) {
	if err != nil && b.firstErr == nil {
		b.firstErr = fmt.Errorf("cuda %s: %w", op, err)
	}
}

// check records a driver error for op.
func (b *Backend) check(op, call string, r int32) bool {
	if r != 0 {
		b.fail(op, b.drv.err(call, r))
		return false
	}
	return true
}

// Sync waits for the stream and returns the first error since the last
// Sync, including failures that kernels detected on the device.
func (b *Backend) Sync() error {
	if b.capturing {
		return fmt.Errorf("cuda Sync: %w", errCapturing)
	}
	defer b.enter()()
	b.check("Sync", "cuStreamSynchronize", b.drv.cuStreamSynchronize(b.stream))
	if b.firstErr == nil || !isSticky(b.firstErr) {
		// Read (and clear) the kernels' error word.
		b.waitStage(0)
		if b.check("Sync", "cuMemcpyDtoHAsync", b.drv.cuMemcpyDtoHAsync(b.stage[0], b.errWord, 4, b.stream)) &&
			b.check("Sync", "cuStreamSynchronize", b.drv.cuStreamSynchronize(b.stream)) {
			if code := *(*int32)(b.stage[0]); code != 0 {
				msg, ok := deviceErrOps[code]
				if !ok {
					msg = fmt.Sprintf("device check %d failed", code)
				}
				if b.firstErr == nil {
					b.firstErr = fmt.Errorf("cuda %s (detected on the device)", msg)
				}
				b.check("Sync", "cuMemsetD8Async", b.drv.cuMemsetD8Async(b.errWord, 0, 4, b.stream))
				b.check("Sync", "cuStreamSynchronize", b.drv.cuStreamSynchronize(b.stream))
			}
		}
	}
	err := b.firstErr
	b.firstErr = nil
	return err
}

var _ kernels.MemoryMeter = (*Backend)(nil)

// PeakBytes is the largest InUseBytes since the backend opened or the last
// ResetPeak.
func (b *Backend) PeakBytes() int64 { return b.alloc.stats.PeakInUseBytes }

// ResetPeak sets the peak to the memory in use now.
func (b *Backend) ResetPeak() { b.alloc.stats.PeakInUseBytes = b.alloc.stats.InUseBytes }

// MemoryStats returns the allocator's counters and the device's free and
// total memory.
func (b *Backend) MemoryStats() Stats {
	defer b.enter()()
	s := b.alloc.stats
	var free, total uint64
	if b.drv.cuMemGetInfo != nil && b.drv.cuMemGetInfo(&free, &total) == 0 {
		s.FreeDeviceBytes, s.TotalDeviceBytes = int64(free), int64(total)
	}
	return s
}

// ReleaseCache returns the allocator's cached blocks to the driver.
func (b *Backend) ReleaseCache() error {
	defer b.enter()()
	return b.alloc.release()
}

// module compiles (or loads from the disk cache) one .cu file.
func (b *Backend) module(file string) (*module, error) {
	if m, ok := b.mods[file]; ok {
		return m, nil
	}
	src, err := moduleSource(file)
	if err != nil {
		return nil, err
	}
	opts := compileOptions(b.target)
	key := cacheKey(src, opts, b.target.Arch, b.nvrtcVer, b.driverVer)
	path := cacheFile(b.cacheDir, key, b.target.Cubin)
	var handle uintptr
	if img := readCache(path); img != nil {
		if b.drv.cuModuleLoadData(&handle, unsafe.Pointer(&img[0])) != 0 {
			handle = 0 // a bad cache entry: recompile below
		}
		runtime.KeepAlive(img)
	}
	if handle == 0 {
		img, err := b.nvrtc.compile(file, src, opts, b.target)
		if err != nil {
			return nil, err
		}
		if err := b.drv.err("cuModuleLoadData", b.drv.cuModuleLoadData(&handle, unsafe.Pointer(&img[0]))); err != nil {
			return nil, fmt.Errorf("load %s for %s: %w", file, b.target.Arch, err)
		}
		runtime.KeepAlive(img)
		if err := writeFileAtomic(path, img); err != nil {
			// The cache is an optimisation: note and go on.
			b.cacheErrors = append(b.cacheErrors, err.Error())
		}
	}
	m := &module{handle: handle, funcs: map[string]uintptr{}}
	b.mods[file] = m
	return m, nil
}

// fn returns kernel name of file.
func (b *Backend) fn(file, name string) (uintptr, error) {
	m, err := b.module(file)
	if err != nil {
		return 0, err
	}
	if f, ok := m.funcs[name]; ok {
		return f, nil
	}
	var f uintptr
	if err := b.drv.err("cuModuleGetFunction", b.drv.cuModuleGetFunction(&f, m.handle, name)); err != nil {
		return 0, fmt.Errorf("kernel %s in %s: %w", name, file, err)
	}
	m.funcs[name] = f
	return f, nil
}

// dim3 is a launch grid or block shape.
type dim3 [3]uint32

func grid1(n int64, block int, maxBlocks int) dim3 {
	g := (n + int64(block) - 1) / int64(block)
	if g < 1 {
		g = 1
	}
	if g > int64(maxBlocks) {
		g = int64(maxBlocks)
	}
	return dim3{uint32(g), 1, 1}
}

// gridStride is the grid for a grid-stride loop over n elements.
func (b *Backend) gridStride(n int64) dim3 { return grid1(n, 256, b.numSM*32) }

// devPtr is a device address kernel argument.
type devPtr uintptr

// launch queues kernel name of file. Arguments: devPtr (pointer), int
// (C int, must fit 32 bits), int64 (long long), float32, float64.
func (b *Backend) launch(op, file, name string, grid, block dim3, smem int, args ...any) {
	if b.firstErr != nil && isSticky(b.firstErr) {
		return
	}
	f, err := b.fn(file, name)
	if err != nil {
		b.fail(op, err)
		return
	}
	if smem > defaultSmemPerBlock && b.smemSet[f] < smem {
		if smem > b.smemOptin {
			b.fail(op, fmt.Errorf("%s needs %d bytes of shared memory; the device allows %d", name, smem, b.smemOptin))
			return
		}
		if !b.check(op, "cuFuncSetAttribute", b.drv.cuFuncSetAttribute(f, cuFuncAttrMaxDynamicSmem, int32(smem))) {
			return
		}
		b.smemSet[f] = smem
	}
	if len(args) > maxKernelArgs {
		panic(fmt.Sprintf("cuda: %s: %d kernel arguments (max %d)", name, len(args), maxKernelArgs))
	}
	// Layout of the pinned block: maxKernelArgs pointers, then one 8-byte
	// slot per value. cuLaunchKernel copies the values before returning.
	ptrs := unsafe.Slice((*uintptr)(b.args), maxKernelArgs)
	vals := unsafe.Add(b.args, 8*maxKernelArgs)
	for i, a := range args {
		slot := unsafe.Add(vals, 8*i)
		switch v := a.(type) {
		case devPtr:
			*(*uint64)(slot) = uint64(v)
		case int:
			if v < math.MinInt32 || v > math.MaxInt32 {
				panic(fmt.Sprintf("cuda: %s: argument %d = %d overflows a C int", name, i, v))
			}
			*(*int32)(slot) = int32(v)
		case int64:
			*(*int64)(slot) = v
		case float32:
			*(*float32)(slot) = v
		case float64:
			*(*float64)(slot) = v
		default:
			panic(fmt.Sprintf("cuda: %s: unsupported kernel argument type %T", name, a))
		}
		ptrs[i] = uintptr(slot)
	}
	r := b.drv.cuLaunchKernel(f, grid[0], grid[1], grid[2], block[0], block[1], block[2], uint32(smem), b.stream, b.args, 0)
	b.check(op, "cuLaunchKernel "+name, r)
}

// isSticky reports errors after which the context is unusable (a kernel
// fault), so that later launches are skipped instead of piling up errors.
func isSticky(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code {
	case 700, 701, 702, 709, 714, 715, 716, 719:
		return true
	}
	return false
}

// waitStage waits until staging buffer i is no longer being copied from.
func (b *Backend) waitStage(i int) {
	if b.stageIn[i] {
		b.check("transfer", "cuEventSynchronize", b.drv.cuEventSynchronize(b.stageEv[i]))
		b.stageIn[i] = false
	}
}

// uploadChunks streams n bytes to dst through the staging buffers; fill
// writes bytes [off, off+len(buf)) of the source into buf.
func (b *Backend) uploadChunks(op string, dst uintptr, n int, fill func(buf []byte, off int)) {
	for off := 0; off < n; off += stageBytes {
		c := min(stageBytes, n-off)
		i := b.nextStg
		b.nextStg ^= 1
		b.waitStage(i)
		fill(unsafe.Slice((*byte)(b.stage[i]), c), off)
		if !b.check(op, "cuMemcpyHtoDAsync", b.drv.cuMemcpyHtoDAsync(dst+uintptr(off), b.stage[i], uint64(c), b.stream)) {
			return
		}
		b.check(op, "cuEventRecord", b.drv.cuEventRecord(b.stageEv[i], b.stream))
		b.stageIn[i] = true
	}
}

// downloadChunks copies n bytes from src to the host; drain consumes
// bytes [off, off+len(buf)). It waits for all queued work.
func (b *Backend) downloadChunks(op string, src uintptr, n int, drain func(buf []byte, off int)) {
	for off := 0; off < n; off += stageBytes {
		c := min(stageBytes, n-off)
		b.waitStage(0)
		if !b.check(op, "cuMemcpyDtoHAsync", b.drv.cuMemcpyDtoHAsync(b.stage[0], src+uintptr(off), uint64(c), b.stream)) {
			return
		}
		if !b.check(op, "cuStreamSynchronize", b.drv.cuStreamSynchronize(b.stream)) {
			return
		}
		drain(unsafe.Slice((*byte)(b.stage[0]), c), off)
	}
}

// scratch allocates a temporary device block for one op; release it with
// b.alloc.put after queuing the kernels that use it (stream order keeps
// the reuse safe).
func (b *Backend) scratch(op string, bytes int) (uintptr, int, bool) {
	p, c, err := b.alloc.get(bytes)
	if err != nil {
		b.fail(op, err)
		return 0, 0, false
	}
	return p, c, true
}

// ropeTable returns the device inverse-frequency table for (theta,
// headDim), computed as Hugging Face does in float32:
// 1/(theta^(float32(2j)/float32(headDim))).
func (b *Backend) ropeTable(op string, theta float32, headDim int) (uintptr, bool) {
	key := [2]uint64{uint64(math.Float32bits(theta)), uint64(headDim)}
	if p, ok := b.invFreq[key]; ok {
		return p, true
	}
	if b.refuseInCapture(op) {
		return 0, false
	}
	tab := ropeInvFreq(theta, headDim)
	var p uintptr
	if !b.check(op, "cuMemAlloc", b.drv.cuMemAlloc(&p, uint64(4*len(tab)+4))) {
		return 0, false
	}
	b.uploadChunks(op, p, 4*len(tab), func(buf []byte, off int) {
		for i := 0; i < len(buf)/4; i++ {
			putF32(buf[4*i:], tab[off/4+i])
		}
	})
	b.invFreq[key] = p
	return p, true
}

// ropeInvFreq is HF's inv_freq in float32 (see ropeTable).
func ropeInvFreq(theta float32, headDim int) []float32 {
	half := headDim / 2
	out := make([]float32, half)
	for j := range half {
		e := float32(2*j) / float32(headDim)
		out[j] = float32(1) / float32(math.Pow(float64(theta), float64(e)))
	}
	return out
}

func putF32(b []byte, v float32) {
	u := math.Float32bits(v)
	b[0], b[1], b[2], b[3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
}
