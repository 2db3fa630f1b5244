package optim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"sdzero/kernels"
	"sdzero/model"
	"sdzero/model/mptest"
)

// mastersModel is a tiny bf16 model: tied (the embedding is held in F32
// and BF16) or untied with biases.
func mastersModel(t *testing.T, tied bool) *model.Model {
	t.Helper()
	cfg := &model.Config{Arch: "qwen3", VocabSize: 61, Hidden: 32, Intermediate: 48, Layers: 2, Heads: 4, KVHeads: 2,
		HeadDim: 8, RMSNormEps: 1e-6, RopeTheta: 10000, MaxPositions: 32, BOSTokenID: -1, QKNorm: true, TieEmbeddings: tied}
	if !tied {
		cfg.Arch, cfg.QKNorm, cfg.AttnBias = "qwen2", false, true
	}
	m, err := model.New(cfg, mptest.BF16CPU(1), 5)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetPrecision(model.PrecisionBF16); err != nil {
		t.Fatal(err)
	}
	return m
}

// rankResult is what one rank of TestShardedMasters ends with.
type rankResult struct {
	logits  []float32 // a forward after the steps
	masters []float32 // the whole F32 masters (gathered, or the model's)
	params  int       // F32 elements the model holds
	master  int64     // MasterBytes
	err     error
}

// TestShardedMasters: ranks whose optimizer holds the F32 masters of its
// shard (ShardMasters; all-gathers of 7 elements a rank, so many chunks
// and a tail) compute bit for bit what ranks with whole masters compute:
// the same logits after three steps with clipping and weight decay, and
// GatherMasters returns the whole masters' bits. Each rank's model then
// holds only the norms, biases and embedding in F32 and the optimizer
// 4*(shard+tail) bytes of masters; LoadMasters restores given weights.
func TestShardedMasters(t *testing.T) {
	for _, tied := range []bool{true, false} {
		for _, size := range []int{2, 3} {
			t.Run(fmt.Sprintf("tied=%v/%d ranks", tied, size), func(t *testing.T) {
				ref := mastersModel(t, tied)
				n := ref.LayoutLen()
				ref.Free()
				rng := rand.New(rand.NewPCG(2, uint64(size)))
				const steps = 3
				parts := make([][][]float32, steps)
				for s := range parts {
					parts[s] = make([][]float32, size)
					for r := range parts[s] {
						parts[s][r] = make([]float32, n)
						for i := range parts[s][r] {
							parts[s][r][i] = float32(rng.IntN(9)-4) / 8
						}
					}
				}
				run := func(shard bool) []rankResult {
					h := newHub(size)
					out := make([]rankResult, size)
					var wg sync.WaitGroup
					for r := range size {
						wg.Add(1)
						go func(r int) {
							defer wg.Done()
							out[r] = runMastersRank(t, tied, loopComm{h: h, rank: r}, parts, shard)
						}(r)
					}
					wg.Wait()
					return out
				}
				whole, sharded := run(false), run(true)
				sh := n / size
				for r := range size {
					w, s := whole[r], sharded[r]
					if w.err != nil || s.err != nil {
						t.Fatalf("rank %d: whole masters: %v; sharded: %v", r, w.err, s.err)
					}
					if i := firstDiff(w.logits, s.logits); i >= 0 {
						t.Errorf("rank %d: logit %d is %g with sharded masters, %g with whole ones", r, i, s.logits[i], w.logits[i])
					}
					if i := firstDiff(w.masters, s.masters); i >= 0 {
						t.Errorf("rank %d: gathered master %d is %g, the whole masters hold %g", r, i, s.masters[i], w.masters[i])
					}
					if want := 4 * int64(sh+n-size*sh); s.master != want {
						t.Errorf("rank %d: %d bytes of masters, want %d", r, s.master, want)
					}
					if s.params >= w.params/2 || w.params != n {
						t.Errorf("rank %d: the model holds %d F32 parameters with sharded masters, %d with whole ones (layout %d)", r, s.params, w.params, n)
					}
				}
			})
		}
	}
}

// runMastersRank trains one rank's model for len(parts) steps and reads
// back its logits and masters; with shard, ShardMasters first, and then
// LoadMasters of a fresh model must give back that model's weights.
func runMastersRank(t *testing.T, tied bool, c loopComm, parts [][][]float32, shard bool) (res rankResult) {
	m := mastersModel(t, tied)
	defer m.Free()
	o, err := NewShardedAdamW(m, Config{LR: 1e-2, WeightDecay: 0.1}, c)
	if err != nil {
		return rankResult{err: err}
	}
	defer o.Free()
	if shard {
		if err := o.shardMasters(m, 7); err != nil {
			return rankResult{err: err}
		}
	}
	for s := range parts {
		m.BE.Upload(m.Grads, parts[s][c.rank])
		if _, err := o.Step(m, 1e-2, 2); err != nil {
			return rankResult{err: err}
		}
	}
	a, err := m.NewActs(1, 6)
	if err != nil {
		return rankResult{err: err}
	}
	defer a.Free()
	if err := m.Forward(a, []int32{3, 14, 15, 9, 26, 5}, []int{6}); err != nil {
		return rankResult{err: err}
	}
	res.logits = make([]float32, a.Logits().N)
	m.BE.Download(res.logits, a.Logits())
	res.params, res.master = m.Params.N, o.MasterBytes()
	if !shard {
		res.masters = make([]float32, m.Params.N)
		m.BE.Download(res.masters, m.Params)
		res.err = m.BE.Sync()
		return res
	}
	gather := func() ([]float32, error) {
		img := make([]float32, m.LayoutLen())
		err := o.GatherMasters(func(off int, vals kernels.Tensor) error {
			m.BE.Download(img[off:off+vals.N], vals)
			return m.BE.Sync()
		})
		return img, err
	}
	if res.masters, res.err = gather(); res.err != nil {
		return res
	}
	// LoadMasters: the masters of a fresh model come back whole.
	fresh := mastersModel(t, tied)
	defer fresh.Free()
	want := make([]float32, fresh.Params.N)
	fresh.BE.Download(want, fresh.Params)
	if err := o.LoadMasters(fresh); err != nil {
		res.err = err
		return res
	}
	got, err := gather()
	if err != nil {
		res.err = err
		return res
	}
	if i := firstDiff(want, got); i >= 0 {
		res.err = fmt.Errorf("after LoadMasters master %d is %g, the loaded model holds %g", i, got[i], want[i])
	}
	return res
}

// firstDiff is the first index where x and y differ in bits (-1: none).
func firstDiff(x, y []float32) int {
	if len(x) != len(y) {
		return 0
	}
	for i := range x {
		if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
			return i
		}
	}
	return -1
}
