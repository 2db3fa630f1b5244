package train

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"sdzero/kernels"
	"sdzero/model"
)

// lockHelperEnv makes the test binary, started by TestRunLockReleasedOnDeath,
// lock the directory it names and wait to be killed.
const lockHelperEnv = "SDZERO_TEST_LOCK_DIR"

// TestLockHelperProcess is not a test: it is the child process of
// TestRunLockReleasedOnDeath.
func TestLockHelperProcess(t *testing.T) {
	dir := os.Getenv(lockHelperEnv)
	if dir == "" {
		t.Skip("helper process for TestRunLockReleasedOnDeath")
	}
	lk, _, err := lockRun(dir)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	defer lk.release()
	fmt.Println("locked")
	select {} // until killed
}

// TestRunLockReleasedOnDeath locks a directory in a child process: a
// second locker is refused with the child's pid; after SIGKILL the kernel
// has released the lock and it can be taken at once.
func TestRunLockReleasedOnDeath(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "locked" {
		t.Fatalf("child: %q %v", line, err)
	}
	_, _, err = lockRun(dir)
	var inUse *RunInUseError
	if !errors.As(err, &inUse) || inUse.PID != cmd.Process.Pid {
		t.Fatalf("lock held by child %d: got %v", cmd.Process.Pid, err)
	}
	if !strings.Contains(err.Error(), "process "+strconv.Itoa(cmd.Process.Pid)) {
		t.Errorf("error does not name the holder's pid: %v", err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	lk, _, err := lockRun(dir)
	if err != nil {
		t.Fatalf("lock after the holder was killed: %v", err)
	}
	lk.release()
}

// TestRunLockRefusesSecondStarter holds a run's lock (as a running run
// does) and starts the run again in each way: each is refused with an
// error naming this process's pid, and writes nothing; once the lock is
// released the resume goes ahead.
func TestRunLockRefusesSecondStarter(t *testing.T) {
	dir, err := interruptedRun(t, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(filepath.Join(dir, configFile))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Out = dir
	lk, _, err := lockRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	before := readMetrics(t, dir)
	starts := []struct {
		name string
		run  func() (*Result, error)
	}{
		{"train --out", func() (*Result, error) { return Run(context.Background(), cfg, Options{Backend: testBackend()}) }},
		{"train --resume", func() (*Result, error) { return Resume(context.Background(), dir, Options{Backend: testBackend()}) }},
	}
	for _, s := range starts {
		t.Run(s.name, func(t *testing.T) {
			_, err := s.run()
			var inUse *RunInUseError
			if !errors.As(err, &inUse) || inUse.PID != os.Getpid() || !strings.Contains(err.Error(), "in use by process "+strconv.Itoa(os.Getpid())) {
				t.Fatalf("want a RunInUseError naming pid %d, got %v", os.Getpid(), err)
			}
			if after := readMetrics(t, dir); !reflect.DeepEqual(before, after) {
				t.Errorf("the refused start changed metrics.jsonl")
			}
		})
	}
	lk.release()
	res, err := Resume(context.Background(), dir, Options{Backend: testBackend()})
	if err != nil {
		t.Fatalf("resume after the lock was released: %v", err)
	}
	if res.Steps != res.TotalSteps {
		t.Errorf("resumed run ended at %d of %d", res.Steps, res.TotalSteps)
	}
}

// TestFailedStartLeavesNoRun starts runs with one input wrong each: the
// error names the input, no run directory is created, and the corrected
// command then starts. A directory left by an older failed start (a
// config.yaml, nothing else) is started again; one with finished steps or
// a final model is refused.
func TestFailedStartLeavesNoRun(t *testing.T) {
	mdl := tinyModelDir(t, 2)
	data := tinyMathData(t, 5)
	noTok := t.TempDir()
	for _, f := range []string{"config.json", "model.safetensors"} {
		b, err := os.ReadFile(filepath.Join(mdl, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(noTok, f), b, 0o644)
	}
	bigVocab := smallVocabModelDir(t, 200) // the tokenizer has 259 ids
	tests := []struct {
		name   string
		break_ func(c *Config)
		want   string
	}{
		{"model path", func(c *Config) { c.Model = filepath.Join(t.TempDir(), "nope") }, "nope"},
		{"tokenizer missing", func(c *Config) { c.Model = noTok }, "tokenizer"},
		{"tokenizer path", func(c *Config) { c.Tokenizer = filepath.Join(t.TempDir(), "notok") }, "notok"},
		{"data path", func(c *Config) { c.Data.Train = filepath.Join(t.TempDir(), "missing.jsonl") }, "missing.jsonl"},
		{"vocabulary mismatch", func(c *Config) { c.Model = bigVocab }, "vocab_size 200"},
		{"config", func(c *Config) { c.Optim.LR = -1 }, "optim.lr"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			c := tinyRunConfig(t, PhaseSFT, mdl, data, out)
			c.Train.Steps = 1
			tc.break_(c)
			_, err := Run(context.Background(), c, Options{Backend: testBackend()})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error naming %q, got %v", tc.want, err)
			}
			if _, serr := os.Stat(out); serr == nil {
				t.Fatalf("the failed start created %s", out)
			}
			c = tinyRunConfig(t, PhaseSFT, mdl, data, out)
			c.Train.Steps = 1
			if _, err := Run(context.Background(), c, Options{Backend: testBackend()}); err != nil {
				t.Fatalf("the corrected command: %v", err)
			}
		})
	}

	dirs := []struct {
		name  string
		make_ func(t *testing.T, dir string)
		want  string // "" = started again
	}{
		{"config only", func(t *testing.T, dir string) {}, ""},
		{"finished steps, no checkpoint", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, metricsFile), []byte(`{"step":1}`+"\n"), 0o644)
		}, "no checkpoint to resume from"},
		{"final model", func(t *testing.T, dir string) { os.Mkdir(filepath.Join(dir, finalSubdir), 0o755) }, "already finished"},
		{"checkpoint", func(t *testing.T, dir string) {
			os.MkdirAll(filepath.Join(dir, checkpointsDir, "step-000001"), 0o755)
		}, "--resume"},
	}
	for _, tc := range dirs {
		t.Run("existing dir/"+tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			c := tinyRunConfig(t, PhaseSFT, mdl, data, out)
			c.Train.Steps = 1
			os.MkdirAll(out, 0o755)
			y, _ := c.YAML()
			os.WriteFile(filepath.Join(out, configFile), y, 0o644)
			tc.make_(t, out)
			res, err := Run(context.Background(), c, Options{Backend: testBackend()})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("a run with no checkpoint and no finished step was not started again: %v", err)
			case tc.want == "" && res.Steps != 1:
				t.Fatalf("restarted run: %d steps", res.Steps)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("want an error with %q, got %v", tc.want, err)
			}
		})
	}
}

// smallVocabModelDir writes a random tiny model with vocab_size v and the
// 259-id test tokenizer.
func smallVocabModelDir(t *testing.T, v int) string {
	t.Helper()
	c := tinyConfig()
	c.VocabSize = v
	m, err := model.New(c, testBackend(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	dir := filepath.Join(t.TempDir(), "model")
	if err := m.Save(dir, model.SaveOptions{DType: kernels.F32}); err != nil {
		t.Fatal(err)
	}
	if err := copyTokenizerFiles("testdata/tok", dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestEndOfRunSaveOrder fails the end-of-run saves (as a full disk does)
// in each combination: the final model is written first, the result says
// what was and was not saved, and a saved checkpoint lets a resume write
// the missing final model.
func TestEndOfRunSaveOrder(t *testing.T) {
	mdl := tinyModelDir(t, 3)
	data := tinyMathData(t, 5)
	enospc := errors.New("no space left on device")
	tests := []struct {
		name       string
		fail       map[string]bool // save stages that fail
		wantErr    []string        // substrings; nil: no error
		wantFinal  bool
		wantCkpt   bool
		resumeDone bool // a resume then writes the final model
	}{
		{"both saved", nil, nil, true, true, false},
		{"checkpoint fails", map[string]bool{"optim": true}, nil, true, false, false},
		{"final fails", map[string]bool{"final": true}, []string{"final model", "not saved", "checkpoint", "saved", "--resume"}, false, true, true},
		{"both fail", map[string]bool{"final": true, "optim": true}, []string{"nothing saved", "no checkpoint of this run exists"}, false, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			c := tinyRunConfig(t, PhaseSFT, mdl, data, out)
			c.Train.Steps = 2
			var order []string
			res, err := Run(context.Background(), c, Options{Backend: testBackend(), failSave: func(stage string) error {
				if stage == "final" || stage == "begin" {
					order = append(order, stage)
				}
				if tc.fail[stage] {
					return enospc
				}
				return nil
			}})
			if len(order) != 2 || order[0] != "final" || order[1] != "begin" {
				t.Errorf("save order %v, want the final model before the checkpoint", order)
			}
			if tc.wantErr == nil && err != nil {
				t.Fatalf("run: %v", err)
			}
			for _, w := range tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Fatalf("error %v lacks %q", err, w)
				}
			}
			if tc.wantErr != nil && !errors.Is(err, enospc) {
				t.Errorf("error %v does not wrap the cause", err)
			}
			_, ferr := os.Stat(filepath.Join(out, finalSubdir, "model.safetensors"))
			if (ferr == nil) != tc.wantFinal || (res.FinalModel != "") != tc.wantFinal {
				t.Errorf("final model present %v (result %q), want %v", ferr == nil, res.FinalModel, tc.wantFinal)
			}
			_, cerr := latestCheckpoint(out)
			if (cerr == nil) != tc.wantCkpt {
				t.Errorf("checkpoint present %v, want %v", cerr == nil, tc.wantCkpt)
			}
			if tc.resumeDone {
				r, err := Resume(context.Background(), out, Options{Backend: testBackend()})
				if err != nil || r.FinalModel == "" {
					t.Fatalf("resume to write the final model: %v", err)
				}
				if _, err := os.Stat(filepath.Join(out, finalSubdir, "model.safetensors")); err != nil {
					t.Errorf("final model after resume: %v", err)
				}
			}
		})
	}
}

// TestCleanRunLeftovers plants what a killed run's atomic writes leave
// behind; a resume removes the temp files, puts back a checkpoint moved
// aside and runs on.
func TestCleanRunLeftovers(t *testing.T) {
	dir, err := interruptedRun(t, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, checkpointsDir)
	// The run kept step-1 and step-2; step-2 was being replaced.
	if err := os.Rename(filepath.Join(root, "step-000002"), filepath.Join(root, ".old-step-000002")); err != nil {
		t.Fatal(err)
	}
	temps := []string{
		filepath.Join(dir, ".config.yaml.tmp123"),
		filepath.Join(root, ".latest.tmp456"),
		filepath.Join(root, ".tmp-step-000003-789", "model", "model.safetensors"),
		filepath.Join(dir, finalSubdir, ".model.safetensors.tmp-42"),
	}
	for _, p := range temps {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	keep := filepath.Join(dir, "notes.tmp") // not a temp of ours: no leading dot
	os.WriteFile(keep, nil, 0o644)
	removed, err := cleanRunLeftovers(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 4 {
		t.Errorf("removed %v, want the 4 temps", removed)
	}
	for _, p := range temps {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left behind", p)
		}
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("a file that is not ours was removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "step-000002", stateFile)); err != nil {
		t.Errorf("the checkpoint moved aside was not put back: %v", err)
	}
	os.WriteFile(filepath.Join(root, ".latest.tmp999"), []byte("x"), 0o644)
	res, err := Resume(context.Background(), dir, Options{Backend: testBackend()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != res.TotalSteps {
		t.Errorf("resumed run ended at %d of %d", res.Steps, res.TotalSteps)
	}
	if _, err := os.Stat(filepath.Join(root, ".latest.tmp999")); err == nil {
		t.Errorf("resume left a temp file")
	}
}
