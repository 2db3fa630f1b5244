package main

import (
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string // substrings of the report
		passed  int
		failed  int
		skipped int
		pkgFail int
		sawTest bool
	}{
		{
			name: "pass and skip",
			in: `{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"pass","Package":"p","Test":"TestA","Elapsed":0.1}
{"Action":"output","Package":"p","Test":"TestB","Output":"=== RUN   TestB\n"}
{"Action":"output","Package":"p","Test":"TestB","Output":"    x_test.go:12: fixture /s/f absent (no such file): skipping\n"}
{"Action":"skip","Package":"p","Test":"TestB"}
{"Action":"pass","Package":"p","Elapsed":0.5}
`,
			want:   []string{"ok  \tp\t0.500s", "skipped tests (1):", "fixture /s/f absent (no such file): skipping  [p.TestB]", "1 passed, 0 failed, 1 skipped"},
			passed: 1, skipped: 1, sawTest: true,
		},
		{
			name: "failed test prints its output",
			in: `{"Action":"output","Package":"p","Test":"TestC","Output":"    c_test.go:3: got 1 want 2\n"}
{"Action":"fail","Package":"p","Test":"TestC"}
{"Action":"fail","Package":"p","Elapsed":1}
`,
			want:   []string{"got 1 want 2", "FAIL\tp", "0 passed, 1 failed, 0 skipped"},
			failed: 1, pkgFail: 1, sawTest: true,
		},
		{
			name: "build failure",
			in: `{"ImportPath":"q [q.test]","Action":"build-output","Output":"q/x.go:1: syntax error\n"}
{"ImportPath":"q [q.test]","Action":"build-fail"}
{"Action":"fail","Package":"q","Elapsed":0,"FailedBuild":"q [q.test]"}
`,
			want:    []string{"q/x.go:1: syntax error", "failed packages"},
			pkgFail: 2,
		},
		{
			name: "plain lines pass through",
			in:   "go: downloading x v1\n",
			want: []string{"go: downloading x v1", "no test ran", "0 passed, 0 failed, 0 skipped"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			s, err := run(strings.NewReader(tc.in), &out)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("report lacks %q:\n%s", w, out.String())
				}
			}
			if s.passed != tc.passed || s.failed != tc.failed || s.skipped != tc.skipped || len(s.failedPkgs) != tc.pkgFail || s.sawTest != tc.sawTest {
				t.Errorf("counts passed %d failed %d skipped %d pkgfail %d saw %v, want %d %d %d %d %v",
					s.passed, s.failed, s.skipped, len(s.failedPkgs), s.sawTest, tc.passed, tc.failed, tc.skipped, tc.pkgFail, tc.sawTest)
			}
		})
	}
}

func TestRunRejectsBadJSON(t *testing.T) {
	var out strings.Builder
	if _, err := run(strings.NewReader("{not json\n"), &out); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("err = %v, want a line-numbered error", err)
	}
}
