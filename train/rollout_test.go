package train

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sdzero/data/verify"
	"sdzero/model"
)

func testPrompter(t *testing.T) *Prompter {
	t.Helper()
	p, err := NewPrompter("testdata/tok", DefaultConfig().Prompt, []int{258})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrompter(t *testing.T) {
	p := testPrompter(t)
	if !reflect.DeepEqual(p.Stop, []int32{258, 256}) || p.End != 258 {
		t.Errorf("stop ids %v end %d", p.Stop, p.End)
	}
	p.Cfg.Suffix = " Go."
	got, err := p.PromptIDs("1+1?")
	if err != nil {
		t.Fatal(err)
	}
	want := "<|im_start|>user\n1+1? Go.<|im_end|>\n<|im_start|>assistant\n"
	if s := p.Tok.Decode(got); s != want {
		t.Errorf("prompt %q want %q", s, want)
	}
	// The reviser input continues the assistant turn, by ids.
	y := append(p.Tok.Encode("x=2"), 258)
	rv := p.ReviserInput(got, y, false)
	wantRv := want + "x=2\n\n" + RevisionWrongPaperText + "\n\n"
	if s := p.Tok.Decode(rv); s != wantRv {
		t.Errorf("reviser input %q want %q", s, wantRv)
	}
	if p.ResponseText(y) != "x=2" {
		t.Errorf("response text %q", p.ResponseText(y))
	}
}

// TestRollout checks the eval-facing Rollout: N samples per prompt in
// order, stop flags, decoded text, rewards from the verifier, and
// reproducibility from the seed.
func TestRollout(t *testing.T) {
	be := testBackend()
	m, err := model.New(tinyConfig(), be, 9)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	p := testPrompter(t)
	probs := []*Problem{{ID: "a", Question: "1+2?", Answer: "3"}, {ID: "b", Question: "2+2?", Answer: "4"}}
	var prompts [][]int32
	for _, pr := range probs {
		ids, err := p.PromptIDs(pr.Question)
		if err != nil {
			t.Fatal(err)
		}
		prompts = append(prompts, ids)
	}
	v := NewVerifier(VerifyConfig{Workers: 2})
	v.override = func(pr *Problem, text string) verify.Result {
		return verify.Result{Reward: float64(len(text) % 2), Reason: pr.ID}
	}
	opt := RolloutOptions{N: 3, MaxNewTokens: 6, Temperature: 1, TopP: 1, GenBatch: 4, Seed: 5}
	s1, err := Rollout(context.Background(), m, p, v, probs, prompts, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(s1) != 6 {
		t.Fatalf("%d samples", len(s1))
	}
	for k, s := range s1 {
		if s.Index != k/3 || s.Verdict.Reason != probs[k/3].ID {
			t.Errorf("sample %d: index %d verified against %q", k, s.Index, s.Verdict.Reason)
		}
		if s.Text != p.ResponseText(s.Response) || s.Reward != float64(len(s.Text)%2) {
			t.Errorf("sample %d: text %q reward %g", k, s.Text, s.Reward)
		}
		stopped := len(s.Response) > 0 && isStop(s.Response[len(s.Response)-1], p.Stop)
		if s.Stopped != stopped || (!stopped && len(s.Response) != 6) {
			t.Errorf("sample %d: stopped %v, %d tokens", k, s.Stopped, len(s.Response))
		}
	}
	s2, err := Rollout(context.Background(), m, p, v, probs, prompts, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s1, s2) {
		t.Error("same seed gave different rollouts")
	}
}

// TestCodeProblems loads a code dataset and verifies responses with the
// real sandboxed verifier (skipped without python3).
func TestCodeProblems(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		if _, err2 := os.Stat("/usr/local/bin/python3"); err2 != nil {
			t.Skip("python3 not found in /usr/bin or /usr/local/bin")
		}
	}
	path := filepath.Join(t.TempDir(), "code.jsonl")
	os.WriteFile(path, []byte(`{"id":"c1","prompt":"Read n, print n*2.","tests":[{"input":"3\n","output":"6\n"}]}`+"\n"), 0o644)
	probs, _, err := LoadProblems(DataConfig{Train: path, Kind: "code"})
	if err != nil {
		t.Fatal(err)
	}
	if len(probs) != 1 || probs[0].Code == nil || probs[0].Question != "Read n, print n*2." {
		t.Fatalf("problems %+v", probs)
	}
	v := NewVerifier(VerifyConfig{Workers: 2, TestTimeoutS: 10, CompileTimeoutS: 30, MemoryMB: 1024})
	good := "```python\nn = int(input())\nprint(n * 2)\n```"
	bad := "```python\nprint(5)\n```"
	res := v.Verify(context.Background(), []*Problem{&probs[0], &probs[0]}, []string{good, bad})
	if res[0].Reward != 1 || res[1].Reward != 0 {
		t.Errorf("rewards %v / %v", res[0], res[1])
	}
	if strings.TrimSpace(res[1].Reason) == "" {
		t.Error("zero reward without a reason")
	}
}
