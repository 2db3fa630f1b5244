package train

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"sdzero/data/verify"
)

// TestCollapseGuard: an injected collapse (reward falling, an error type
// growing) fires the guard at the first step its last window crosses the
// threshold, once; stable or noisy-but-level sequences do not.
func TestCollapseGuard(t *testing.T) {
	flat := func(n int, v float64) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = v
		}
		return out
	}
	cases := []struct {
		name    string
		rewards []float64
		errs    func(step int) map[string]int // nil: no worked solutions
		want    map[string]int                // alarm kind -> the step it fires at
	}{
		{"stable", flat(20, 0.9), nil, map[string]int{}},
		{"noisy but level", []float64{0.9, 0.7, 0.8, 0.9, 0.7, 0.8, 0.9, 0.7, 0.8, 0.9, 0.7, 0.8}, nil, map[string]int{}},
		// windows of 3: start 0.94; (1-0.3)*0.94 = 0.658. Steps 4-6 mean
		// 0.8, 5-7 0.6533: fires at step 7.
		{"reward falls", []float64{0.94, 0.94, 0.94, 0.9, 0.8, 0.7, 0.46, 0.2, 0.0, 0.0}, nil, map[string]int{"reward": 7}},
		{"reward falls from the start but judged only from 2*window", []float64{0.9, 0.3, 0.1, 0.0, 0.0, 0.0, 0.0}, nil,
			map[string]int{"reward": 6}},
		{"rising reward", []float64{0.2, 0.2, 0.2, 0.4, 0.6, 0.8, 0.9}, nil, map[string]int{}},
		// borrow errors 1 per step, then 4 per step from step 5: 3 in the
		// first window; steps 4-6 have 1+4+4 = 9 > 2*3 and >= 8: fires at
		// step 6. column errors stay level.
		{"borrow errors grow", flat(8, 0.5), func(step int) map[string]int {
			if step >= 5 {
				return map[string]int{"borrow": 4, "column": 1}
			}
			return map[string]int{"borrow": 1, "column": 1}
		}, map[string]int{"error:borrow": 6}},
		{"errors grow but stay below min_errors", flat(8, 0.5), func(step int) map[string]int {
			if step >= 5 {
				return map[string]int{"operand": 2}
			}
			return map[string]int{}
		}, map[string]int{}},
		{"errors level", flat(12, 0.5), func(int) map[string]int { return map[string]int{"carry": 5, "operand": 3} }, map[string]int{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewCollapseGuard(DistillConfig{GuardWindow: 3, GuardRewardDrop: 0.3, GuardErrorGrowth: 2, GuardMinErrors: 8})
			got := map[string]int{}
			for i, r := range tc.rewards {
				var e map[string]int
				if tc.errs != nil {
					e = tc.errs(i + 1)
				}
				for _, a := range g.Observe(r, e) {
					if _, dup := got[a.Kind]; dup {
						t.Errorf("%s fired twice (steps %d and %d)", a.Kind, got[a.Kind], a.Step)
					}
					if a.Step != i+1 || !strings.Contains(a.Message, "collapse guard") {
						t.Errorf("alarm %+v at step %d", a, i+1)
					}
					got[a.Kind] = a.Step
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("alarms %v, want %v", got, tc.want)
			}
		})
	}
	if NewCollapseGuard(DistillConfig{GuardWindow: 0, GuardRewardDrop: 0.3}) != nil {
		t.Error("guard_window 0 must turn the guards off")
	}
}

// TestStartCheckMessages: a constructed report whose teacher corrects less
// often than resampling succeeds gets the warning in words and its
// figures; a ready one does not warn.
func TestStartCheckMessages(t *testing.T) {
	cases := []struct {
		name     string
		rep      ReadinessReport
		warn     bool
		wantKeys map[string]float64
	}{
		{"worse than resampling", ReadinessReport{Problems: 32, Attempts: 128, Accuracy: 0.5, CorrectionRate: 0.445, ResampleRate: 0.518,
			RegressionRate: 0.1, Wrong: 64, Right: 64}, true,
			map[string]float64{"readiness_correction_rate": 0.445, "readiness_resample_rate": 0.518, "readiness_wrong": 64, "readiness_ready": 0}},
		{"equal counts as not better", ReadinessReport{Problems: 8, Attempts: 32, CorrectionRate: 0.25, ResampleRate: 0.25, Wrong: 8}, true,
			map[string]float64{"readiness_problems": 8}},
		{"better than resampling", ReadinessReport{Problems: 32, Attempts: 128, Accuracy: 0.2, CorrectionRate: 0.6, ResampleRate: 0.15,
			Wrong: 100, Right: 28, Ready: true}, false, map[string]float64{"readiness_ready": 1, "readiness_accuracy": 0.2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lines, m := StartCheckMessages(&tc.rep)
			text := strings.Join(lines, "\n")
			warned := strings.Contains(text, "warning: the teacher is not better than resampling")
			if warned != tc.warn {
				t.Errorf("warned %v, want %v:\n%s", warned, tc.warn, text)
			}
			if warned && !strings.Contains(text, "sdzero readiness") {
				t.Errorf("the warning does not point to sdzero readiness:\n%s", text)
			}
			for k, v := range tc.wantKeys {
				if m[k] != v {
					t.Errorf("%s = %v, want %v", k, m[k], v)
				}
			}
		})
	}
}

// TestGuardStopKeepsBest: an injected reward that collapses after step 3
// fires the reward guard at step 4 (window 2); with guard_stop the run
// ends there and its final model is the best one (the model that sampled
// step 2, i.e. after one update), bit for bit; without, it warns and runs
// on. The start check does not change the run's stream.
func TestGuardStopKeepsBest(t *testing.T) {
	mdl := tinyModelDir(t, 3)
	data := tinyMathData(t, 7)
	collapsing := func() func(*Problem, string) verify.Result {
		var calls atomic.Int64
		return func(*Problem, string) verify.Result {
			if calls.Add(1) <= 9 { // 3 samples per step: steps 1-3
				return verify.Result{Reward: 1}
			}
			return verify.Result{}
		}
	}
	mk := func(out string, stop bool) *Config {
		c := tinyRunConfig(t, PhaseDistill, mdl, data, out)
		c.Train.Steps = 8
		c.Distill.TeacherSyncEvery = 0
		c.Distill.ReadinessProblems = 0
		c.Distill.GuardWindow = 2
		c.Distill.GuardStop = stop
		c.Train.CheckpointEvery = 1
		c.Train.KeepCheckpoints = 10
		return c
	}
	refDir := filepath.Join(t.TempDir(), "ref")
	ref, err := Run(context.Background(), mk(refDir, false), Options{Backend: testBackend(), reward: collapsing()})
	if err != nil {
		t.Fatal(err)
	}
	if ref.Steps != 8 {
		t.Fatalf("warn-only run stopped at step %d", ref.Steps)
	}
	fired := 0
	for _, m := range readMetrics(t, refDir) {
		if m["guard_fired"] != nil {
			fired++
			if m["step"] != 4.0 {
				t.Errorf("guard fired at step %v, want 4", m["step"])
			}
		}
	}
	if fired != 1 {
		t.Errorf("guard fired %d times, want once", fired)
	}
	stopDir := filepath.Join(t.TempDir(), "stop")
	res, err := Run(context.Background(), mk(stopDir, true), Options{Backend: testBackend(), reward: collapsing()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 4 || res.FinalModel == "" {
		t.Fatalf("guard_stop run: %d steps, final %q; want 4 steps and a final model", res.Steps, res.FinalModel)
	}
	want := readParams(t, filepath.Join(refDir, checkpointsDir, checkpointName(1), modelSubdir))
	if got := readParams(t, res.FinalModel); !reflect.DeepEqual(got, want) {
		t.Error("final model of the stopped run is not the best model (the one after step 1)")
	}
	if got := readParams(t, filepath.Join(stopDir, bestSubdir)); !reflect.DeepEqual(got, want) {
		t.Error("RUN/best is not the model after step 1")
	}

	// The start check samples from a stream of its own.
	var final [2][]uint32
	for i, problems := range []int{0, 4} {
		c := tinyRunConfig(t, PhaseDistill, mdl, data, filepath.Join(t.TempDir(), "check"))
		c.Distill.ReadinessProblems = problems
		r, err := Run(context.Background(), c, Options{Backend: testBackend(), reward: parityReward})
		if err != nil {
			t.Fatal(err)
		}
		final[i] = readParams(t, r.FinalModel)
		first := readMetrics(t, r.RunDir)[0]
		if _, ok := first["readiness_resample_rate"]; ok != (problems > 0) {
			t.Errorf("readiness_problems %d: first record has readiness figures: %v", problems, ok)
		}
	}
	if !reflect.DeepEqual(final[0], final[1]) {
		t.Error("the start check changed the run's parameters")
	}
}

// TestGuardResume: a run interrupted and resumed judges its guards against
// the same start values (replayed from metrics.jsonl): the metrics match
// an uninterrupted run's.
func TestGuardResume(t *testing.T) {
	mdl := tinyModelDir(t, 4)
	data := tinyMathData(t, 7)
	mk := func(out string) *Config {
		c := tinyRunConfig(t, PhaseDistill, mdl, data, out)
		c.Train.Steps = 6
		c.Distill.GuardWindow = 1
		c.Distill.ReadinessProblems = 3
		return c
	}
	dirA := filepath.Join(t.TempDir(), "a")
	if _, err := Run(context.Background(), mk(dirA), Options{Backend: testBackend(), reward: parityReward}); err != nil {
		t.Fatal(err)
	}
	dirB := filepath.Join(t.TempDir(), "b")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := Run(ctx, mk(dirB), Options{Backend: testBackend(), reward: parityReward, OnStep: func(step int, _ Metrics) {
		if step == 3 {
			cancel()
		}
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := Resume(context.Background(), dirB, Options{Backend: testBackend(), reward: parityReward}); err != nil {
		t.Fatal(err)
	}
	ma, mb := stripTiming(readMetrics(t, dirA)), stripTiming(readMetrics(t, dirB))
	if _, ok := ma[len(ma)-1]["guard_reward_start"]; !ok {
		t.Fatalf("test setup: no guard figures in the metrics: %v", ma[len(ma)-1])
	}
	if !reflect.DeepEqual(ma, mb) {
		t.Errorf("metrics differ after resume:\n%v\n%v", ma, mb)
	}
}
