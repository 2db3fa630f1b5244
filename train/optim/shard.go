package optim

import (
	"fmt"
	"math"

	"sdzero/kernels"
	"sdzero/model"
)

// ZeRO-1 sharding of AdamW over the ranks of a data-parallel run.
//
// The parameter buffer of n elements is cut into Size() equal shards of
// s = n/Size() elements, plus a tail of n - Size()*s (< Size()) elements.
// Rank r keeps the moments of its shard [r*s, (r+1)*s) and of the tail, so
// its optimizer state is 8*(s+tail) bytes instead of 8*n. A step
// reduce-scatters the gradients (each rank receives the sum of its shard),
// all-reduces the tail, updates the shard and the tail, and all-gathers
// the updated shards into every rank's full parameter buffer. The tail is
// updated identically on every rank (same summed gradients, same moments),
// so that the collectives work on equal shards without padding the model's
// buffers. The F32 parameters stay whole on every rank: the forward reads
// them.

// NewShardedAdamW is NewAdamW for the ranks of comm: the moments cover
// this rank's shard and the tail only. With a one-rank comm it is
// NewAdamW, and Step behaves exactly as the unsharded optimizer.
func NewShardedAdamW(m *model.Model, cfg Config, comm kernels.Comm) (*AdamW, error) {
	if comm == nil || comm.Size() <= 1 {
		return NewAdamW(m, cfg)
	}
	o, err := newAdamW(m, cfg, shardLayout(m.LayoutLen(), comm.Rank(), comm.Size()))
	if err != nil {
		return nil, err
	}
	o.comm = comm
	return o, nil
}

// layout maps the optimizer state onto the parameter buffer.
type layout struct {
	rank, size int
	// shard is s, the elements of each rank's shard; tail the elements
	// after the Size()*s of the shards.
	shard, tail int
	// n is the parameter count.
	n int
}

func shardLayout(n, rank, size int) layout {
	s := n / size
	return layout{rank: rank, size: size, shard: s, tail: n - size*s, n: n}
}

// stateLen is the number of moment elements this rank keeps.
func (l layout) stateLen() int { return l.shard + l.tail }

// segments are the parameter ranges of the state, in state order: [state
// offset, parameter offset, length].
func (l layout) segments() [][3]int {
	var out [][3]int
	if l.shard > 0 {
		out = append(out, [3]int{0, l.rank * l.shard, l.shard})
	}
	if l.tail > 0 {
		out = append(out, [3]int{l.shard, l.size * l.shard, l.tail})
	}
	return out
}

// ShardInfo describes the part of the parameter buffer whose optimizer
// state this rank holds.
type ShardInfo struct {
	// Rank and Size are the rank and the number of ranks (0 and 1 when
	// the optimizer is not sharded).
	Rank, Size int
	// Params is the model's parameter count; Shard the elements of each
	// rank's shard and Tail those after all shards (held by every rank).
	Params, Shard, Tail int
}

// Shard reports how the optimizer state is sharded: M and V hold
// Shard+Tail elements (Params when unsharded).
func (o *AdamW) Shard() ShardInfo {
	return ShardInfo{Rank: o.lay.rank, Size: o.lay.size, Params: o.lay.n, Shard: o.lay.shard, Tail: o.lay.tail}
}

// StateBytes is the device memory of this rank's optimizer state (the two
// F32 moments).
func (o *AdamW) StateBytes() int64 { return 8 * int64(o.M.N) }

// ShardedStateBytes is the per-rank AdamW state of n parameters over size
// ranks, as NewShardedAdamW allocates it (for memory plans).
func ShardedStateBytes(n, size int) int64 {
	if size < 1 {
		size = 1
	}
	return 8 * int64(shardLayout(n, 0, size).stateLen())
}

// stepSharded is Step for a sharded optimizer.
func (o *AdamW) stepSharded(m *model.Model, lr float32, clipNorm float32) (float64, error) {
	l, c, be := o.lay, o.comm, o.be
	if l.shard > 0 {
		if err := c.ReduceScatter(m.Grads.View(l.rank*l.shard, l.shard), m.Grads.View(0, l.size*l.shard)); err != nil {
			return 0, fmt.Errorf("optim: gradients: %w", err)
		}
	}
	if l.tail > 0 {
		if err := c.AllReduce(m.Grads.View(l.size*l.shard, l.tail)); err != nil {
			return 0, fmt.Errorf("optim: gradients: %w", err)
		}
	}
	// The squared norm: the shards' parts summed over the ranks, then the
	// tail (which every rank holds) once.
	sq := []float64{0}
	if l.shard > 0 {
		sq[0] = be.SumSquares(m.Grads.View(l.rank*l.shard, l.shard), l.shard)
	}
	if err := c.AllReduceHost(sq); err != nil {
		return 0, fmt.Errorf("optim: gradient norm: %w", err)
	}
	if l.tail > 0 {
		sq[0] += be.SumSquares(m.Grads.View(l.size*l.shard, l.tail), l.tail)
	}
	norm := math.Sqrt(sq[0])
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return norm, ErrNonFinite
	}
	scale := ClipScale(norm, clipNorm)
	o.Steps++
	for _, seg := range l.segments() {
		so, po, n := seg[0], seg[1], seg[2]
		for _, r := range o.runs {
			lo, hi := max(r.off, po), min(r.off+r.n, po+n)
			if lo >= hi {
				continue
			}
			wd := float32(0)
			if r.decay {
				wd = o.WeightDecay
			}
			k := hi - lo
			var p kernels.Tensor
			if o.P.Valid() {
				p = o.P.View(so+lo-po, k)
			} else {
				p = m.Params.View(lo, k)
			}
			be.AdamW(p, m.Grads.View(lo, k), o.M.View(so+lo-po, k), o.V.View(so+lo-po, k), k,
				kernels.AdamWParams{LR: lr, Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps, WeightDecay: wd, Step: o.Steps, GradScale: scale})
		}
	}
	if o.P.Valid() {
		// Every rank's updated shard reaches every rank through the
		// stage, and goes into the model's BF16 copies and F32 norms.
		if err := o.GatherMasters(func(off int, vals kernels.Tensor) error {
			m.SetMasterRange(off, vals)
			return nil
		}); err != nil {
			return norm, err
		}
		if err := be.Sync(); err != nil {
			return norm, fmt.Errorf("optim: AdamW step %d: %w", o.Steps, err)
		}
		return norm, nil
	}
	if l.shard > 0 {
		if err := c.AllGather(m.Params.View(0, l.size*l.shard), m.Params.View(l.rank*l.shard, l.shard)); err != nil {
			return norm, fmt.Errorf("optim: parameters: %w", err)
		}
	}
	m.SyncComputeWeights()
	if err := be.Sync(); err != nil {
		return norm, fmt.Errorf("optim: AdamW step %d: %w", o.Steps, err)
	}
	return norm, nil
}

// stageChunk is the most elements of each rank's shard that one
// all-gather of the master weights moves (the stage holds Size() chunks:
// 16 MiB a rank).
const stageChunk = 1 << 22

// ShardMasters moves the F32 master weights out of m into the optimizer:
// each rank keeps those of its shard and of the tail (4*(Shard+Tail)
// bytes instead of the 4*Params of whole masters) and m keeps only what its
// forward and backward read (model.DropMatmulMasters: BF16 matmul weights,
// F32 norms, biases and embedding). A step then updates the rank's masters
// and all-gathers them, a chunk at a time through a stage of Size() chunks
// (stageChunkFor: at most 16 MiB a rank), into every rank's model, where the
// matmul weights are rounded to BF16 as SyncComputeWeights rounds them:
// the model computes bit for bit what it computed with whole masters.
// It needs a sharded optimizer and m in precision bf16. Whoever needs
// the whole masters afterwards (a checkpoint, an EMA teacher) reads them
// through GatherMasters.
func (o *AdamW) ShardMasters(m *model.Model) error {
	return o.shardMasters(m, stageChunkFor(o.lay.shard))
}

// stageChunkFor is the all-gather chunk of a shard of s elements:
// stageChunk, or an eighth of a small shard, so that the stage stays
// small beside the masters it saves.
func stageChunkFor(s int) int { return max(1, min(stageChunk, (s+7)/8)) }

// shardMasters is ShardMasters with all-gathers of at most chunk elements
// of each shard (tests make several chunks of a tiny model).
func (o *AdamW) shardMasters(m *model.Model, chunk int) error {
	l := o.lay
	switch {
	case o.comm == nil:
		return fmt.Errorf("optim: ShardMasters needs a sharded optimizer (more than one rank)")
	case o.P.Valid():
		return fmt.Errorf("optim: the master weights are already sharded")
	case m.LayoutLen() != l.n || !m.HoldsMasters():
		return fmt.Errorf("optim: ShardMasters on a model of %d parameters (holding its masters: %v), optimizer state for %d", m.LayoutLen(), m.HoldsMasters(), l.n)
	case m.Precision() != model.PrecisionBF16:
		return fmt.Errorf("optim: ShardMasters needs a model in precision bf16 (in %s the weights the forward reads are the masters)", m.Precision())
	}
	var err error
	if o.P, err = o.be.Alloc(kernels.F32, l.stateLen()); err != nil {
		return fmt.Errorf("optim: allocate %d master weights: %w", l.stateLen(), err)
	}
	o.chunk = max(1, min(l.shard, chunk))
	if o.stage, err = o.be.Alloc(kernels.F32, l.size*o.chunk); err != nil {
		o.be.Free(o.P)
		o.P = kernels.Tensor{}
		return fmt.Errorf("optim: allocate the master-weight stage: %w", err)
	}
	for _, seg := range l.segments() {
		o.be.Copy(o.P.View(seg[0], seg[2]), m.Params.View(seg[1], seg[2]))
	}
	if err := m.DropMatmulMasters(); err != nil {
		o.be.Free(o.P)
		o.be.Free(o.stage)
		o.P, o.stage = kernels.Tensor{}, kernels.Tensor{}
		return fmt.Errorf("optim: %w", err)
	}
	return nil
}

// MastersSharded reports whether the optimizer holds the F32 master
// weights (ShardMasters).
func (o *AdamW) MastersSharded() bool { return o.P.Valid() }

// MasterBytes is the device memory of the master weights the optimizer
// holds (0 unless ShardMasters).
func (o *AdamW) MasterBytes() int64 { return 4 * int64(o.P.N) }

// ShardedMasterBytes is the per-rank memory of sharded F32 master weights
// of n parameters over size ranks, as ShardMasters allocates them with
// its stage (for memory plans).
func ShardedMasterBytes(n, size int) int64 {
	if size < 1 {
		size = 1
	}
	l := shardLayout(n, 0, size)
	return 4 * int64(l.stateLen()+l.size*stageChunkFor(l.shard))
}

// GatherMasters passes the whole F32 master weights, every rank's shard
// and the tail, to fn on every rank: fn(off, vals) for consecutive ranges
// of the parameter layout, vals valid only during the call. It is a
// collective (every rank calls it, in the same order as the other
// collectives). The calls keep going after fn fails, so that the ranks
// stay in step; the first error is returned. Without sharded masters
// (the model holds them) it fails.
func (o *AdamW) GatherMasters(fn func(off int, vals kernels.Tensor) error) error {
	if !o.P.Valid() {
		return fmt.Errorf("optim: GatherMasters without sharded master weights (the model holds them)")
	}
	l, c := o.lay, o.comm
	var first error
	call := func(off int, vals kernels.Tensor) {
		if err := fn(off, vals); err != nil && first == nil {
			first = err
		}
	}
	chunk := o.chunk
	for lo := 0; lo < l.shard; lo += chunk {
		k := min(chunk, l.shard-lo)
		st := o.stage.View(0, l.size*k)
		if err := c.AllGather(st, o.P.View(lo, k)); err != nil {
			return fmt.Errorf("optim: gather the master weights: %w", err)
		}
		for r := 0; r < l.size; r++ {
			call(r*l.shard+lo, st.View(r*k, k))
		}
	}
	if l.tail > 0 {
		call(l.size*l.shard, o.P.View(l.shard, l.tail))
	}
	return first
}

// LoadMasters sets the master weights the optimizer holds from src, a
// model of the same layout that holds all its F32 weights (a best model
// read back from disk): the ranges of this rank's shard and tail are
// copied. The caller sets the model's own weights (CopyParamsFrom).
func (o *AdamW) LoadMasters(src *model.Model) error {
	if !o.P.Valid() {
		return fmt.Errorf("optim: LoadMasters without sharded master weights")
	}
	if src.LayoutLen() != o.lay.n || !src.HoldsMasters() {
		return fmt.Errorf("optim: LoadMasters from a model of %d parameters (holding its masters: %v), state for %d", src.LayoutLen(), src.HoldsMasters(), o.lay.n)
	}
	for _, seg := range o.lay.segments() {
		o.be.Copy(o.P.View(seg[0], seg[2]), src.Params.View(seg[1], seg[2]))
	}
	return o.be.Sync()
}
