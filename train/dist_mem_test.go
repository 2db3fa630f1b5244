package train

import (
	"path/filepath"
	"strings"
	"testing"

	"sdzero/model"
	"sdzero/model/mptest"
	"sdzero/train/optim"
)

// TestShardPlan: one rank's share of a run's memory plan (Config.MemoryPlan,
// whose student items are named "student ..."): in fp32 the moments are
// halved on 2 ranks and the F32 parameters stay whole, named as the
// masters; in bf16 the F32 masters are sharded as ShardMasters allocates
// them and the norms, biases and embedding stay whole.
func TestShardPlan(t *testing.T) {
	mdl := tinyModelDir(t, 25)
	mc, err := model.LoadConfig(filepath.Join(mdl, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, prec := range []string{"fp32", "bf16"} {
		c := tinyRunConfig(t, PhaseSFT, mdl, tinyMathData(t, 4), filepath.Join(t.TempDir(), "out"))
		c.Precision = prec
		one, err := c.MemoryPlan(mptest.BF16CPU(1))
		if err != nil {
			t.Fatal(err)
		}
		two, err := ShardPlan(one, mc, 2)
		if err != nil {
			t.Fatal(err)
		}
		find := func(p []model.MemoryItem, name string) int64 {
			for _, it := range p {
				if it.Name == name {
					return it.Bytes
				}
			}
			return -1
		}
		params, moments := find(one, "student parameters (F32)"), find(one, "student AdamW moments (2 x F32)")
		if params <= 0 || moments <= 0 {
			t.Fatalf("%s: plan without the student's F32 parameters or moments: %v", prec, one)
		}
		if got := find(two, "student AdamW moments (2 x F32, shard 1/2)"); got != moments/2 {
			t.Errorf("%s: 2 ranks: moments %d bytes, want %d", prec, got, moments/2)
		}
		saved := moments / 2
		if prec == "fp32" {
			if got := find(two, "student parameters = masters (F32, whole)"); got != params {
				t.Errorf("fp32: 2 ranks: whole masters %d bytes, want %d", got, params)
			}
		} else {
			shard, kept := find(two, "student F32 master weights (shard 1/2)"), find(two, "student F32 norms, biases, embedding (whole)")
			if shard != optim.ShardedMasterBytes(int(params/4), 2) || kept <= 0 || kept+shard >= params {
				t.Errorf("bf16: 2 ranks: masters shard %d bytes, norms/biases/embedding %d, of %d whole", shard, kept, params)
			}
			saved += params - shard - kept
		}
		if d := PlanTotal(one) - PlanTotal(two); d != saved {
			t.Errorf("%s: 2 ranks save %d bytes, want %d", prec, d, saved)
		}
		for _, it := range two {
			if strings.HasPrefix(it.Name, "student parameters (F32)") {
				t.Errorf("%s: 2 ranks keep %q", prec, it.Name)
			}
		}
	}
}
