package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"sdzero/data/synth"
	"sdzero/demo"
	"sdzero/demo/tinytok"
	"sdzero/kernels"
	"sdzero/kernels/cpu"
	"sdzero/kernels/cuda"
	"sdzero/model"
)

// cliTinyConfig is a 2-layer Qwen3-style model over the demo tokenizer.
func cliTinyConfig() *model.Config {
	return &model.Config{
		Arch: "qwen3", VocabSize: tinytok.VocabSize, Hidden: 32, Intermediate: 64, Layers: 2,
		Heads: 4, KVHeads: 2, HeadDim: 8, RMSNormEps: 1e-6, RopeTheta: 10000,
		TieEmbeddings: true, QKNorm: true, MaxPositions: 512, BOSTokenID: -1,
		EOSTokenIDs: []int{tinytok.ImEndID},
	}
}

// cliModelDir writes a random tiny model with the demo tokenizer files into
// a temp dir.
func cliModelDir(t *testing.T, seed uint64) string {
	t.Helper()
	m, err := model.New(cliTinyConfig(), cpu.New(2), seed)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	dir := filepath.Join(t.TempDir(), "model")
	if err := m.Save(dir, model.SaveOptions{DType: kernels.F32}); err != nil {
		t.Fatal(err)
	}
	if err := tinytok.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// cliMathData writes n synthetic addition problems (with worked solutions)
// as JSONL.
func cliMathData(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "math.jsonl")
	exs := synth.Generate(n, synth.Options{Kinds: []string{"add"}, Difficulty: 1, Seed: 3, Compact: true})
	if err := synth.WriteJSONL(path, exs); err != nil {
		t.Fatal(err)
	}
	return path
}

// cliRunYAML writes a small run config for phase over modelDir and data.
func cliRunYAML(t *testing.T, phase, modelDir, data string, steps int) string {
	t.Helper()
	y := `phase: ` + phase + `
model: ` + modelDir + `
seed: 5
device: cpu
threads: 2
data: {train: ` + data + `}
prompt: {suffix: ""}
optim: {lr: 1.0e-3, warmup_steps: 1}
train: {steps: ` + strconv.Itoa(steps) + `, batch_size: 3, micro_batch: 2, max_seq_len: 64, checkpoint_every: 0, log_every: 1}
rollout: {max_new_tokens: 8, temperature: 1.0, gen_batch: 4}
distill: {top_k: 8, teacher_sync_every: 2}
verify: {workers: 2}
`
	path := filepath.Join(t.TempDir(), phase+".yaml")
	if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

type runFunc func(args []string, stdout, stderr io.Writer) error

// call runs a command and returns its stdout, stderr and error.
func call(run runFunc, args ...string) (string, string, error) {
	var out, errb bytes.Buffer
	err := run(args, &out, &errb)
	return out.String(), errb.String(), err
}

// mustCall runs a command that must succeed.
func mustCall(t *testing.T, run runFunc, args ...string) string {
	t.Helper()
	out, errs, err := call(run, args...)
	if err != nil {
		t.Fatalf("%q: %v\nstderr:\n%s", args, err, errs)
	}
	return out
}

// readJSONL parses every line of path as a JSON object.
func readJSONL(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: line %q: %v", path, sc.Text(), err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOpenBackend checks the device names openBackend accepts and its
// errors.
func TestOpenBackend(t *testing.T) {
	for _, dev := range []string{"", "auto", "cpu"} {
		be, err := openBackend(dev, 1)
		if err != nil {
			t.Fatalf("device %q: %v", dev, err)
		}
		// auto takes a GPU only after its self-check (TestChooseBackend).
		if gpu, _ := cuda.Available(); dev == "cpu" || !gpu {
			if name := strings.ToLower(be.Name()); !strings.Contains(name, "cpu") {
				t.Errorf("device %q gave backend %q, want the CPU", dev, be.Name())
			}
		}
	}
	for _, dev := range []string{"tpu", "CPU", "cuda:0"} {
		_, err := openBackend(dev, 1)
		if err == nil || !strings.Contains(err.Error(), `unknown --device "`+dev+`"`) || !strings.Contains(err.Error(), "cpu, cuda or auto") {
			t.Errorf("device %q: error %v, want unknown --device naming it and the choices", dev, err)
		}
	}
	// Without a GPU, cuda must fail naming the flag; with one it opens.
	for _, dev := range []string{"cuda", "gpu"} {
		be, err := openBackend(dev, 1)
		if err != nil && !strings.HasPrefix(err.Error(), "--device "+dev+": ") {
			t.Errorf("device %q: error %q does not name --device %s", dev, err, dev)
		}
		if err == nil && be == nil {
			t.Errorf("device %q: nil backend without error", dev)
		}
	}
}

// TestDispatch checks the command table, the usage text and that every
// command answers -h with flag.ErrHelp and its own usage line.
func TestDispatch(t *testing.T) {
	cmds := commands()
	want := []string{"bench", "compare", "demo", "eval", "explain", "export", "generate", "inspect", "plot", "readiness", "score", "tokenize", "train", "verify", "version"}
	var got []string
	for n, c := range cmds {
		got = append(got, n)
		if c.run == nil || c.brief == "" {
			t.Errorf("command %q: run or brief missing", n)
		}
	}
	sort.Strings(got)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("commands %v, want %v", got, want)
	}
	var u bytes.Buffer
	usage(&u)
	last := -1
	for _, n := range want {
		i := strings.Index(u.String(), "  "+n+" ")
		if i < 0 || i < last {
			t.Errorf("usage lists %q missing or out of order:\n%s", n, u.String())
		}
		last = i
	}
	for _, n := range want {
		t.Run(n, func(t *testing.T) {
			_, errs, err := call(cmds[n].run, "-h")
			if !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("-h: error %v, want flag.ErrHelp", err)
			}
			if !strings.Contains(errs, "sdzero "+n) || !strings.Contains(errs, "-") {
				t.Errorf("-h usage does not name the command:\n%s", errs)
			}
		})
	}
}

// TestFlagErrors checks that bad invocations fail before doing any work,
// with messages naming the flag, value or path at fault.
func TestFlagErrors(t *testing.T) {
	tmp := t.TempDir()
	missing := filepath.Join(tmp, "no-such-file")
	tokDir := filepath.Join(tmp, "tok")
	if err := tinytok.WriteDir(tokDir); err != nil {
		t.Fatal(err)
	}
	data := cliMathData(t, 2)
	runDir := filepath.Join(tmp, "run")
	cases := []struct {
		name string
		run  runFunc
		args []string
		want []string
	}{
		{"tokenize/no-tokenizer", runTokenize, []string{"--text", "x"}, []string{"exactly one of --tokenizer FILE or --model DIR"}},
		{"tokenize/both", runTokenize, []string{"--tokenizer", tokDir, "--model", tokDir, "--text", "x"}, []string{"exactly one of"}},
		{"tokenize/missing-file", runTokenize, []string{"--tokenizer", missing, "--text", "x"}, []string{missing}},
		{"tokenize/missing-dir", runTokenize, []string{"--model", missing, "--text", "x"}, []string{missing}},
		{"tokenize/text-and-decode", runTokenize, []string{"--tokenizer", tokDir, "--text", "x", "--decode", "1"}, []string{"--text and --decode exclude each other"}},
		{"tokenize/bad-id", runTokenize, []string{"--tokenizer", tokDir, "--decode", "1,x"}, []string{`--decode: "x" is not a token id`}},
		{"tokenize/negative-id", runTokenize, []string{"--tokenizer", tokDir, "--decode", "-3"}, []string{`"-3" is not a token id`}},
		{"tokenize/extra-arg", runTokenize, []string{"--tokenizer", tokDir, "--text", "x", "extra"}, []string{"unexpected arguments", "extra"}},
		{"tokenize/chat-not-json", runTokenize, []string{"--model", tokDir, "--chat", "--text", "hello"}, []string{"--chat: input is not a JSON list of messages"}},
		{"tokenize/bad-thinking", runTokenize, []string{"--model", tokDir, "--chat", "--thinking", "maybe", "--text", `[{"role":"user","content":"hi"}]`}, []string{`--thinking "maybe"`}},
		{"tokenize/unknown-flag", runTokenize, []string{"--bogus"}, []string{"bogus"}},

		{"train/no-model", runTrain, nil, []string{"config: model: required"}},
		{"train/unknown-phase", runTrain, []string{"--phase", "warp", "--model", tokDir, "--out", runDir, "--data", data}, []string{`config: phase: "warp" is not one of`, "distill"}},
		{"train/no-out", runTrain, []string{"--model", tokDir, "--data", data}, []string{"config: out: required"}},
		{"train/no-data", runTrain, []string{"--phase", "sft", "--model", tokDir, "--out", runDir}, []string{"data.train", "required for phase sft"}},
		{"train/missing-config", runTrain, []string{"--config", missing}, []string{"load config", missing}},
		{"train/bad-set", runTrain, []string{"--set", "optim"}, []string{`--set "optim": want key=value`}},
		{"train/unknown-set-key", runTrain, []string{"--set", "optim.warp=1"}, []string{"--set optim.warp", "warp"}},
		{"train/bad-value", runTrain, []string{"--model", tokDir, "--out", runDir, "--data", data, "--set", "optim.lr=-1"}, []string{"optim.lr", "must be > 0"}},
		{"train/bad-device", runTrain, []string{"--model", tokDir, "--out", runDir, "--data", data, "--device", "tpu"}, []string{`unknown --device "tpu"`}},
		{"train/resume-with-config", runTrain, []string{"--resume", runDir, "--phase", "sft"}, []string{"--resume continues a run with its saved config"}},
		{"train/resume-missing", runTrain, []string{"--resume", missing}, []string{filepath.Join(missing, "config.yaml")}},
		{"train/extra-arg", runTrain, []string{"--model", tokDir, "stray"}, []string{"unexpected arguments", "stray"}},

		{"eval/no-model", runEval, []string{"--data", data}, []string{"--model and --data are required"}},
		{"eval/no-data", runEval, []string{"--model", tokDir}, []string{"--model and --data are required"}},
		{"eval/missing-data", runEval, []string{"--model", tokDir, "--data", missing}, []string{missing}},
		{"eval/missing-config", runEval, []string{"--model", tokDir, "--data", data, "--config", missing}, []string{missing}},
		{"eval/bad-device", runEval, []string{"--model", tokDir, "--data", data, "--device", "tpu"}, []string{`unknown --device "tpu"`}},
		{"eval/missing-model", runEval, []string{"--model", missing, "--data", data, "--device", "cpu"}, []string{missing}},

		{"plot/no-run", runPlot, nil, []string{"plot: missing RUN directory"}},
		{"plot/missing-run", runPlot, []string{missing}, []string{filepath.Join(missing, "metrics.jsonl")}},

		{"bench/no-kind", runBench, nil, []string{"want exactly one of train, decode, distill"}},
		{"bench/two-kinds", runBench, []string{"train", "decode"}, []string{"want exactly one of"}},
		{"bench/unknown-kind", runBench, []string{"warp", "--device", "cpu"}, []string{`unknown benchmark "warp"`}},
		{"bench/unknown-preset", runBench, []string{"train", "--preset", "huge"}, []string{`unknown preset "huge"`}},
		{"bench/bad-dims", runBench, []string{"train", "--heads", "3"}, []string{"bench: ", "num_attention_heads 3"}},
		{"bench/bad-device", runBench, []string{"train", "--device", "tpu"}, []string{`unknown --device "tpu"`}},

		{"demo/extra-arg", runDemo, []string{"stray"}, []string{`demo: unexpected argument "stray"`}},
		{"demo/save-base", runDemo, []string{"--save-base", filepath.Join(tmp, "b")}, []string{"--save-base needs --regen-base"}},
		{"demo/bad-seeds", runDemo, []string{"--seeds", "1,x"}, []string{`--seeds "1,x"`}},
		{"demo/bad-control", runDemo, []string{"--controls", "blind,nice"}, []string{`"nice" is not blind or wrong`}},
		{"demo/bad-device", runDemo, []string{"--device", "tpu", "--out", filepath.Join(tmp, "demo")}, []string{`unknown --device "tpu"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, err := call(tc.run, tc.args...)
			if err == nil {
				t.Fatalf("%q succeeded, want an error containing %q\nstdout:\n%s", tc.args, tc.want, out)
			}
			msg := err.Error()
			if errors.Is(err, flag.ErrHelp) {
				t.Fatalf("%q: got flag.ErrHelp", tc.args)
			}
			// Flag-package errors are printed to stderr; include it.
			msg += "\n" + errs
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q: error %q lacks %q", tc.args, err, w)
				}
			}
			if out != "" {
				t.Errorf("%q failed but wrote to stdout:\n%s", tc.args, out)
			}
		})
	}
	for _, p := range []string{runDir, filepath.Join(tmp, "demo"), filepath.Join(tmp, "b")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("a failed command created %s", p)
		}
	}
}

// TestTokenizeRoundTrip encodes texts with the demo tokenizer (byte-level,
// no merges: one id per byte) and decodes them back, through both
// --tokenizer FILE and --model DIR, JSON and plain output.
func TestTokenizeRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tok")
	if err := tinytok.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "tokenizer.json")
	texts := []string{"", "12+34=?", "a b\nc", "héllo wörld ∑", `\boxed{7}`, "<|im_end|> tail"}
	for _, src := range [][]string{{"--tokenizer", file}, {"--tokenizer", dir}, {"--model", dir}} {
		for _, text := range texts {
			t.Run(src[0]+"="+filepath.Base(src[1])+"/"+strconv.Quote(text), func(t *testing.T) {
				out := mustCall(t, runTokenize, append(src, "--json", "--text", text)...)
				var enc struct {
					IDs []int32 `json:"ids"`
				}
				if err := json.Unmarshal([]byte(out), &enc); err != nil {
					t.Fatalf("encode output %q: %v", out, err)
				}
				if enc.IDs == nil {
					t.Fatalf("encode output %q: no ids array", out)
				}
				// Special tokens in the text are matched as such.
				special := strings.Count(text, tinytok.ImEnd)
				wantLen := len(text) - special*(len(tinytok.ImEnd)-1)
				if len(enc.IDs) != wantLen {
					t.Errorf("%d ids for %q, want %d: %v", len(enc.IDs), text, wantLen, enc.IDs)
				}
				if special == 0 {
					for i := 0; i < len(text) && i < len(enc.IDs); i++ {
						if enc.IDs[i] != tinytok.ByteID(text[i]) {
							t.Fatalf("id %d = %d, want byte id %d of %q", i, enc.IDs[i], tinytok.ByteID(text[i]), text[i])
						}
					}
				}
				parts := make([]string, len(enc.IDs))
				for i, id := range enc.IDs {
					parts[i] = strconv.Itoa(int(id))
				}
				// Plain output is the same ids, space separated.
				plain := mustCall(t, runTokenize, append(src, "--text", text)...)
				if strings.TrimSuffix(plain, "\n") != strings.Join(parts, " ") {
					t.Errorf("plain output %q, want %q", plain, strings.Join(parts, " "))
				}
				out = mustCall(t, runTokenize, append(src, "--json", "--decode", "["+strings.Join(parts, ", ")+"]")...)
				var dec struct {
					Text *string `json:"text"`
				}
				if err := json.Unmarshal([]byte(out), &dec); err != nil || dec.Text == nil {
					t.Fatalf("decode output %q: %v", out, err)
				}
				if *dec.Text != text {
					t.Errorf("round trip %q -> %v -> %q", text, enc.IDs, *dec.Text)
				}
			})
		}
	}

	t.Run("skip-special", func(t *testing.T) {
		ids := []int32{tinytok.ImStartID, tinytok.ByteID('h'), tinytok.ByteID('i'), tinytok.ImEndID}
		arg := ""
		for i, id := range ids {
			if i > 0 {
				arg += ","
			}
			arg += strconv.Itoa(int(id))
		}
		if got := mustCall(t, runTokenize, "--model", dir, "--decode", arg); got != tinytok.ImStart+"hi"+tinytok.ImEnd+"\n" {
			t.Errorf("decode %s: %q", arg, got)
		}
		if got := mustCall(t, runTokenize, "--model", dir, "--decode", arg, "--skip-special"); got != "hi\n" {
			t.Errorf("decode --skip-special %s: %q, want \"hi\\n\"", arg, got)
		}
	})

	t.Run("chat", func(t *testing.T) {
		msgs := `[{"role":"user","content":"1+2=?"}]`
		out := mustCall(t, runTokenize, "--model", dir, "--chat", "--json", "--text", msgs)
		var res struct {
			IDs  []int32 `json:"ids"`
			Text string  `json:"text"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatal(err)
		}
		want := tinytok.ImStart + "user\n1+2=?" + tinytok.ImEnd + "\n" + tinytok.ImStart + "assistant\n"
		if res.Text != want {
			t.Errorf("rendered %q, want %q", res.Text, want)
		}
		if len(res.IDs) == 0 || res.IDs[0] != tinytok.ImStartID {
			t.Errorf("chat ids %v do not start with <|im_start|> (%d)", res.IDs, tinytok.ImStartID)
		}
		out = mustCall(t, runTokenize, "--model", dir, "--chat", "--json", "--generation-prompt=false", "--text", msgs)
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(res.Text, "assistant\n") {
			t.Errorf("--generation-prompt=false still appended it: %q", res.Text)
		}
	})
}

// TestTrainEvalPlot trains a tiny model for a few steps from a config file,
// resumes the finished run, evaluates the result and plots the metrics.
func TestTrainEvalPlot(t *testing.T) {
	mdl := cliModelDir(t, 1)
	data := cliMathData(t, 8)
	const steps = 3
	cfgPath := cliRunYAML(t, "sft", mdl, data, steps)
	run := filepath.Join(t.TempDir(), "run")

	// --print-config resolves flags over the file and writes nothing.
	out := mustCall(t, runTrain, "--config", cfgPath, "--out", run, "--set", "optim.lr=0.25", "--set", "train.steps=7", "--print-config")
	for _, w := range []string{"phase: sft", "lr: 0.25", "steps: 7", "out: " + run} {
		if !strings.Contains(out, w) {
			t.Errorf("--print-config lacks %q:\n%s", w, out)
		}
	}
	if _, err := os.Stat(run); err == nil {
		t.Fatal("--print-config created the run directory")
	}

	out = mustCall(t, runTrain, "--config", cfgPath, "--out", run, "--threads", "2")
	final := filepath.Join(run, "final")
	for _, w := range []string{"sft finished: 3 steps", "run: " + run, "model: " + final} {
		if !strings.Contains(out, w) {
			t.Errorf("train output lacks %q:\n%s", w, out)
		}
	}
	for _, f := range []string{"config.yaml", "metrics.jsonl", "final/model.safetensors", "final/config.json", "final/tokenizer.json", "final/tokenizer_config.json"} {
		if _, err := os.Stat(filepath.Join(run, f)); err != nil {
			t.Errorf("run file: %v", err)
		}
	}
	ms := readJSONL(t, filepath.Join(run, "metrics.jsonl"))
	if len(ms) != steps {
		t.Fatalf("%d metrics lines, want %d", len(ms), steps)
	}
	for i, m := range ms {
		if s, _ := m["step"].(float64); int(s) != i+1 {
			t.Errorf("metrics line %d: step %v", i, m["step"])
		}
		if l, ok := m["loss"].(float64); !ok || !(l > 0) || math.IsInf(l, 0) {
			t.Errorf("metrics line %d: loss %v, want a positive finite number", i, m["loss"])
		}
	}
	saved, err := os.ReadFile(filepath.Join(run, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(saved), "phase: sft") || !strings.Contains(string(saved), "steps: 3") {
		t.Errorf("saved config.yaml does not hold the run's settings:\n%s", saved)
	}
	weights, err := os.ReadFile(filepath.Join(final, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("rerun-refused", func(t *testing.T) {
		_, _, err := call(runTrain, "--config", cfgPath, "--out", run)
		if err == nil || !strings.Contains(err.Error(), "already exists") || !strings.Contains(err.Error(), "--resume") {
			t.Fatalf("second run into %s: %v, want 'already exists ... --resume'", run, err)
		}
	})

	t.Run("resume-finished", func(t *testing.T) {
		out := mustCall(t, runTrain, "--resume", run, "--threads", "2")
		if !strings.Contains(out, "sft finished: 3 steps") {
			t.Errorf("resume of a finished run: %q, want 'sft finished: 3 steps'", out)
		}
		if n := len(readJSONL(t, filepath.Join(run, "metrics.jsonl"))); n != steps {
			t.Errorf("resume changed metrics.jsonl: %d lines, want %d", n, steps)
		}
		after, err := os.ReadFile(filepath.Join(final, "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(after, weights) {
			t.Error("resume of a finished run changed the final weights")
		}
	})

	t.Run("eval", func(t *testing.T) {
		samples := filepath.Join(t.TempDir(), "samples.jsonl")
		const n, k = 3, 2
		common := []string{"--model", final, "--data", data, "--k", strconv.Itoa(k), "--limit", strconv.Itoa(n),
			"--max-new-tokens", "6", "--batch", "8", "--temperature", "1", "--seed", "9", "--device", "cpu", "--threads", "2"}
		out := mustCall(t, runEval, append(common, "--out", samples)...)
		for _, w := range []string{"problems 3, samples per problem 2", "avg@2 ", "pass@1 ", "pass@2 ", "samples: " + samples} {
			if !strings.Contains(out, w) {
				t.Errorf("eval output lacks %q:\n%s", w, out)
			}
		}
		if strings.Contains(out, "revision:") {
			t.Errorf("eval without --revise reported revisions:\n%s", out)
		}
		rows := readJSONL(t, samples)
		if len(rows) != n*k {
			t.Fatalf("%s: %d samples, want %d", samples, len(rows), n*k)
		}
		seen := map[[2]int]bool{}
		for i, r := range rows {
			p, _ := r["problem"].(float64)
			s, _ := r["sample"].(float64)
			seen[[2]int{int(p), int(s)}] = true
			if tok, _ := r["tokens"].(float64); tok < 1 || tok > 6 {
				t.Errorf("sample %d: tokens %v, want 1..6", i, r["tokens"])
			}
			if rw, ok := r["reward"].(float64); !ok || (rw != 0 && rw != 1) {
				t.Errorf("sample %d: reward %v, want 0 or 1", i, r["reward"])
			}
			if q, _ := r["question"].(string); !strings.HasSuffix(q, "=?") {
				t.Errorf("sample %d: question %q is not from %s", i, q, data)
			}
		}
		if len(seen) != n*k {
			t.Errorf("samples cover %d (problem, sample) pairs, want %d", len(seen), n*k)
		}
		// --json with the run's own prompt settings and --revise.
		out = mustCall(t, runEval, append(common, "--json", "--revise", "--config", filepath.Join(run, "config.yaml"))...)
		var rep struct {
			N            int                `json:"n"`
			K            int                `json:"k"`
			AvgAtK       float64            `json:"avg_at_k"`
			PassAtK      map[string]float64 `json:"pass_at_k"`
			MeanLen      float64            `json:"mean_len"`
			InitialWrong int                `json:"initial_wrong"`
			InitialRight int                `json:"initial_right"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("eval --json %q: %v", out, err)
		}
		if rep.N != n || rep.K != k || len(rep.PassAtK) == 0 || rep.MeanLen <= 0 || rep.MeanLen > 6 {
			t.Errorf("eval --json report %+v", rep)
		}
		if rep.AvgAtK < 0 || rep.AvgAtK > 1 || rep.PassAtK["2"] < rep.PassAtK["1"] {
			t.Errorf("eval --json: avg@k %g, pass@k %v out of range or not monotone", rep.AvgAtK, rep.PassAtK)
		}
		if rep.InitialWrong+rep.InitialRight != n*k {
			t.Errorf("eval --revise: %d wrong + %d right initial responses, want %d", rep.InitialWrong, rep.InitialRight, n*k)
		}
	})

	t.Run("plot", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "plots")
		// flags after the run directory must parse too
		out := mustCall(t, runPlot, run, "--out", dir)
		files := strings.Fields(out)
		if len(files) == 0 {
			t.Fatal("plot listed no files")
		}
		for _, f := range files {
			if filepath.Dir(f) != dir || filepath.Ext(f) != ".png" {
				t.Errorf("plot file %s: want a .png in %s", f, dir)
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
				t.Errorf("%s is not a PNG", f)
			}
		}
		// Two runs get one subdirectory each.
		multi := filepath.Join(t.TempDir(), "multi")
		out = mustCall(t, runPlot, "--out", multi, run, run)
		for _, f := range strings.Fields(out) {
			if filepath.Dir(f) != filepath.Join(multi, "run") {
				t.Errorf("multi-run plot file %s not under %s", f, filepath.Join(multi, "run"))
			}
		}
		// An empty metrics file is an error naming it.
		empty := t.TempDir()
		if err := os.WriteFile(filepath.Join(empty, "metrics.jsonl"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := call(runPlot, empty); err == nil || !strings.Contains(err.Error(), filepath.Join(empty, "metrics.jsonl")) {
			t.Errorf("plot of an empty run: %v, want an error naming metrics.jsonl", err)
		}
	})
}

// TestTrainDistill runs the SD-Zero distillation phase (rollouts, teacher
// with the revision prompt) for two steps through the CLI.
func TestTrainDistill(t *testing.T) {
	mdl := cliModelDir(t, 2)
	data := cliMathData(t, 6)
	run := filepath.Join(t.TempDir(), "run")
	out := mustCall(t, runTrain, "--config", cliRunYAML(t, "distill", mdl, data, 2), "--out", run)
	if !strings.Contains(out, "distill finished: 2 steps, 6 samples generated") {
		t.Errorf("distill output: %q, want 2 steps and 6 samples (batch 3)", out)
	}
	ms := readJSONL(t, filepath.Join(run, "metrics.jsonl"))
	if len(ms) != 2 {
		t.Fatalf("%d metrics lines, want 2", len(ms))
	}
	for _, k := range []string{"loss", "kl", "reward_mean", "response_len"} {
		if _, ok := ms[1][k]; !ok {
			t.Errorf("distill metrics lack %q: %v", k, ms[1])
		}
	}
}

// TestBench runs one step of each benchmark on small shapes.
func TestBench(t *testing.T) {
	cases := []struct {
		kind string
		args []string
	}{
		{"train", []string{"--batch", "2", "--seq", "16"}},
		{"decode", []string{"--batch", "2", "--prompt", "4", "--new", "4"}},
		{"distill", []string{"--batch", "2", "--seq", "8", "--topk", "8"}},
	}
	small := []string{"--preset", "tiny", "--layers", "1", "--hidden", "64", "--intermediate", "128", "--steps", "1", "--warmup", "0", "--device", "cpu", "--threads", "2"}
	for _, tc := range cases {
		t.Run(tc.kind, func(t *testing.T) {
			out := mustCall(t, runBench, append(append([]string{tc.kind}, small...), tc.args...)...)
			for _, w := range []string{"model: ", tc.kind + " on ", "tokens/s", "ms/step", "FLOPs/token"} {
				if !strings.Contains(out, w) {
					t.Errorf("bench %s output lacks %q:\n%s", tc.kind, w, out)
				}
			}
			out = mustCall(t, runBench, append(append([]string{tc.kind, "--json"}, small...), tc.args...)...)
			var r struct {
				Kind         string  `json:"kind"`
				Steps        int     `json:"steps"`
				Batch        int     `json:"batch"`
				TokensPerSec float64 `json:"tokens_per_sec"`
				Params       int64   `json:"params"`
			}
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("bench --json %q: %v", out, err)
			}
			if r.Kind != tc.kind || r.Steps != 1 || r.Batch != 2 || !(r.TokensPerSec > 0) || r.Params <= 0 {
				t.Errorf("bench %s --json: %+v", tc.kind, r)
			}
		})
	}
	t.Run("preset-tiny", func(t *testing.T) {
		// The documented smoke command, with the default tiny preset.
		out := mustCall(t, runBench, "train", "--preset", "tiny", "--steps", "1", "--warmup", "0", "--batch", "1", "--seq", "32", "--device", "cpu", "--threads", "2")
		if !strings.Contains(out, "model: ") || !strings.Contains(out, "train on ") || !strings.Contains(out, "tokens/s") {
			t.Errorf("bench train --preset tiny output:\n%s", out)
		}
	})
}

// TestDemoCLI checks --print-config and runs the demo end to end on the
// shipped base model with a shrunken evaluation (--base-only).
func TestDemoCLI(t *testing.T) {
	out := mustCall(t, runDemo, "--print-config")
	if out != string(demo.DefaultYAML) {
		t.Errorf("--print-config printed %d bytes, want the embedded demo.yaml (%d bytes)", len(out), len(demo.DefaultYAML))
	}
	if !demo.HasShippedBase() {
		t.Skip("no shipped base model in demo/base")
	}
	raw := string(demo.DefaultYAML)
	i := strings.Index(raw, "\nquick:")
	if i < 0 {
		t.Fatal("demo.yaml has no quick section")
	}
	cfg := filepath.Join(t.TempDir(), "demo.yaml")
	raw = raw[:i] + "\nquick:\n  task: {eval: 4}\n  eval: {k: 1, max_new_tokens: 24, batch: 8}\n"
	if err := os.WriteFile(cfg, []byte(raw), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "demo-out")
	out = mustCall(t, runDemo, "--quick", "--base-only", "--config", cfg, "--out", dir, "--device", "cpu", "--threads", "2")
	for _, w := range []string{"base model: ", "shipped", filepath.Join(dir, "summary.json"), demo.MethodBase} {
		if !strings.Contains(out, w) {
			t.Errorf("demo output lacks %q:\n%s", w, out)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sum demo.Summary
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	if len(sum.Runs) != 1 || len(sum.Runs[0].Methods) != 1 || sum.Runs[0].Methods[0].Method != demo.MethodBase {
		t.Errorf("summary runs %+v, want the base model only", sum.Runs)
	}
	if rows := readJSONL(t, filepath.Join(dir, "eval-base.jsonl")); len(rows) != 4 {
		t.Errorf("eval-base.jsonl: %d samples, want 4 (4 problems, k=1)", len(rows))
	}
}
