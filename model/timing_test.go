package model

import "testing"

// TestTimingPhases checks that Generate files its ops under the phases
// of a TimingBackend: every decode step's Sample under "decode", the
// prefills' (one per prompt with continuous batching, the first batch's
// one) under "prefill", and that the phases add up to the totals.
func TestTimingPhases(t *testing.T) {
	for _, slots := range []int{0, 2} {
		tb := NewTimingBackend(testBackend(), false)
		m, err := New(tinyConfig("qwen3"), tb, 3)
		if err != nil {
			t.Fatal(err)
		}
		randomize(t, m, 4)
		tb.Reset()
		var st GenerateStats
		prompts := [][]int32{{1, 2, 3}, {4, 5}, {6}, {7, 8, 9, 10}}
		if _, err := m.Generate(prompts, GenerateOptions{MaxNewTokens: 5, Seed: 1, Slots: slots, Stats: &st}); err != nil {
			t.Fatal(err)
		}
		calls := func(stats []OpStat, op string) int {
			for _, s := range stats {
				if s.Op == op {
					return s.Calls
				}
			}
			return 0
		}
		dec, pre, all := tb.PhaseStats("decode"), tb.PhaseStats("prefill"), tb.Stats()
		if got := calls(dec, "Sample"); got != st.Steps {
			t.Errorf("slots %d: %d Sample calls in decode, want one per step (%d)", slots, got, st.Steps)
		}
		if got := calls(pre, "Sample"); got != st.Prefills {
			t.Errorf("slots %d: %d Sample calls in prefill, want one per prefill (%d)", slots, got, st.Prefills)
		}
		if calls(dec, "MatMul") == 0 || calls(pre, "MatMul") == 0 {
			t.Errorf("slots %d: no MatMul in a phase: decode %v, prefill %v", slots, dec, pre)
		}
		for _, s := range all {
			if d, p := calls(dec, s.Op), calls(pre, s.Op); d+p != s.Calls {
				t.Errorf("slots %d: %s: decode %d + prefill %d calls, total %d", slots, s.Op, d, p, s.Calls)
			}
		}
		if got := tb.SetPhase(""); got != "" {
			t.Errorf("slots %d: phase after Generate %q, want it restored to \"\"", slots, got)
		}
		m.Free()
	}
}
