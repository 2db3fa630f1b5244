package model

import (
	"fmt"
	"testing"
)

// TestGenerateContinuous checks that continuous batching (Slots) returns
// the static batch's tokens row for row, with sampling and greedy, on rows
// whose lengths vary widely (stop ids, prompts of 1..9 tokens, groups of
// identical prompts as GRPO has), and that its statistics account for
// every token: each row's first token comes from its prefill, every other
// from a decode step in which the row held a slot.
func TestGenerateContinuous(t *testing.T) {
	be := testBackend()
	prompts := make([][]int32, 0, 14)
	for i := range 7 {
		p := make([]int32, 1+(i*4)%9)
		for k := range p {
			p[k] = int32((i*13 + k*7) % 90)
		}
		prompts = append(prompts, p, p) // two samples per prompt
	}
	cases := []struct {
		arch  string
		temp  float32
		topK  int
		slots []int
	}{
		{"qwen3", 1, 0, []int{1, 3, 5}},
		{"qwen3", 0, 0, []int{4}},
		{"olmo3", 0.8, 20, []int{2, 6}},
		{"llama", 1, 0, []int{13}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.arch, "/temp=", tc.temp), func(t *testing.T) {
			m, err := New(tinyConfig(tc.arch), be, 3)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Free()
			randomize(t, m, 4)
			opt := GenerateOptions{MaxNewTokens: 24, Temperature: tc.temp, TopK: tc.topK, Seed: 7}
			static, err := m.Generate(prompts, opt)
			if err != nil {
				t.Fatal(err)
			}
			// Stop ids: the tokens rows emit early, so that lengths range
			// from one token to MaxNewTokens.
			stops := map[int32]bool{}
			for r := 0; r < len(static); r += 3 {
				stops[static[r][min(r, len(static[r])-1)]] = true
			}
			for id := range stops {
				opt.StopIDs = append(opt.StopIDs, id)
			}
			static, err = m.Generate(prompts, opt)
			if err != nil {
				t.Fatal(err)
			}
			short, long := opt.MaxNewTokens, 0
			for _, row := range static {
				short, long = min(short, len(row)), max(long, len(row))
			}
			if long-short < opt.MaxNewTokens/2 {
				t.Fatalf("row lengths %d..%d do not vary enough to test refills", short, long)
			}
			for _, slots := range tc.slots {
				var st GenerateStats
				o := opt
				o.Slots, o.Stats = slots, &st
				got, err := m.Generate(prompts, o)
				if err != nil {
					t.Fatal(err)
				}
				steps := 0
				for r := range prompts {
					if fmt.Sprint(got[r]) != fmt.Sprint(static[r]) {
						t.Errorf("slots %d: row %d = %v, static %v", slots, r, got[r], static[r])
					}
					steps += len(got[r]) - 1
				}
				if st.RowSteps != steps || st.Prefills != 1+len(prompts)-slots {
					t.Errorf("slots %d: %d row-steps and %d prefills, want %d and %d", slots, st.RowSteps, st.Prefills, steps, 1+len(prompts)-slots)
				}
			}
		})
	}
}
