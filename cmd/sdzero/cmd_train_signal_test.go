package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTrainSignalExit starts `sdzero train` in a child process with a step
// that would sample 300,000 responses (rollout.n=100000), waits until it
// holds its run's lock, checks that a second `train --out` and a
// `--resume` of the running run are refused naming the child's pid, and
// sends the signal: the child stops at the next generation batch, saves
// the state before the step and exits with 128 + the signal's number.
func TestTrainSignalExit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	mdl := cliModelDir(t, 1)
	data := cliMathData(t, 6)
	cfg := cliRunYAML(t, "distill", mdl, data, 2)
	cases := []struct {
		sig  syscall.Signal
		name string
		code int
	}{
		{syscall.SIGINT, "SIGINT", 130},
		{syscall.SIGTERM, "SIGTERM", 143},
		{syscall.SIGHUP, "SIGHUP", 129},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			args := []string{"train", "--config", cfg, "--out", dir, "--set", "rollout.n=100000", "--set", "rollout.gen_batch=2"}
			cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestMainProcess$", "--"}, args...)...)
			cmd.Env = append(os.Environ(), mainEnv+"=1")
			var out, errb strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			defer func() {
				cmd.Process.Kill()
				<-exited
			}()
			pid := strconv.Itoa(cmd.Process.Pid)
			// The lock (with the pid) is taken once everything is loaded,
			// and config.yaml is written right after it, before training:
			// the signal handlers are in place.
			deadline := time.After(time.Minute)
			for {
				b, _ := os.ReadFile(filepath.Join(dir, "run.lock"))
				_, cerr := os.Stat(filepath.Join(dir, "config.yaml"))
				if strings.TrimSpace(string(b)) == pid && cerr == nil {
					break
				}
				select {
				case err := <-exited:
					exited <- err
					t.Fatalf("child exited before training: %v\nstderr:\n%s", err, errb.String())
				case <-deadline:
					t.Fatalf("child did not start training within a minute\nstderr:\n%s", errb.String())
				case <-time.After(20 * time.Millisecond):
				}
			}
			for _, second := range [][]string{{"--resume", dir}, args[1:]} {
				_, _, err := call(runTrain, second...)
				if err == nil || !strings.Contains(err.Error(), "in use by process "+pid) {
					t.Errorf("%q while the run is training: want an error naming pid %s, got %v", second, pid, err)
				}
			}
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			var err error
			select {
			case err = <-exited:
				exited <- err
			case <-time.After(2 * time.Minute):
				t.Fatalf("no exit within 2 minutes of %s (a whole step is 300,000 samples)\nstderr:\n%s", tc.name, errb.String())
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != tc.code {
				t.Fatalf("exit %v, want status %d\nstderr:\n%s", err, tc.code, errb.String())
			}
			for _, w := range []string{tc.name + ": stopping", "interrupted by " + tc.name + " at step 0 of 2"} {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb.String())
				}
			}
			if !strings.Contains(out.String(), "interrupted at step 0/2") || !strings.Contains(out.String(), "--resume "+dir) {
				t.Errorf("stdout: %q", out.String())
			}
			latest, err := os.ReadFile(filepath.Join(dir, "checkpoints", "latest"))
			if err != nil || strings.TrimSpace(string(latest)) != "step-000000" {
				t.Errorf("checkpoint after %s: %q %v", tc.name, latest, err)
			}
		})
	}
}

// TestTrainFailedStart gives `train` one wrong input at a time: the error
// names it, the run directory is not created, and the corrected command
// then trains.
func TestTrainFailedStart(t *testing.T) {
	mdl := cliModelDir(t, 1)
	data := cliMathData(t, 6)
	cfg := cliRunYAML(t, "sft", mdl, data, 1)
	cases := []struct {
		name  string
		extra []string
		want  string
	}{
		{"model", []string{"--model", filepath.Join(t.TempDir(), "nomodel")}, "nomodel"},
		{"data", []string{"--data", filepath.Join(t.TempDir(), "nodata.jsonl")}, "nodata.jsonl"},
		{"tokenizer", []string{"--set", "tokenizer=" + filepath.Join(t.TempDir(), "notok")}, "notok"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			_, _, err := call(runTrain, append([]string{"--config", cfg, "--out", dir}, tc.extra...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error naming %q, got %v", tc.want, err)
			}
			if _, err := os.Stat(dir); err == nil {
				t.Fatalf("the failed start created %s", dir)
			}
			out := mustCall(t, runTrain, "--config", cfg, "--out", dir)
			if !strings.Contains(out, "sft finished: 1 steps") {
				t.Errorf("corrected command: %q", out)
			}
		})
	}
}
