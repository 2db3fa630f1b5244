package cpu

import (
	"fmt"

	"sdzero/kernels"
)

// Float32s returns the host memory of an F32 tensor of this backend (the
// slice aliases the tensor: writes through it change the tensor). It is for
// code that hands the memory to a C library, such as the MPI communicator;
// model and trainer code use the backend's ops instead.
func Float32s(t kernels.Tensor) ([]float32, error) {
	if !t.Valid() {
		return nil, fmt.Errorf("cpu: the zero Tensor has no memory")
	}
	b, ok := t.Buf.(*buffer)
	if !ok {
		return nil, fmt.Errorf("cpu: tensor belongs to backend %q", t.Buf.Backend())
	}
	if t.DType != kernels.F32 || b.dtype != kernels.F32 {
		return nil, fmt.Errorf("cpu: tensor is %v, want F32", t.DType)
	}
	if t.Off < 0 || t.N < 0 || t.Off+t.N > len(b.f) {
		return nil, fmt.Errorf("cpu: view [%d,%d) outside buffer of %d elements (freed?)", t.Off, t.Off+t.N, len(b.f))
	}
	return b.f[t.Off : t.Off+t.N : t.Off+t.N], nil
}
