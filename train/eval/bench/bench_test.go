package bench

import (
	"strings"
	"testing"

	"sdzero/kernels"
	"sdzero/kernels/cpu"
	"sdzero/model"
)

func tinyCfg(t *testing.T) *model.Config {
	c, err := Preset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	c.Hidden, c.Intermediate, c.Layers, c.Heads, c.KVHeads, c.HeadDim = 32, 64, 1, 2, 1, 16
	return c
}

func TestBenchesRun(t *testing.T) {
	be := cpu.New(2)
	o := Options{Batch: 2, Seq: 16, Prompt: 8, NewTokens: 8, Warmup: 1, Steps: 1, TopK: 8, Seed: 1}
	for _, run := range []struct {
		name string
		f    func() (*Result, error)
	}{
		{"train", func() (*Result, error) { return Train(be, tinyCfg(t), o) }},
		{"distill", func() (*Result, error) { return Distill(be, tinyCfg(t), o) }},
		{"decode", func() (*Result, error) { return Decode(be, tinyCfg(t), o) }},
		{"train", func() (*Result, error) { r := o; r.Recompute = true; return Train(be, tinyCfg(t), r) }},
		{"distill", func() (*Result, error) { r := o; r.Recompute = true; return Distill(be, tinyCfg(t), r) }},
	} {
		r, err := run.f()
		if err != nil {
			t.Fatalf("%s: %v", run.name, err)
		}
		if r.Kind != run.name || !(r.TokensPerSec > 0) || !(r.FLOPsPerToken > 0) || r.EstimatedBytes <= 0 {
			t.Errorf("%s: implausible result %+v", run.name, r)
		}
	}
}

func TestPresets(t *testing.T) {
	cases := []struct {
		name   string
		params int64 // Qwen3 published sizes, tied embeddings
	}{
		{"0.6b", 596_049_920},
		{"4b", 4_022_468_096},
	}
	for _, tc := range cases {
		c, err := Preset(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		if got := c.NumParams(); got != tc.params {
			t.Errorf("%s: %d params, want %d", tc.name, got, tc.params)
		}
	}
	if _, err := Preset("7b"); err == nil {
		t.Error("unknown preset accepted")
	}
}

// meteredCPU is the CPU backend with a fake device-memory meter.
type meteredCPU struct {
	kernels.Backend
	resets int
}

func (m *meteredCPU) PeakBytes() int64 { return 12345 }
func (m *meteredCPU) ResetPeak()       { m.resets++ }

// TestDevicePeak: benchmarks reset a MemoryMeter's peak first and report
// it.
func TestDevicePeak(t *testing.T) {
	be := &meteredCPU{Backend: cpu.New(1)}
	r, err := Train(be, tinyCfg(t), Options{Batch: 1, Seq: 8, Steps: 1, Warmup: 0})
	if err != nil {
		t.Fatal(err)
	}
	if r.DeviceBytes != 12345 || be.resets != 1 {
		t.Errorf("device peak %d after %d resets, want 12345 after 1", r.DeviceBytes, be.resets)
	}
	var out strings.Builder
	r.Print(&out)
	if !strings.Contains(out.String(), "device peak") {
		t.Errorf("Print lacks the device peak:\n%s", out.String())
	}
}

// TestDecodeOps checks bench decode's per-op tables: the decode steps'
// own (one Sample per step, seven matmuls per layer and the head) and
// the prefill's per call, both printed.
func TestDecodeOps(t *testing.T) {
	o := Options{Batch: 2, Prompt: 8, NewTokens: 6, Warmup: 1, Steps: 2, TopK: 8, Seed: 1, Ops: true}
	cfg := tinyCfg(t)
	r, err := Decode(cpu.New(2), cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	calls := func(ops []OpTime, op string) float64 {
		for _, p := range ops {
			if p.Op == op {
				return p.CallsPerStep
			}
		}
		return 0
	}
	wantMM := float64(7*cfg.Layers + 1)
	if got := calls(r.Ops, "Sample"); got != 1 {
		t.Errorf("decode table: %v Sample calls per step, want 1", got)
	}
	if got := calls(r.Ops, "MatMul"); got != wantMM {
		t.Errorf("decode table: %v MatMul calls per step, want %v", got, wantMM)
	}
	if got := calls(r.PrefillOps, "MatMul"); got != wantMM {
		t.Errorf("prefill table: %v MatMul calls per call, want %v", got, wantMM)
	}
	var b strings.Builder
	r.Print(&b)
	for _, want := range []string{"per-op time per decode step", "per-op time per prefill call"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}
