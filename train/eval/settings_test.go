package eval

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"sdzero/data/dataset"
	"sdzero/data/verify"
)

// TestEvaluateCustomVerify: with Setup.Verify every response (first
// attempts, then revisions) goes through it one generation batch at a
// time (so that a stop loses at most the batch in flight), with its
// problem index, and its verdicts are the rewards; verify.Math is not
// used (the answers here would fail it).
func TestEvaluateCustomVerify(t *testing.T) {
	var exs []dataset.MathExample
	for p := 0; p < 3; p++ {
		exs = append(exs, dataset.MathExample{ID: fmt.Sprint("c", p), Question: fmt.Sprintf("Q%d", p), Answer: "not-a-number"})
	}
	var batches [][]int
	setup := Setup{Gen: &fakeGen{correct: map[int]int{0: 2, 1: 1, 2: 0}, seen: map[int]int{}},
		Prompt: func(q string) ([]int32, error) { return enc(q), nil }, Encode: enc, Decode: dec, StopIDs: []int32{stopID},
		Verify: func(_ context.Context, problems []int, texts []string) []verify.Result {
			batches = append(batches, append([]int(nil), problems...))
			out := make([]verify.Result, len(texts))
			for i, text := range texts {
				// a "test" that passes when the program prints problem+100
				if strings.Contains(text, fmt.Sprintf("{%d}", problems[i]+100)) {
					out[i] = verify.Result{Reward: 1, Reason: "all tests passed"}
				} else {
					out[i] = verify.Result{Reason: "test 1 failed"}
				}
			}
			return out
		}}
	rep, err := Evaluate(context.Background(), setup, exs, Options{K: 2, BatchSize: 4, Revise: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(batches), "[[0 0 1 1] [2 2] [0 0 1 1] [2 2]]"; got != want {
		t.Errorf("verify batches %s, want %s (attempts, then revisions, in batches of 4)", got, want)
	}
	if rep.AvgAtK != 3.0/6 || rep.InitialRight != 3 || rep.InitialWrong != 3 {
		t.Errorf("avg@k %v right %d wrong %d, want 0.5 3 3", rep.AvgAtK, rep.InitialRight, rep.InitialWrong)
	}

	short := setup
	short.Verify = func(context.Context, []int, []string) []verify.Result { return nil }
	if _, err := Evaluate(context.Background(), short, exs, Options{K: 1}); err == nil || !strings.Contains(err.Error(), "0 results for 3") {
		t.Errorf("verifier with too few results: %v", err)
	}
}

// TestSettingsHeader: the settings are the report's header and its JSON
// "settings" object.
func TestSettingsHeader(t *testing.T) {
	rep := &Report{N: 2, K: 4, PassAtK: map[int]float64{1: 0.5}, Settings: &Settings{
		Model: "run/final", Source: "sdzero.json in run/final", Overrides: []string{"--temperature=0"}, Data: "test.jsonl", DataKind: "math",
		Problems: 2, DataOptions: []string{"data.question_field=q"}, Suffix: " Answer:", Template: "run/final/tokenizer_config.json",
		TemplateSHA256: "0123456789abcdef", StopIDs: []int32{258}, K: 4, Temperature: 0, TopP: 1, MaxNewTokens: 16, Seed: 3,
		Warnings: []string{"template changed"}}}
	var b bytes.Buffer
	rep.Print(&b)
	out := b.String()
	for _, w := range []string{"model       run/final\n", "settings    sdzero.json in run/final; flags: --temperature=0\n",
		"data        test.jsonl (math, 2 problems; data.question_field=q)\n", `prompt      suffix " Answer:", system (none), template run/final/tokenizer_config.json (sha256 0123456789ab), stop ids [258]`,
		"sampling    n samples 4, temperature 0, top_p 1, max_new_tokens 16, seed 3\n", "warning     template changed\n", "problems 2, samples per problem 4\n"} {
		if !strings.Contains(out, w) {
			t.Errorf("report lacks %q:\n%s", w, out)
		}
	}
	if strings.Index(out, "problems 2,") < strings.Index(out, "sampling ") {
		t.Errorf("settings do not come first:\n%s", out)
	}
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Settings map[string]any `json:"settings"`
	}
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if back.Settings["suffix"] != " Answer:" || back.Settings["model"] != "run/final" || back.Settings["temperature"] != 0.0 || back.Settings["k"] != 4.0 {
		t.Errorf("JSON settings %v", back.Settings)
	}
}
