package cuda

import (
	"fmt"

	"sdzero/kernels"
)

// Accessors for libraries that work on the backend's memory and stream
// themselves (the NCCL communicator, kernels/comm/nccl).

// DevicePointer returns the device address of the first element of t, an
// F32 tensor of this backend.
func (b *Backend) DevicePointer(t kernels.Tensor) (uintptr, error) {
	if !t.Valid() {
		return 0, fmt.Errorf("cuda: the zero Tensor has no device memory")
	}
	db, ok := t.Buf.(*devBuf)
	if !ok {
		return 0, fmt.Errorf("cuda: tensor belongs to backend %q", t.Buf.Backend())
	}
	if db.freed {
		return 0, fmt.Errorf("cuda: tensor used after Free")
	}
	if t.DType != kernels.F32 {
		return 0, fmt.Errorf("cuda: tensor is %s, want F32", t.DType)
	}
	if t.Off < 0 || t.N < 0 || t.Off+t.N > db.n {
		return 0, fmt.Errorf("cuda: view [%d,%d) outside its %d-element buffer", t.Off, t.Off+t.N, db.n)
	}
	return db.ptr + uintptr(t.Off*t.DType.Size()), nil
}

// Stream returns the CUstream on which the backend queues all its work:
// work queued there by another library is ordered with the backend's ops.
func (b *Backend) Stream() uintptr { return b.stream }

// Device returns the ordinal of the backend's device.
func (b *Backend) Device() int { return b.opts.Device }

// InContext runs fn on an OS thread where the backend's CUDA context is
// current (libraries built on the CUDA runtime, such as NCCL, use the
// current context).
func (b *Backend) InContext(fn func() error) error {
	defer b.enter()()
	return fn()
}

// LibrarySearchDirs returns the folders the backend searches for the CUDA
// libraries, in order (libDir first; see Options.LibDir): NCCL is looked
// for in the same places.
func LibrarySearchDirs(libDir string) []string { return searchDirs(libDir, osSearchEnv()) }
