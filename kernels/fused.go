package kernels

// FusedAdamW is implemented by backends that can refresh a parameter's BF16
// compute copy in the same pass over memory as its AdamW update. The
// optimiser of a model in mixed precision otherwise runs AdamW and then
// Convert over every matmul weight: a second full read of the F32 masters,
// which on a memory-bound CPU costs a sizeable share of the update itself.
// Callers check for it with a type assertion and fall back to AdamW and
// Convert.
type FusedAdamW interface {
	// AdamWBF16 is AdamW(p, g, m, v, n, a) followed by Convert(low, p)
	// with low a BF16 tensor of n elements, in one pass: its results are
	// bit for bit those of the two ops.
	AdamWBF16(p, g, m, v, low Tensor, n int, a AdamWParams)
}
