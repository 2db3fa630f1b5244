package train

import (
	"fmt"

	"sdzero/kernels"
	"sdzero/model"
)

// Sharded master weights (ZeRO-1 in bf16, docs/distributed.md): on
// several ranks in precision bf16 the optimizer keeps the F32 masters of
// its shard and the student only its BF16 matmul weights and F32 norms,
// biases and embedding. What needs the whole masters reads them through
// the collective optim.AdamW.GatherMasters: checkpoints, the final and
// best models (rank 0 writes them from a host image), a teacher that
// keeps F32 weights, SDFT's EMA.

// shardMasters moves the student's F32 masters into the sharded optimizer
// where the run is distributed in bf16 (unless Options.wholeMasters).
func (t *trainer) shardMasters() error {
	if t.adam == nil || !t.distributed() || t.m.Precision() != model.PrecisionBF16 || t.opt.wholeMasters {
		return nil
	}
	if err := t.adam.ShardMasters(t.m); err != nil {
		return fmt.Errorf("shard the master weights: %w", err)
	}
	return nil
}

// mastersSharded reports whether the optimizer holds the student's F32
// masters.
func (t *trainer) mastersSharded() bool { return t.adam != nil && t.adam.MastersSharded() }

// masterImage gathers the student's whole F32 masters into a host image
// of the parameter layout on rank 0 (nil on the other ranks, and nil
// everywhere when the student holds its masters). A collective: every
// rank calls it at the same point. Rank 0 then holds 4 bytes a parameter
// of host memory until the save that reads it returns.
func (t *trainer) masterImage() ([]float32, error) {
	if !t.mastersSharded() {
		return nil, nil
	}
	var img []float32
	if t.lead() {
		img = make([]float32, t.m.LayoutLen())
	}
	err := t.adam.GatherMasters(func(off int, vals kernels.Tensor) error {
		if img == nil {
			return nil
		}
		t.be.Download(img[off:off+vals.N], vals)
		return t.be.Sync()
	})
	if err != nil {
		return nil, fmt.Errorf("gather the master weights: %w", err)
	}
	return img, nil
}

// copyStudentInto sets dst's weights to the student's: from the student
// itself (model.CopyParamsFrom), or, for a dst that keeps F32 weights
// while the optimizer holds the student's masters, from the gathered
// masters (collective then).
func (t *trainer) copyStudentInto(dst *model.Model) error {
	if !t.mastersSharded() || dst.BF16Only() {
		dst.CopyParamsFrom(t.m)
		return nil
	}
	if err := t.adam.GatherMasters(func(off int, vals kernels.Tensor) error {
		dst.SetMasterRange(off, vals)
		return nil
	}); err != nil {
		return err
	}
	return t.be.Sync()
}

// emaTeacher moves the teacher's F32 weights toward the student's:
// teacher = (1-a)*teacher + a*student, element by element (so the same
// bits whether the student's masters are whole or gathered in ranges).
func (t *trainer) emaTeacher(a float32) error {
	if t.teacher.BF16Only() {
		return fmt.Errorf("ema teacher: held without F32 weights, which the running average needs")
	}
	mix := func(off int, s kernels.Tensor) error {
		d := t.teacher.Params.View(off, s.N)
		t.be.Scale(d, 1-a, s.N)
		t.be.AXPY(d, s, a, s.N)
		return nil
	}
	if t.mastersSharded() {
		if err := t.adam.GatherMasters(mix); err != nil {
			return fmt.Errorf("ema teacher: %w", err)
		}
	} else if err := mix(0, t.m.Params.View(0, t.m.LayoutLen())); err != nil {
		return err
	}
	t.teacher.SyncComputeWeights()
	if err := t.be.Sync(); err != nil {
		return fmt.Errorf("ema teacher: %w", err)
	}
	return nil
}

// saveOptions are the options of a save of the student in dtype dt, with
// the gathered masters (masterImage) when the optimizer holds them.
func (t *trainer) saveOptions(dt kernels.DType) model.SaveOptions {
	return model.SaveOptions{DType: dt, Masters: t.masters}
}
