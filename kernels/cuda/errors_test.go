package cuda

import (
	"fmt"
	"testing"
)

func TestErrorFormatting(t *testing.T) {
	var d *driverAPI // unbound: names come from the built-in table
	var bl *blasAPI
	var nv *nvrtcAPI
	tests := []struct {
		err  error
		want string
	}{
		{d.err("cuMemAlloc", 2), "cuMemAlloc: CUDA_ERROR_OUT_OF_MEMORY (2)"},
		{d.err("cuLaunchKernel sdz_scale", 700), "cuLaunchKernel sdz_scale: CUDA_ERROR_ILLEGAL_ADDRESS (700)"},
		{d.err("cuCtxSetCurrent", 201), "cuCtxSetCurrent: CUDA_ERROR_INVALID_CONTEXT (201)"},
		{d.err("cuInit", 12345), "cuInit: CUDA_ERROR_12345 (12345)"},
		{bl.err("cublasGemmEx", 7), "cublasGemmEx: CUBLAS_STATUS_INVALID_VALUE (7)"},
		{nv.err("nvrtcCompileProgram", 6), "nvrtcCompileProgram: NVRTC_ERROR_COMPILATION (6)"},
		{&Error{Call: "cuInit", Code: 100, Name: "CUDA_ERROR_NO_DEVICE", Detail: "no CUDA-capable device is detected"},
			"cuInit: CUDA_ERROR_NO_DEVICE (100): no CUDA-capable device is detected"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got %q want %q", got, tc.want)
		}
	}
	if d.err("cuInit", 0) != nil || bl.err("x", 0) != nil || nv.err("x", 0) != nil {
		t.Error("success codes must give nil errors")
	}
	if !isOOM(fmt.Errorf("wrapped: %w", d.err("cuMemAlloc", 2))) || isOOM(d.err("cuMemAlloc", 1)) || isOOM(bl.err("cublasGemmEx", 2)) {
		t.Error("isOOM misclassifies")
	}
	if !isSticky(fmt.Errorf("op: %w", d.err("cuStreamSynchronize", 700))) || isSticky(d.err("cuMemAlloc", 2)) {
		t.Error("isSticky misclassifies")
	}
}
