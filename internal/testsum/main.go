// Command testsum reads `go test -json` on standard input and prints what
// `go test` prints (a line per package, the output of failed tests and
// failed builds), then the skipped tests grouped by reason and a closing
// line "N passed, N failed, N skipped". make test pipes into it so that
// skipped tests, such as parity tests without ../shared/fixtures, are
// counted where everyone sees them instead of vanishing into "ok".
//
// It exits 1 when any test, package or build failed, or when the input
// holds no test events at all (a run that tested nothing is not green).
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action      string
	Package     string
	Test        string
	Output      string
	Elapsed     float64
	ImportPath  string
	FailedBuild string
}

// summary accumulates a run's results.
type summary struct {
	passed, failed, skipped int
	failedPkgs              []string
	skipReasons             map[string][]string // reason -> tests
	output                  map[string]*strings.Builder
	sawTest                 bool
}

func key(pkg, test string) string { return pkg + "\x00" + test }

func main() {
	s, err := run(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsum:", err)
		os.Exit(2)
	}
	if s.failed > 0 || len(s.failedPkgs) > 0 || !s.sawTest {
		os.Exit(1)
	}
}

// run reads events from r and writes the report to w.
func run(r io.Reader, w io.Writer) (*summary, error) {
	s := &summary{skipReasons: map[string][]string{}, output: map[string]*strings.Builder{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		raw := sc.Bytes()
		if len(raw) == 0 || raw[0] != '{' {
			// Not JSON (go vet or the toolchain writing plainly): pass it on.
			fmt.Fprintf(w, "%s\n", raw)
			continue
		}
		var e event
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, fmt.Errorf("stdin line %d: %w", line, err)
		}
		s.handle(w, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("stdin: %w", err)
	}
	s.report(w)
	return s, nil
}

func (s *summary) buf(k string) *strings.Builder {
	b := s.output[k]
	if b == nil {
		b = &strings.Builder{}
		s.output[k] = b
	}
	return b
}

func (s *summary) handle(w io.Writer, e event) {
	switch e.Action {
	case "build-output":
		s.buf(key("build", e.ImportPath)).WriteString(e.Output)
	case "build-fail":
		fmt.Fprint(w, s.buf(key("build", e.ImportPath)).String())
		s.failedPkgs = append(s.failedPkgs, e.ImportPath+" (build)")
	case "output":
		s.buf(key(e.Package, e.Test)).WriteString(e.Output)
	case "pass", "fail", "skip":
		if e.Test == "" {
			s.packageDone(w, e)
			return
		}
		s.sawTest = true
		out := s.output[key(e.Package, e.Test)]
		delete(s.output, key(e.Package, e.Test))
		switch e.Action {
		case "pass":
			s.passed++
		case "fail":
			s.failed++
			if out != nil {
				fmt.Fprint(w, out.String())
			}
		case "skip":
			s.skipped++
			reason := skipReason(out)
			s.skipReasons[reason] = append(s.skipReasons[reason], e.Package+"."+e.Test)
		}
	}
}

// packageDone prints the package line as go test does.
func (s *summary) packageDone(w io.Writer, e event) {
	out := s.output[key(e.Package, "")]
	delete(s.output, key(e.Package, ""))
	switch e.Action {
	case "pass":
		fmt.Fprintf(w, "ok  \t%s\t%.3fs\n", e.Package, e.Elapsed)
	case "skip":
		fmt.Fprintf(w, "?   \t%s\t[no test files]\n", e.Package)
	case "fail":
		if out != nil {
			// Package-level output: a panic, a timeout, TestMain's words.
			fmt.Fprint(w, out.String())
		}
		fmt.Fprintf(w, "FAIL\t%s\t%.3fs\n", e.Package, e.Elapsed)
		s.failedPkgs = append(s.failedPkgs, e.Package)
	}
}

// skipReason is the message a test gave t.Skip, without the file:line
// prefix, or "no reason given".
func skipReason(out *strings.Builder) string {
	if out == nil {
		return "no reason given"
	}
	for _, l := range strings.Split(out.String(), "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- ") || l == "" {
			continue
		}
		if i := strings.Index(l, ".go:"); i >= 0 {
			if j := strings.Index(l[i:], ": "); j >= 0 {
				l = l[i+j+2:]
			}
		}
		if len(l) > 160 {
			l = l[:160] + "..."
		}
		return l
	}
	return "no reason given"
}

func (s *summary) report(w io.Writer) {
	if len(s.skipReasons) > 0 {
		reasons := make([]string, 0, len(s.skipReasons))
		for r := range s.skipReasons {
			reasons = append(reasons, r)
		}
		sort.Strings(reasons)
		fmt.Fprintf(w, "\nskipped tests (%d):\n", s.skipped)
		for _, r := range reasons {
			tests := s.skipReasons[r]
			fmt.Fprintf(w, "  %3d  %s  [%s]\n", len(tests), r, abbreviate(tests))
		}
	}
	if len(s.failedPkgs) > 0 {
		fmt.Fprintf(w, "\nfailed packages: %s\n", strings.Join(s.failedPkgs, ", "))
	}
	if !s.sawTest {
		fmt.Fprintln(w, "\nno test ran")
	}
	fmt.Fprintf(w, "\n%d passed, %d failed, %d skipped\n", s.passed, s.failed, s.skipped)
}

// abbreviate names the first few tests of a group.
func abbreviate(tests []string) string {
	const show = 3
	if len(tests) <= show {
		return strings.Join(tests, ", ")
	}
	return strings.Join(tests[:show], ", ") + fmt.Sprintf(", and %d more", len(tests)-show)
}
