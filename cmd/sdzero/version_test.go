package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"testing"
)

func TestReadBuild(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Path: "sdzero", Version: "v0.3.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	for _, tc := range []struct {
		name                string
		bi                  *debug.BuildInfo
		ldV, ldC, ldD       string
		version, commit, gv string
		modified            bool
		text                []string
	}{
		{"build info", bi, "", "", "", "v0.3.0", "0123abcd", "go1.99.1", true,
			[]string{"sdzero v0.3.0 (module sdzero)", "commit 0123abcd (2026-12-01T10:00:00Z), with uncommitted changes", "go1.99.1 "}},
		{"ldflags win", bi, "v1.0.0", "feedbeef", "2026-12-03", "v1.0.0", "feedbeef", "go1.99.1", false,
			[]string{"sdzero v1.0.0", "commit feedbeef\n", "built 2026-12-03"}},
		{"no build info", nil, "", "", "", "(devel)", "", "", false,
			[]string{"sdzero (devel)", "commit unknown"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := readBuild(tc.bi, tc.ldV, tc.ldC, tc.ldD)
			if r.Version != tc.version || r.Commit != tc.commit || r.Modified != tc.modified || (tc.gv != "" && r.Go != tc.gv) {
				t.Errorf("got %+v", r)
			}
			if short := r.Short(); !strings.HasPrefix(short, tc.version) || (tc.commit != "" && !strings.Contains(short, "(commit "+tc.commit)) {
				t.Errorf("Short() = %q", short)
			}
			for _, w := range tc.text {
				if !strings.Contains(r.String(), w) {
					t.Errorf("text lacks %q:\n%s", w, r)
				}
			}
		})
	}
}

// TestVersionCommand: `sdzero --version` and `sdzero version --json` exit
// 0 and name the module and the Go version of this binary.
func TestVersionCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for _, args := range [][]string{{"--version"}, {"version"}, {"version", "--json"}} {
		cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestMainProcess$", "--"}, args...)...)
		cmd.Env = append(os.Environ(), mainEnv+"=1")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if args[len(args)-1] == "--json" {
			var r buildReport
			if err := json.Unmarshal(out, &r); err != nil || r.Module == "" || !strings.HasPrefix(r.Go, "go") {
				t.Errorf("%v: %q (%v)", args, out, err)
			}
			continue
		}
		if !strings.HasPrefix(string(out), "sdzero ") || !strings.Contains(string(out), "go1.") {
			t.Errorf("%v: %q", args, out)
		}
	}
}
