package train

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sdzero/kernels"
	"sdzero/model"
	"sdzero/model/mptest"
)

// liveBytes counts the bytes a backend holds allocated (not freed).
type liveBytes struct {
	kernels.Backend
	live int64
}

func (b *liveBytes) Alloc(d kernels.DType, n int) (kernels.Tensor, error) {
	t, err := b.Backend.Alloc(d, n)
	if err == nil {
		b.live += int64(n) * int64(d.Size())
	}
	return t, err
}

func (b *liveBytes) Free(t kernels.Tensor) {
	if t.Valid() {
		b.live -= int64(t.N) * int64(t.DType.Size())
	}
	b.Backend.Free(t)
}

// TestTeacherBF16Only: in bf16 the distill teacher (synced every 2 steps)
// and the grpo reference are held without F32 masters for their matmul
// weights. The runs give bit-identical metrics and final weights to runs
// that keep the masters (the path before), a run interrupted and resumed
// (teacher synced at the checkpoint, teacher saved in it, reference
// reloaded) matches too, and the backend holds exactly 4 bytes less per
// matmul weight of the teacher while training. SDFT's EMA teacher keeps
// its F32 weights.
func TestTeacherBF16Only(t *testing.T) {
	mdl := tinyModelDir(t, 2)
	data := tinyMathData(t, 7)
	mc, err := model.LoadConfig(filepath.Join(mdl, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	full, err := model.FrozenParamMemory(mc, model.PrecisionBF16, false)
	if err != nil {
		t.Fatal(err)
	}
	only, err := model.FrozenParamMemory(mc, model.PrecisionBF16, true)
	if err != nil {
		t.Fatal(err)
	}
	saved := PlanTotal(full) - PlanTotal(only)
	if saved <= 0 {
		t.Fatalf("plans: %v with masters, %v BF16-only", full, only)
	}
	for _, tc := range []struct {
		phase string
		stop  int
	}{
		{PhaseDistill, 2}, // teacher synced at the checkpoint step
		{PhaseDistill, 3}, // teacher weights saved in the checkpoint
		{PhaseGRPO, 1},    // reference reloaded from the initial model
	} {
		t.Run(tc.phase+"@"+itoa(tc.stop), func(t *testing.T) {
			run := func(keep bool, stop int) (string, *Result, int64) {
				t.Helper()
				out := filepath.Join(t.TempDir(), "run")
				cfg := tinyRunConfig(t, tc.phase, mdl, data, out)
				cfg.Precision = "bf16"
				be := &liveBytes{Backend: mptest.BF16CPU(2)}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				var atStep1 int64
				opt := Options{Backend: be, reward: parityReward, teacherF32: keep, OnStep: func(step int, _ Metrics) {
					if step == 1 {
						atStep1 = be.live
					}
					if step == stop {
						cancel()
					}
				}}
				res, err := Run(ctx, cfg, opt)
				if err != nil {
					t.Fatal(err)
				}
				if stop > 0 {
					if !res.Interrupted || res.Steps != stop {
						t.Fatalf("interrupted %v at step %d, want %d", res.Interrupted, res.Steps, stop)
					}
					opt.OnStep = nil
					if res, err = Resume(context.Background(), out, opt); err != nil {
						t.Fatal(err)
					}
				}
				return out, res, atStep1
			}
			dirF, resF, liveF := run(true, 0)
			dirB, resB, liveB := run(false, 0)
			dirR, resR, _ := run(false, tc.stop)
			if tc.phase == PhaseDistill && resF.Metrics["teacher_sync_step"] == 0 {
				t.Fatalf("test setup: the teacher never synced: %v", resF.Metrics)
			}
			if got := liveF - liveB; got != saved {
				t.Errorf("training holds %d bytes with the teacher's F32 masters, %d without: %d less, want %d (4 per matmul weight)", liveF, liveB, got, saved)
			}
			t.Logf("%s: backend holds %d bytes at step 1 with the teacher's masters, %d without", tc.phase, liveF, liveB)
			ref := readParams(t, resF.FinalModel)
			mf := stripTiming(readMetrics(t, dirF))
			for _, c := range []struct {
				name string
				dir  string
				res  *Result
			}{{"BF16-only teacher", dirB, resB}, {"BF16-only teacher, resumed", dirR, resR}} {
				if !reflect.DeepEqual(readParams(t, c.res.FinalModel), ref) {
					t.Errorf("%s: final weights differ from the run with F32 masters", c.name)
				}
				if m := stripTiming(readMetrics(t, c.dir)); !reflect.DeepEqual(m, mf) {
					t.Errorf("%s: metrics differ:\n%v\n%v", c.name, m, mf)
				}
			}
		})
	}

	// The EMA teacher needs its F32 weights: TeacherBF16Only says so and
	// the plan counts them.
	c := DefaultConfig()
	c.Phase = PhaseSDFT
	c.SDFT.EMARate = 0.1
	if c.TeacherBF16Only(model.PrecisionBF16) {
		t.Error("an EMA teacher held BF16-only")
	}
	c.SDFT.EMARate = 0
	if !c.TeacherBF16Only(model.PrecisionBF16) || c.TeacherBF16Only(model.PrecisionF32) {
		t.Error("TeacherBF16Only: frozen sdft teacher in bf16 not BF16-only, or fp32 teacher BF16-only")
	}
}

// TestTeacherMemoryPlan: the pre-run plan counts a bf16 distill teacher
// and grpo reference BF16-only, sdft's EMA teacher with its F32 masters
// and BF16 copies, and an fp32 teacher in F32.
func TestTeacherMemoryPlan(t *testing.T) {
	mdl := tinyModelDir(t, 1)
	mc, err := model.LoadConfig(filepath.Join(mdl, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	bytesOf := func(items []model.MemoryItem, err error) int64 {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return PlanTotal(items)
	}
	only := bytesOf(model.FrozenParamMemory(mc, model.PrecisionBF16, true))
	both := bytesOf(model.FrozenParamMemory(mc, model.PrecisionBF16, false))
	f32 := bytesOf(model.FrozenParamMemory(mc, model.PrecisionF32, false))
	for _, tc := range []struct {
		phase, precision, who string
		ema                   float64
		want                  int64
	}{
		{PhaseDistill, "bf16", "teacher", 0, only},
		{PhaseGRPO, "bf16", "reference", 0, only},
		{PhaseSDFT, "bf16", "teacher", 0.1, both},
		{PhaseSDFT, "bf16", "teacher", 0, only},
		{PhaseDistill, "fp32", "teacher", 0, f32},
	} {
		c := tinyRunConfig(t, tc.phase, mdl, "d", "o")
		c.Precision, c.SDFT.EMARate = tc.precision, tc.ema
		plan, err := c.MemoryPlan(mptest.BF16CPU(1))
		if err != nil {
			t.Fatal(err)
		}
		var got int64
		for _, it := range plan {
			if strings.HasPrefix(it.Name, tc.who+" ") && !strings.Contains(it.Name, "activations") {
				got += it.Bytes
			}
		}
		if got != tc.want {
			t.Errorf("%s %s ema %g: plan counts %d bytes of %s weights, want %d:\n%v", tc.phase, tc.precision, tc.ema, got, tc.who, tc.want, plan)
		}
	}
	if !(only < both && both > f32) {
		t.Errorf("plans: BF16-only %d, with masters %d, fp32 %d", only, both, f32)
	}
}
