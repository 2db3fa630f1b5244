package train

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"sdzero/kernels"
	"sdzero/model"
	"sdzero/model/mptest"
)

func TestConfigPrecision(t *testing.T) {
	cpuBE, bf := testBackend(), mptest.BF16CPU(2)
	for _, tc := range []struct {
		knob string
		be   kernels.Backend
		want model.Precision
	}{
		{"", cpuBE, model.PrecisionF32},
		{"auto", cpuBE, model.PrecisionF32},
		{"auto", bf, model.PrecisionBF16},
		{"fp32", bf, model.PrecisionF32},
		{"bf16", bf, model.PrecisionBF16},
	} {
		c := DefaultConfig()
		c.Precision = tc.knob
		if got, err := c.ModelPrecision(tc.be); err != nil || got != tc.want {
			t.Errorf("precision %q on %s: %v, %v; want %v", tc.knob, tc.be.Name(), got, err, tc.want)
		}
	}
	c := DefaultConfig()
	c.Model, c.Out, c.Data.Train = "m", "o", "d"
	c.Precision = "fp16"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "precision") {
		t.Errorf("precision fp16: %v, want an error naming precision", err)
	}
}

// TestRunPrecision: SFT in fp32 on a BF16-capable backend reproduces the
// CPU run bit for bit; in auto (bf16) its losses differ slightly; phases
// with a teacher (synced and EMA) run in bf16; bf16 on the plain CPU
// backend is a clear error.
func TestRunPrecision(t *testing.T) {
	mdl := tinyModelDir(t, 1)
	data := tinyMathData(t, 8)
	losses := func(phase, precision string, be kernels.Backend) []float64 {
		t.Helper()
		out := filepath.Join(t.TempDir(), "run")
		cfg := tinyRunConfig(t, phase, mdl, data, out)
		cfg.Precision = precision
		var log strings.Builder
		if _, err := Run(context.Background(), cfg, Options{Backend: be, Out: &log}); err != nil {
			t.Fatalf("%s %s: %v\n%s", phase, precision, err, log.String())
		}
		var ls []float64
		for _, m := range readMetrics(t, out) {
			l, _ := m["loss"].(float64)
			if math.IsNaN(l) || math.IsInf(l, 0) {
				t.Fatalf("%s %s: loss %v", phase, precision, l)
			}
			ls = append(ls, l)
		}
		return ls
	}
	ref := losses(PhaseSFT, "auto", testBackend())
	f32 := losses(PhaseSFT, "fp32", mptest.BF16CPU(2))
	bf := losses(PhaseSFT, "auto", mptest.BF16CPU(2))
	same := true
	for i := range ref {
		if f32[i] != ref[i] {
			t.Errorf("step %d: fp32 loss %v on the BF16-capable backend, %v on cpu", i+1, f32[i], ref[i])
		}
		same = same && bf[i] == ref[i]
		if e := math.Abs(bf[i]-ref[i]) / ref[i]; !(e < 2e-2) {
			t.Errorf("step %d: bf16 loss %v vs fp32 %v", i+1, bf[i], ref[i])
		}
	}
	if same {
		t.Error("bf16 losses equal the fp32 ones: the precision knob had no effect")
	}
	losses(PhaseDistill, "bf16", mptest.BF16CPU(2))
	losses(PhaseSDFT, "bf16", mptest.BF16CPU(2))

	cfg := tinyRunConfig(t, PhaseSFT, mdl, data, filepath.Join(t.TempDir(), "run"))
	cfg.Precision = "bf16"
	if _, err := Run(context.Background(), cfg, Options{Backend: testBackend()}); err == nil || !strings.Contains(err.Error(), "bf16") {
		t.Errorf("bf16 on cpu: %v, want an error naming bf16", err)
	}
}

// TestRunRecompute: train.recompute changes memory, not results: SFT and
// distillation runs give the same parameters bit for bit.
func TestRunRecompute(t *testing.T) {
	mdl := tinyModelDir(t, 1)
	data := tinyMathData(t, 8)
	for _, phase := range []string{PhaseSFT, PhaseDistill} {
		params := func(recompute bool) []uint32 {
			t.Helper()
			out := filepath.Join(t.TempDir(), "run")
			cfg := tinyRunConfig(t, phase, mdl, data, out)
			cfg.Train.Recompute = recompute
			var log strings.Builder
			if _, err := Run(context.Background(), cfg, Options{Backend: testBackend(), Out: &log}); err != nil {
				t.Fatalf("%s recompute=%v: %v\n%s", phase, recompute, err, log.String())
			}
			return readParams(t, filepath.Join(out, "final"))
		}
		a, b := params(false), params(true)
		if len(a) == 0 || len(a) != len(b) {
			t.Fatalf("%s: %d and %d parameters", phase, len(a), len(b))
		}
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("%s: parameter %d differs with train.recompute", phase, i)
			}
		}
	}
}
