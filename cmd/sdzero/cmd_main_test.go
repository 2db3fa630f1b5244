package main

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// mainEnv makes the test binary run main() with the arguments after "--"
// (see TestMainProcess), so that exit codes and stderr can be checked.
const mainEnv = "SDZERO_TEST_RUN_MAIN"

// TestMainProcess is not a test: it is the body of the child process that
// TestMainDispatch starts.
func TestMainProcess(t *testing.T) {
	if os.Getenv(mainEnv) != "1" {
		t.Skip("helper process for TestMainDispatch")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Args = append([]string{"sdzero"}, args...)
	main()
	os.Exit(0)
}

// TestMainDispatch runs main() in a child process and checks its exit
// status, stdout and stderr for the top-level cases.
func TestMainDispatch(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	cases := []struct {
		name       string
		args       []string
		code       int
		stdout     string // substring (empty: stdout must be empty)
		stderrHave []string
	}{
		{"no-args", nil, 2, "", []string{"usage: sdzero <command>", "tokenize"}},
		{"help", []string{"help"}, 0, "", []string{"usage: sdzero <command>", "commands:"}},
		{"dash-h", []string{"-h"}, 0, "", []string{"usage: sdzero <command>"}},
		{"unknown", []string{"frobnicate"}, 2, "", []string{`sdzero: unknown command "frobnicate"`, "usage: sdzero"}},
		{"command-help", []string{"plot", "-h"}, 0, "", []string{"usage: sdzero plot RUN"}},
		{"command-error", []string{"train", "--device", "tpu", "--model", "m", "--out", "o", "--data", "d"}, 1, "", []string{`sdzero train: unknown --device "tpu"`}},
		{"flag-error", []string{"eval", "--bogus"}, 1, "", []string{"flag provided but not defined: -bogus", "sdzero eval:"}},
		{"ok", []string{"tokenize", "--model", "../../demo/tinytok", "--text", "ab", "--json"}, 0, `{"ids":[`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestMainProcess$", "--"}, tc.args...)...)
			cmd.Env = append(os.Environ(), mainEnv+"=1")
			var out, errb strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &errb
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Errorf("%q: exit status %d, want %d\nstderr:\n%s", tc.args, code, tc.code, errb.String())
			}
			if tc.stdout == "" && out.Len() > 0 || !strings.Contains(out.String(), tc.stdout) {
				t.Errorf("%q: stdout %q, want %q", tc.args, out.String(), tc.stdout)
			}
			for _, w := range tc.stderrHave {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("%q: stderr lacks %q:\n%s", tc.args, w, errb.String())
				}
			}
		})
	}
}
