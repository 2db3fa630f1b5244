package cuda

import (
	"fmt"
	"unsafe"

	"github.com/ebitengine/purego"
)

// Constants from cuda.h, cublas_api.h and library_types.h.
const (
	cuAttrMultiprocessorCount = 16
	cuAttrCCMajor             = 75
	cuAttrCCMinor             = 76
	cuAttrSmemOptin           = 97
	cuFuncAttrMaxDynamicSmem  = 8
	cuStreamNonBlocking       = 1
	cuEventDisableTiming      = 2
	cuStreamCaptureRelaxed    = 2

	cublasOpN             = 0
	cublasOpT             = 1
	cublasDefaultMath     = 0
	cublasCompute32F      = 68
	cublasCompute32FTF32  = 77
	cublasGemmDefault     = -1
	cudaR32F              = 0
	cudaR16F              = 2
	cudaR16BF             = 14
	defaultSmemPerBlock   = 48 << 10
	rtldNowGlobal         = purego.RTLD_NOW | purego.RTLD_GLOBAL
	cuErrorStubLibrary    = 34
	cuErrorNoDevice       = 100
	cuErrorOutOfMemory    = 2
	nvrtcErrorCompilation = 6
)

// driverAPI holds the CUDA driver functions the backend calls. Names with a
// _v2 suffix are the ABI symbols that cuda.h's macros map the plain names to.
type driverAPI struct {
	cuInit                    func(flags uint32) int32
	cuDriverGetVersion        func(v *int32) int32
	cuDeviceGetCount          func(n *int32) int32
	cuDeviceGet               func(dev *int32, ordinal int32) int32
	cuDeviceGetName           func(name *byte, n int32, dev int32) int32
	cuDeviceGetAttribute      func(v *int32, attr int32, dev int32) int32
	cuDevicePrimaryCtxRetain  func(ctx *uintptr, dev int32) int32
	cuDevicePrimaryCtxRelease func(dev int32) int32
	cuCtxSetCurrent           func(ctx uintptr) int32
	cuStreamCreate            func(s *uintptr, flags uint32) int32
	cuStreamDestroy           func(s uintptr) int32
	cuStreamSynchronize       func(s uintptr) int32
	cuMemAlloc                func(p *uintptr, size uint64) int32
	cuMemFree                 func(p uintptr) int32
	cuMemAllocHost            func(p *unsafe.Pointer, size uint64) int32
	cuMemFreeHost             func(p unsafe.Pointer) int32
	cuMemcpyHtoDAsync         func(dst uintptr, src unsafe.Pointer, n uint64, s uintptr) int32
	cuMemcpyDtoHAsync         func(dst unsafe.Pointer, src uintptr, n uint64, s uintptr) int32
	cuMemcpyDtoDAsync         func(dst, src uintptr, n uint64, s uintptr) int32
	cuMemsetD8Async           func(dst uintptr, v uint8, n uint64, s uintptr) int32
	cuMemsetD32Async          func(dst uintptr, v uint32, n uint64, s uintptr) int32
	cuMemGetInfo              func(free, total *uint64) int32
	cuModuleLoadData          func(m *uintptr, image unsafe.Pointer) int32
	cuModuleUnload            func(m uintptr) int32
	cuModuleGetFunction       func(f *uintptr, m uintptr, name string) int32
	cuFuncSetAttribute        func(f uintptr, attr int32, v int32) int32
	cuLaunchKernel            func(f uintptr, gx, gy, gz, bx, by, bz, smem uint32, s uintptr, params unsafe.Pointer, extra uintptr) int32
	cuEventCreate             func(e *uintptr, flags uint32) int32
	cuEventRecord             func(e, s uintptr) int32
	cuEventSynchronize        func(e uintptr) int32
	cuEventDestroy            func(e uintptr) int32
	cuGetErrorName            func(r int32, s **byte) int32
	cuGetErrorString          func(r int32, s **byte) int32
	// CUDA graphs (optional: Record reports their absence).
	cuStreamBeginCapture        func(s uintptr, mode int32) int32
	cuStreamEndCapture          func(s uintptr, g *uintptr) int32
	cuGraphInstantiateWithFlags func(exec *uintptr, g uintptr, flags uint64) int32
	cuGraphLaunch               func(exec, s uintptr) int32
	cuGraphExecDestroy          func(exec uintptr) int32
	cuGraphDestroy              func(g uintptr) int32
}

// blasAPI holds the cuBLAS functions (and cuBLASLt's version query).
type blasAPI struct {
	cublasCreate               func(h *uintptr) int32
	cublasDestroy              func(h uintptr) int32
	cublasSetStream            func(h, s uintptr) int32
	cublasSetMathMode          func(h uintptr, mode int32) int32
	cublasGetVersion           func(h uintptr, v *int32) int32
	cublasGetStatusName        func(s int32) string
	cublasGemmEx               func(h uintptr, ta, tb, m, n, k int32, alpha unsafe.Pointer, a uintptr, at, lda int32, b uintptr, bt, ldb int32, beta unsafe.Pointer, c uintptr, ct, ldc, compute, algo int32) int32
	cublasGemmStridedBatchedEx func(h uintptr, ta, tb, m, n, k int32, alpha unsafe.Pointer, a uintptr, at, lda int32, sa int64, b uintptr, bt, ldb int32, sb int64, beta unsafe.Pointer, c uintptr, ct, ldc int32, sc int64, batch, compute, algo int32) int32
	cublasLtGetVersion         func() uint64
}

// nvrtcAPI holds the NVRTC functions.
type nvrtcAPI struct {
	nvrtcVersion              func(major, minor *int32) int32
	nvrtcGetNumSupportedArchs func(n *int32) int32
	nvrtcGetSupportedArchs    func(archs *int32) int32
	nvrtcCreateProgram        func(prog *uintptr, src, name string, numHeaders int32, headers, includeNames uintptr) int32
	nvrtcCompileProgram       func(prog uintptr, numOptions int32, options unsafe.Pointer) int32
	nvrtcGetProgramLogSize    func(prog uintptr, n *uint64) int32
	nvrtcGetProgramLog        func(prog uintptr, log *byte) int32
	nvrtcGetPTXSize           func(prog uintptr, n *uint64) int32
	nvrtcGetPTX               func(prog uintptr, out *byte) int32
	nvrtcGetCUBINSize         func(prog uintptr, n *uint64) int32
	nvrtcGetCUBIN             func(prog uintptr, out *byte) int32
	nvrtcDestroyProgram       func(prog *uintptr) int32
	nvrtcGetErrorString       func(r int32) string
}

// symbol binds one C function of a dlopened library to fptr. An optional
// symbol (used for messages and statistics only) may be missing; its
// function then stays nil.
type symbol struct {
	name     string
	fptr     any
	optional bool
}

// bindAll resolves every symbol in lib (a dlopen handle) and reports all
// missing ones at once, naming the library path.
func bindAll(handle uintptr, path string, syms []symbol) error {
	var missing []string
	for _, s := range syms {
		addr, err := purego.Dlsym(handle, s.name)
		if err != nil || addr == 0 {
			if !s.optional {
				missing = append(missing, s.name)
			}
			continue
		}
		purego.RegisterFunc(s.fptr, addr)
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s lacks symbols %v (too old a version?)", path, missing)
	}
	return nil
}

func (d *driverAPI) symbols() []symbol {
	return []symbol{
		{name: "cuInit", fptr: &d.cuInit},
		{name: "cuDriverGetVersion", fptr: &d.cuDriverGetVersion},
		{name: "cuDeviceGetCount", fptr: &d.cuDeviceGetCount},
		{name: "cuDeviceGet", fptr: &d.cuDeviceGet},
		{name: "cuDeviceGetName", fptr: &d.cuDeviceGetName},
		{name: "cuDeviceGetAttribute", fptr: &d.cuDeviceGetAttribute},
		{name: "cuDevicePrimaryCtxRetain", fptr: &d.cuDevicePrimaryCtxRetain},
		{name: "cuDevicePrimaryCtxRelease_v2", fptr: &d.cuDevicePrimaryCtxRelease},
		{name: "cuCtxSetCurrent", fptr: &d.cuCtxSetCurrent},
		{name: "cuStreamCreate", fptr: &d.cuStreamCreate},
		{name: "cuStreamDestroy_v2", fptr: &d.cuStreamDestroy},
		{name: "cuStreamSynchronize", fptr: &d.cuStreamSynchronize},
		{name: "cuMemAlloc_v2", fptr: &d.cuMemAlloc},
		{name: "cuMemFree_v2", fptr: &d.cuMemFree},
		{name: "cuMemAllocHost_v2", fptr: &d.cuMemAllocHost},
		{name: "cuMemFreeHost", fptr: &d.cuMemFreeHost},
		{name: "cuMemcpyHtoDAsync_v2", fptr: &d.cuMemcpyHtoDAsync},
		{name: "cuMemcpyDtoHAsync_v2", fptr: &d.cuMemcpyDtoHAsync},
		{name: "cuMemcpyDtoDAsync_v2", fptr: &d.cuMemcpyDtoDAsync},
		{name: "cuMemsetD8Async", fptr: &d.cuMemsetD8Async},
		{name: "cuMemsetD32Async", fptr: &d.cuMemsetD32Async},
		{name: "cuMemGetInfo_v2", fptr: &d.cuMemGetInfo, optional: true},
		{name: "cuModuleLoadData", fptr: &d.cuModuleLoadData},
		{name: "cuModuleUnload", fptr: &d.cuModuleUnload},
		{name: "cuModuleGetFunction", fptr: &d.cuModuleGetFunction},
		{name: "cuFuncSetAttribute", fptr: &d.cuFuncSetAttribute},
		{name: "cuLaunchKernel", fptr: &d.cuLaunchKernel},
		{name: "cuEventCreate", fptr: &d.cuEventCreate},
		{name: "cuEventRecord", fptr: &d.cuEventRecord},
		{name: "cuEventSynchronize", fptr: &d.cuEventSynchronize},
		{name: "cuEventDestroy_v2", fptr: &d.cuEventDestroy},
		{name: "cuGetErrorName", fptr: &d.cuGetErrorName, optional: true},
		{name: "cuGetErrorString", fptr: &d.cuGetErrorString, optional: true},
		{name: "cuStreamBeginCapture_v2", fptr: &d.cuStreamBeginCapture, optional: true},
		{name: "cuStreamEndCapture", fptr: &d.cuStreamEndCapture, optional: true},
		{name: "cuGraphInstantiateWithFlags", fptr: &d.cuGraphInstantiateWithFlags, optional: true},
		{name: "cuGraphLaunch", fptr: &d.cuGraphLaunch, optional: true},
		{name: "cuGraphExecDestroy", fptr: &d.cuGraphExecDestroy, optional: true},
		{name: "cuGraphDestroy", fptr: &d.cuGraphDestroy, optional: true},
	}
}

func (b *blasAPI) symbols() []symbol {
	return []symbol{
		{name: "cublasCreate_v2", fptr: &b.cublasCreate},
		{name: "cublasDestroy_v2", fptr: &b.cublasDestroy},
		{name: "cublasSetStream_v2", fptr: &b.cublasSetStream},
		{name: "cublasSetMathMode", fptr: &b.cublasSetMathMode},
		{name: "cublasGetVersion_v2", fptr: &b.cublasGetVersion, optional: true},
		{name: "cublasGetStatusName", fptr: &b.cublasGetStatusName, optional: true},
		{name: "cublasGemmEx", fptr: &b.cublasGemmEx},
		{name: "cublasGemmStridedBatchedEx", fptr: &b.cublasGemmStridedBatchedEx},
	}
}

func (n *nvrtcAPI) symbols() []symbol {
	return []symbol{
		{name: "nvrtcVersion", fptr: &n.nvrtcVersion},
		{name: "nvrtcGetNumSupportedArchs", fptr: &n.nvrtcGetNumSupportedArchs},
		{name: "nvrtcGetSupportedArchs", fptr: &n.nvrtcGetSupportedArchs},
		{name: "nvrtcCreateProgram", fptr: &n.nvrtcCreateProgram},
		{name: "nvrtcCompileProgram", fptr: &n.nvrtcCompileProgram},
		{name: "nvrtcGetProgramLogSize", fptr: &n.nvrtcGetProgramLogSize},
		{name: "nvrtcGetProgramLog", fptr: &n.nvrtcGetProgramLog},
		{name: "nvrtcGetPTXSize", fptr: &n.nvrtcGetPTXSize},
		{name: "nvrtcGetPTX", fptr: &n.nvrtcGetPTX},
		{name: "nvrtcGetCUBINSize", fptr: &n.nvrtcGetCUBINSize},
		{name: "nvrtcGetCUBIN", fptr: &n.nvrtcGetCUBIN},
		{name: "nvrtcDestroyProgram", fptr: &n.nvrtcDestroyProgram},
		{name: "nvrtcGetErrorString", fptr: &n.nvrtcGetErrorString, optional: true},
	}
}

// goString copies a NUL-terminated C string.
func goString(p *byte) string {
	if p == nil {
		return ""
	}
	var n int
	for *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	return string(unsafe.Slice(p, n))
}

// cuErr turns a CUresult into an *Error naming call (nil for success).
func (d *driverAPI) err(call string, r int32) error {
	if r == 0 {
		return nil
	}
	e := &Error{Call: call, Code: r, Name: resultName(cuResultNames, "CUDA_ERROR", r)}
	if d != nil && d.cuGetErrorName != nil {
		var p *byte
		if d.cuGetErrorName(r, &p) == 0 && p != nil {
			e.Name = goString(p)
		}
	}
	if d != nil && d.cuGetErrorString != nil {
		var p *byte
		if d.cuGetErrorString(r, &p) == 0 && p != nil {
			e.Detail = goString(p)
		}
	}
	return e
}

// err turns a cublasStatus_t into an *Error (nil for success).
func (b *blasAPI) err(call string, r int32) error {
	if r == 0 {
		return nil
	}
	e := &Error{Call: call, Code: r, Name: resultName(cublasStatusNames, "CUBLAS_STATUS", r)}
	if b != nil && b.cublasGetStatusName != nil {
		if n := b.cublasGetStatusName(r); n != "" {
			e.Name = n
		}
	}
	return e
}

// err turns an nvrtcResult into an *Error (nil for success).
func (n *nvrtcAPI) err(call string, r int32) error {
	if r == 0 {
		return nil
	}
	e := &Error{Call: call, Code: r, Name: resultName(nvrtcResultNames, "NVRTC_ERROR", r)}
	if n != nil && n.nvrtcGetErrorString != nil {
		if s := n.nvrtcGetErrorString(r); s != "" {
			e.Name = s
		}
	}
	return e
}
