package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestEvalSignalExit starts `sdzero eval` on 3000 problems in a child
// process, one sequence per batch, waits until it is evaluating, and sends
// the signal: the child stops at the next batch, prints the report of the
// problems it finished marked partial (--json: "partial": true with the
// total) and exits with 128 + the signal's number.
func TestEvalSignalExit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	mdl := cliModelDir(t, 1)
	data := cliMathData(t, 3000)
	cases := []struct {
		sig  syscall.Signal
		name string
		code int
		json bool
	}{
		{syscall.SIGINT, "SIGINT", 130, false},
		{syscall.SIGTERM, "SIGTERM", 143, true},
		{syscall.SIGHUP, "SIGHUP", 129, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"eval", "--model", mdl, "--data", data, "--k", "1", "--batch", "1", "--max-new-tokens", "16",
				"--temperature", "1", "--device", "cpu", "--threads", "1", "--suffix", ""}
			if tc.json {
				args = append(args, "--json")
			}
			cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestMainProcess$", "--"}, args...)...)
			cmd.Env = append(os.Environ(), mainEnv+"=1")
			var out, errb syncBuilder
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
			// The handlers are in place when eval says what it evaluates.
			deadline := time.After(time.Minute)
			for !strings.Contains(errb.String(), "eval: 3000 problems") {
				select {
				case err := <-exited:
					exited <- err
					t.Fatalf("child exited before evaluating: %v\nstderr:\n%s", err, errb.String())
				case <-deadline:
					t.Fatalf("child did not start evaluating within a minute\nstderr:\n%s", errb.String())
				case <-time.After(10 * time.Millisecond):
				}
			}
			time.Sleep(300 * time.Millisecond) // a few batches
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			var err error
			select {
			case err = <-exited:
				exited <- err
			case <-time.After(30 * time.Second):
				t.Fatalf("no exit within 30 s of %s (one batch is one sequence of 16 tokens)\nstderr:\n%s", tc.name, errb.String())
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != tc.code {
				t.Fatalf("exit %v, want status %d\nstderr:\n%s", err, tc.code, errb.String())
			}
			for _, w := range []string{tc.name + ": stopping at the next batch", "interrupted by " + tc.name + " after ", "of 3000 problems: the results are partial"} {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb.String())
				}
			}
			if !tc.json {
				if !strings.Contains(out.String(), "PARTIAL: interrupted after ") || !strings.Contains(out.String(), "of 3000 problems") {
					t.Errorf("stdout lacks the partial mark:\n%s", out.String())
				}
				return
			}
			var rep struct {
				Partial bool `json:"partial"`
				N       int  `json:"n"`
				Total   int  `json:"problems_total"`
			}
			if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
				t.Fatalf("--json output: %v\n%s", err, out.String())
			}
			if !rep.Partial || rep.Total != 3000 || rep.N >= 3000 {
				t.Errorf("report partial %v, %d of %d problems; want partial, fewer than 3000 of 3000", rep.Partial, rep.N, rep.Total)
			}
		})
	}
}

// syncBuilder is a strings.Builder that a child's output goroutine writes
// while the test reads it.
type syncBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
