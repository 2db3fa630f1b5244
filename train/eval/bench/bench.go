// Package bench measures training, decoding and distillation throughput of
// randomly initialised models on any backend: tokens/s, ms/step, model
// TFLOP/s (with the formula used) and memory.
package bench

import (
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"time"

	"sdzero/kernels"
	"sdzero/model"
	"sdzero/train/optim"
)

// Preset returns a model config by name: "tiny" (the demo's size class),
// "0.6b" (Qwen3-0.6B) or "4b" (Qwen3-4B). "custom" starts from tiny and
// is meant to be overridden dimension by dimension.
func Preset(name string) (*model.Config, error) {
	base := func() *model.Config {
		return &model.Config{Arch: "qwen3", RMSNormEps: 1e-6, RopeTheta: 1e6, TieEmbeddings: true, QKNorm: true,
			MaxPositions: 40960, BOSTokenID: -1}
	}
	c := base()
	switch name {
	case "tiny", "custom":
		c.VocabSize, c.Hidden, c.Intermediate, c.Layers, c.Heads, c.KVHeads, c.HeadDim = 259, 128, 384, 4, 4, 2, 32
		c.MaxPositions, c.RopeTheta = 1024, 10000
		c.EOSTokenIDs = []int{258}
	case "0.6b":
		c.VocabSize, c.Hidden, c.Intermediate, c.Layers, c.Heads, c.KVHeads, c.HeadDim = 151936, 1024, 3072, 28, 16, 8, 128
		c.EOSTokenIDs = []int{151645}
	case "4b":
		c.VocabSize, c.Hidden, c.Intermediate, c.Layers, c.Heads, c.KVHeads, c.HeadDim = 151936, 2560, 9728, 36, 32, 8, 128
		c.EOSTokenIDs = []int{151645}
	default:
		return nil, fmt.Errorf("bench: unknown preset %q (want tiny, 0.6b, 4b or custom)", name)
	}
	return c, nil
}

// Options configure a benchmark.
type Options struct {
	// Batch rows of Seq tokens (train, distill: the student sequence; the
	// teacher sees 2*Seq). Decode: Batch rows, Prompt tokens of prompt,
	// NewTokens generated.
	Batch, Seq, Prompt, NewTokens int
	// Warmup and Steps: untimed and timed iterations.
	Warmup, Steps int
	// TopK of the distillation divergence (0 = full vocabulary reverse KL).
	TopK int
	// Seed of the random initialisation and inputs.
	Seed uint64
	// Precision of the models' matmuls (the zero value is fp32).
	Precision model.Precision
	// Recompute uses activations that recompute each layer in the backward
	// (model.NewRecomputeActs) for train and distill.
	Recompute bool
	// NoGraphs makes decode run every step op by op even where the backend
	// can replay a recorded step (CUDA graphs), to measure what they save.
	NoGraphs bool
	// Ops runs the benchmark through a model.TimingBackend (synced after
	// every op) and puts the per-op times in Result.Ops (sdzero bench with
	// SDZERO_BENCH_OPS=1). The per-op syncs and timers slow the step.
	Ops bool
	// Rows (rollout): sequences decoded in all, Batch at a time (0 = 4 x
	// Batch); MeanLen: their mean length, set through stop ids (0 =
	// NewTokens/4, see Rollout).
	Rows, MeanLen int
}

// Result is a benchmark's measurements.
type Result struct {
	Kind          string  `json:"kind"`
	Backend       string  `json:"backend"`
	Params        int64   `json:"params"`
	Batch         int     `json:"batch"`
	Seq           int     `json:"seq"`
	Steps         int     `json:"steps"`
	MsPerStep     float64 `json:"ms_per_step"`
	TokensPerSec  float64 `json:"tokens_per_sec"`
	TFLOPs        float64 `json:"model_tflops"`
	FLOPsPerToken float64 `json:"flops_per_token"`
	Formula       string  `json:"flops_formula"`
	// EstimatedBytes is the model package's estimate of parameters,
	// gradients, optimiser state and activations (train/distill), or of
	// parameters and caches (decode); HostBytes is the Go heap in use
	// after the run (for the CPU backend this is where tensors live).
	EstimatedBytes int64 `json:"estimated_bytes"`
	HostBytes      int64 `json:"host_bytes"`
	// DeviceBytes is the measured peak of device memory in use during the
	// benchmark (backends that are a kernels.MemoryMeter; 0 otherwise).
	DeviceBytes int64 `json:"device_peak_bytes,omitempty"`
	// Precision is the models' compute precision ("fp32", "bf16").
	Precision string `json:"precision"`
	// Decode: the decode-only step (one token per row, sampling
	// included) apart from the prefill, per step and in tokens/s; the
	// prefill per Generate call.
	PrefillMs          float64 `json:"prefill_ms,omitempty"`
	DecodeMsPerStep    float64 `json:"decode_ms_per_step,omitempty"`
	DecodeTokensPerSec float64 `json:"decode_tokens_per_sec,omitempty"`
	// BytesPerStep is what one decode step must read at least (weights in
	// the compute precision, the KV cache at the mean context, the logits
	// written and read by sampling), AchievedGBs that over the decode step
	// time, and ReadGBs the backend's measured streaming read rate over a
	// buffer of BytesPerStep (0 where the backend cannot measure it): the
	// floor of a memory-bound step is BytesPerStep/ReadGBs.
	BytesPerStep int64   `json:"bytes_per_step,omitempty"`
	WeightBytes  int64   `json:"weight_bytes,omitempty"`
	KVBytes      int64   `json:"kv_bytes,omitempty"`
	AchievedGBs  float64 `json:"achieved_gb_s,omitempty"`
	ReadGBs      float64 `json:"read_gb_s,omitempty"`
	// Ops (with Options.Ops) is the time per op and per step (for decode:
	// per decode step, the prefill's ops taken out), longest first.
	Ops []OpTime `json:"ops,omitempty"`
	// PrefillOps (decode with Options.Ops) is the same per prefill call
	// (the batch's prompts in one forward pass and the first sample).
	PrefillOps []OpTime `json:"prefill_ops,omitempty"`
	// Rollout: the static batch (Rows cut into batches of Batch rows, each
	// decoded until its longest row ends) against continuous batching
	// (Batch slots refilled as rows end): wall times, their ratio, the
	// tokens generated and each one's mean slot occupancy.
	Rows            int     `json:"rows,omitempty"`
	StaticMs        float64 `json:"static_ms,omitempty"`
	ContinuousMs    float64 `json:"continuous_ms,omitempty"`
	Speedup         float64 `json:"speedup,omitempty"`
	Generated       int     `json:"generated_tokens,omitempty"`
	StaticOccupancy float64 `json:"static_occupancy,omitempty"`
	ContOccupancy   float64 `json:"continuous_occupancy,omitempty"`
}

// OpTime is one op's share of a step.
type OpTime struct {
	Op           string  `json:"op"`
	Class        string  `json:"class"`
	CallsPerStep float64 `json:"calls_per_step"`
	MsPerStep    float64 `json:"ms_per_step"`
}

// readBandwidth is implemented by backends that can measure their memory
// read rate (the CPU backend: cpu.Backend.ReadBandwidth).
type readBandwidth interface {
	ReadBandwidth(bytes int64) float64
}

// timed wraps be in a TimingBackend when o.Ops.
func (o *Options) timed(be kernels.Backend) (kernels.Backend, *model.TimingBackend) {
	if !o.Ops {
		return be, nil
	}
	tb := model.NewTimingBackend(be, true)
	return tb, tb
}

// opTimes turns accumulated op stats into per-step times.
func opTimes(stats []model.OpStat, steps float64) []OpTime {
	var out []OpTime
	for _, s := range stats {
		t := OpTime{Op: s.Op, Class: s.Class, CallsPerStep: float64(s.Calls) / steps, MsPerStep: float64(s.Time.Microseconds()) / 1e3 / steps}
		if t.CallsPerStep > 0.01 {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b OpTime) int {
		if a.MsPerStep != b.MsPerStep {
			if a.MsPerStep > b.MsPerStep {
				return -1
			}
			return 1
		}
		if a.Op < b.Op {
			return -1
		}
		return 1
	})
	return out
}

// matmulParams is the number of parameters that take part in matmuls per
// token: all but the input embedding table, which is a gather (with tied
// embeddings the table is the output projection and counts once).
func matmulParams(c *model.Config) float64 {
	n := float64(c.NumParams())
	if !c.TieEmbeddings {
		n -= float64(c.VocabSize) * float64(c.Hidden)
	}
	return n
}

// attnFLOPs is the attention score and value FLOPs per token of a forward
// pass over a context of t tokens, counted as if non-causal (PaLM's
// convention): 2 matmuls x 2 FLOPs x L x H x Q x T.
func attnFLOPs(c *model.Config, t int) float64 {
	return 4 * float64(c.Layers) * float64(c.Heads) * float64(c.HeadDim) * float64(t)
}

func randomIDs(rng *rand.Rand, n, vocab int) []int32 {
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(rng.IntN(vocab))
	}
	return ids
}

func hostBytes() int64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

func sumMemory(items []model.MemoryItem) int64 {
	var s int64
	for _, it := range items {
		s += it.Bytes
	}
	return s
}

// timeSteps runs warmup untimed and steps timed calls of f, syncing the
// backend around the timed region.
func timeSteps(be kernels.Backend, warmup, steps int, f func() error) (time.Duration, error) {
	for i := 0; i < warmup; i++ {
		if err := f(); err != nil {
			return 0, err
		}
	}
	if err := be.Sync(); err != nil {
		return 0, err
	}
	t0 := time.Now()
	for i := 0; i < steps; i++ {
		if err := f(); err != nil {
			return 0, err
		}
	}
	if err := be.Sync(); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

func (o *Options) defaults() {
	if o.Batch <= 0 {
		o.Batch = 8
	}
	if o.Seq <= 0 {
		o.Seq = 256
	}
	if o.Prompt <= 0 {
		o.Prompt = 64
	}
	if o.NewTokens <= 0 {
		o.NewTokens = 64
	}
	if o.Warmup < 0 {
		o.Warmup = 0
	}
	if o.Steps <= 0 {
		o.Steps = 5
	}
}

// Train times full training steps: forward over Batch x Seq random
// tokens, cross-entropy, backward and an AdamW step with clipping. Model
// FLOPs per token: 6*N + 12*L*H*Q*T (N matmul parameters, T = Seq).
func Train(be kernels.Backend, cfg *model.Config, o Options) (*Result, error) {
	resetPeak(be)
	o.defaults()
	be, tb := o.timed(be)
	m, err := model.New(cfg, be, o.Seed)
	if err != nil {
		return nil, fmt.Errorf("bench train: %w", err)
	}
	defer m.Free()
	if err := m.SetPrecision(o.Precision); err != nil {
		return nil, fmt.Errorf("bench train: %w", err)
	}
	opt, err := optim.NewAdamW(m, optim.Config{LR: 1e-4, WeightDecay: 0.01})
	if err != nil {
		return nil, fmt.Errorf("bench train: %w", err)
	}
	defer opt.Free()
	B, T, V := o.Batch, o.Seq, cfg.VocabSize
	newActs := m.NewActs
	if o.Recompute {
		newActs = m.NewRecomputeActs
	}
	a, err := newActs(B, T)
	if err != nil {
		return nil, fmt.Errorf("bench train: %w", err)
	}
	defer a.Free()
	rng := rand.New(rand.NewPCG(o.Seed, 1))
	ids := randomIDs(rng, B*T, V)
	lens := make([]int, B)
	targets := make([]int32, B*T)
	for r := range lens {
		lens[r] = T
		for i := 0; i < T; i++ {
			targets[r*T+i] = -1
			if i+1 < T {
				targets[r*T+i] = ids[r*T+i+1]
			}
		}
	}
	tg, w, loss, err := lossBuffers(be, B*T)
	if err != nil {
		return nil, fmt.Errorf("bench train: %w", err)
	}
	defer freeAll(be, tg, w, loss)
	be.UploadInt32(tg, targets)
	be.Fill(w, 1)
	step := func() error {
		m.ZeroGrads()
		if err := m.Forward(a, ids, lens); err != nil {
			return err
		}
		lg := a.Logits()
		be.CrossEntropy(loss, lg, lg, tg, w, B*T, V, 1/float32(B*(T-1)))
		if err := m.Backward(a, lg); err != nil {
			return err
		}
		_, err := opt.Step(m, 1e-4, 1)
		return err
	}
	calls := 0
	dt, err := timeSteps(be, o.Warmup, o.Steps, func() error {
		if calls++; calls == o.Warmup+1 && tb != nil {
			tb.Reset() // time the timed steps only
		}
		return step()
	})
	if err != nil {
		return nil, fmt.Errorf("bench train: %w", err)
	}
	mem, _ := model.TrainingMemoryPlan(cfg, B, T, o.Precision, o.Recompute)
	fpt := 6*matmulParams(cfg) + 3*attnFLOPs(cfg, T)
	r := result("train", be, cfg, o, B*T, dt, fpt, "6*N + 12*L*H*Q*T per token (N = matmul params, T = seq)", sumMemory(mem))
	if tb != nil {
		r.Ops = opTimes(tb.Stats(), float64(o.Steps))
	}
	return r, nil
}

// Distill times SD-Zero distillation steps: a frozen teacher's
// forward over Batch x 2*Seq tokens (its context holds the response
// twice), the student's forward and backward over Batch x Seq, the
// Distill divergence (TopK, 0.5 forward + 0.5 reverse KL; TopK 0 = full
// reverse KL) and AdamW. FLOPs per student token: 6*N + 12*L*H*Q*T for the
// student plus 2*(2*N + 4*L*H*Q*2T) for the teacher (two tokens per
// student token).
func Distill(be kernels.Backend, cfg *model.Config, o Options) (*Result, error) {
	resetPeak(be)
	o.defaults()
	m, err := model.New(cfg, be, o.Seed)
	if err != nil {
		return nil, fmt.Errorf("bench distill: %w", err)
	}
	defer m.Free()
	if err := m.SetPrecision(o.Precision); err != nil {
		return nil, fmt.Errorf("bench distill: %w", err)
	}
	teacher, err := m.Clone()
	if err != nil {
		return nil, fmt.Errorf("bench distill: teacher: %w", err)
	}
	defer teacher.Free()
	opt, err := optim.NewAdamW(m, optim.Config{LR: 1e-4, WeightDecay: 0.01})
	if err != nil {
		return nil, fmt.Errorf("bench distill: %w", err)
	}
	defer opt.Free()
	B, T, V := o.Batch, o.Seq, cfg.VocabSize
	T2 := 2 * T
	newActs := m.NewActs
	if o.Recompute {
		newActs = m.NewRecomputeActs
	}
	sa, err := newActs(B, T)
	if err != nil {
		return nil, fmt.Errorf("bench distill: %w", err)
	}
	defer sa.Free()
	ta, err := teacher.NewInferActs(B, T2)
	if err != nil {
		return nil, fmt.Errorf("bench distill: %w", err)
	}
	defer ta.Free()
	rng := rand.New(rand.NewPCG(o.Seed, 2))
	sids := randomIDs(rng, B*T, V)
	tids := make([]int32, B*T2)
	slens, tlens := make([]int, B), make([]int, B)
	// The teacher row is a random context of T tokens followed by the
	// student's row; teacher positions T-1 .. 2T-2 predict the student's
	// tokens 0..T-1 — gathered to line up with the student's logits.
	gidx := make([]int32, B*T)
	for r := 0; r < B; r++ {
		copy(tids[r*T2:], randomIDs(rng, T, V))
		copy(tids[r*T2+T:], sids[r*T:(r+1)*T])
		slens[r], tlens[r] = T, T2
		for i := 0; i < T; i++ {
			gidx[r*T+i] = int32(r*T2 + T + i)
		}
	}
	// The trainer's path: hidden states at the aligned rows, logits in
	// chunks (model.DistillRows), no [tokens, V] buffer.
	n := B * T
	H := cfg.Hidden
	var bufs []kernels.Tensor
	alloc := func(d kernels.DType, cnt int) kernels.Tensor {
		if err != nil {
			return kernels.Tensor{}
		}
		var t kernels.Tensor
		if t, err = be.Alloc(d, cnt); err == nil {
			bufs = append(bufs, t)
		}
		return t
	}
	gi, si := alloc(kernels.I32, n), alloc(kernels.I32, n)
	w, loss := alloc(kernels.F32, n), alloc(kernels.F32, n)
	hT, hS, dhc, dh := alloc(kernels.F32, n*H), alloc(kernels.F32, n*H), alloc(kernels.F32, n*H), alloc(kernels.F32, n*H)
	defer func() { freeAll(be, bufs...) }()
	if err != nil {
		return nil, fmt.Errorf("bench distill: %w", err)
	}
	scratch, err := m.NewDistillScratch(0)
	if err != nil {
		return nil, fmt.Errorf("bench distill: %w", err)
	}
	defer scratch.Free()
	sidx := make([]int32, n)
	for i := range sidx {
		sidx[i] = int32(i)
	}
	be.UploadInt32(gi, gidx)
	be.UploadInt32(si, sidx)
	be.Fill(w, 1/float32(n))
	p := kernels.DistillParams{Temp: 1, TopK: o.TopK, ForwardWeight: 0.5}
	if o.TopK == 0 {
		p.ForwardWeight = 0
	}
	step := func() error {
		if err := teacher.ForwardHidden(ta, tids, tlens); err != nil {
			return err
		}
		m.ZeroGrads()
		if err := m.ForwardHidden(sa, sids, slens); err != nil {
			return err
		}
		be.GatherRows(hT, ta.Hidden(), gi, n, H)
		be.GatherRows(hS, sa.Hidden(), si, n, H)
		model.DistillRows(teacher, m, scratch, loss, dhc, hT, hS, w, n, p, 1)
		be.Fill(dh, 0)
		be.EmbeddingBackward(dh, dhc, si, n, H)
		if err := m.BackwardHidden(sa, dh); err != nil {
			return err
		}
		_, err := opt.Step(m, 1e-4, 1)
		return err
	}
	dt, err := timeSteps(be, o.Warmup, o.Steps, step)
	if err != nil {
		return nil, fmt.Errorf("bench distill: %w", err)
	}
	mem, _ := model.TrainingMemoryPlan(cfg, B, T, o.Precision, o.Recompute)
	// Plus the teacher (weights, inference activations) and the chunks.
	tb, _ := model.InferenceMemory(cfg, B, T2, o.Precision)
	est := sumMemory(mem) + int64(cfg.NumParams())*4 + teacher.ComputeBytes() + int64(2*model.DistillChunkRows(V)*V)*4 +
		int64(4*n*H)*4 + tb
	fpt := 6*matmulParams(cfg) + 3*attnFLOPs(cfg, T) + 2*(2*matmulParams(cfg)+attnFLOPs(cfg, T2))
	div := fmt.Sprintf("top-%d mixed KL", o.TopK)
	if o.TopK == 0 {
		div = "full reverse KL"
	}
	return result("distill", be, cfg, o, B*T, dt, fpt,
		"student 6*N + 12*L*H*Q*T + teacher 2*(2*N + 4*L*H*Q*2T) per student token; "+div, est), nil
}

// Decode times Generate: Batch rows with random prompts of Prompt
// tokens, NewTokens sampled tokens each (temperature 1, no stop ids), so
// every row decodes the full length. FLOPs per generated token: 2*N +
// 4*L*H*Q*(P + N/2) (the mean context), prefill included in the time but
// not in the token count. The decode-only step (model.GenerateStats) is
// reported apart, with the bytes it reads and the bandwidth achieved
// against the backend's measured read rate.
func Decode(be kernels.Backend, cfg *model.Config, o Options) (*Result, error) {
	resetPeak(be)
	o.defaults()
	raw := be
	be, tb := o.timed(be)
	m, err := model.New(cfg, be, o.Seed)
	if err != nil {
		return nil, fmt.Errorf("bench decode: %w", err)
	}
	defer m.Free()
	if err := m.SetPrecision(o.Precision); err != nil {
		return nil, fmt.Errorf("bench decode: %w", err)
	}
	rng := rand.New(rand.NewPCG(o.Seed, 3))
	prompts := make([][]int32, o.Batch)
	for r := range prompts {
		prompts[r] = randomIDs(rng, o.Prompt, cfg.VocabSize)
	}
	seed := o.Seed
	var st model.GenerateStats
	generate := func(newTokens int, acc *model.GenerateStats) error {
		seed++
		var cs model.GenerateStats
		out, err := m.Generate(prompts, model.GenerateOptions{MaxNewTokens: newTokens, Temperature: 1, TopP: 1, Seed: seed, NoGraphs: o.NoGraphs, Stats: &cs})
		if err != nil {
			return err
		}
		for r, row := range out {
			if len(row) != newTokens {
				return fmt.Errorf("row %d generated %d tokens, want %d", r, len(row), newTokens)
			}
		}
		acc.Prefill += cs.Prefill
		acc.Prefills += cs.Prefills
		acc.Decode += cs.Decode
		acc.Steps += cs.Steps
		return nil
	}
	calls := 0
	dt, err := timeSteps(be, o.Warmup, o.Steps, func() error {
		if calls++; calls == o.Warmup+1 {
			st = model.GenerateStats{} // the timed calls only
			if tb != nil {
				tb.Reset()
			}
		}
		return generate(o.NewTokens, &st)
	})
	if err != nil {
		return nil, fmt.Errorf("bench decode: %w", err)
	}
	var ops, prefillOps []OpTime
	if tb != nil && st.Steps > 0 {
		// Generate marks its decode steps: the table is theirs alone (the
		// prefills, with the first touches of a new KV cache, are not).
		ops = opTimes(tb.PhaseStats("decode"), float64(st.Steps))
		if st.Prefills > 0 {
			prefillOps = opTimes(tb.PhaseStats("prefill"), float64(st.Prefills))
		}
	}
	ctx := o.Prompt + o.NewTokens/2
	fpt := 2*matmulParams(cfg) + attnFLOPs(cfg, ctx)
	c := cfg
	kvBytes, wBytes := int64(4), int64(4)
	if o.Precision == model.PrecisionBF16 {
		kvBytes, wBytes = 2, 2 // the KV cache and weight copies are BF16 in mixed precision
	}
	kv := int64(2*c.Layers*o.Batch*(o.Prompt+o.NewTokens)*c.KVHeads*c.HeadDim) * kvBytes
	est := c.NumParams()*4 + kv + int64(o.Batch*o.Prompt*c.VocabSize)*4 + m.ComputeBytes()
	o.Seq = o.Prompt + o.NewTokens
	r := result("decode", raw, cfg, o, o.Batch*o.NewTokens, dt, fpt,
		"2*N + 4*L*H*Q*(P+new/2) per generated token (prefill timed, not counted)", est)
	r.Ops, r.PrefillOps = ops, prefillOps
	r.WeightBytes = int64(matmulParams(cfg)) * wBytes
	r.KVBytes = int64(2*c.Layers*o.Batch*ctx*c.KVHeads*c.HeadDim) * kvBytes
	r.BytesPerStep = r.WeightBytes + r.KVBytes + int64(2*o.Batch*c.VocabSize)*4
	if st.Steps > 0 {
		sec := st.Decode.Seconds() / float64(st.Steps)
		r.DecodeMsPerStep = sec * 1e3
		r.DecodeTokensPerSec = float64(o.Batch) / sec
		r.AchievedGBs = float64(r.BytesPerStep) / sec / 1e9
	}
	r.PrefillMs = st.Prefill.Seconds() * 1e3 / float64(max(o.Steps, 1))
	if rb, ok := raw.(readBandwidth); ok {
		r.ReadGBs = rb.ReadBandwidth(r.BytesPerStep) / 1e9
	}
	return r, nil
}

// Rollout compares the static batch with continuous batching on rollouts
// of widely varying lengths: Rows random prompts of Prompt tokens, sampled
// at temperature 1 with the ids [0, V/MeanLen) as stop ids, so that with
// the near-uniform next-token distribution of a random model the lengths
// are about geometric with mean MeanLen, capped at NewTokens. The static
// way decodes the rows in batches of Batch (each until its longest row
// ends, as train.GenerateN with gen_batch does); the continuous way decodes
// all rows in one call of Batch slots. Both draw every token with the same
// uniform (per-batch seeds), and the benchmark fails unless they return
// the same tokens. Each is timed over Steps runs after Warmup.
func Rollout(be kernels.Backend, cfg *model.Config, o Options) (*Result, error) {
	resetPeak(be)
	o.defaults()
	if o.Rows <= 0 {
		o.Rows = 4 * o.Batch
	}
	if o.MeanLen <= 0 {
		o.MeanLen = max(o.NewTokens/4, 1)
	}
	m, err := model.New(cfg, be, o.Seed)
	if err != nil {
		return nil, fmt.Errorf("bench rollout: %w", err)
	}
	defer m.Free()
	if err := m.SetPrecision(o.Precision); err != nil {
		return nil, fmt.Errorf("bench rollout: %w", err)
	}
	V := cfg.VocabSize
	nStop := max(V/o.MeanLen, 1)
	stops := make([]int32, nStop)
	for i := range stops {
		stops[i] = int32(i)
	}
	rng := rand.New(rand.NewPCG(o.Seed, 4))
	prompts := make([][]int32, o.Rows)
	for r := range prompts {
		prompts[r] = randomIDs(rng, o.Prompt, V)
		for i, id := range prompts[r] {
			prompts[r][i] = int32(nStop) + id%int32(V-nStop) // no stop id in a prompt
		}
	}
	base := model.GenerateOptions{MaxNewTokens: o.NewTokens, StopIDs: stops, Temperature: 1, TopP: 1, NoGraphs: o.NoGraphs}
	seed := o.Seed
	var static, cont [][]int32
	var sst, cst model.GenerateStats
	add := func(acc *model.GenerateStats, s model.GenerateStats) {
		acc.Steps += s.Steps
		acc.RowSteps += s.RowSteps
	}
	runStatic := func() error {
		seed++
		static = static[:0]
		for c := 0; c*o.Batch < o.Rows; c++ {
			opt := base
			opt.Seed = seed*1000003 + uint64(c)
			var st model.GenerateStats
			opt.Stats = &st
			g, err := m.Generate(prompts[c*o.Batch:min((c+1)*o.Batch, o.Rows)], opt)
			if err != nil {
				return err
			}
			add(&sst, st)
			static = append(static, g...)
		}
		return nil
	}
	runCont := func() error {
		// seed was advanced by runStatic: the same per-batch streams.
		uni := make([]func(r, i int) float32, (o.Rows+o.Batch-1)/o.Batch)
		opt := base
		opt.Slots = o.Batch
		opt.Uniform = func(r, i int) float32 {
			c := r / o.Batch
			if uni[c] == nil {
				uni[c] = model.SeedUniforms(seed*1000003+uint64(c), min(o.Batch, o.Rows-c*o.Batch), 0)
			}
			return uni[c](r-c*o.Batch, i)
		}
		var st model.GenerateStats
		opt.Stats = &st
		g, err := m.Generate(prompts, opt)
		if err != nil {
			return err
		}
		add(&cst, st)
		cont = g
		return nil
	}
	var tS, tC time.Duration
	for i := 0; i < o.Warmup+o.Steps; i++ {
		// Interleaved, so that both see the same machine load.
		t0 := time.Now()
		if err := runStatic(); err != nil {
			return nil, fmt.Errorf("bench rollout: static: %w", err)
		}
		t1 := time.Now()
		if err := runCont(); err != nil {
			return nil, fmt.Errorf("bench rollout: continuous: %w", err)
		}
		if i >= o.Warmup {
			tS += t1.Sub(t0)
			tC += time.Since(t1)
		}
		for r := range static {
			if !slices.Equal(static[r], cont[r]) {
				return nil, fmt.Errorf("bench rollout: row %d: continuous batching gave %d tokens %v..., the static batch %d", r, len(cont[r]), cont[r][:min(4, len(cont[r]))], len(static[r]))
			}
		}
	}
	gen := 0
	for _, row := range static {
		gen += len(row)
	}
	o.Seq = o.Prompt + o.NewTokens
	fpt := 2*matmulParams(cfg) + attnFLOPs(cfg, o.Prompt+o.MeanLen/2)
	r := result("rollout", be, cfg, o, gen, tC, fpt,
		"2*N + 4*L*H*Q*(P+mean/2) per generated token, continuous batching (prefill timed, not counted)", 0)
	r.Rows, r.Generated = o.Rows, gen
	r.StaticMs = tS.Seconds() * 1e3 / float64(o.Steps)
	r.ContinuousMs = tC.Seconds() * 1e3 / float64(o.Steps)
	r.Speedup = r.StaticMs / r.ContinuousMs
	if sst.Steps > 0 && cst.Steps > 0 {
		r.StaticOccupancy = float64(sst.RowSteps) / float64(sst.Steps*o.Batch)
		r.ContOccupancy = float64(cst.RowSteps) / float64(cst.Steps*o.Batch)
	}
	return r, nil
}

func result(kind string, be kernels.Backend, cfg *model.Config, o Options, tokensPerStep int, dt time.Duration, fpt float64, formula string, est int64) *Result {
	sec := dt.Seconds() / float64(o.Steps)
	tps := float64(tokensPerStep) / sec
	return &Result{
		Kind: kind, Backend: be.Name(), Params: cfg.NumParams(), Batch: o.Batch, Seq: o.Seq, Steps: o.Steps,
		MsPerStep: sec * 1000, TokensPerSec: tps, FLOPsPerToken: fpt, TFLOPs: fpt * tps / 1e12, Formula: formula,
		EstimatedBytes: est, HostBytes: hostBytes(), Precision: o.Precision.String(), DeviceBytes: devicePeak(be),
	}
}

// resetPeak starts the backend's peak-memory measurement afresh.
func resetPeak(be kernels.Backend) {
	if mm, ok := be.(kernels.MemoryMeter); ok {
		mm.ResetPeak()
	}
}

// devicePeak is the backend's measured peak device memory, or 0.
func devicePeak(be kernels.Backend) int64 {
	if mm, ok := be.(kernels.MemoryMeter); ok {
		return mm.PeakBytes()
	}
	return 0
}

func lossBuffers(be kernels.Backend, n int) (targets, w, loss kernels.Tensor, err error) {
	if targets, err = be.Alloc(kernels.I32, n); err != nil {
		return
	}
	if w, err = be.Alloc(kernels.F32, n); err != nil {
		be.Free(targets)
		return
	}
	if loss, err = be.Alloc(kernels.F32, n); err != nil {
		freeAll(be, targets, w)
	}
	return
}

func freeAll(be kernels.Backend, ts ...kernels.Tensor) {
	for _, t := range ts {
		be.Free(t)
	}
}

// Print writes a human-readable summary of r.
func (r *Result) Print(w io.Writer) {
	fmt.Fprintf(w, "%s on %s (%s): %d params, batch %d, seq %d, %d timed steps\n", r.Kind, r.Backend, r.Precision, r.Params, r.Batch, r.Seq, r.Steps)
	fmt.Fprintf(w, "  %.1f ms/step  %.0f tokens/s  %.4f model TFLOP/s\n", r.MsPerStep, r.TokensPerSec, r.TFLOPs)
	fmt.Fprintf(w, "  FLOPs/token %.4g = %s\n", r.FLOPsPerToken, r.Formula)
	fmt.Fprintf(w, "  memory: estimated %.1f MiB, Go heap in use %.1f MiB", float64(r.EstimatedBytes)/(1<<20), float64(r.HostBytes)/(1<<20))
	if r.DeviceBytes > 0 {
		fmt.Fprintf(w, ", device peak %.1f MiB", float64(r.DeviceBytes)/(1<<20))
	}
	fmt.Fprintln(w)
	if r.DecodeMsPerStep > 0 {
		fmt.Fprintf(w, "  decode only: %.2f ms/step  %.0f tokens/s  (prefill %.1f ms per call, not in these)\n", r.DecodeMsPerStep, r.DecodeTokensPerSec, r.PrefillMs)
		fmt.Fprintf(w, "  bytes/step %.1f MiB (weights %.1f, KV %.1f, logits %.1f) -> %.1f GB/s achieved", float64(r.BytesPerStep)/(1<<20),
			float64(r.WeightBytes)/(1<<20), float64(r.KVBytes)/(1<<20), float64(r.BytesPerStep-r.WeightBytes-r.KVBytes)/(1<<20), r.AchievedGBs)
		if r.ReadGBs > 0 {
			fmt.Fprintf(w, " of %.1f GB/s measured streaming read (%.0f%%; floor %.2f ms/step)", r.ReadGBs, 100*r.AchievedGBs/r.ReadGBs,
				float64(r.BytesPerStep)/(r.ReadGBs*1e9)*1e3)
		}
		fmt.Fprintln(w)
	}
	if r.Rows > 0 {
		fmt.Fprintf(w, "  %d rows, %d tokens: static batch %.1f ms (occupancy %.0f%%), continuous %.1f ms (%.0f%%): %.2fx\n",
			r.Rows, r.Generated, r.StaticMs, 100*r.StaticOccupancy, r.ContinuousMs, 100*r.ContOccupancy, r.Speedup)
	}
	if len(r.Ops) > 0 {
		per := "step"
		if r.Kind == "decode" {
			per = "decode step, prefill taken out"
		}
		printOps(w, per, r.Ops)
	}
	if len(r.PrefillOps) > 0 {
		printOps(w, "prefill call", r.PrefillOps)
	}
}

// printOps prints a per-op table of ops, each per one "per".
func printOps(w io.Writer, per string, ops []OpTime) {
	var total float64
	for _, op := range ops {
		total += op.MsPerStep
	}
	fmt.Fprintf(w, "  per-op time per %s (each op synced):\n", per)
	fmt.Fprintf(w, "  %-20s %-12s %8s %10s %7s\n", "op", "class", "calls", "ms", "share")
	for _, op := range ops {
		fmt.Fprintf(w, "  %-20s %-12s %8.1f %10.3f %6.1f%%\n", op.Op, op.Class, op.CallsPerStep, op.MsPerStep, 100*op.MsPerStep/max(total, 1e-9))
	}
	fmt.Fprintf(w, "  %-20s %-12s %8s %10.3f\n", "total", "", "", total)
}
