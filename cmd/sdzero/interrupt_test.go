package main

import (
	"strings"
	"syscall"
	"testing"
)

// TestPartialErrorText checks the exit statuses and wording of a stopped
// command: partial results, or nothing written (explain).
func TestPartialErrorText(t *testing.T) {
	cases := []struct {
		err  *partialError
		code int
		want []string
	}{
		{&partialError{sig: syscall.SIGINT, done: "12 of 40 problems"}, 130, []string{"SIGINT after 12 of 40 problems", "results are partial", "exit status 130"}},
		{&partialError{sig: syscall.SIGTERM, done: "during the generation", none: true}, 143, []string{"SIGTERM during the generation", "nothing was written", "exit status 143"}},
		{&partialError{sig: syscall.SIGHUP, done: "during the forward passes", none: true}, 129, []string{"SIGHUP during the forward passes", "exit status 129"}},
	}
	for _, tc := range cases {
		if got := tc.err.ExitCode(); got != tc.code {
			t.Errorf("%+v: exit code %d, want %d", tc.err, got, tc.code)
		}
		for _, w := range tc.want {
			if !strings.Contains(tc.err.Error(), w) {
				t.Errorf("%q lacks %q", tc.err.Error(), w)
			}
		}
		if tc.err.none && strings.Contains(tc.err.Error(), "partial") {
			t.Errorf("%q: nothing was written, yet it speaks of partial results", tc.err.Error())
		}
	}
}
