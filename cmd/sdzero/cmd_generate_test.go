package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sdzero/data/chat"
	"sdzero/data/tokenizer"
	"sdzero/kernels"
	"sdzero/kernels/cpu"
	"sdzero/model"
)

// chatModelDir saves a random tiny Qwen3 model with the ChatML test
// tokenizer (train/testdata/tok: its chat template ends turns with
// <|im_end|>).
func chatModelDir(t *testing.T) string {
	t.Helper()
	cfg := &model.Config{Arch: "qwen3", VocabSize: 259, Hidden: 32, Intermediate: 64, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 8,
		RMSNormEps: 1e-6, RopeTheta: 10000, TieEmbeddings: true, QKNorm: true, MaxPositions: 512, BOSTokenID: -1, EOSTokenIDs: []int{258}}
	m, err := model.New(cfg, cpu.New(1), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	dir := filepath.Join(t.TempDir(), "model")
	if err := m.Save(dir, model.SaveOptions{DType: kernels.F32}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join("../../train/testdata/tok", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestGenerateChat: --chat renders the system and user messages with the
// model's template and the generation prompt, so the output's prompt ids
// are exactly apply_chat_template's; the chat stops at the end-of-turn
// token; misuse of the chat flags is an error naming them.
func TestGenerateChat(t *testing.T) {
	dir := chatModelDir(t)
	tok, err := tokenizer.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n"
	tm, err := chat.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tm.Render([]chat.Message{{Role: "system", Content: "You are terse."}, {Role: "user", Content: "2+2?"}}, chat.Options{AddGenerationPrompt: true})
	if err != nil || got != want {
		t.Fatalf("template renders %q (%v), want %q", got, err, want)
	}
	wantIDs := tok.Encode(want)
	for _, tc := range []struct {
		name   string
		args   []string
		prompt string // the text the prompt ids must decode to
	}{
		{"system", []string{"--chat", "--system", "You are terse.", "--prompt", "2+2?"}, want},
		{"no system", []string{"--chat", "--prompt", "2+2?"}, "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n"},
		{"plain prompt", []string{"--prompt", "2+2?"}, "2+2?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append([]string{"--model", dir, "--device", "cpu", "--json", "--max-new-tokens", "4"}, tc.args...)
			if err := runGenerate(args, &out, &errb); err != nil {
				t.Fatalf("%v: %s", err, errb.String())
			}
			var res struct {
				IDs []int32 `json:"ids"`
			}
			if err := json.Unmarshal(out.Bytes(), &res); err != nil {
				t.Fatal(err)
			}
			p := tok.Encode(tc.prompt)
			if len(res.IDs) <= len(p) || tok.Decode(res.IDs[:len(p)]) != tc.prompt {
				t.Errorf("prompt ids decode to %q, want %q", tok.Decode(res.IDs[:min(len(p), len(res.IDs))]), tc.prompt)
			}
			if tc.name == "system" && !equal32(res.IDs[:len(wantIDs)], wantIDs) {
				t.Errorf("prompt ids %v, want %v", res.IDs[:len(wantIDs)], wantIDs)
			}
		})
	}
	// The chat's stop ids: <|im_end|> first.
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	fs.String("ids", "", "")
	fs.String("prompt", "", "")
	cf := addChatFlags(fs)
	if err := fs.Parse([]string{"--chat", "--prompt", "hi"}); err != nil {
		t.Fatal(err)
	}
	_, _, stops, err := cf.inputIDs(dir, "", "hi", fs)
	end, ok := tok.TokenID("<|im_end|>")
	if err != nil || !ok || len(stops) == 0 || stops[0] != end {
		t.Errorf("chat stops %v (%v), want <|im_end|> = %d first", stops, err, end)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--system", "x", "--prompt", "hi"}, "--system needs --chat"},
		{[]string{"--thinking", "false", "--prompt", "hi"}, "--thinking needs --chat"},
		{[]string{"--chat", "--ids", "1,2"}, "excludes --ids"},
		{[]string{"--chat", "--system", "x"}, "--chat needs --prompt"},
		{[]string{"--chat", "--prompt", "hi", "--thinking", "maybe"}, `--thinking "maybe"`},
		{[]string{"--chat", "--prompt", "hi", "--template", "nosuch"}, `"nosuch"`},
	} {
		var out, errb bytes.Buffer
		err := runGenerate(append([]string{"--model", dir, "--device", "cpu"}, tc.args...), &out, &errb)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}
