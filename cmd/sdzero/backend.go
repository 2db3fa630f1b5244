package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"

	"sdzero/kernels"
	"sdzero/kernels/cpu"
	"sdzero/kernels/cuda"
	"sdzero/model"
	"sdzero/train"
)

// openBackend returns the compute backend named by device: "cpu", "cuda"
// (an error when no usable GPU is found, listing what was searched) or
// "auto" (openBackendNote). threads sizes the CPU backend's worker pool (0
// = all cores).
func openBackend(device string, threads int) (kernels.Backend, error) {
	be, _, err := openBackendNote(device, threads)
	return be, err
}

// openBackendNote is openBackend that also says how the backend was
// chosen, for the header of a run. "auto" (and "") is the CUDA backend
// when a GPU is present, the backend starts and it passes its self-check
// against the CPU backend (cudaSelfCheck); otherwise the CPU, with the
// reason: a GPU owner is never on the CPU without being told why, and a
// GPU path that computes wrong numbers is never picked silently.
func openBackendNote(device string, threads int) (kernels.Backend, string, error) {
	if threads < 0 || threads > train.MaxThreadsLimit {
		return nil, "", fmt.Errorf("--threads %d is out of range: must be in [0, %d] (0 = all cores)", threads, train.MaxThreadsLimit)
	}
	switch device {
	case "cpu":
		return newCPU(threads), "", nil
	case "", "auto":
		return chooseBackend(threads, cuda.Available, openCUDA)
	case "cuda", "gpu":
		be, err := openCUDA()
		if err != nil {
			return nil, "", fmt.Errorf("--device %s: %w", device, err)
		}
		return be, "", nil
	}
	return nil, "", fmt.Errorf("unknown --device %q (want cpu, cuda or auto)", device)
}

// newCPU is the CPU backend, with bf16 matmuls (precision auto's choice)
// where the CPU has AMX or AVX512_BF16, unless SDZERO_CPU_NO_BF16=1 asks
// for the F32-only backend.
func newCPU(threads int) kernels.Backend {
	if os.Getenv("SDZERO_CPU_NO_BF16") == "1" {
		return cpu.New(threads)
	}
	return cpu.NewBF16(threads)
}

func openCUDA() (kernels.Backend, error) {
	return cuda.New(cuda.Options{
		LibDir:                os.Getenv("SDZERO_CUDA_LIB_DIR"),
		NoTensorCoreAttention: os.Getenv("SDZERO_CUDA_NO_TC") == "1",
		NoGraphs:              os.Getenv("SDZERO_CUDA_NO_GRAPHS") == "1",
	})
}

// chooseBackend is device auto: probe says whether a GPU is there (and
// which, or why not), open starts its backend. The note names the choice
// and its reason.
func chooseBackend(threads int, probe func() (bool, string), open func() (kernels.Backend, error)) (kernels.Backend, string, error) {
	ok, what := probe()
	if !ok {
		return newCPU(threads), "auto: no usable GPU: " + firstClause(what, 100) + "; --device cuda for details", nil
	}
	be, err := open()
	if err != nil {
		return newCPU(threads), fmt.Sprintf("auto: %s found, but the CUDA backend did not start: %v", what, err), nil
	}
	if err := cudaSelfCheck(be, cpu.New(2)); err != nil {
		if c, ok := be.(interface{ Close() error }); ok {
			c.Close()
		}
		return newCPU(threads), fmt.Sprintf("auto: %s found, but the CUDA self-check failed, so the CPU runs (--device cuda forces the GPU): %v", what, err), nil
	}
	desc := what
	if d, ok := be.(interface{ Describe() string }); ok {
		desc = d.Describe()
	}
	return be, "auto: " + desc + "; self-check against the CPU passed", nil
}

// firstClause shortens a probe's explanation for the run's header line:
// the text before its first "; " (the search details follow it), cut to
// n runes, without the "cuda: " prefix. --device cuda prints it whole.
func firstClause(s string, n int) string {
	s = strings.TrimPrefix(s, "cuda: ")
	if i := strings.Index(s, "; "); i >= 0 {
		s = s[:i]
	}
	if r := []rune(s); len(r) > n {
		s = string(r[:n-1]) + "…"
	}
	return s
}

// Self-check tolerances on token log-probabilities of a small random
// model. FP32 differs from the CPU by summation order only (~1e-6 here);
// BF16 matmuls round their inputs to 8 bits of mantissa. A wrong kernel
// (bad indexing, a race, a missing synchronisation) misses by far more.
const (
	selfCheckTolF32  = 1e-3
	selfCheckTolBF16 = 0.1
	selfCheckGradTol = 1e-3 // relative, on the gradient's norm and its largest entry
)

// cudaSelfCheck runs the same random model on be and on ref (the CPU): a
// forward to token log-probabilities in fp32 (and in bf16 where be has
// it), then a cross-entropy backward, and compares log-probabilities,
// loss and gradient. It takes well under a second and exercises every op
// family a run uses (embedding, RMSNorm, RoPE, attention, SwiGLU, the
// output projection and their backwards).
func cudaSelfCheck(be, ref kernels.Backend) error {
	cfg := &model.Config{
		Arch: "qwen3", VocabSize: 300, Hidden: 64, Intermediate: 128, Layers: 2,
		Heads: 4, KVHeads: 2, HeadDim: 16, RMSNormEps: 1e-6, RopeTheta: 10000,
		TieEmbeddings: true, QKNorm: true, MaxPositions: 128, BOSTokenID: -1, EOSTokenIDs: []int{299},
	}
	const B, T = 2, 24
	ids := make([]int32, B*T)
	targets := make([]int32, B*T)
	for i := range ids {
		ids[i] = int32((i*131 + 7) % cfg.VocabSize)
	}
	for i := range targets {
		targets[i] = -1
		if (i+1)%T != 0 {
			targets[i] = ids[i+1]
		}
	}
	lens := []int{T, T - 5}
	for i := T + lens[1]; i < B*T; i++ {
		targets[i] = -1
	}
	type out struct {
		lp   []float32
		loss float64
		grad []float32
	}
	run := func(b kernels.Backend, prec model.Precision) (o out, err error) {
		m, err := model.New(cfg, b, 42)
		if err != nil {
			return o, err
		}
		defer m.Free()
		// Weights of std 0.15 (not transformers' 0.02) give logits of
		// about unit spread: near-uniform log-probs would hide a kernel
		// that outputs zeros.
		rng := rand.New(rand.NewPCG(42, 7))
		for _, s := range m.Specs {
			host := make([]float32, s.N)
			for i := range host {
				host[i] = float32(rng.NormFloat64() * 0.15)
				if strings.HasSuffix(s.Name, "norm.weight") {
					host[i] = 1 + host[i]
				}
			}
			b.Upload(m.Params.View(s.Off, s.N), host)
		}
		m.SyncComputeWeights()
		if err := m.SetPrecision(prec); err != nil {
			return o, err
		}
		acts, err := m.NewActs(B, T)
		if err != nil {
			return o, err
		}
		defer acts.Free()
		if o.lp, err = m.TokenLogProbs(acts, ids, lens, targets); err != nil {
			return o, err
		}
		if prec != model.PrecisionF32 {
			return o, b.Sync()
		}
		m.ZeroGrads()
		if o.loss, err = m.ForwardBackwardCE(acts, ids, lens, targets, nil, 1); err != nil {
			return o, err
		}
		o.grad = make([]float32, m.Params.N)
		b.Download(o.grad, m.Grads)
		return o, b.Sync()
	}
	want, err := run(ref, model.PrecisionF32)
	if err != nil {
		return fmt.Errorf("self-check reference (cpu): %w", err)
	}
	got, err := run(be, model.PrecisionF32)
	if err != nil {
		return fmt.Errorf("self-check fp32: %w", err)
	}
	if d, i := maxAbsDiff(got.lp, want.lp); !(d <= selfCheckTolF32) {
		return fmt.Errorf("self-check fp32: token log-prob %d is %g, the CPU gives %g (tolerance %g)", i, got.lp[i], want.lp[i], selfCheckTolF32)
	}
	if !(math.Abs(got.loss-want.loss) <= selfCheckTolF32*math.Max(1, math.Abs(want.loss))) {
		return fmt.Errorf("self-check fp32: loss %g, the CPU gives %g", got.loss, want.loss)
	}
	gn, wn := norm(got.grad), norm(want.grad)
	if d, i := maxAbsDiff(got.grad, want.grad); !(d <= selfCheckGradTol*maxAbs(want.grad)) || !(math.Abs(gn-wn) <= selfCheckGradTol*wn) {
		return fmt.Errorf("self-check fp32 backward: gradient norm %g (CPU %g), largest difference %g at parameter %d", gn, wn, d, i)
	}
	if be.Supports(kernels.BF16) {
		got, err := run(be, model.PrecisionBF16)
		if err != nil {
			return fmt.Errorf("self-check bf16: %w", err)
		}
		if d, i := maxAbsDiff(got.lp, want.lp); !(d <= selfCheckTolBF16) {
			return fmt.Errorf("self-check bf16: token log-prob %d is %g, the CPU's fp32 gives %g (tolerance %g)", i, got.lp[i], want.lp[i], selfCheckTolBF16)
		}
	}
	return nil
}

// maxAbsDiff is the largest |a[i]-b[i]| and its index; NaN counts as
// infinitely far.
func maxAbsDiff(a, b []float32) (float64, int) {
	if len(a) != len(b) {
		return math.Inf(1), 0
	}
	d, at := 0.0, 0
	for i := range a {
		x := math.Abs(float64(a[i]) - float64(b[i]))
		if math.IsNaN(x) {
			return math.Inf(1), i
		}
		if x > d {
			d, at = x, i
		}
	}
	return d, at
}

func maxAbs(a []float32) float64 {
	m := 0.0
	for _, v := range a {
		m = math.Max(m, math.Abs(float64(v)))
	}
	return m
}

func norm(a []float32) float64 {
	s := 0.0
	for _, v := range a {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s)
}
