package train

import (
	"context"
	"path/filepath"
	"testing"

	"sdzero/kernels"
	"sdzero/train/optim"
)

func meanKey(ms []map[string]any, key string) float64 {
	s := 0.0
	for _, m := range ms {
		s += m[key].(float64)
	}
	return s / float64(len(ms))
}

// TestLearning checks that a whole run learns: the SFT loss falls on a
// small set.
func TestLearning(t *testing.T) {
	mdl := tinyModelDir(t, 6)
	data := tinyMathData(t, 4)
	for _, tc := range []struct {
		phase, key string
		steps      int
		lr         float64
	}{
		{PhaseSFT, "loss", 60, 1e-2},
	} {
		t.Run(tc.phase, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			c := tinyRunConfig(t, tc.phase, mdl, data, out)
			c.Train.Steps = tc.steps
			c.Optim.LR = tc.lr
			c.Optim.Schedule = "constant"
			c.Rollout.MaxNewTokens = 24
			c.Eval.Data, c.Eval.Every = data, 10
			c.Distill.TeacherSyncEvery = 0
			c.Distill.Divergence = "reverse"
			if _, err := Run(context.Background(), c, Options{Backend: testBackend()}); err != nil {
				t.Fatal(err)
			}
			ms := readMetrics(t, out)
			first, last := meanKey(ms[:5], tc.key), meanKey(ms[len(ms)-5:], tc.key)
			t.Logf("%s: first 5 steps %.4g, last 5 steps %.4g", tc.key, first, last)
			if !(last < 0.7*first) {
				t.Errorf("%s did not fall: %.4g -> %.4g", tc.key, first, last)
			}
			// Held-out evaluation (here: the training problems, greedy) ran
			// every 10 steps and the memorised solutions verify.
			var evals []float64
			for _, m := range ms {
				if v, ok := m["eval_accuracy"]; ok {
					evals = append(evals, v.(float64))
				}
			}
			t.Logf("eval accuracy: %v", evals)
			if len(evals) != tc.steps/10 || evals[len(evals)-1] <= evals[0] && evals[0] < 1 {
				t.Errorf("eval accuracy %v", evals)
			}
		})
	}
}

// TestDescent takes AdamW steps on one fixed batch and checks that the
// distillation loss (each divergence) and the GRPO surrogate fall: the
// gradients the passes produce point downhill.
func TestDescent(t *testing.T) {
	seqsOf := func() []distillSeq {
		var out []distillSeq
		for _, s := range engineSeqs {
			te := cat(ids("some context: "), s)
			out = append(out, distillSeq{student: s, teacher: te, sStart: 1, tStart: 15, n: len(s) - 1, w: 1})
		}
		n := 0
		for _, d := range out {
			n += d.n
		}
		for i := range out {
			out[i].w = 1 / float32(n)
		}
		return out
	}
	for _, div := range []string{"mixed", "reverse", "forward"} {
		t.Run("distill-"+div, func(t *testing.T) {
			tr := engineTrainer(t, 2, 24, true)
			opt, err := optim.NewAdamW(tr.m, optim.Config{LR: 1e-3})
			if err != nil {
				t.Fatal(err)
			}
			defer opt.Free()
			dp := divergence(div, 16, 0.5, 1)
			var losses []float64
			for step := 0; step < 15; step++ {
				tr.m.ZeroGrads()
				l, _, err := tr.runDistill(seqsOf(), dp, nil)
				if err != nil {
					t.Fatal(err)
				}
				losses = append(losses, l)
				if _, err := opt.Step(tr.m, 1e-3, 1); err != nil {
					t.Fatal(err)
				}
			}
			if !(losses[len(losses)-1] < 0.5*losses[0]) {
				t.Errorf("loss %v", losses)
			}
		})
	}
	t.Run("grpo", func(t *testing.T) {
		tr := engineTrainer(t, 2, 24, false)
		opt, err := optim.NewAdamW(tr.m, optim.Config{LR: 1e-3})
		if err != nil {
			t.Fatal(err)
		}
		defer opt.Free()
		adv := []float64{1, -1, 1, -1, 1}
		nTok := 0
		for _, s := range engineSeqs {
			nTok += len(s) - 1
		}
		old, err := tr.seqLogProbs(tr.m, tr.acts, engineSeqs)
		if err != nil {
			t.Fatal(err)
		}
		// sum over tokens of A*logp: must rise
		score := func() float64 {
			lp, err := tr.seqLogProbs(tr.m, tr.acts, engineSeqs)
			if err != nil {
				t.Fatal(err)
			}
			s := 0.0
			for i := range engineSeqs {
				for j := 1; j < len(engineSeqs[i]); j++ {
					s += adv[i] * float64(lp[i][j])
				}
			}
			return s
		}
		before := score()
		for step := 0; step < 5; step++ {
			tr.m.ZeroGrads()
			_, _, err := tr.runLM(lmPass{seqs: engineSeqs, active: func(i, j int) bool { return true },
				dyn: func(i, j int, logp float64) float32 {
					w, _, _ := grpoTokenWeight(logp, float64(old[i][j]), logp, adv[i], 0.2, 0.2, 0, nTok)
					return float32(w)
				}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := opt.Step(tr.m, 1e-3, 1); err != nil {
				t.Fatal(err)
			}
		}
		if after := score(); !(after > before+1) {
			t.Errorf("advantage-weighted log-likelihood %g -> %g", before, after)
		}
	})
}

// Benchmarks of one loss pass on the tiny model (go test -bench).
func BenchmarkRunLM(b *testing.B) {
	tr := engineTrainer(b, 4, 32, false)
	w := float32(1) / 64
	seqs := [][]int32{ids("the quick brown fox jumps over"), ids("lazy dogs and cats 1+2=3"), ids("abcdefghijklmnop"), ids("0123456789")}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tr.m.ZeroGrads()
		if _, _, err := tr.runLM(lmPass{seqs: seqs, weight: func(i, j int) float32 { return w }}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRunDistill(b *testing.B) {
	tr := engineTrainer(b, 4, 32, true)
	var seqs []distillSeq
	for _, s := range [][]int32{ids("the quick brown fox jumps over"), ids("lazy dogs and cats 1+2=3"), ids("abcdefghijklmnop"), ids("0123456789")} {
		te := cat(ids("ctx "), s)
		seqs = append(seqs, distillSeq{student: s, teacher: te, sStart: 1, tStart: 5, n: len(s) - 1, w: 0.01})
	}
	dp := kernels.DistillParams{Temp: 1, TopK: 64, ForwardWeight: 0.5}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tr.m.ZeroGrads()
		if _, _, err := tr.runDistill(seqs, dp, nil); err != nil {
			b.Fatal(err)
		}
	}
}
