package model_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"

	"sdzero/kernels"
	"sdzero/model"
	"sdzero/model/mptest"
)

// trainOutputs are a training model's log-probs, greedy tokens and the
// gradients of one cross-entropy step (accumulated from zero).
func trainOutputs(t *testing.T, m *model.Model) [][]float32 {
	t.Helper()
	out := frozenOutputs(t, m)
	a, err := m.NewActs(2, 6)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Free()
	ids := []int32{1, 5, 9, 2, 7, 3, 11, 4, 8, 6, 10, 0}
	targets := []int32{5, 9, 2, 7, 3, -1, 4, 8, 6, 10, 0, 1}
	m.ZeroGrads()
	loss, err := m.ForwardBackwardCE(a, ids, []int{6, 5}, targets, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	g := make([]float32, m.Grads.N)
	m.BE.Download(g, m.Grads)
	if err := m.BE.Sync(); err != nil {
		t.Fatal(err)
	}
	return append(out, g, []float32{float32(loss)})
}

// TestDropMatmulMasters: a bf16 training model that drops the F32 copies
// of its matmul weights (their masters then live in a sharded optimizer)
// computes bit for bit what it computed before (log-probs, decoding, loss
// and every gradient), holds 4 bytes fewer per matmul weight, takes
// updated masters through SetMasterRange in any split of the layout
// (matching a full model given the same values), and saves from a master
// image the same files as the full model; without the image it saves its
// BF16 weights widened.
func TestDropMatmulMasters(t *testing.T) {
	for _, tied := range []bool{true, false} {
		cfg := &model.Config{Arch: "qwen2", VocabSize: 97, Hidden: 32, Intermediate: 48, Layers: 2, Heads: 4, KVHeads: 2,
			HeadDim: 8, RMSNormEps: 1e-6, RopeTheta: 10000, MaxPositions: 64, BOSTokenID: -1, AttnBias: true, TieEmbeddings: tied}
		ctr := &allocCounter{Backend: mptest.BF16CPU(1)}
		newModel := func(seed uint64) *model.Model {
			m, err := model.New(cfg, ctr, 1)
			if err != nil {
				t.Fatal(err)
			}
			randomParams(t, m, seed)
			if err := m.SetPrecision(model.PrecisionBF16); err != nil {
				t.Fatal(err)
			}
			return m
		}
		full, drop := newModel(3), newModel(3)
		img := make([]float32, full.LayoutLen())
		full.BE.Download(img, full.Params)
		before := ctr.live
		if err := drop.DropMatmulMasters(); err != nil {
			t.Fatal(err)
		}
		if drop.HoldsMasters() || drop.LayoutLen() != full.LayoutLen() || drop.Params.N >= full.Params.N/2 {
			t.Fatalf("tied=%v: after the drop: holds masters %v, layout %d (full %d), F32 %d elements", tied, drop.HoldsMasters(), drop.LayoutLen(), full.LayoutLen(), drop.Params.N)
		}
		matmul := 0
		for _, s := range full.Specs {
			if s.Decay && len(s.Shape) == 2 && s.Name != "model.embed_tokens.weight" {
				matmul += (s.N + 63) / 64 * 64
			}
		}
		if freed := before - ctr.live; freed != 4*int64(matmul) {
			t.Errorf("tied=%v: the drop freed %d bytes, want 4 x %d matmul weights", tied, freed, matmul)
		}
		if !sameBits(trainOutputs(t, full), trainOutputs(t, drop)) {
			t.Errorf("tied=%v: outputs or gradients changed with the drop", tied)
		}
		if err := drop.DropMatmulMasters(); err == nil {
			t.Errorf("tied=%v: a second drop was accepted", tied)
		}

		// New masters in uneven ranges, into both models.
		for i := range img {
			img[i] = img[i]*0.9 + float32(math.Sin(float64(i)))*0.01
		}
		vals, err := ctr.Alloc(kernels.F32, len(img))
		if err != nil {
			t.Fatal(err)
		}
		ctr.Upload(vals, img)
		for off := 0; off < len(img); off += 1000 {
			k := min(1000, len(img)-off)
			full.SetMasterRange(off, vals.View(off, k))
			drop.SetMasterRange(off, vals.View(off, k))
		}
		ctr.Free(vals)
		ref := newModel(9)
		ctr.Upload(ref.Params, img)
		ref.SyncComputeWeights()
		if !sameBits(trainOutputs(t, ref), trainOutputs(t, drop)) || !sameBits(trainOutputs(t, ref), trainOutputs(t, full)) {
			t.Errorf("tied=%v: SetMasterRange differs from uploading the masters and SyncComputeWeights", tied)
		}

		// Save: from the image, the full model's files; without, widened.
		dir := t.TempDir()
		for name, m := range map[string]*model.Model{"full": ref, "drop": drop} {
			opt := model.SaveOptions{DType: kernels.F32}
			if name == "drop" {
				opt.Masters = img
			}
			if err := m.Save(filepath.Join(dir, name), opt); err != nil {
				t.Fatal(err)
			}
		}
		a, _ := os.ReadFile(filepath.Join(dir, "full", "model.safetensors"))
		b, _ := os.ReadFile(filepath.Join(dir, "drop", "model.safetensors"))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("tied=%v: the model saved from the master image differs from the full model's file", tied)
		}
		if err := drop.Save(filepath.Join(dir, "short"), model.SaveOptions{Masters: img[:10]}); err == nil {
			t.Errorf("tied=%v: a master image of 10 elements was accepted", tied)
		}
		if err := drop.Save(filepath.Join(dir, "widened"), model.SaveOptions{}); err != nil {
			t.Fatal(err)
		}
		w, err := model.Load(filepath.Join(dir, "widened"), ctr)
		if err != nil {
			t.Fatal(err)
		}
		q := w.Param("model.layers.0.mlp.up_proj.weight")
		got := make([]float32, q.N)
		ctr.Download(got, q)
		s, _ := w.Spec("model.layers.0.mlp.up_proj.weight")
		for i, v := range got {
			if want := kernels.BF16ToF32(kernels.F32ToBF16(img[s.Off+i])); v != want {
				t.Fatalf("tied=%v: widened save: up_proj[%d] = %g, want the BF16 value %g", tied, i, v, want)
			}
		}
		for _, m := range []*model.Model{full, drop, ref, w} {
			m.Free()
		}
	}
}
