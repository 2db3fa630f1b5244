package train

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readRollouts(t *testing.T, runDir string) []RolloutRecord {
	t.Helper()
	f, err := os.Open(filepath.Join(runDir, rolloutsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []RolloutRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r RolloutRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("rollouts line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// TestRolloutsLog: per phase, rollouts.jsonl holds log.rollouts_samples
// samples of step 1 and of every log.rollouts_every-th step, with prompt,
// response, reward and (distill, sdft) a per-token KL summary consistent
// with itself; phases that generate nothing and rollouts_every 0 write no
// file.
func TestRolloutsLog(t *testing.T) {
	mdl := tinyModelDir(t, 1)
	data := tinyMathData(t, 8)
	for _, tc := range []struct {
		phase string
		every int
		steps []int // logged steps; nil: no file
		kl    bool
	}{
		{PhaseDistill, 2, []int{1, 2, 4}, true},
		{PhaseSDFT, 3, []int{1, 3}, true},
		{PhaseGRPO, 2, []int{1, 2, 4}, false},
		{PhaseSRTCollect, 1, []int{1, 2, 3, 4}, false},
		{PhaseSFT, 1, nil, false},
		{PhaseDistill, 0, nil, false},
	} {
		t.Run(tc.phase+"/"+itoa(tc.every), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			cfg := tinyRunConfig(t, tc.phase, mdl, data, out)
			cfg.Log.RolloutsEvery, cfg.Log.RolloutsSamples = tc.every, 2
			var log strings.Builder
			res, err := Run(context.Background(), cfg, Options{Backend: testBackend(), Out: &log})
			if err != nil {
				t.Fatalf("run: %v\n%s", err, log.String())
			}
			if tc.steps == nil {
				if _, err := os.Stat(filepath.Join(out, rolloutsFile)); tc.every == 0 && err == nil {
					t.Errorf("rollouts_every 0 wrote %s", rolloutsFile)
				}
				if tc.every > 0 {
					if recs := readRolloutsIfAny(t, out); len(recs) != 0 {
						t.Errorf("%s generates nothing but logged %d rollouts", tc.phase, len(recs))
					}
				}
				return
			}
			recs := readRollouts(t, out)
			var steps []int
			for _, r := range recs {
				if len(steps) == 0 || steps[len(steps)-1] != r.Step {
					steps = append(steps, r.Step)
				}
				if r.Phase != tc.phase || r.Prompt == "" || r.Problem == "" || r.Tokens == 0 {
					t.Errorf("record %+v", r)
				}
				if (r.Reward < 1) != (r.Reason != "") {
					t.Errorf("reward %g with reason %q", r.Reward, r.Reason)
				}
				if tc.kl {
					if r.KL == nil {
						t.Fatalf("no KL summary: %+v", r)
					}
					k := r.KL
					if k.Tokens < 1 || k.Tokens > r.Tokens || k.MaxPos < 0 || k.MaxPos >= k.Tokens || k.Mean > k.Max+1e-12 || k.Mean < 0 || k.MaxToken == "" {
						t.Errorf("KL summary %+v for %d response tokens", k, r.Tokens)
					}
				} else if r.KL != nil {
					t.Errorf("%s has a KL summary", tc.phase)
				}
			}
			if jsonStr(steps) != jsonStr(tc.steps) {
				t.Errorf("logged steps %v, want %v (of %d)", steps, tc.steps, res.Steps)
			}
			if len(recs) != 2*len(tc.steps) {
				t.Errorf("%d records for %d steps, want 2 each", len(recs), len(tc.steps))
			}
		})
	}
}

func readRolloutsIfAny(t *testing.T, runDir string) []RolloutRecord {
	if _, err := os.Stat(filepath.Join(runDir, rolloutsFile)); err != nil {
		return nil
	}
	return readRollouts(t, runDir)
}

func jsonStr(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestSummaryAndResume: an interrupted run writes summary.json saying so
// (with the resume command), the resume appends a session, cuts
// rollouts.jsonl back to the checkpoint (no step logged twice) and ends
// with a finished summary holding the eval points, final metrics and
// paths. Every file of the run is readable by group and others, every
// directory 0755; the header line names device, precision and model.
func TestSummaryAndResume(t *testing.T) {
	mdl := tinyModelDir(t, 1)
	data := tinyMathData(t, 8)
	out := filepath.Join(t.TempDir(), "run")
	cfg := tinyRunConfig(t, PhaseDistill, mdl, data, out)
	cfg.Train.Steps = 4
	cfg.Train.CheckpointEvery = 1
	cfg.Log.RolloutsEvery, cfg.Log.RolloutsSamples = 1, 1
	cfg.Eval.Data, cfg.Eval.Every, cfg.Eval.Limit = data, 2, 3
	ctx, cancel := context.WithCancel(context.Background())
	var log strings.Builder
	res, err := Run(ctx, cfg, Options{Backend: testBackend(), Out: &log, DeviceNote: "test", Version: "vtest",
		OnStep: func(step int, m Metrics) {
			if step == 3 {
				cancel()
			}
		}})
	if err != nil || !res.Interrupted {
		t.Fatalf("run: %v, %+v\n%s", err, res, log.String())
	}
	first := strings.SplitN(log.String(), "\n", 2)[0]
	for _, w := range []string{"sdzero distill: device cpu (test), ", " kernels, 2 threads", "precision ", "model " + mdl, "Qwen3ForCausalLM", "parameters", "run " + out} {
		if !strings.Contains(first, w) {
			t.Errorf("header %q lacks %q", first, w)
		}
	}
	s, err := ReadSummary(filepath.Join(out, summaryFile))
	if err != nil {
		t.Fatal(err)
	}
	if s.Exit != ExitInterrupted || s.Steps != 3 || s.Resume != "sdzero train --resume "+out || len(s.Sessions) != 1 || s.Setup.Device != "cpu" {
		t.Errorf("interrupted summary %+v", s)
	}
	// Pretend the checkpoint of step 3 never happened: the resume redoes
	// step 3, which must not appear twice in rollouts.jsonl.
	if err := os.RemoveAll(filepath.Join(out, checkpointsDir, checkpointName(3))); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(filepath.Join(out, checkpointsDir, latestFile), []byte(checkpointName(2)+"\n")); err != nil {
		t.Fatal(err)
	}
	res, err = Resume(context.Background(), out, Options{Backend: testBackend(), Out: &log, Version: "vtest"})
	if err != nil || res.Interrupted || res.Steps != 4 {
		t.Fatalf("resume: %v, %+v\n%s", err, res, log.String())
	}
	recs := readRollouts(t, out)
	var steps []int
	for _, r := range recs {
		steps = append(steps, r.Step)
	}
	if jsonStr(steps) != "[1,2,3,4]" {
		t.Errorf("rollouts steps after the resume %v, want [1,2,3,4]", steps)
	}
	s, err = ReadSummary(filepath.Join(out, summaryFile))
	if err != nil {
		t.Fatal(err)
	}
	if s.Exit != ExitFinished || s.Steps != 4 || s.TotalSteps != 4 || s.Resume != "" || s.Version != "vtest" {
		t.Errorf("final summary %+v", s)
	}
	if len(s.Sessions) != 2 || s.Sessions[0].ToStep != 2 || s.Sessions[1].FromStep != 2 || s.Sessions[1].ToStep != 4 || s.WallSeconds <= 0 {
		t.Errorf("sessions %+v, wall %g", s.Sessions, s.WallSeconds)
	}
	if len(s.Eval) != 2 || s.Eval[0].Step != 2 || s.Eval[1].Step != 4 {
		t.Errorf("eval points %+v", s.Eval)
	}
	if s.FinalMetrics["step"] != 4.0 || s.SamplesGenerated != res.SamplesGenerated || s.GenTokens != res.GenTokens || s.GenTokens == 0 {
		t.Errorf("final metrics %v, samples %d, tokens %d", s.FinalMetrics, s.SamplesGenerated, s.GenTokens)
	}
	if s.Paths.FinalModel != filepath.Join(out, finalSubdir) || s.Paths.Rollouts != filepath.Join(out, rolloutsFile) || s.Paths.Checkpoint == "" {
		t.Errorf("paths %+v", s.Paths)
	}
	checkShared(t, out)
}

// checkShared fails for a file under dir that group or others cannot read,
// or a directory that is not 0755 (run.lock excepted: it is a lock).
func checkShared(t *testing.T, dir string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n++
		switch mode := fi.Mode().Perm(); {
		case d.IsDir() && mode != 0o755:
			t.Errorf("directory %s is %o, want 755", path, mode)
		case !d.IsDir() && mode&0o044 != 0o044:
			t.Errorf("file %s is %o: group and others cannot read it", path, mode)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Errorf("only %d entries under %s", n, dir)
	}
}

func TestRolloutsPrefix(t *testing.T) {
	in := `{"step":1}` + "\n" + `{"step":2}` + "\n" + `{"step":2}` + "\n" + `{"step":3}` + "\n" + `{"step":4`
	for _, tc := range []struct {
		step int
		want int64
	}{{0, 0}, {1, 11}, {2, 33}, {3, 44}, {9, 44}} {
		got, err := rolloutsPrefix(strings.NewReader(in), tc.step)
		if err != nil || got != tc.want {
			t.Errorf("step %d: %d, %v; want %d", tc.step, got, err, tc.want)
		}
	}
}

// TestSummaryFailed: a session that ends in an error records it, with the
// resume command when a checkpoint exists.
func TestSummaryFailed(t *testing.T) {
	mdl := tinyModelDir(t, 1)
	data := tinyMathData(t, 8)
	out := filepath.Join(t.TempDir(), "run")
	cfg := tinyRunConfig(t, PhaseSFT, mdl, data, out)
	cfg.Train.Steps = 2
	opt := Options{Backend: testBackend(), failSave: func(stage string) error {
		if stage == "final" {
			return errors.New("no space left on device")
		}
		return nil
	}}
	if _, err := Run(context.Background(), cfg, opt); err == nil {
		t.Fatal("the injected failure did not fail the run")
	}
	s, err := ReadSummary(filepath.Join(out, summaryFile))
	if err != nil {
		t.Fatal(err)
	}
	if s.Exit != ExitFailed || !strings.Contains(s.Error, "no space left on device") || s.Resume != "sdzero train --resume "+out || s.Steps != 2 {
		t.Errorf("summary %+v", s)
	}
}
