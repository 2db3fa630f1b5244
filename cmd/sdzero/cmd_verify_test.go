package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sdzero/train/tboard"
)

func TestVerifyCLI(t *testing.T) {
	tests := []struct {
		args       []string
		wantReward float64
		wantOut    string
	}{
		{[]string{"--gold", `12\text{ and }13`, "--response", `so \boxed{1213}`, "--json"}, 0, `"extracted":"1213"`},
		{[]string{"--gold", `(-\infty,3)`, "--response", "thus $x<3$", "--json"}, 1, `"extracted":"x<3"`},
		{[]string{"--gold", "#### 1,234", "--response", `\boxed{1234}`, "--json"}, 1, `"reason":"ok"`},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		if err := runVerify(tc.args, &out, &errb); err != nil {
			t.Fatalf("verify %v: %v", tc.args, err)
		}
		var r verifyResult
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Fatalf("verify %v: %v in %q", tc.args, err, out.String())
		}
		if r.Reward != tc.wantReward || !strings.Contains(out.String(), tc.wantOut) {
			t.Errorf("verify %v = %s, want reward %v and %s", tc.args, out.String(), tc.wantReward, tc.wantOut)
		}
	}
}

func TestVerifyPairsCLI(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pairs.jsonl")
	rows := `{"gold": "1/3", "response": "\\boxed{0.333333}", "want": true}
{"gold": "16386.20", "response": "\\boxed{16386.21}", "want": true}

{"gold": "5", "response": "the answer is 5"}
`
	if err := os.WriteFile(path, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := runVerify([]string{"--pairs", path}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "agreement 1/2 (50.0%); disagreeing lines [2]") {
		t.Errorf("output %q lacks the agreement line", out.String())
	}
	bad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(bad, []byte(`{"gold": "1", "answer": "1"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := runVerify([]string{"--pairs", bad}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "bad.jsonl:1") || !strings.Contains(err.Error(), "answer") {
		t.Errorf("bad row: err = %v, want one naming bad.jsonl:1 and the unknown field", err)
	}
	if err := runVerify([]string{"--gold", "1", "stray"}, &out, &errb); err == nil || !strings.Contains(err.Error(), "stray") {
		t.Errorf("stray argument: err = %v", err)
	}
}

func TestCompareCLI(t *testing.T) {
	dir := t.TempDir()
	var dirs []string
	for i, body := range []string{
		`{"samples_generated":0,"gen_tokens":0,"eval_accuracy":0.1}` + "\n" + `{"samples_generated":100,"gen_tokens":5000,"eval_accuracy":0.3}`,
		`{"samples_generated":0,"gen_tokens":0,"eval_accuracy":0.1}` + "\n" + `{"samples_generated":200,"gen_tokens":4000,"eval_accuracy":0.5}`,
	} {
		d := filepath.Join(dir, []string{"rft", "distill"}[i])
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "metrics.jsonl"), []byte(body+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	var out, errb bytes.Buffer
	png := filepath.Join(dir, "c.png")
	if err := runCompare(append([]string{"--out", png, "--points", "2"}, dirs...), &out, &errb); err != nil {
		t.Fatal(err)
	}
	// At 100 samples: rft 0.3, distill halfway to 0.5 = 0.3; at 4000 tokens
	// rft 0.1+0.2*0.8 = 0.26, distill 0.5.
	for _, want := range []string{"100                  0.3000       0.3000", "4000                 0.2600       0.5000"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("compare output lacks %q:\n%s", want, out.String())
		}
	}
	if st, err := os.Stat(png); err != nil || st.Size() == 0 {
		t.Errorf("png: %v", err)
	}
	if err := runCompare(nil, &out, &errb); err == nil {
		t.Error("no runs: no error")
	}
}

func TestExportCLI(t *testing.T) {
	run := t.TempDir()
	body := `{"step":1,"loss":2,"elapsed_s":1,"phase":"sft"}` + "\n" + `{"step":2,"loss":1.5,"eval_accuracy":0.25,"elapsed_s":2}` + "\n"
	if err := os.WriteFile(filepath.Join(run, "metrics.jsonl"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := runExport([]string{run}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	csvb, err := os.ReadFile(filepath.Join(run, "metrics.csv"))
	if err != nil || string(csvb) != "step,elapsed_s,eval_accuracy,loss\n1,1,,2\n2,2,0.25,1.5\n" {
		t.Errorf("metrics.csv %q, %v", csvb, err)
	}
	files, _ := filepath.Glob(filepath.Join(run, "tensorboard", "events.out.tfevents.*"))
	if len(files) != 1 {
		t.Fatalf("event files %v", files)
	}
	f, err := os.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	evs, err := tboard.ReadEvents(f)
	if err != nil || len(evs) != 3 || evs[2].Step != 2 || evs[2].Scalars["eval_accuracy"] != 0.25 {
		t.Errorf("events %+v, %v", evs, err)
	}
	// A second export replaces the first file.
	if err := runExport([]string{run}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if files, _ := filepath.Glob(filepath.Join(run, "tensorboard", "events.out.tfevents.*")); len(files) != 1 {
		t.Errorf("after re-export: %v", files)
	}
}
