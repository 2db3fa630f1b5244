package model

import (
	"math"
	"testing"

	"sdzero/kernels/cpu"
)

// TestRecomputeActs: activations that recompute each layer in the backward
// give bit-identical losses and gradients (the same ops on the same
// values), through Forward + Backward and ForwardBackwardCE, for every
// family; and they hold less memory.
func TestRecomputeActs(t *testing.T) {
	for _, arch := range []string{"qwen3", "qwen2", "llama", "olmo2", "olmo3"} {
		be := cpu.New(2) // fixed thread count: deterministic
		m, err := New(tinyConfig(arch), be, 3)
		if err != nil {
			t.Fatal(err)
		}
		randomize(t, m, 8)
		b, T := 3, 7
		lens := []int{7, 3, 5}
		ids := make([]int32, b*T)
		g := newLCG(5)
		for i := range ids {
			ids[i] = int32(g.intn(m.Cfg.VocabSize))
		}
		run := func(a *Acts) (float64, []float32, float64, []float32) {
			m.ZeroGrads()
			if err := m.Forward(a, ids, lens); err != nil {
				t.Fatal(err)
			}
			l1 := shiftedCE(t, m, a, ids, lens, true)
			if err := m.Backward(a, a.Logits()); err != nil {
				t.Fatal(err)
			}
			g1 := download(be, m.Grads)
			m.ZeroGrads()
			tg := make([]int32, b*T)
			w := make([]float32, b*T)
			for r := range b {
				for i := range T {
					tg[r*T+i] = -1
					if i+1 < lens[r] {
						tg[r*T+i], w[r*T+i] = ids[r*T+i+1], 0.1
					}
				}
			}
			l2, err := m.ForwardBackwardCE(a, ids, lens, tg, w, 1)
			if err != nil {
				t.Fatal(err)
			}
			return l1, g1, l2, download(be, m.Grads)
		}
		full, err := m.NewActs(b, T)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := m.NewRecomputeActs(b, T)
		if err != nil {
			t.Fatal(err)
		}
		fl1, fg1, fl2, fg2 := run(full)
		rl1, rg1, rl2, rg2 := run(rec)
		if fl1 != rl1 || fl2 != rl2 {
			t.Errorf("%s: losses %v, %v with recomputation, want %v, %v", arch, rl1, rl2, fl1, fl2)
		}
		for i := range fg1 {
			if fg1[i] != rg1[i] || fg2[i] != rg2[i] || math.IsNaN(float64(fg1[i])) {
				t.Fatalf("%s: gradient %d: %v / %v with recomputation, want %v / %v", arch, i, rg1[i], rg2[i], fg1[i], fg2[i])
			}
		}
		if !(rec.bytesTotal() < full.bytesTotal()) {
			t.Errorf("%s: recomputing acts hold %d bytes, full ones %d", arch, rec.bytesTotal(), full.bytesTotal())
		}
		full.Free()
		rec.Free()
		m.Free()
	}
}

func (a *Acts) bytesTotal() int64 {
	var s int64
	for _, v := range a.bytes {
		s += v
	}
	return s
}
