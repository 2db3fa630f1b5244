package mptest

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"sdzero/kernels/cpu"
	"sdzero/model"
)

const fixture = "qwen3-tiny-tied"

// TestSetPrecisionUnsupported: the plain CPU backend has no BF16 matmuls.
func TestSetPrecisionUnsupported(t *testing.T) {
	m, err := model.New(tinyConfig(), cpu.New(1), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	err = m.SetPrecision(model.PrecisionBF16)
	if err == nil || !strings.Contains(err.Error(), "bf16") || !strings.Contains(err.Error(), `"cpu"`) {
		t.Fatalf("SetPrecision(bf16) on cpu: %v, want an error naming bf16 and the backend", err)
	}
	if m.Precision() != model.PrecisionF32 || m.ComputeBytes() != 0 {
		t.Errorf("after the refused switch: precision %s, %d BF16 bytes", m.Precision(), m.ComputeBytes())
	}
	if err := m.SetPrecision(model.PrecisionF32); err != nil {
		t.Errorf("SetPrecision(fp32): %v", err)
	}
}

func TestParsePrecision(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want model.Precision
		ok   bool
	}{
		{"fp32", model.PrecisionF32, true}, {"F32", model.PrecisionF32, true},
		{"bf16", model.PrecisionBF16, true}, {"bfloat16", model.PrecisionBF16, true},
		{"fp16", 0, false}, {"", 0, false},
	} {
		got, err := model.ParsePrecision(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParsePrecision(%q) = %v, %v", tc.in, got, err)
		}
	}
	if model.PrecisionF32.String() != "fp32" || model.PrecisionBF16.String() != "bf16" {
		t.Errorf("String: %s, %s", model.PrecisionF32, model.PrecisionBF16)
	}
}

// TestBF16Fixture runs the tiny fixture in bf16 on BF16CPU against F32.
func TestBF16Fixture(t *testing.T) {
	CheckFixture(t, BF16CPU(0), FixtureDir(t, fixture), DefaultTolerances)
}

// TestBF16Generate: bf16 decoding (BF16 KV cache) agrees with the bf16
// full forward.
func TestBF16Generate(t *testing.T) {
	CheckGenerate(t, BF16CPU(0), TensorCoreConfig(64), 3, [][]int32{{1, 2, 3}, {4}, {5, 6, 7, 8, 9, 10, 11}}, 12)
}

// TestBF16HeadDims: the mixed-precision model at the head dims real models
// use (BF16 attention inputs included), on rows longer than one tile.
func TestBF16HeadDims(t *testing.T) {
	for _, d := range []int{64, 128} {
		t.Run(fmt.Sprint("d", d), func(t *testing.T) {
			CheckRandom(t, BF16CPU(0), TensorCoreConfig(d), 5, 2, 70, DefaultTolerances)
		})
	}
}

// run returns the logits and gradients of one forward/backward of m on a
// fixed random batch (tied/untied head and biases exercised by cfg).
func run(t *testing.T, m *model.Model) (logits, grads []float32) {
	t.Helper()
	const b, T = 2, 7
	ids := make([]int32, b*T)
	for i := range ids {
		ids[i] = int32((i*37 + 11) % m.Cfg.VocabSize)
	}
	lens := []int{T, T - 2}
	a, err := m.NewActs(b, T)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Free()
	if err := m.Forward(a, ids, lens); err != nil {
		t.Fatal(err)
	}
	logits = download(t, m.BE, a.Logits())
	targets, weights := nextToken(ids, b, T)
	m.ZeroGrads()
	if _, err := m.ForwardBackwardCE(a, ids, lens, targets, weights, 1); err != nil {
		t.Fatal(err)
	}
	return logits, download(t, m.BE, m.Grads)
}

func tinyConfig() *model.Config {
	return &model.Config{Arch: "qwen3", VocabSize: 97, Hidden: 32, Intermediate: 48, Layers: 2, Heads: 4, KVHeads: 2,
		HeadDim: 8, RMSNormEps: 1e-6, RopeTheta: 10000, MaxPositions: 64, BOSTokenID: -1, QKNorm: true}
}

func bitsEqual(a, b []float32) bool {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return len(a) == len(b)
}

// TestPrecisionSwitching: fp32 on a BF16-capable backend is bit-identical
// to the CPU backend, also after a round trip through bf16; bf16 differs
// but stays close; clones and CopyParamsFrom keep the BF16 copies in step.
func TestPrecisionSwitching(t *testing.T) {
	for _, tied := range []bool{true, false} {
		cfg := tinyConfig()
		cfg.TieEmbeddings = tied
		ref, err := model.New(cfg, cpu.New(1), 7)
		if err != nil {
			t.Fatal(err)
		}
		defer ref.Free()
		m, err := model.New(cfg, BF16CPU(1), 7)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Free()
		rl, rg := run(t, ref)
		l, g := run(t, m)
		if !bitsEqual(l, rl) || !bitsEqual(g, rg) {
			t.Fatalf("tied=%v: fp32 on the BF16-capable backend differs from cpu", tied)
		}
		if err := m.SetPrecision(model.PrecisionBF16); err != nil {
			t.Fatal(err)
		}
		if m.ComputeBytes() == 0 {
			t.Errorf("tied=%v: bf16 model reports no BF16 weight bytes", tied)
		}
		bl, bg := run(t, m)
		if bitsEqual(bl, rl) {
			t.Errorf("tied=%v: bf16 logits are bit-identical to fp32: the BF16 path did not run", tied)
		}
		if e := RelErr(bl, rl); !(e < DefaultTolerances.Logits) {
			t.Errorf("tied=%v: bf16 logits relative error %.3g", tied, e)
		}
		if e := RelErr(bg, rg); !(e < DefaultTolerances.Grads) {
			t.Errorf("tied=%v: bf16 gradients relative error %.3g", tied, e)
		}

		// A clone computes the same bf16 results; CopyParamsFrom refreshes
		// the copies of the destination.
		c, err := m.Clone()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Free()
		if c.Precision() != model.PrecisionBF16 {
			t.Fatalf("clone precision %s", c.Precision())
		}
		if cl, cg := run(t, c); !bitsEqual(cl, bl) || !bitsEqual(cg, bg) {
			t.Errorf("tied=%v: bf16 clone differs", tied)
		}
		other, err := model.New(cfg, BF16CPU(1), 8)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Free()
		c.CopyParamsFrom(other)
		if err := other.SetPrecision(model.PrecisionBF16); err != nil {
			t.Fatal(err)
		}
		ol, _ := run(t, other)
		if cl, _ := run(t, c); !bitsEqual(cl, ol) {
			t.Errorf("tied=%v: CopyParamsFrom left stale BF16 copies", tied)
		}

		if err := m.SetPrecision(model.PrecisionF32); err != nil {
			t.Fatal(err)
		}
		if l, g := run(t, m); !bitsEqual(l, rl) || !bitsEqual(g, rg) {
			t.Errorf("tied=%v: fp32 after a bf16 round trip differs from cpu", tied)
		}
	}
}

// TestSyncComputeWeights: a change of Params is invisible to a bf16 model
// until SyncComputeWeights.
func TestSyncComputeWeights(t *testing.T) {
	m, err := model.New(tinyConfig(), BF16CPU(1), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	if err := m.SetPrecision(model.PrecisionBF16); err != nil {
		t.Fatal(err)
	}
	before, _ := run(t, m)
	m.BE.Scale(m.Params, 1.5, m.Params.N)
	stale, _ := run(t, m)
	m.SyncComputeWeights()
	fresh, _ := run(t, m)
	// Norm weights are F32 and change at once; the matmul weights only
	// after the sync.
	if bitsEqual(stale, fresh) || bitsEqual(before, fresh) {
		t.Error("SyncComputeWeights did not change the bf16 results")
	}
}

// TestTrainingMemoryBF16: the bf16 estimate adds exactly the BF16 weight
// copies a bf16 model allocates, and the matmul-input scratch.
func TestTrainingMemoryBF16(t *testing.T) {
	cfg := tinyConfig()
	f32, err := model.TrainingMemoryAt(cfg, 2, 8, model.PrecisionF32)
	if err != nil {
		t.Fatal(err)
	}
	bf, err := model.TrainingMemoryAt(cfg, 2, 8, model.PrecisionBF16)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(cfg, BF16CPU(1), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	if err := m.SetPrecision(model.PrecisionBF16); err != nil {
		t.Fatal(err)
	}
	items := map[string]int64{}
	for _, it := range bf {
		items[it.Name] = it.Bytes
	}
	for _, it := range f32 {
		if it.Name == "activations: bf16 matmul inputs" || it.Name == "parameters (BF16 matmul copies)" {
			t.Errorf("fp32 estimate has %q", it.Name)
		}
	}
	if got := items["parameters (BF16 matmul copies)"]; got != m.ComputeBytes() || got == 0 {
		t.Errorf("BF16 copies estimated %d bytes, model allocates %d", got, m.ComputeBytes())
	}
	if items["activations: bf16 matmul inputs"] == 0 {
		t.Error("bf16 estimate lacks the matmul-input scratch")
	}
	if len(bf) != len(f32)+2 {
		t.Errorf("bf16 estimate has %d items, fp32 %d: want two more", len(bf), len(f32))
	}
}

// TestBF16Recompute: in mixed precision too (shared BF16 attention inputs),
// recomputing acts give the gradients of full ones bit for bit.
func TestBF16Recompute(t *testing.T) {
	be := BF16CPU(2)
	cfg := TensorCoreConfig(64)
	m, err := model.New(cfg, be, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	if err := m.SetPrecision(model.PrecisionBF16); err != nil {
		t.Fatal(err)
	}
	b, T := 2, 40
	ids := make([]int32, b*T)
	tg := make([]int32, b*T)
	w := make([]float32, b*T)
	for i := range ids {
		ids[i] = int32((i * 31) % cfg.VocabSize)
	}
	for i := range tg {
		tg[i] = -1
		if i%T+1 < T {
			tg[i], w[i] = ids[i+1], 0.01
		}
	}
	grads := func(a *model.Acts, err error) []float32 {
		if err != nil {
			t.Fatal(err)
		}
		defer a.Free()
		m.ZeroGrads()
		if _, err := m.ForwardBackwardCE(a, ids, []int{T, T}, tg, w, 1); err != nil {
			t.Fatal(err)
		}
		return download(t, be, m.Grads)
	}
	full, rec := grads(m.NewActs(b, T)), grads(m.NewRecomputeActs(b, T))
	for i := range full {
		if full[i] != rec[i] {
			t.Fatalf("gradient %d: %v with recomputation, %v without", i, rec[i], full[i])
		}
	}
}

// TestReference runs CheckReference on the CPU: F32 to the engine's
// bounds, and the mixed-precision mode to bf16 bounds.
func TestReference(t *testing.T) {
	for _, name := range []string{"qwen3-tiny-tied", "qwen3-tiny-untied-bf16"} {
		t.Run(name, func(t *testing.T) {
			dir := FixtureDir(t, name)
			CheckReference(t, cpu.New(0), dir, model.PrecisionF32, F32RefTolerances)
			CheckReference(t, BF16CPU(0), dir, model.PrecisionBF16, BF16RefTolerances)
		})
	}
}

// TestSharedQKVGuard: bf16 training acts share their F32 q, k, v across
// layers, so an F32 backward through them is refused, not silently wrong.
func TestSharedQKVGuard(t *testing.T) {
	be := BF16CPU(1)
	m, err := model.New(tinyConfig(), be, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	if err := m.SetPrecision(model.PrecisionBF16); err != nil {
		t.Fatal(err)
	}
	a, err := m.NewActs(1, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Free()
	if err := m.SetPrecision(model.PrecisionF32); err != nil {
		t.Fatal(err)
	}
	ids := []int32{1, 2, 3, 4}
	_, err = m.ForwardBackwardCE(a, ids, []int{4}, []int32{2, 3, 4, -1}, nil, 1)
	if err == nil || !strings.Contains(err.Error(), "bf16") {
		t.Fatalf("F32 backward through bf16 acts: %v, want an error", err)
	}
}
