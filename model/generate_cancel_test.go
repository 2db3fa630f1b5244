package model

import (
	"context"
	"errors"
	"testing"
)

// TestGenerateContextStops cancels the context from inside the sampling
// stream at decode step 3: Generate must end before the next step with an
// error wrapping context.Canceled, static and continuous alike, and a
// context that is never cancelled changes nothing.
func TestGenerateContextStops(t *testing.T) {
	be := testBackend()
	m, err := New(tinyConfig("qwen3"), be, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	randomize(t, m, 4)
	prompts := [][]int32{{1, 2, 3}, {4, 5}, {6}}
	for _, slots := range []int{0, 2} {
		base := GenerateOptions{MaxNewTokens: 40, Temperature: 1, Seed: 9, Slots: slots}
		want, err := m.Generate(prompts, base)
		if err != nil {
			t.Fatal(err)
		}
		opt := base
		opt.Context = context.Background()
		got, err := m.Generate(prompts, opt)
		if err != nil {
			t.Fatalf("slots %d, live context: %v", slots, err)
		}
		for r := range want {
			if len(got[r]) != len(want[r]) {
				t.Fatalf("slots %d row %d: %d tokens with a context, %d without", slots, r, len(got[r]), len(want[r]))
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		maxStep := 0
		opt.Context = ctx
		opt.Uniform = func(r, i int) float32 {
			maxStep = max(maxStep, i)
			if i == 3 {
				cancel()
			}
			return 0.5
		}
		_, err = m.Generate(prompts, opt)
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("slots %d: cancelled generation returned %v, want context.Canceled", slots, err)
		}
		if maxStep > 3 {
			t.Errorf("slots %d: sampled token %d after the context was cancelled at token 3", slots, maxStep)
		}
	}
}
