package train

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sdzero/data/verify"
)

// writeSRTData writes hand-made SRT tuples (the random tiny model cannot
// produce correct revisions).
func writeSRTData(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "srt.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	enc := json.NewEncoder(f)
	for i := 0; i < n; i++ {
		tu := SRTTuple{ID: itoa(i), Question: "q", PromptIDs: cat([]int32{257}, ids("user\nq"+itoa(i)), []int32{258, 10, 257}, ids("assistant\n")),
			InitIDs: cat(ids("wrong "+itoa(i)), []int32{eot}), InitReward: float64(i % 2), RevisionPrompt: RevisionPrompt(i%2 == 1, "paper"),
			DelimIDs: ids("\n\nR\n\n"), RevIDs: cat(ids("\\boxed{"+itoa(i)+"}"), []int32{eot})}
		if err := enc.Encode(tu); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	return path
}

// parityReward stands in for the verifier: the random tiny model never
// writes a correct answer, so reward responses by a property of their text
// that holds about half of the time.
func parityReward(p *Problem, text string) verify.Result {
	s := 0
	for i := 0; i < len(text); i++ {
		s += int(text[i])
	}
	return verify.Result{Reward: float64(s % 2)}
}

// stripTiming removes the wall-clock metrics before comparing runs.
func stripTiming(ms []map[string]any) []map[string]any {
	for _, m := range ms {
		for _, k := range []string{"step_s", "elapsed_s", "tokens_per_s"} {
			delete(m, k)
		}
	}
	return ms
}

// TestResumeBitIdentical interrupts each phase after some step, resumes
// it, and checks that the final parameters are bit-identical to an
// uninterrupted run's, and so are the metrics (without timings).
func TestResumeBitIdentical(t *testing.T) {
	mdl := tinyModelDir(t, 2)
	data := tinyMathData(t, 7)
	srtData := writeSRTData(t, 6)
	cases := []struct {
		phase string
		stop  int // interrupt after this step
		tweak func(c *Config)
	}{
		{PhaseSFT, 2, nil},
		{PhaseSRT, 1, func(c *Config) { c.SRT.Data = srtData; c.SRT.Mode = "two-stage" }},
		{PhaseDistill, 2, nil}, // teacher synced at the checkpoint step
		{PhaseDistill, 3, nil}, // teacher weights saved
		{PhaseSDFT, 2, nil},    // EMA teacher saved
		{PhaseGRPO, 1, nil},    // reference reloaded from the initial model
		{PhaseRFT, 4, func(c *Config) { c.RFT.StepsPerRound = 3 }}, // inside round 1
		{PhaseSRTCollect, 1, func(c *Config) { c.Train.Steps = 3 }},
	}
	for _, tc := range cases {
		t.Run(tc.phase+"@"+itoa(tc.stop), func(t *testing.T) {
			mk := func(out string) *Config {
				c := tinyRunConfig(t, tc.phase, mdl, data, out)
				if tc.tweak != nil {
					tc.tweak(c)
				}
				return c
			}
			dirA := filepath.Join(t.TempDir(), "a")
			resA, err := Run(context.Background(), mk(dirA), Options{Backend: testBackend(), reward: parityReward})
			if err != nil {
				t.Fatal(err)
			}
			dirB := filepath.Join(t.TempDir(), "b")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			resB, err := Run(ctx, mk(dirB), Options{Backend: testBackend(), reward: parityReward, OnStep: func(step int, _ Metrics) {
				if step == tc.stop {
					cancel()
				}
			}})
			if err != nil {
				t.Fatal(err)
			}
			if !resB.Interrupted || resB.Steps != tc.stop {
				t.Fatalf("interrupted %v at step %d, want step %d", resB.Interrupted, resB.Steps, tc.stop)
			}
			resB, err = Resume(context.Background(), dirB, Options{Backend: testBackend(), reward: parityReward})
			if err != nil {
				t.Fatal(err)
			}
			if m := resA.Metrics; tc.phase == PhaseRFT && m["kept"] == 0 || tc.phase == PhaseGRPO && m["adv_abs_mean"] == 0 || tc.phase == PhaseSRTCollect && m["kept_total"] == 0 {
				t.Fatalf("test setup: the rewards did not exercise the phase: %v", m)
			}
			if resB.Steps != resA.Steps || resB.SamplesGenerated != resA.SamplesGenerated {
				t.Fatalf("resumed run: %d steps %d samples, uninterrupted %d steps %d samples", resB.Steps, resB.SamplesGenerated, resA.Steps, resA.SamplesGenerated)
			}
			if tc.phase == PhaseSRTCollect {
				a, _ := os.ReadFile(resA.DataPath)
				b, _ := os.ReadFile(resB.DataPath)
				if string(a) != string(b) {
					t.Errorf("collected data differs")
				}
			} else {
				pa, pb := readParams(t, resA.FinalModel), readParams(t, resB.FinalModel)
				diff := 0
				for i := range pa {
					if pa[i] != pb[i] {
						diff++
					}
				}
				if diff > 0 {
					t.Errorf("%d of %d parameters differ after resume", diff, len(pa))
				}
			}
			ma, mb := stripTiming(readMetrics(t, dirA)), stripTiming(readMetrics(t, dirB))
			if !reflect.DeepEqual(ma, mb) {
				t.Errorf("metrics differ:\n%v\n%v", ma, mb)
			}
		})
	}
}

// interruptedRun runs sft with a checkpoint every step and stops after
// step stop, returning the run dir.
func interruptedRun(t *testing.T, stop int, failSave func(string) error) (string, error) {
	t.Helper()
	mdl := tinyModelDir(t, 3)
	data := tinyMathData(t, 5)
	dir := filepath.Join(t.TempDir(), "run")
	c := tinyRunConfig(t, PhaseSFT, mdl, data, dir)
	c.Train.CheckpointEvery = 1
	c.Train.KeepCheckpoints = 2
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	saves := 0
	_, err := Run(ctx, c, Options{Backend: testBackend(), OnStep: func(step int, _ Metrics) {
		if step == stop {
			cancel()
		}
	}, failSave: func(stage string) error {
		if stage == "begin" {
			saves++
		}
		if failSave != nil && saves > 1 {
			return failSave(stage)
		}
		return nil
	}})
	return dir, err
}

func TestCheckpointPruneAndLatest(t *testing.T) {
	dir, err := interruptedRun(t, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, checkpointsDir))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	want := []string{"latest", "step-000002", "step-000003"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("checkpoints %v want %v", names, want)
	}
	latest, _ := os.ReadFile(filepath.Join(dir, checkpointsDir, latestFile))
	if strings.TrimSpace(string(latest)) != "step-000003" {
		t.Errorf("latest = %q", latest)
	}
}

// TestFailedSaveKeepsPrevious injects a failure into every stage of the
// second save: the first checkpoint and the latest pointer stay intact
// and the run resumes from it.
func TestFailedSaveKeepsPrevious(t *testing.T) {
	for _, stage := range []string{"begin", "model", "optim", "state", "latest"} {
		t.Run(stage, func(t *testing.T) {
			boom := errors.New("injected failure")
			dir, err := interruptedRun(t, 3, func(s string) error {
				if s == stage {
					return boom
				}
				return nil
			})
			if !errors.Is(err, boom) || !strings.Contains(err.Error(), "previous checkpoint kept") {
				t.Fatalf("run error %v", err)
			}
			latest, _ := os.ReadFile(filepath.Join(dir, checkpointsDir, latestFile))
			if strings.TrimSpace(string(latest)) != "step-000001" {
				t.Fatalf("latest = %q, want step-000001", latest)
			}
			ents, _ := os.ReadDir(filepath.Join(dir, checkpointsDir))
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), ".tmp") {
					t.Errorf("temp dir left behind: %s", e.Name())
				}
			}
			res, err := Resume(context.Background(), dir, Options{Backend: testBackend()})
			if err != nil {
				t.Fatalf("resume from the previous checkpoint: %v", err)
			}
			if res.Steps != res.TotalSteps {
				t.Errorf("resumed run ended at %d of %d", res.Steps, res.TotalSteps)
			}
		})
	}
}

// TestCorruptCheckpoint damages a checkpoint in several ways; Resume must
// fail with an error naming the damaged file.
func TestCorruptCheckpoint(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, run, ckpt string)
		want   string
	}{
		{"truncated optimizer state", func(t *testing.T, run, ckpt string) {
			truncate(t, filepath.Join(ckpt, optimFile), 100)
		}, optimFile},
		{"truncated model", func(t *testing.T, run, ckpt string) {
			truncate(t, filepath.Join(ckpt, modelSubdir, "model.safetensors"), 1000)
		}, "model/model.safetensors"},
		{"flipped byte", func(t *testing.T, run, ckpt string) {
			p := filepath.Join(ckpt, optimFile)
			b, _ := os.ReadFile(p)
			b[len(b)-3] ^= 0x40
			os.WriteFile(p, b, 0o644)
		}, "corrupt"},
		{"truncated trainer.json", func(t *testing.T, run, ckpt string) {
			truncate(t, filepath.Join(ckpt, stateFile), 50)
		}, stateFile},
		{"missing latest target", func(t *testing.T, run, ckpt string) {
			os.WriteFile(filepath.Join(run, checkpointsDir, latestFile), []byte("step-000099\n"), 0o644)
		}, "step-000099"},
		{"config changed", func(t *testing.T, run, ckpt string) {
			p := filepath.Join(run, configFile)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, []byte(strings.Replace(string(b), "seed: 7", "seed: 8", 1)), 0o644)
		}, "config hash"},
		{"metrics truncated", func(t *testing.T, run, ckpt string) {
			truncate(t, filepath.Join(run, metricsFile), 10)
		}, metricsFile},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, err := interruptedRun(t, 2, nil)
			if err != nil {
				t.Fatal(err)
			}
			ckpt, err := latestCheckpoint(dir)
			if err != nil {
				t.Fatal(err)
			}
			tc.damage(t, dir, ckpt)
			_, err = Resume(context.Background(), dir, Options{Backend: testBackend()})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error naming %q, got %v", tc.want, err)
			}
		})
	}
}

func truncate(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func TestRunRefusesExistingRun(t *testing.T) {
	dir, err := interruptedRun(t, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(filepath.Join(dir, configFile))
	if err != nil {
		t.Fatal(err)
	}
	c.Out = dir
	if _, err := Run(context.Background(), c, Options{Backend: testBackend()}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("run over an existing run: %v", err)
	}
}

// TestInterruptMidStep stops each phase that samples inside a step, at a
// rollout-batch boundary (first, middle and last Generate call of the
// step): the run stops there without another Generate call, saves the
// state before the step, and its resume ends bit-identical to an
// uninterrupted run (parameters or collected data, metrics, sample
// counts).
func TestInterruptMidStep(t *testing.T) {
	mdl := tinyModelDir(t, 2)
	data := tinyMathData(t, 7)
	oneRow := func(c *Config) { c.Rollout.GenBatch = 1 }
	cases := []struct {
		phase string
		step  int    // the step to interrupt
		at    string // "first", "middle" or "last" Generate call of it
		tweak func(c *Config)
	}{
		{PhaseDistill, 2, "middle", oneRow},
		{PhaseDistill, 3, "first", oneRow},
		{PhaseSDFT, 3, "last", oneRow},
		{PhaseGRPO, 2, "middle", oneRow},
		{PhaseRFT, 3, "middle", func(c *Config) { oneRow(c); c.RFT.StepsPerRound = 2 }}, // round 1 starts at step 3
		{PhaseSRTCollect, 2, "last", func(c *Config) { oneRow(c); c.Train.Steps = 3 }},  // in the revision rollout
		{PhaseSRTCollect, 1, "first", func(c *Config) { c.Rollout.GenBatch = 2; c.Train.Steps = 2 }},
		{PhaseGRPO, 2, "last", func(c *Config) { // in a further draw of DAPO's dynamic sampling
			oneRow(c)
			c.GRPO.DAPODynamicSampling, c.GRPO.DynamicSamplingMaxDraws = true, 3
		}},
		{PhaseDistill, 2, "verify", nil}, // during the verification of the step's samples
		{PhaseSRTCollect, 2, "verify", func(c *Config) { c.Train.Steps = 3 }},
	}
	for _, tc := range cases {
		t.Run(tc.phase+"@"+itoa(tc.step)+"-"+tc.at, func(t *testing.T) {
			mk := func(out string) *Config {
				c := tinyRunConfig(t, tc.phase, mdl, data, out)
				if tc.tweak != nil {
					tc.tweak(c)
				}
				return c
			}
			calls := map[int]int{} // step -> Generate calls in the uninterrupted run
			dirA := filepath.Join(t.TempDir(), "a")
			resA, err := Run(context.Background(), mk(dirA), Options{Backend: testBackend(), reward: parityReward,
				beforeGenerate: func(step int) { calls[step]++ }})
			if err != nil {
				t.Fatal(err)
			}
			n := calls[tc.step]
			if n < 3 && tc.at == "middle" || n < 1 {
				t.Fatalf("test setup: step %d has %d Generate calls", tc.step, n)
			}
			if c := mk(""); c.GRPO.DAPODynamicSampling && n <= c.Train.BatchSize*c.GRPO.GroupSize {
				t.Fatalf("test setup: step %d drew no further batch (%d Generate calls)", tc.step, n)
			}
			at := map[string]int{"first": 1, "middle": n/2 + 1, "last": n, "verify": -1}[tc.at]

			dirB := filepath.Join(t.TempDir(), "b")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			seen, after, cur := 0, 0, 0
			reward := func(p *Problem, text string) verify.Result {
				if tc.at == "verify" && cur == tc.step {
					cancel()
				}
				return parityReward(p, text)
			}
			resB, err := Run(ctx, mk(dirB), Options{Backend: testBackend(), reward: reward, beforeGenerate: func(step int) {
				cur = step
				if ctx.Err() != nil {
					after++
				}
				if step == tc.step {
					if seen++; seen == at {
						cancel()
					}
				}
			}})
			if err != nil {
				t.Fatal(err)
			}
			if !resB.Interrupted || resB.Steps != tc.step-1 || after != 0 {
				t.Fatalf("interrupted %v at step %d with %d Generate calls after the request; want step %d and none", resB.Interrupted, resB.Steps, after, tc.step-1)
			}
			if ck := filepath.Base(resB.Checkpoint); ck != checkpointName(tc.step-1) {
				t.Fatalf("checkpoint %s, want %s", ck, checkpointName(tc.step-1))
			}
			resB, err = Resume(context.Background(), dirB, Options{Backend: testBackend(), reward: parityReward})
			if err != nil {
				t.Fatal(err)
			}
			if resB.Steps != resA.Steps || resB.SamplesGenerated != resA.SamplesGenerated || resB.GenTokens != resA.GenTokens {
				t.Fatalf("resumed run: %d steps %d samples %d tokens, uninterrupted %d steps %d samples %d tokens",
					resB.Steps, resB.SamplesGenerated, resB.GenTokens, resA.Steps, resA.SamplesGenerated, resA.GenTokens)
			}
			if tc.phase == PhaseSRTCollect {
				a, _ := os.ReadFile(resA.DataPath)
				b, _ := os.ReadFile(resB.DataPath)
				if string(a) != string(b) {
					t.Errorf("collected data differs")
				}
			} else {
				pa, pb := readParams(t, resA.FinalModel), readParams(t, resB.FinalModel)
				diff := 0
				for i := range pa {
					if pa[i] != pb[i] {
						diff++
					}
				}
				if diff > 0 {
					t.Errorf("%d of %d parameters differ after resume", diff, len(pa))
				}
			}
			ma, mb := stripTiming(readMetrics(t, dirA)), stripTiming(readMetrics(t, dirB))
			if !reflect.DeepEqual(ma, mb) {
				t.Errorf("metrics differ:\n%v\n%v", ma, mb)
			}
		})
	}
}
