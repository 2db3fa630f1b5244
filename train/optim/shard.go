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
	o, err := newAdamW(m, cfg, shardLayout(m.Params.N, comm.Rank(), comm.Size()))
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
			be.AdamW(m.Params.View(lo, k), m.Grads.View(lo, k), o.M.View(so+lo-po, k), o.V.View(so+lo-po, k), k,
				kernels.AdamWParams{LR: lr, Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps, WeightDecay: wd, Step: o.Steps, GradScale: scale})
		}
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
