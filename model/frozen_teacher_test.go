package model_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sdzero/kernels"
	"sdzero/kernels/cpu"
	"sdzero/model"
	"sdzero/model/mptest"
)

// allocCounter counts the bytes a backend has allocated and not freed.
type allocCounter struct {
	kernels.Backend
	live int64
}

func (c *allocCounter) Alloc(d kernels.DType, n int) (kernels.Tensor, error) {
	t, err := c.Backend.Alloc(d, n)
	if err == nil {
		c.live += int64(n) * int64(d.Size())
	}
	return t, err
}

func (c *allocCounter) Free(t kernels.Tensor) {
	if t.Valid() {
		c.live -= int64(t.N) * int64(t.DType.Size())
	}
	c.Backend.Free(t)
}

// randomParams fills every parameter of m (biases and norms included) from
// seed, so that every tensor matters to the outputs.
func randomParams(t *testing.T, m *model.Model, seed uint64) {
	t.Helper()
	s := seed*0x9e3779b97f4a7c15 + 1
	for _, sp := range m.Specs {
		host := make([]float32, sp.N)
		for i := range host {
			s = s*6364136223846793005 + 1442695040888963407
			u := float32(s>>40) / float32(1<<24)
			if sp.Decay {
				host[i] = 0.15 * (2*u - 1)
			} else {
				host[i] = 0.5 + u
			}
		}
		m.BE.Upload(m.Param(sp.Name), host)
	}
	if err := m.BE.Sync(); err != nil {
		t.Fatal(err)
	}
}

// frozenOutputs are what a frozen teacher computes: per-token log-probs of
// two ragged rows at two temperatures and a greedy continuation.
func frozenOutputs(t *testing.T, m *model.Model) [][]float32 {
	t.Helper()
	a, err := m.NewInferActs(2, 12)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Free()
	ids := []int32{1, 5, 9, 2, 7, 3, 11, 4, 8, 6, 10, 0, 3, 1, 4, 1, 5, 9, 2, 0, 0, 0, 0, 0}
	lens := []int{11, 7}
	targets := make([]int32, len(ids))
	for i := range ids {
		targets[i] = ids[(i+1)%len(ids)]
	}
	var out [][]float32
	for _, temp := range []float32{1, 0.7} {
		lp, err := m.TokenLogProbsAt(a, ids, lens, targets, temp)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, lp)
	}
	gen, err := m.Generate([][]int32{{1, 2, 3}, {4, 5}}, model.GenerateOptions{MaxNewTokens: 6})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gen {
		f := make([]float32, len(g))
		for i, id := range g {
			f[i] = float32(id)
		}
		out = append(out, f)
	}
	return out
}

func sameBits(a, b [][]float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if math.Float32bits(a[i][j]) != math.Float32bits(b[i][j]) {
				return false
			}
		}
	}
	return true
}

func planBytes(t *testing.T, cfg *model.Config, bf16Only bool) int64 {
	t.Helper()
	items, err := model.FrozenParamMemory(cfg, model.PrecisionBF16, bf16Only)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, it := range items {
		n += it.Bytes
	}
	return n
}

// TestFrozenBF16MatchesFull: a BF16-only frozen model (no F32 masters for
// its matmul weights) computes bit for bit what CloneFrozen +
// SetPrecision(bf16) computes, before and after a sync from a changed
// student, after a save and a load (either way round), and holds less:
// its allocations are FrozenParamMemory's plan, 4 bytes fewer per matmul
// weight (the tied embedding keeps its F32 rows for the lookup).
func TestFrozenBF16MatchesFull(t *testing.T) {
	cases := []struct {
		name string
		cfg  *model.Config
	}{
		{"qwen3", &model.Config{Arch: "qwen3", VocabSize: 97, Hidden: 32, Intermediate: 48, Layers: 2, Heads: 4, KVHeads: 2,
			HeadDim: 12, RMSNormEps: 1e-6, RopeTheta: 10000, MaxPositions: 64, BOSTokenID: -1, QKNorm: true}},
		{"qwen2-tied", &model.Config{Arch: "qwen2", VocabSize: 97, Hidden: 32, Intermediate: 48, Layers: 2, Heads: 4, KVHeads: 2,
			HeadDim: 8, RMSNormEps: 1e-6, RopeTheta: 10000, MaxPositions: 64, BOSTokenID: -1, AttnBias: true, TieEmbeddings: true}},
		{"llama-bias", &model.Config{Arch: "llama", VocabSize: 97, Hidden: 32, Intermediate: 48, Layers: 2, Heads: 2, KVHeads: 1,
			HeadDim: 16, RMSNormEps: 1e-6, RopeTheta: 10000, MaxPositions: 64, BOSTokenID: -1, AttnBias: true, OBias: true, MLPBias: true}},
		{"olmo3", olmo3Config()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			be := &allocCounter{Backend: mptest.BF16CPU(1)}
			student, err := model.New(tc.cfg, be, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer student.Free()
			randomParams(t, student, 3)
			if err := student.SetPrecision(model.PrecisionBF16); err != nil {
				t.Fatal(err)
			}

			before := be.live
			full, err := student.CloneFrozen()
			if err != nil {
				t.Fatal(err)
			}
			defer full.Free()
			if err := full.SetPrecision(model.PrecisionBF16); err != nil {
				t.Fatal(err)
			}
			fullBytes := be.live - before
			before = be.live
			bf, err := student.CloneFrozenBF16()
			if err != nil {
				t.Fatal(err)
			}
			defer bf.Free()
			bfBytes := be.live - before
			if !bf.BF16Only() || full.BF16Only() || !bf.Frozen() {
				t.Fatalf("BF16Only: clone %v, full %v; Frozen %v", bf.BF16Only(), full.BF16Only(), bf.Frozen())
			}

			// Memory: the plan matches the allocations (the same RoPE
			// buffers aside), and the difference is the F32 masters.
			ropes := fullBytes - planBytes(t, tc.cfg, false)
			if got := bfBytes - planBytes(t, tc.cfg, true); got != ropes {
				t.Errorf("BF16-only allocations %d bytes, plan %d (+ %d RoPE bytes)", bfBytes, planBytes(t, tc.cfg, true), ropes)
			}
			var dropped int64
			for _, s := range full.Specs {
				if len(s.Shape) == 2 && s.Name != "model.embed_tokens.weight" {
					dropped += int64(s.N)
				}
			}
			if fullBytes-bfBytes < 4*dropped || bfBytes >= fullBytes {
				t.Errorf("full frozen model %d bytes, BF16-only %d: saved %d, want at least %d", fullBytes, bfBytes, fullBytes-bfBytes, 4*dropped)
			}
			t.Logf("%s: frozen bf16 teacher %d bytes with F32 masters, %d BF16-only (%.2fx)", tc.name, fullBytes, bfBytes, float64(fullBytes)/float64(bfBytes))

			want := frozenOutputs(t, full)
			if got := frozenOutputs(t, bf); !sameBits(got, want) {
				t.Fatal("the BF16-only clone computes differently from the full bf16 clone")
			}

			// A sync from a changed student: both follow it, identically.
			randomParams(t, student, 4)
			student.SyncComputeWeights()
			full.CopyParamsFrom(student)
			bf.CopyParamsFrom(student)
			synced := frozenOutputs(t, full)
			if sameBits(synced, want) {
				t.Fatal("the sync did not change the teacher's outputs: the test cannot tell")
			}
			if got := frozenOutputs(t, bf); !sameBits(got, synced) {
				t.Fatal("after a sync the BF16-only teacher computes differently")
			}

			// Save and load: the BF16-only model saves its matmul weights
			// widened to F32; loaded either way it computes the same.
			dirBF, dirFull := filepath.Join(t.TempDir(), "bf"), filepath.Join(t.TempDir(), "full")
			if err := bf.Save(dirBF, model.SaveOptions{DType: kernels.F32}); err != nil {
				t.Fatal(err)
			}
			if err := full.Save(dirFull, model.SaveOptions{DType: kernels.F32}); err != nil {
				t.Fatal(err)
			}
			for _, load := range []struct {
				name string
				dir  string
				bf16 bool
			}{{"bf16-only from bf16-only", dirBF, true}, {"full from bf16-only", dirBF, false}, {"bf16-only from full", dirFull, true}} {
				var m *model.Model
				if load.bf16 {
					m, err = model.LoadFrozenBF16(load.dir, be)
				} else if m, err = model.LoadFrozen(load.dir, be); err == nil {
					err = m.SetPrecision(model.PrecisionBF16)
				}
				if err != nil {
					t.Fatalf("%s: %v", load.name, err)
				}
				if got := frozenOutputs(t, m); !sameBits(got, synced) {
					t.Errorf("%s: computes differently after the round trip", load.name)
				}
				m.Free()
			}

			// Saved in BF16 both write the same bytes.
			bf16Dirs := [2]string{filepath.Join(t.TempDir(), "bf-bf16"), filepath.Join(t.TempDir(), "full-bf16")}
			for i, m := range []*model.Model{bf, full} {
				if err := m.Save(bf16Dirs[i], model.SaveOptions{DType: kernels.BF16}); err != nil {
					t.Fatal(err)
				}
			}
			a, errA := os.ReadFile(filepath.Join(bf16Dirs[0], "model.safetensors"))
			b, errB := os.ReadFile(filepath.Join(bf16Dirs[1], "model.safetensors"))
			if errA != nil || errB != nil || len(a) == 0 || !bytes.Equal(a, b) {
				t.Errorf("BF16 saves differ (%d and %d bytes; %v, %v)", len(a), len(b), errA, errB)
			}

			// The saved matmul weights are the teacher's BF16 values, widened;
			// the norms keep their F32 bits.
			for _, s := range full.Specs {
				fw, err := full.DownloadParam(s.Name)
				if err != nil {
					t.Fatal(err)
				}
				bw, err := bf.DownloadParam(s.Name)
				if err != nil {
					t.Fatal(err)
				}
				for i := range fw {
					w := fw[i]
					if len(s.Shape) == 2 && s.Name != "model.embed_tokens.weight" {
						w = kernels.BF16ToF32(kernels.F32ToBF16(w))
					}
					if math.Float32bits(bw[i]) != math.Float32bits(w) {
						t.Fatalf("%s[%d]: BF16-only model holds %v, full %v", s.Name, i, bw[i], fw[i])
					}
				}
			}

			if err := bf.SetPrecision(model.PrecisionF32); err == nil {
				t.Error("a BF16-only model switched to fp32")
			}
			// Back into a full model: exact widening, same outputs.
			c, err := bf.Clone()
			if err != nil {
				t.Fatal(err)
			}
			if got := frozenOutputs(t, c); !sameBits(got, synced) {
				t.Error("a full clone of the BF16-only model computes differently")
			}
			c.Free()
		})
	}
}

// TestFrozenBF16NeedsBF16: a backend without BF16 matmuls refuses a
// BF16-only model with an error naming bf16.
func TestFrozenBF16NeedsBF16(t *testing.T) {
	m, err := model.New(olmo3Config(), cpu.New(1), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	if c, err := m.CloneFrozenBF16(); err == nil || !strings.Contains(err.Error(), "BF16") {
		if c != nil {
			c.Free()
		}
		t.Errorf("a BF16-only clone on a backend without BF16: %v", err)
	}
}
