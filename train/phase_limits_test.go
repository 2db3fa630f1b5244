package train

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestPhaseLengthLimits: each phase is checked only against the length
// limits it uses. With prompts that fit train.max_seq_len but not
// train.max_seq_len - rollout.max_new_tokens, sft (which generates
// nothing) keeps every demonstration, while distill (which must leave
// room for a response) drops every prompt and says why.
func TestPhaseLengthLimits(t *testing.T) {
	mdl := tinyModelDir(t, 3)
	data := tinyMathData(t, 6)
	cases := []struct {
		phase        string
		maxNewTokens int
		wantErr      string // "" = the run trains
	}{
		// 40 of the 48 tokens for a response leaves 8 for a prompt:
		// shorter than every rendered prompt of the tiny set.
		{PhaseSFT, 40, ""},
		// max_new_tokens >= max_seq_len is no error where nothing is
		// generated.
		{PhaseSFT, 48, ""},
		{PhaseSRTCollect, 40, "no usable problems"},
		{PhaseDistill, 40, "no usable problems"},
		{PhaseDistill, 48, "rollout.max_new_tokens"},
	}
	for _, tc := range cases {
		t.Run(tc.phase+"/"+itoa(tc.maxNewTokens), func(t *testing.T) {
			c := tinyRunConfig(t, tc.phase, mdl, data, filepath.Join(t.TempDir(), "run"))
			c.Train.Steps = 1
			c.Rollout.MaxNewTokens = tc.maxNewTokens
			var out strings.Builder
			res, err := Run(context.Background(), c, Options{Backend: testBackend(), Out: &out})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				if tc.wantErr == "no usable problems" && !strings.Contains(out.String(), "6 of 6 prompts longer than train.max_seq_len - rollout.max_new_tokens = 8 tokens: dropped") {
					t.Errorf("the drop is not reported with its reason; output:\n%s", out.String())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Dropped != nil {
				t.Errorf("dropped %v, want nothing", res.Dropped)
			}
			if strings.Contains(out.String(), "dropped") {
				t.Errorf("output reports a drop:\n%s", out.String())
			}
		})
	}
}

// TestSFTDropsReported: a demonstration longer than train.max_seq_len is
// what sft drops, counted by reason in Result.Dropped and named on the
// output; the others train.
func TestSFTDropsReported(t *testing.T) {
	mdl := tinyModelDir(t, 3)
	path := filepath.Join(t.TempDir(), "math.jsonl")
	rows := `{"question":"1+2?","answer":"3","solution":"1+2=3 \\boxed{3}"}
{"question":"2+2?","answer":"4","solution":"` + strings.Repeat("2+2 is 4. ", 20) + `\\boxed{4}"}
{"question":"2+3?","answer":"5","solution":"2+3=5 \\boxed{5}"}
{"question":"3+3?","answer":"6"}
`
	if err := os.WriteFile(path, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	c := tinyRunConfig(t, PhaseSFT, mdl, path, filepath.Join(t.TempDir(), "run"))
	c.Train.Steps = 1
	var out strings.Builder
	res, err := Run(context.Background(), c, Options{Backend: testBackend(), Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{DropDemoTooLong: 1, DropNoSolution: 1}
	if !reflect.DeepEqual(res.Dropped, want) {
		t.Errorf("dropped %v, want %v", res.Dropped, want)
	}
	for _, w := range []string{
		"data: 1 of 3 demonstrations (prompt + solution + end) longer than train.max_seq_len = 48 tokens: dropped",
		"data: 1 of 4 problems without a solution (sft trains on solutions): dropped",
	} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
}

// TestSRTLengthLimits: srt generates nothing, so rollout.max_new_tokens
// does not limit it; tuples longer than train.max_seq_len are dropped,
// counted and reported.
func TestSRTLengthLimits(t *testing.T) {
	mdl := tinyModelDir(t, 3)
	data := writeSRTData(t, 12) // tuples 10 and 11 are 3 tokens longer (two-digit ids)
	tus, err := ReadSRTTuples(data)
	if err != nil {
		t.Fatal(err)
	}
	short := len(tus[0].PromptIDs) + len(tus[0].InitIDs) + len(tus[0].DelimIDs) + len(tus[0].RevIDs) + 1
	c := tinyRunConfig(t, PhaseSRT, mdl, "", filepath.Join(t.TempDir(), "run"))
	c.SRT.Data = data
	c.Train.Steps = 1
	c.Train.MaxSeqLen = short
	c.Rollout.MaxNewTokens = short // would leave no room for a prompt, were anything generated
	var out strings.Builder
	res, err := Run(context.Background(), c, Options{Backend: testBackend(), Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{DropTupleTooLong: 2}; !reflect.DeepEqual(res.Dropped, want) {
		t.Errorf("dropped %v, want %v", res.Dropped, want)
	}
	if w := "data: 2 of 12 srt tuples"; !strings.Contains(out.String(), w) {
		t.Errorf("output lacks %q:\n%s", w, out.String())
	}
}
