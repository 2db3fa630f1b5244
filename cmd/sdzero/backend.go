package main

import (
	"fmt"
	"os"

	"sdzero/kernels"
	"sdzero/kernels/cpu"
	"sdzero/kernels/cuda"
	"sdzero/train"
)

// openBackend returns the compute backend named by device: "cpu", "cuda"
// (an error when no usable GPU is found, listing what was searched) or
// "auto". threads sizes the CPU backend's worker pool (0 = all cores).
//
// "auto" means the CPU until the CUDA backend has passed its conformance
// and parity run on a GPU (see issue notes): an unvalidated GPU path must
// not be picked silently for results that users compare with PyTorch.
func openBackend(device string, threads int) (kernels.Backend, error) {
	if threads < 0 || threads > train.MaxThreadsLimit {
		return nil, fmt.Errorf("--threads %d is out of range: must be in [0, %d] (0 = all cores)", threads, train.MaxThreadsLimit)
	}
	switch device {
	case "", "auto", "cpu":
		return cpu.New(threads), nil
	case "cuda", "gpu":
		be, err := cuda.New(cuda.Options{
			LibDir:                os.Getenv("SDZERO_CUDA_LIB_DIR"),
			NoTensorCoreAttention: os.Getenv("SDZERO_CUDA_NO_TC") == "1",
			NoGraphs:              os.Getenv("SDZERO_CUDA_NO_GRAPHS") == "1",
		})
		if err != nil {
			return nil, fmt.Errorf("--device %s: %w", device, err)
		}
		return be, nil
	}
	return nil, fmt.Errorf("unknown --device %q (want cpu, cuda or auto)", device)
}
