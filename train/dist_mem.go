package train

import (
	"fmt"
	"strings"

	"sdzero/kernels"
	"sdzero/model"
	"sdzero/train/optim"
)

// ShardPlan returns plan (from model.TrainingMemoryPlan or
// Config.MemoryPlan) as one rank of a ranks-rank run holds it: the AdamW
// moments are its ZeRO-1 shard (optim.ShardedStateBytes); parameters,
// gradients, activations and the teacher (BF16-only in bf16 where
// Config.TeacherBF16Only, as Config.MemoryPlan counts it) stay whole on
// every rank. The
// F32 parameters are named for what they are on every rank: in fp32 they
// are both the weights the forward reads and AdamW's masters; in bf16
// (the plan has BF16 matmul copies) the F32 masters, which are not
// sharded. With one rank it is plan unchanged.
func ShardPlan(plan []model.MemoryItem, ranks int) []model.MemoryItem {
	if ranks <= 1 {
		return plan
	}
	bf16 := false
	for _, it := range plan {
		bf16 = bf16 || strings.Contains(it.Name, "BF16 matmul copies")
	}
	out := make([]model.MemoryItem, len(plan))
	for i, it := range plan {
		switch {
		case strings.Contains(it.Name, "AdamW moments (2 x F32)"):
			name := strings.Replace(it.Name, "(2 x F32)", fmt.Sprintf("(2 x F32, shard 1/%d)", ranks), 1)
			it = model.MemoryItem{Name: name, Bytes: optim.ShardedStateBytes(int(it.Bytes/8), ranks)}
		case it.Name == "parameters (F32)" && bf16:
			it.Name = "F32 master weights (whole)"
		case it.Name == "parameters (F32)":
			it.Name = "parameters = masters (F32, whole)"
		}
		out[i] = it
	}
	return out
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
	return CheckMemoryPlan(fmt.Sprintf("phase %s on each of %d ranks (train.micro_batch %d x train.max_seq_len %d)", c.Phase, ranks, c.Train.MicroBatch, c.Train.MaxSeqLen),
		ShardPlan(plan, ranks), be, "lower train.micro_batch, train.max_seq_len or rollout.gen_batch, set train.recompute: true, or add ranks")
}
