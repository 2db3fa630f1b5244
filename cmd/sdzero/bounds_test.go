package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sdzero/data/verify"
	"sdzero/demo/tinytok"
	"sdzero/kernels"
	"sdzero/kernels/cpu"
	"sdzero/model"
)

// TestCommandBounds is the "bounds on every input" re-run against
// every command: non-finite, negative and huge numeric flags, huge
// questions in a problem file, NaN weights and a hostile sdzero.json
// beside a model. Each must end in an error naming the flag, field, file
// or tensor, or in a counted skip, quickly: a panic fails the test, and a
// case that takes more than 20 s is reported (it would be minutes or an
// OOM without its bound).
func TestCommandBounds(t *testing.T) {
	mdl := cliModelDir(t, 1)
	data := cliMathData(t, 4)
	nan := nanChatModelDir(t)
	dir := t.TempDir()
	// Problem files: a 100 MB question and a 1M-character one, each
	// before two ordinary problems.
	big := writeRows(t, filepath.Join(dir, "big.jsonl"), strings.Repeat("1+", 50<<20)+"1", "1+1", "2+2")
	long := writeRows(t, filepath.Join(dir, "long.jsonl"), strings.Repeat("x", 1<<20), "1+1", "2+2")
	hostile := func(name, meta string) string {
		d := filepath.Join(dir, name)
		copyDir(t, mdl, d)
		if err := os.WriteFile(filepath.Join(d, "sdzero.json"), []byte(meta), 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	meta := func(extra string) string {
		return `{"format": 1, "saved": "final", "phase": "distill", "prompt": {"suffix": ""}, "rollout": {"temperature": 1, "top_p": 1, "max_new_tokens": 8}` + extra + `}`
	}
	hugeNew := hostile("huge-new", `{"format": 1, "saved": "final", "phase": "distill", "rollout": {"temperature": 1, "top_p": 1, "max_new_tokens": 2000000000}}`)
	nanTemp := hostile("nan-temp", `{"format": 1, "saved": "final", "phase": "distill", "rollout": {"temperature": NaN, "top_p": 1, "max_new_tokens": 8}}`)
	bigSystem := hostile("big-system", `{"format": 1, "saved": "final", "phase": "distill", "prompt": {"system": "`+strings.Repeat("s", 10<<20)+`"}, "rollout": {"temperature": 1, "top_p": 1, "max_new_tokens": 8}}`)
	wrongType := hostile("wrong-type", `{"format": 1, "saved": "final", "phase": "distill", "rollout": {"temperature": "hot", "top_p": 1, "max_new_tokens": 8}}`)
	// A key this sdzero does not know (a newer writer's, a misspelling) is
	// ignored, as encoding/json does, and named in a warning.
	unknown := hostile("unknown-key", meta(`, "rollout_v9": {"temperature": 1e300}`))

	ev := func(extra ...string) []string {
		return append([]string{"--model", mdl, "--data", data, "--k", "1", "--max-new-tokens", "4", "--device", "cpu", "--threads", "1"}, extra...)
	}
	rd := func(extra ...string) []string {
		return append([]string{"--model", mdl, "--data", data, "--problems", "2", "--samples", "2", "--kl-attempts", "0", "--device", "cpu", "--threads", "1"}, extra...)
	}
	ex := func(extra ...string) []string {
		return append([]string{"--student", mdl, "--out", filepath.Join(dir, "explain"), "--device", "cpu", "--threads", "1"}, extra...)
	}
	gen := func(extra ...string) []string {
		return append([]string{"--model", mdl, "--prompt", "hi", "--max-new-tokens", "4", "--device", "cpu", "--threads", "1"}, extra...)
	}
	cases := []struct {
		name string
		run  runFunc
		args []string
		// want: substrings of the error; ok: the command must succeed
		// and its output must hold want (a counted skip, a warning)
		// instead.
		want []string
		ok   bool
	}{
		{"eval NaN temperature", runEval, ev("--temperature", "NaN"), []string{"--temperature"}, false},
		{"eval Inf temperature", runEval, ev("--temperature", "+Inf"), []string{"--temperature"}, false},
		{"eval negative temperature", runEval, ev("--temperature", "-1"), []string{"--temperature"}, false},
		{"eval huge temperature", runEval, ev("--temperature", "1e308"), []string{"--temperature"}, false},
		{"eval NaN top-p", runEval, ev("--top-p", "NaN"), []string{"--top-p"}, false},
		{"eval negative top-p", runEval, ev("--top-p", "-0.5"), []string{"--top-p"}, false},
		{"eval negative top-k", runEval, ev("--top-k", "-1"), []string{"--top-k"}, false},
		{"eval huge top-k", runEval, ev("--top-k", "1000000000000"), []string{"--top-k"}, false},
		{"eval k 0", runEval, ev("--k", "0"), []string{"--k"}, false},
		{"eval huge k", runEval, ev("--k", "9223372036854775807"), []string{"--k"}, false},
		{"eval huge max-new-tokens", runEval, ev("--max-new-tokens", "2000000000"), []string{"--max-new-tokens"}, false},
		{"eval negative threads", runEval, ev("--threads", "-3"), []string{"--threads"}, false},
		{"eval huge threads", runEval, ev("--threads", "100000000"), []string{"--threads"}, false},
		{"eval negative limit", runEval, ev("--limit", "-1"), []string{"--limit"}, false},
		{"eval 100 MB question", runEval, append(ev(), "--data", big), []string{"skipped 1 of 3 problems"}, true},
		{"eval 1M-character question", runEval, append(ev(), "--data", long), []string{"skipped 1 of 3 problems"}, true},
		{"eval NaN weights", runEval, append(ev(), "--model", nan), []string{"model.norm.weight"}, false},
		{"eval sdzero.json max_new_tokens", runEval, append(ev(), "--model", hugeNew), []string{"max_new_tokens", "sdzero.json"}, false},
		{"eval sdzero.json NaN temperature", runEval, append(ev(), "--model", nanTemp), []string{"sdzero.json"}, false},
		{"eval sdzero.json 10 MB system", runEval, append(ev(), "--model", bigSystem), []string{"prompt.system", "sdzero.json"}, false},
		{"eval sdzero.json unknown key", runEval, append(ev(), "--model", unknown), []string{"keys this sdzero does not read, ignored: rollout_v9"}, true},
		{"eval sdzero.json wrong type", runEval, append(ev(), "--model", wrongType), []string{"sdzero.json", "temperature"}, false},

		{"readiness problems 0", runReadiness, rd("--problems", "0"), []string{"--problems"}, false},
		{"readiness huge problems", runReadiness, rd("--problems", "9223372036854775807"), []string{"--problems"}, false},
		{"readiness huge samples", runReadiness, rd("--samples", "100000000"), []string{"--samples"}, false},
		{"readiness problems x samples", runReadiness, rd("--problems", "1000000", "--samples", "1000"), []string{"--problems 1000000 x --samples 1000"}, false},
		{"readiness negative threads", runReadiness, rd("--threads", "-1"), []string{"--threads"}, false},
		{"readiness 100 MB question", runReadiness, append(rd(), "--data", big), []string{"readiness: skipped 1 problems"}, true},
		{"readiness NaN weights", runReadiness, append(rd(), "--model", nan), []string{"model.norm.weight"}, false},
		{"readiness sdzero.json max_new_tokens", runReadiness, append(rd(), "--model", hugeNew), []string{"max_new_tokens", "sdzero.json"}, false},
		{"readiness sdzero.json 10 MB system", runReadiness, append(rd(), "--model", bigSystem), []string{"prompt.system"}, false},

		{"explain negative index", runExplain, ex("--data", data, "--index", "-1"), []string{"--index -1"}, false},
		{"explain huge index", runExplain, ex("--data", data, "--index", "9223372036854775807"), []string{"--index"}, false},
		{"explain negative threads", runExplain, ex("--prompt", "1+1", "--threads", "-2"), []string{"--threads"}, false},
		{"explain 1M-character question", runExplain, ex("--data", long, "--index", "0"), []string{"problem 0", "longer"}, false},
		{"explain NaN weights", runExplain, append(ex("--prompt", "1+1"), "--student", nan), []string{"model.norm.weight"}, false},
		{"explain sdzero.json 10 MB system", runExplain, append(ex("--prompt", "1+1"), "--student", bigSystem), []string{"prompt.system"}, false},

		{"generate --chat NaN temperature", runGenerate, gen("--chat", "--temperature", "NaN"), []string{"--temperature"}, false},
		{"generate --chat huge max-new-tokens", runGenerate, gen("--chat", "--max-new-tokens", "2000000000"), []string{"--max-new-tokens"}, false},
		{"generate --chat NaN weights", runGenerate, append(gen("--chat"), "--model", nan), []string{"model.norm.weight"}, false},
		{"generate --chat 1M-character prompt", runGenerate, gen("--chat", "--prompt", strings.Repeat("y", 1<<20)), []string{"prompt"}, false},

		{"inspect negative ranks", runInspect, []string{"--model", mdl, "--ranks", "-1"}, []string{"--ranks"}, false},
		{"inspect huge ranks", runInspect, []string{"--model", mdl, "--ranks", "9223372036854775807"}, []string{"--ranks"}, false},
		{"inspect huge seq", runInspect, []string{"--model", mdl, "--seq", "9223372036854775807"}, []string{"--seq"}, false},
		{"compare negative points", runCompare, []string{"--points", "-1", dir}, []string{"--points"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t0 := time.Now()
			outs, errs, err := call(tc.run, tc.args...)
			if d := time.Since(t0); d > 20*time.Second {
				t.Errorf("took %v: a bound is missing", d)
			}
			if tc.ok {
				if err != nil {
					t.Fatalf("want success with %q on stderr, got %v", tc.want, err)
				}
				for _, w := range tc.want {
					if !strings.Contains(errs, w) && !strings.Contains(outs, w) {
						t.Errorf("output lacks %q:\nstdout:\n%.2000s\nstderr:\n%.2000s", w, outs, errs)
					}
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want an error naming %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %.500q lacks %q", err.Error(), w)
				}
			}
			if len(err.Error()) > 4000 {
				t.Errorf("error of %d bytes: it should name the input, not echo it", len(err.Error()))
			}
		})
	}
}

// writeRows writes one JSONL problem per question (answer 2) to path.
func writeRows(t *testing.T, path string, questions ...string) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	enc := json.NewEncoder(f)
	for _, q := range questions {
		if err := enc.Encode(map[string]string{"question": q, "answer": "2"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// copyDir copies the regular files of src into a new directory dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// nanChatModelDir is cliModelDir (demo tokenizer and chat template) with a
// NaN in model.norm.weight.
func nanChatModelDir(t *testing.T) string {
	t.Helper()
	be := cpu.New(1)
	m, err := model.New(cliTinyConfig(), be, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	w := m.Param("model.norm.weight")
	vals := make([]float32, w.N)
	for i := range vals {
		vals[i] = 1
	}
	vals[5] = float32(math.NaN())
	be.Upload(w, vals)
	dir := filepath.Join(t.TempDir(), "nan-chat-model")
	if err := m.Save(dir, model.SaveOptions{DType: kernels.F32}); err != nil {
		t.Fatal(err)
	}
	if err := tinytok.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCodeSandboxRefusal: eval and readiness on a code dataset take the
// sandbox path of training (Verifier.FitCode): without namespace isolation
// they refuse unless verify.allow_unisolated_code is set, naming the knob;
// with it, the sandbox plan is printed before anything runs.
func TestCodeSandboxRefusal(t *testing.T) {
	mdl := cliModelDir(t, 1)
	data := filepath.Join(t.TempDir(), "code.jsonl")
	rows := `{"task_id": "echo", "prompt": "Print the input.", "tests": [{"input": "1\n", "output": "1\n"}]}
{"task_id": "two", "prompt": "Print 2.", "tests": [{"input": "", "output": "2\n"}]}
`
	if err := os.WriteFile(data, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	isolated := verify.ProbeSandbox().Namespaces
	for _, tc := range []struct {
		name string
		run  runFunc
		args []string
	}{
		{"eval", runEval, []string{"--model", mdl, "--data", data, "--kind", "code", "--k", "1", "--max-new-tokens", "2", "--device", "cpu", "--threads", "1"}},
		{"readiness", runReadiness, []string{"--model", mdl, "--data", data, "--kind", "code", "--problems", "2", "--samples", "2", "--kl-attempts", "0", "--device", "cpu", "--threads", "1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs, err := call(tc.run, tc.args...)
			if !strings.Contains(errs, "code sandbox:") {
				t.Errorf("stderr lacks the sandbox mode:\n%s", errs)
			}
			if isolated {
				if err != nil {
					t.Errorf("with namespace isolation: %v\n%s", err, errs)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "verify.allow_unisolated_code") {
				t.Errorf("without isolation: want a refusal naming verify.allow_unisolated_code, got %v", err)
			}
		})
	}
}
