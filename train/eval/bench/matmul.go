package bench

import (
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"time"

	"sdzero/kernels"
	"sdzero/model"
)

// MatMulResult is one square-product benchmark: C = A B with A, B
// [size,size] in the precision's operand dtype (BF16 for bf16: bf16
// operands, F32 accumulation and C) and C F32, as torch.matmul of two
// tensors of that dtype.
type MatMulResult struct {
	Kind      string  `json:"kind"` // "matmul"
	Backend   string  `json:"backend"`
	Precision string  `json:"precision"`
	Size      int     `json:"size"`
	Steps     int     `json:"steps"`
	MsPerStep float64 `json:"ms_per_step"` // the median of the timed products
	GFLOPs    float64 `json:"gflops"`      // 2 size^3 / median time
}

// MatMul times steps products of two random size x size matrices on be in
// precision p (after warmup untimed ones) and reports the median.
func MatMul(be kernels.Backend, size int, p model.Precision, warmup, steps int, seed uint64) (*MatMulResult, error) {
	if size < 1 || steps < 1 {
		return nil, fmt.Errorf("bench matmul: size %d and steps %d must be positive", size, steps)
	}
	dt := kernels.F32
	if p == model.PrecisionBF16 {
		if !be.Supports(kernels.BF16) {
			return nil, fmt.Errorf("bench matmul: precision bf16 needs BF16 matmuls, which backend %q does not support", be.Name())
		}
		dt = kernels.BF16
	}
	n := size * size
	rng := rand.New(rand.NewPCG(seed, 1))
	var ts []kernels.Tensor
	defer func() { freeAll(be, ts...) }()
	alloc := func(d kernels.DType) (kernels.Tensor, error) {
		t, err := be.Alloc(d, n)
		if err != nil {
			return t, fmt.Errorf("bench matmul: %w", err)
		}
		ts = append(ts, t)
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		be.Upload(t, v)
		return t, nil
	}
	a, err := alloc(dt)
	if err != nil {
		return nil, err
	}
	b, err := alloc(dt)
	if err != nil {
		return nil, err
	}
	c, err := alloc(kernels.F32)
	if err != nil {
		return nil, err
	}
	for range warmup {
		be.MatMul(c, a, b, size, size, size, false, false, 1, 0)
	}
	if err := be.Sync(); err != nil {
		return nil, fmt.Errorf("bench matmul: %w", err)
	}
	times := make([]time.Duration, steps)
	for i := range times {
		t0 := time.Now()
		be.MatMul(c, a, b, size, size, size, false, false, 1, 0)
		if err := be.Sync(); err != nil {
			return nil, fmt.Errorf("bench matmul: %w", err)
		}
		times[i] = time.Since(t0)
	}
	med := median(times)
	return &MatMulResult{Kind: "matmul", Backend: be.Name(), Precision: p.String(), Size: size, Steps: steps,
		MsPerStep: float64(med.Microseconds()) / 1e3, GFLOPs: 2 * float64(size) * float64(size) * float64(size) / med.Seconds() / 1e9}, nil
}

// median returns the middle of ts (the upper one for an even count); it
// sorts ts.
func median(ts []time.Duration) time.Duration {
	slices.Sort(ts)
	return ts[len(ts)/2]
}

// Print writes the result in words.
func (r *MatMulResult) Print(w io.Writer) {
	fmt.Fprintf(w, "matmul %dx%dx%d on %s (%s): %.3f ms (median of %d), %.1f GFLOP/s\n", r.Size, r.Size, r.Size, r.Backend, r.Precision, r.MsPerStep, r.Steps, r.GFLOPs)
}
