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
	cuDeviceTotalMem          func(bytes *uint64, dev int32) int32
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

// symbol binds one C function of a dlopened library to fptr.
type symbol struct {
	name string
	fptr any
}

// bindAll resolves every symbol in lib (a dlopen handle) and reports all
// missing ones at once, naming the library path.
func bindAll(handle uintptr, path string, syms []symbol) error {
	var missing []string
	for _, s := range syms {
		addr, err := purego.Dlsym(handle, s.name)
		if err != nil || addr == 0 {
			missing = append(missing, s.name)
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
		{"cuInit", &d.cuInit},
		{"cuDriverGetVersion", &d.cuDriverGetVersion},
		{"cuDeviceGetCount", &d.cuDeviceGetCount},
		{"cuDeviceGet", &d.cuDeviceGet},
		{"cuDeviceGetName", &d.cuDeviceGetName},
		{"cuDeviceGetAttribute", &d.cuDeviceGetAttribute},
		{"cuDeviceTotalMem_v2", &d.cuDeviceTotalMem},
		{"cuDevicePrimaryCtxRetain", &d.cuDevicePrimaryCtxRetain},
		{"cuDevicePrimaryCtxRelease_v2", &d.cuDevicePrimaryCtxRelease},
		{"cuCtxSetCurrent", &d.cuCtxSetCurrent},
		{"cuStreamCreate", &d.cuStreamCreate},
		{"cuStreamDestroy_v2", &d.cuStreamDestroy},
		{"cuStreamSynchronize", &d.cuStreamSynchronize},
		{"cuMemAlloc_v2", &d.cuMemAlloc},
		{"cuMemFree_v2", &d.cuMemFree},
		{"cuMemAllocHost_v2", &d.cuMemAllocHost},
		{"cuMemFreeHost", &d.cuMemFreeHost},
		{"cuMemcpyHtoDAsync_v2", &d.cuMemcpyHtoDAsync},
		{"cuMemcpyDtoHAsync_v2", &d.cuMemcpyDtoHAsync},
		{"cuMemcpyDtoDAsync_v2", &d.cuMemcpyDtoDAsync},
		{"cuMemsetD8Async", &d.cuMemsetD8Async},
		{"cuMemsetD32Async", &d.cuMemsetD32Async},
		{"cuMemGetInfo_v2", &d.cuMemGetInfo},
		{"cuModuleLoadData", &d.cuModuleLoadData},
		{"cuModuleUnload", &d.cuModuleUnload},
		{"cuModuleGetFunction", &d.cuModuleGetFunction},
		{"cuFuncSetAttribute", &d.cuFuncSetAttribute},
		{"cuLaunchKernel", &d.cuLaunchKernel},
		{"cuEventCreate", &d.cuEventCreate},
		{"cuEventRecord", &d.cuEventRecord},
		{"cuEventSynchronize", &d.cuEventSynchronize},
		{"cuEventDestroy_v2", &d.cuEventDestroy},
		{"cuGetErrorName", &d.cuGetErrorName},
		{"cuGetErrorString", &d.cuGetErrorString},
	}
}

func (b *blasAPI) symbols() []symbol {
	return []symbol{
		{"cublasCreate_v2", &b.cublasCreate},
		{"cublasDestroy_v2", &b.cublasDestroy},
		{"cublasSetStream_v2", &b.cublasSetStream},
		{"cublasSetMathMode", &b.cublasSetMathMode},
		{"cublasGetVersion_v2", &b.cublasGetVersion},
		{"cublasGetStatusName", &b.cublasGetStatusName},
		{"cublasGemmEx", &b.cublasGemmEx},
		{"cublasGemmStridedBatchedEx", &b.cublasGemmStridedBatchedEx},
	}
}

func (n *nvrtcAPI) symbols() []symbol {
	return []symbol{
		{"nvrtcVersion", &n.nvrtcVersion},
		{"nvrtcGetNumSupportedArchs", &n.nvrtcGetNumSupportedArchs},
		{"nvrtcGetSupportedArchs", &n.nvrtcGetSupportedArchs},
		{"nvrtcCreateProgram", &n.nvrtcCreateProgram},
		{"nvrtcCompileProgram", &n.nvrtcCompileProgram},
		{"nvrtcGetProgramLogSize", &n.nvrtcGetProgramLogSize},
		{"nvrtcGetProgramLog", &n.nvrtcGetProgramLog},
		{"nvrtcGetPTXSize", &n.nvrtcGetPTXSize},
		{"nvrtcGetPTX", &n.nvrtcGetPTX},
		{"nvrtcGetCUBINSize", &n.nvrtcGetCUBINSize},
		{"nvrtcGetCUBIN", &n.nvrtcGetCUBIN},
		{"nvrtcDestroyProgram", &n.nvrtcDestroyProgram},
		{"nvrtcGetErrorString", &n.nvrtcGetErrorString},
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
		p = nil
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
