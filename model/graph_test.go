package model

import (
	"fmt"
	"testing"

	"sdzero/kernels"
)

// replayBackend is a Recorder on the CPU: Replay calls the recorded
// function again. It checks Generate's use of graphs (what is uploaded
// before a replay, when recording happens), not capture semantics (those
// are the CUDA backend's tests).
type replayBackend struct {
	kernels.Backend
	records, replays, frees int
}

func (r *replayBackend) Record(fn func()) (kernels.Graph, error) {
	r.records++
	return &replayGraph{r: r, fn: fn}, nil
}

type replayGraph struct {
	r  *replayBackend
	fn func()
}

func (g *replayGraph) Replay() { g.r.replays++; g.fn() }
func (g *replayGraph) Free()   { g.r.frees++; g.fn = nil }

// TestGenerateGraphs: generation through a Recorder gives the tokens of
// op-by-op decoding, records once, replays every later step, frees.
func TestGenerateGraphs(t *testing.T) {
	rb := &replayBackend{Backend: testBackend()}
	m, err := New(tinyConfig("qwen3"), rb, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	randomize(t, m, 6)
	prompts := [][]int32{{1, 2, 3}, {4}, {5, 6, 7, 8, 9}}
	for _, opt := range []GenerateOptions{
		{MaxNewTokens: 10, Temperature: 1, TopP: 0.9, TopK: 20, Seed: 42},
		{MaxNewTokens: 10},
		{MaxNewTokens: 1},
	} {
		rb.records, rb.replays, rb.frees = 0, 0, 0
		got, err := m.Generate(prompts, opt)
		if err != nil {
			t.Fatal(err)
		}
		opt.NoGraphs = true
		want, err := m.Generate(prompts, opt)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%+v: with graphs %v, op by op %v", opt, got, want)
		}
		wantRec, wantRep := 0, 0
		if opt.MaxNewTokens >= 2 {
			wantRec, wantRep = 1, opt.MaxNewTokens-2
		}
		if rb.records != wantRec || rb.replays != wantRep || rb.frees != wantRec {
			t.Errorf("%+v: %d records, %d replays, %d frees; want %d, %d, %d", opt, rb.records, rb.replays, rb.frees, wantRec, wantRep, wantRec)
		}
	}
}
