package verify

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sdzero/data/dataset"
)

func TestPoolOrderAndBound(t *testing.T) {
	p := NewPool(3)
	var running, peak atomic.Int32
	jobs := make([]func() Result, 20)
	for i := range jobs {
		jobs[i] = func() Result {
			n := running.Add(1)
			for {
				old := peak.Load()
				if n <= old || peak.CompareAndSwap(old, n) {
					break
				}
			}
			time.Sleep(time.Millisecond)
			running.Add(-1)
			return Result{Reward: float64(i % 2), Reason: fmt.Sprint(i)}
		}
	}
	res := p.Run(context.Background(), jobs)
	for i, r := range res {
		if r.Reason != fmt.Sprint(i) || r.Reward != float64(i%2) {
			t.Fatalf("result %d = %+v", i, r)
		}
	}
	if got := peak.Load(); got > 3 || got < 1 {
		t.Fatalf("peak concurrency %d, want 1..3", got)
	}
}

func TestPoolPanicTimeoutCancel(t *testing.T) {
	p := NewPool(2)
	p.JobTimeout = 50 * time.Millisecond
	release := make(chan struct{})
	defer close(release)
	res := p.Run(context.Background(), []func() Result{
		func() Result { panic("boom") },
		func() Result { <-release; return Result{Reward: 1} },
		func() Result { return Result{Reward: 1, Reason: "ok"} },
		nil,
	})
	want := []string{"verifier panicked: boom", "verifier timed out", "ok", "nil verification job"}
	for i, w := range want {
		if !strings.Contains(res[i].Reason, w) {
			t.Errorf("job %d: %+v, want reason ~%q", i, res[i], w)
		}
	}
	if res[0].Reward != 0 || res[1].Reward != 0 || res[2].Reward != 1 {
		t.Errorf("rewards %v %v %v", res[0].Reward, res[1].Reward, res[2].Reward)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res = NewPool(1).Run(ctx, []func() Result{
		func() Result { return Result{Reward: 1} },
		func() Result { return Result{Reward: 1} },
	})
	for i, r := range res {
		if r.Reward != 0 || !strings.Contains(r.Reason, "cancelled") {
			t.Errorf("cancelled job %d: %+v", i, r)
		}
	}
}

// TestPoolCodeBatch verifies a mixed batch of code and math rollouts.
func TestPoolCodeBatch(t *testing.T) {
	needPython(t)
	ex := dataset.CodeExample{ID: "inc", Tests: []dataset.CodeTest{{Input: "1\n", Output: "2"}}}
	opt := CodeOptions{TestTimeout: 10 * time.Second, TempDir: t.TempDir()}
	responses := []string{
		py("print(int(input())+1)"),
		py("print(int(input())+2)"),
		py("raise SystemExit(1)"),
		"no code",
	}
	var jobs []func() Result
	for _, r := range responses {
		jobs = append(jobs, func() Result { return Code(context.Background(), r, ex, opt) })
	}
	jobs = append(jobs, func() Result { return Math(`\boxed{\frac{1}{2}}`, "0.5") })
	res := NewPool(2).Run(context.Background(), jobs)
	want := []float64{1, 0, 0, 0, 1}
	for i := range want {
		if res[i].Reward != want[i] {
			t.Errorf("job %d: %+v, want reward %v", i, res[i], want[i])
		}
	}
	assertClean(t, opt.TempDir)
}

// BenchmarkCodeBatch times a batch of 8 Python stdin verifications on a
// pool with 2 workers (the CI machine's core count).
func BenchmarkCodeBatch(b *testing.B) {
	needPython(b)
	ex := dataset.CodeExample{ID: "inc", Tests: []dataset.CodeTest{{Input: "1\n", Output: "2"}}}
	opt := CodeOptions{TestTimeout: 10 * time.Second, TempDir: b.TempDir()}
	p := NewPool(2)
	jobs := make([]func() Result, 8)
	for i := range jobs {
		jobs[i] = func() Result { return Code(context.Background(), py("print(int(input())+1)"), ex, opt) }
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, r := range p.Run(context.Background(), jobs) {
			if r.Reward != 1 {
				b.Fatal(r.Reason)
			}
		}
	}
}

// BenchmarkMathBatch times 256 math verifications on a 2-worker pool.
func BenchmarkMathBatch(b *testing.B) {
	p := NewPool(2)
	jobs := make([]func() Result, 256)
	for i := range jobs {
		ans := equivCases[i%len(equivCases)]
		jobs[i] = func() Result { return Math(`so \boxed{`+ans.a+`}`, ans.b) }
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Run(context.Background(), jobs)
	}
}
