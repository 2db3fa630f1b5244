package train

import (
	"fmt"
	"path/filepath"
	"strings"

	"sdzero/kernels"
	"sdzero/model"
	"sdzero/train/optim"
)

// ShardPlan returns plan (from model.TrainingMemoryPlan or
// Config.MemoryPlan for model configuration cfg) as one rank of a
// ranks-rank run holds it: the AdamW moments are its ZeRO-1 shard
// (optim.ShardedStateBytes); in bf16 (the plan has BF16 matmul copies) so
// are the F32 master weights (optim.AdamW.ShardMasters: the shard's
// masters with the all-gather stage, plus the norms, biases and embedding
// that the forward reads in F32, whole); gradients, the BF16 copies,
// activations and the teacher (BF16-only in bf16 where
// Config.TeacherBF16Only, as Config.MemoryPlan counts it) stay whole on
// every rank. In fp32 the F32 parameters are both the weights the forward
// reads and AdamW's masters, whole, and named so. With one rank it is
// plan unchanged.
func ShardPlan(plan []model.MemoryItem, cfg *model.Config, ranks int) ([]model.MemoryItem, error) {
	if ranks <= 1 {
		return plan, nil
	}
	bf16 := false
	for _, it := range plan {
		bf16 = bf16 || strings.Contains(it.Name, "BF16 matmul copies")
	}
	out := make([]model.MemoryItem, 0, len(plan)+1)
	for _, it := range plan {
		// Config.MemoryPlan names the student's items "student ...".
		pre := ""
		if strings.HasPrefix(it.Name, "student ") {
			pre = "student "
		}
		switch base := strings.TrimPrefix(it.Name, pre); {
		case strings.Contains(it.Name, "AdamW moments (2 x F32)"):
			name := strings.Replace(it.Name, "(2 x F32)", fmt.Sprintf("(2 x F32, shard 1/%d)", ranks), 1)
			it = model.MemoryItem{Name: name, Bytes: optim.ShardedStateBytes(int(it.Bytes/8), ranks)}
		case base == "parameters (F32)" && bf16:
			// The F32 part of a BF16-only model: norms, biases, embedding.
			kept, err := model.FrozenParamMemory(cfg, model.PrecisionBF16, true)
			if err != nil {
				return nil, err
			}
			out = append(out, model.MemoryItem{Name: pre + fmt.Sprintf("F32 master weights (shard 1/%d)", ranks), Bytes: optim.ShardedMasterBytes(int(it.Bytes/4), ranks)})
			it = model.MemoryItem{Name: pre + "F32 norms, biases, embedding (whole)", Bytes: kept[0].Bytes}
		case base == "parameters (F32)":
			it.Name = pre + "parameters = masters (F32, whole)"
		}
		out = append(out, it)
	}
	return out, nil
}

// CommBytesPerStep is what one rank sends per optimizer step of a
// ranks-rank run over a model of params parameters, with ring collectives:
// the reduce-scatter of the F32 gradients and the all-gather of the F32
// parameters each move (ranks-1)/ranks of the buffer.
func CommBytesPerStep(params int64, ranks int) int64 {
	if ranks <= 1 {
		return 0
	}
	return 2 * 4 * params * int64(ranks-1) / int64(ranks)
}

// CheckMemoryRanks is CheckMemory for one rank of a ranks-rank run (its
// ShardPlan); with one rank it is CheckMemory.
func (c *Config) CheckMemoryRanks(be kernels.Backend, ranks int) error {
	if ranks <= 1 {
		return c.CheckMemory(be)
	}
	plan, err := c.MemoryPlan(be)
	if err != nil {
		return nil // as CheckMemory: loading the model reports it
	}
	mc, err := model.LoadConfig(filepath.Join(c.Model, "config.json"))
	if err != nil {
		return nil
	}
	if plan, err = ShardPlan(plan, mc, ranks); err != nil {
		return err
	}
	return CheckMemoryPlan(fmt.Sprintf("phase %s on each of %d ranks (train.micro_batch %d x train.max_seq_len %d)", c.Phase, ranks, c.Train.MicroBatch, c.Train.MaxSeqLen),
		plan, be, "lower train.micro_batch, train.max_seq_len or rollout.gen_batch, set train.recompute: true, or add ranks")
}
