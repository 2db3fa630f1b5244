package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sdzero/train/explain"
)

func TestExplainCLI(t *testing.T) {
	student := cliModelDir(t, 1)
	teacher := cliModelDir(t, 2)
	data := cliMathData(t, 3)
	out := filepath.Join(t.TempDir(), "ex")
	var so, se bytes.Buffer
	err := runExplain([]string{"--student", student, "--teacher", teacher, "--data", data, "--index", "1",
		"--response", `so the sum is \boxed{7}`, "--out", out, "--device", "cpu", "--threads", "1"}, &so, &se)
	if err != nil {
		t.Fatalf("explain: %v\n%s", err, se.String())
	}
	for _, name := range []string{"explain.html", "explain.png", "explain.json"} {
		if st, err := os.Stat(filepath.Join(out, name)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	b, err := os.ReadFile(filepath.Join(out, "explain.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep explain.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Correct || !strings.Contains(rep.Reason, "does not match") || rep.Revision == "" {
		t.Errorf("report reward %v reason %q phrase %q: want told wrong by the verifier", rep.Correct, rep.Reason, rep.Revision)
	}
	if n := len(rep.Tokens); n < 3 || !rep.Tokens[n-1].Stop || rep.TotalKL <= 0 {
		t.Errorf("tokens %d (last stop %v), total KL %v", n, n > 0 && rep.Tokens[n-1].Stop, rep.TotalKL)
	}
	if !strings.Contains(so.String(), "teacher told wrong") {
		t.Errorf("summary: %q", so.String())
	}
	// A sampled response and an explicit reward.
	so.Reset()
	if err := runExplain([]string{"--student", student, "--prompt", "1+2=?", "--reward", "correct",
		"--out", out, "--device", "cpu", "--threads", "1"}, &so, &se); err != nil {
		t.Fatalf("explain sampled: %v", err)
	}
	if !strings.Contains(so.String(), "teacher told correct") {
		t.Errorf("summary: %q", so.String())
	}
	for _, args := range [][]string{
		{"--prompt", "x"},
		{"--student", student},
		{"--student", student, "--prompt", "x", "--data", data},
		{"--student", student, "--prompt", "x", "--reward", "maybe"},
		{"--student", student, "--prompt", "x", "--response", "y"},
		{"--student", student, "--data", data, "--index", "9"},
	} {
		if err := runExplain(append(args, "--device", "cpu"), &so, &se); err == nil {
			t.Errorf("explain %v: no error", args)
		}
	}
}

func TestReadinessCLI(t *testing.T) {
	mdl := cliModelDir(t, 1)
	data := cliMathData(t, 4)
	var so, se bytes.Buffer
	err := runReadiness([]string{"--model", mdl, "--data", data, "--problems", "2", "--samples", "2",
		"--kl-attempts", "1", "--json", "--device", "cpu", "--threads", "1"}, &so, &se)
	if err != nil {
		t.Fatalf("readiness: %v\n%s", err, se.String())
	}
	var rep map[string]any
	if err := json.Unmarshal(so.Bytes(), &rep); err != nil {
		t.Fatalf("readiness --json: %v in %q", err, so.String())
	}
	for _, k := range []string{"correction_rate", "resample_rate", "regression_rate", "stop_kl_share", "gates", "ready"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("readiness JSON lacks %q: %s", k, so.String())
		}
	}
	for _, args := range [][]string{
		{"--data", data},
		{"--model", mdl},
		{"--model", mdl, "--data", data, "--samples", "1"},
		{"--model", mdl, "--data", data, "--problems", "0"},
	} {
		if err := runReadiness(append(args, "--device", "cpu"), &so, &se); err == nil {
			t.Errorf("readiness %v: no error", args)
		}
	}
}
