// Package optim holds sdzero's optimiser: AdamW with PyTorch semantics over
// a model's contiguous parameter buffer, global-norm gradient clipping, and
// learning-rate schedules with linear warm-up.
package optim

import (
	"errors"
	"fmt"
	"math"

	"sdzero/kernels"
	"sdzero/model"
)

// Config are AdamW's settings.
type Config struct {
	// LR is the default learning rate (Step takes the scheduled one).
	LR float32
	// Beta1, Beta2 and Eps as in torch.optim.AdamW (0 selects PyTorch's
	// defaults 0.9, 0.999 and 1e-8).
	Beta1, Beta2, Eps float32
	// WeightDecay is the decoupled weight decay (p -= lr*wd*p).
	WeightDecay float32
	// DecayNormsAndBiases also decays norm weights and biases (PyTorch's
	// behaviour with a single parameter group); false exempts them.
	DecayNormsAndBiases bool
}

// AdamW is the optimiser state: two moment buffers with the model's
// parameter layout and the step count. M, V and Steps are exported so that
// checkpoints can store and restore them. (The contract's "Step" field is
// named Steps: Go cannot have a field and a method both named Step.)
type AdamW struct {
	// LR, Beta1, Beta2, Eps, WeightDecay and DecayNormsAndBiases are the
	// settings of Config (LR is informational: Step takes the rate).
	LR, Beta1, Beta2, Eps, WeightDecay float32
	DecayNormsAndBiases                bool
	// Steps is the number of updates taken (bias correction uses Steps+1
	// for the next one).
	Steps int
	// M and V are the first and second moments (F32, same layout as
	// model.Params).
	M, V kernels.Tensor

	be   kernels.Backend
	runs []run
	// lay places M and V in the parameter buffer (shard.go); comm is set
	// for a sharded optimizer (NewShardedAdamW).
	lay  layout
	comm kernels.Comm
	// P holds the F32 master weights of the state's ranges (shard, then
	// tail) once ShardMasters moved them out of the model; stage is the
	// buffer the updated masters are all-gathered through, a chunk of
	// every rank's shard at a time.
	P, stage kernels.Tensor
	chunk    int // elements of each rank's shard per all-gather of stage
}

// run is a contiguous range of the parameter buffer with one decay setting.
type run struct {
	off, n int
	decay  bool
}

// ErrNonFinite is returned by Step when the gradient norm is NaN or Inf;
// the parameters are then left unchanged.
var ErrNonFinite = errors.New("optim: non-finite gradient norm")

// NewAdamW allocates zeroed moments for m's parameters.
func NewAdamW(m *model.Model, cfg Config) (*AdamW, error) {
	return newAdamW(m, cfg, shardLayout(m.LayoutLen(), 0, 1))
}

// newAdamW allocates zeroed moments for the parameters of lay.
func newAdamW(m *model.Model, cfg Config, lay layout) (*AdamW, error) {
	o := &AdamW{LR: cfg.LR, Beta1: cfg.Beta1, Beta2: cfg.Beta2, Eps: cfg.Eps, WeightDecay: cfg.WeightDecay,
		DecayNormsAndBiases: cfg.DecayNormsAndBiases, be: m.BE, lay: lay}
	if o.Beta1 == 0 {
		o.Beta1 = 0.9
	}
	if o.Beta2 == 0 {
		o.Beta2 = 0.999
	}
	if o.Eps == 0 {
		o.Eps = 1e-8
	}
	if m.Frozen() {
		return nil, fmt.Errorf("optim: the model is frozen (no gradient buffer)")
	}
	if o.Beta1 < 0 || o.Beta1 >= 1 || o.Beta2 < 0 || o.Beta2 >= 1 || o.Eps < 0 || o.WeightDecay < 0 {
		return nil, fmt.Errorf("optim: invalid AdamW settings betas (%g, %g) eps %g weight decay %g", o.Beta1, o.Beta2, o.Eps, o.WeightDecay)
	}
	var err error
	if o.M, err = m.BE.Alloc(kernels.F32, lay.stateLen()); err != nil {
		return nil, fmt.Errorf("optim: allocate AdamW moments: %w", err)
	}
	if o.V, err = m.BE.Alloc(kernels.F32, lay.stateLen()); err != nil {
		m.BE.Free(o.M)
		return nil, fmt.Errorf("optim: allocate AdamW moments: %w", err)
	}
	// Merge neighbouring specs with the same decay into runs; alignment gaps
	// between specs are zero parameters with zero gradients and ride along.
	for i, s := range m.Specs {
		decay := s.Decay || o.DecayNormsAndBiases
		end := m.LayoutLen()
		if i+1 < len(m.Specs) {
			end = m.Specs[i+1].Off
		}
		if len(o.runs) > 0 && o.runs[len(o.runs)-1].decay == decay {
			r := &o.runs[len(o.runs)-1]
			r.n = end - r.off
			continue
		}
		if i == 0 && s.Off != 0 {
			return nil, fmt.Errorf("optim: parameter buffer does not start with %s", s.Name)
		}
		o.runs = append(o.runs, run{off: s.Off, n: end - s.Off, decay: decay})
	}
	return o, nil
}

// GradNorm returns the global L2 norm of m's gradients.
func GradNorm(m *model.Model) float64 {
	return math.Sqrt(m.BE.SumSquares(m.Grads, m.Grads.N))
}

// ClipScale is PyTorch's clip_grad_norm_ factor: min(1, maxNorm/(norm+1e-6)),
// or 1 when maxNorm <= 0.
func ClipScale(norm float64, maxNorm float32) float32 {
	if maxNorm <= 0 {
		return 1
	}
	c := float64(maxNorm) / (norm + 1e-6)
	if c >= 1 {
		return 1
	}
	return float32(c)
}

// Step applies one AdamW update with learning rate lr to m's parameters
// from m.Grads, after clipping the global gradient norm to clipNorm (0 =
// no clipping). It returns the norm before clipping. A non-finite norm
// returns ErrNonFinite and changes nothing. A model in mixed precision
// gets its BF16 weight copies refreshed after the update.
func (o *AdamW) Step(m *model.Model, lr float32, clipNorm float32) (float64, error) {
	if m.Frozen() || m.LayoutLen() != o.lay.n {
		return 0, fmt.Errorf("optim: model has %d parameters (frozen: %v), optimiser state %d", m.LayoutLen(), m.Frozen(), o.lay.n)
	}
	if o.P.Valid() == m.HoldsMasters() {
		return 0, fmt.Errorf("optim: the master weights are in the model (%v) and in the optimizer (%v)", m.HoldsMasters(), o.P.Valid())
	}
	if o.comm != nil {
		return o.stepSharded(m, lr, clipNorm)
	}
	norm := GradNorm(m)
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return norm, ErrNonFinite
	}
	scale := ClipScale(norm, clipNorm)
	o.Steps++
	// A backend that fuses the BF16 weight copies into the update refreshes
	// them in the same pass; otherwise they follow after all the updates.
	fused, _ := o.be.(kernels.FusedAdamW)
	var copies []model.ComputeCopy
	if fused != nil {
		copies = m.ComputeCopies()
	}
	for _, r := range o.runs {
		wd := float32(0)
		if r.decay {
			wd = o.WeightDecay
		}
		a := kernels.AdamWParams{LR: lr, Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps, WeightDecay: wd, Step: o.Steps, GradScale: scale}
		copies = o.updateRun(m, fused, copies, r.off, r.n, a)
	}
	if fused == nil {
		m.SyncComputeWeights() // BF16 weight copies follow the F32 masters
	}
	if err := o.be.Sync(); err != nil {
		return norm, fmt.Errorf("optim: AdamW step %d: %w", o.Steps, err)
	}
	return norm, nil
}

// updateRun applies a to parameters [off, off+n) (moments at the same
// offsets). With fused, the BF16 copies among copies (in parameter order)
// that lie in the range are refreshed by the same pass; it returns the
// copies after the range.
func (o *AdamW) updateRun(m *model.Model, fused kernels.FusedAdamW, copies []model.ComputeCopy, off, n int, a kernels.AdamWParams) []model.ComputeCopy {
	seg := func(lo, hi int, low kernels.Tensor) {
		if hi <= lo {
			return
		}
		p, g := m.Params.View(lo, hi-lo), m.Grads.View(lo, hi-lo)
		mo, vo := o.M.View(lo, hi-lo), o.V.View(lo, hi-lo)
		if low.Valid() {
			fused.AdamWBF16(p, g, mo, vo, low, hi-lo, a)
			return
		}
		o.be.AdamW(p, g, mo, vo, hi-lo, a)
	}
	cur, end := off, off+n
	for len(copies) > 0 && copies[0].Off < end {
		c := copies[0]
		copies = copies[1:]
		if c.Off < cur || c.Off+c.N > end {
			panic(fmt.Sprintf("optim: BF16 copy of parameters [%d,%d) straddles the update range [%d,%d)", c.Off, c.Off+c.N, cur, end))
		}
		seg(cur, c.Off, kernels.Tensor{})
		seg(c.Off, c.Off+c.N, c.Low)
		cur = c.Off + c.N
	}
	seg(cur, end, kernels.Tensor{})
	return copies
}

// Free releases the moment buffers (and the master shard).
func (o *AdamW) Free() {
	o.be.Free(o.M)
	o.be.Free(o.V)
	o.M, o.V = kernels.Tensor{}, kernels.Tensor{}
	if o.P.Valid() {
		o.be.Free(o.P)
		o.be.Free(o.stage)
		o.P, o.stage = kernels.Tensor{}, kernels.Tensor{}
	}
}

// warm returns the warm-up factor and the decay progress in [0,1] of a
// 0-based step: warm-up takes lr linearly from base/warmup (step 0) to base
// (step warmup-1), as llm.c does, so no step is wasted at lr 0.
func warm(step, warmup, total int) (w float64, progress float64, inWarmup bool) {
	if step < warmup {
		return float64(step+1) / float64(warmup), 0, true
	}
	if total <= warmup {
		return 1, 1, false
	}
	p := float64(step-warmup) / float64(total-warmup)
	return 1, math.Min(1, math.Max(0, p)), false
}

// Cosine is the learning rate of 0-based step: linear warm-up over warmup
// steps to base, then cosine decay to minLR at step total (and minLR after).
func Cosine(step, warmup, total int, base, minLR float32) float32 {
	w, p, in := warm(step, warmup, total)
	if in {
		return float32(float64(base) * w)
	}
	return float32(float64(minLR) + (float64(base)-float64(minLR))*0.5*(1+math.Cos(math.Pi*p)))
}

// Linear is the learning rate of 0-based step: linear warm-up over warmup
// steps to base, then linear decay to minLR at step total (and minLR after).
func Linear(step, warmup, total int, base, minLR float32) float32 {
	w, p, in := warm(step, warmup, total)
	if in {
		return float32(float64(base) * w)
	}
	return float32(float64(minLR) + (float64(base)-float64(minLR))*(1-p))
}

// Constant is base after a linear warm-up over warmup steps.
func Constant(step, warmup int, base float32) float32 {
	if step < warmup {
		return float32(float64(base) * float64(step+1) / float64(warmup))
	}
	return base
}
