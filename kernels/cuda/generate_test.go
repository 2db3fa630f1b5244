package cuda

import (
	"fmt"
	"testing"

	"sdzero/kernels/cpu"
	"sdzero/model"
	"sdzero/model/mptest"
)

// checkGenerateGraphs: decoding through recorded graphs gives the tokens
// of op-by-op decoding on the same backend, in F32 and in BF16; in F32
// greedy decoding also matches the CPU backend.
func checkGenerateGraphs(t *testing.T, be *Backend, cfg *model.Config, prompts [][]int32, steps int) {
	t.Helper()
	gen := func(m *model.Model, opt model.GenerateOptions) [][]int32 {
		t.Helper()
		out, err := m.Generate(prompts, opt)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	ref, err := model.New(cfg, cpu.New(0), 11)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Free()
	m, err := model.New(cfg, be, 11)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	for _, p := range []model.Precision{model.PrecisionF32, model.PrecisionBF16} {
		if err := m.SetPrecision(p); err != nil {
			t.Fatal(err)
		}
		for _, opt := range []model.GenerateOptions{
			{MaxNewTokens: steps},
			{MaxNewTokens: steps, Temperature: 1, TopK: 40, TopP: 0.95, Seed: 3},
		} {
			r0 := be.MemoryStats().GraphReplays
			got := gen(m, opt)
			if r := be.MemoryStats().GraphReplays - r0; r != int64(steps-2) {
				t.Errorf("%s %+v: %d graph replays, want %d (one per step after the second)", p, opt, r, steps-2)
			}
			o := opt
			o.NoGraphs = true
			if want := gen(m, o); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s %+v: with graphs %v, op by op %v", p, opt, got, want)
			}
			if p == model.PrecisionF32 && opt.Temperature == 0 {
				if want := gen(ref, opt); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("greedy: cuda %v, cpu %v", got, want)
				}
			}
		}
	}
}

func TestEmulatedGenerateGraphs(t *testing.T) {
	checkGenerateGraphs(t, newEmulated(t), mptest.TensorCoreConfig(64), [][]int32{{1, 2, 3}, {4}, {5, 6, 7, 8, 9, 10}}, 6)
}

// TestGPUGenerateGraphs is the same check on a GPU, with more steps.
func TestGPUGenerateGraphs(t *testing.T) {
	checkGenerateGraphs(t, gpuBackend(t, false), mptest.TensorCoreConfig(128), [][]int32{{1, 2, 3}, {4}, {5, 6, 7, 8, 9, 10}, {7, 7}}, 40)
}

// TestEmulatedGenerateBF16 checks bf16 decoding (BF16 cache, grouped
// decode attention, graphs) against the bf16 full forward.
func TestEmulatedGenerateBF16(t *testing.T) {
	mptest.CheckGenerate(t, newEmulated(t), mptest.TensorCoreConfig(64), 3, [][]int32{{1, 2, 3}, {4}, {5, 6, 7, 8, 9, 10, 11}}, 5)
}

// TestGPUGenerateBF16 is the same check on a GPU.
func TestGPUGenerateBF16(t *testing.T) {
	mptest.CheckGenerate(t, gpuBackend(t, false), mptest.TensorCoreConfig(128), 3, [][]int32{{1, 2, 3}, {4}, {5, 6, 7, 8, 9, 10, 11}}, 24)
}

// checkGenerateGraphsOff: on a backend whose Record fails, Generate falls
// back to op-by-op steps (no replays) and gives the tokens of NoGraphs.
func checkGenerateGraphsOff(t *testing.T, be *Backend) {
	t.Helper()
	m, err := model.New(mptest.TensorCoreConfig(64), be, 11)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	prompts := [][]int32{{1, 2, 3}, {4}}
	r0 := be.MemoryStats().GraphReplays
	a, err := m.Generate(prompts, model.GenerateOptions{MaxNewTokens: 4})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Generate(prompts, model.GenerateOptions{MaxNewTokens: 4, NoGraphs: true})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(a) != fmt.Sprint(b) || be.MemoryStats().GraphReplays != r0 {
		t.Errorf("without graphs: %v vs %v, %d replays", a, b, be.MemoryStats().GraphReplays-r0)
	}
}
