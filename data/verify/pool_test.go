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
	jobs := make([]Job, 20)
	for i := range jobs {
		jobs[i] = func(context.Context) Result {
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
	res := p.Run(context.Background(), []Job{
		func(context.Context) Result { panic("boom") },
		func(context.Context) Result { <-release; return Result{Reward: 1} },
		func(context.Context) Result { return Result{Reward: 1, Reason: "ok"} },
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
	res = NewPool(1).Run(ctx, []Job{
		func(context.Context) Result { return Result{Reward: 1} },
		func(context.Context) Result { return Result{Reward: 1} },
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
	var jobs []Job
	for _, r := range responses {
		jobs = append(jobs, func(context.Context) Result { return Code(context.Background(), r, ex, opt) })
	}
	jobs = append(jobs, func(context.Context) Result { return Math(`\boxed{\frac{1}{2}}`, "0.5") })
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
	jobs := make([]Job, 8)
	for i := range jobs {
		jobs[i] = func(context.Context) Result { return Code(context.Background(), py("print(int(input())+1)"), ex, opt) }
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
	jobs := make([]Job, 256)
	for i := range jobs {
		ans := equivCases[i%len(equivCases)]
		jobs[i] = func(context.Context) Result { return Math(`so \boxed{`+ans.a+`}`, ans.b) }
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Run(context.Background(), jobs)
	}
}

// TestPoolHardDeadline: a code verification that would run far past the
// pool's deadline (its own limits are larger) comes back as reward 0 with a
// reason at the deadline, its sandbox is killed through the job's context,
// and a job that ignores its context still cannot hold up the batch.
func TestPoolHardDeadline(t *testing.T) {
	needPython(t)
	ex := dataset.CodeExample{ID: "slow", Tests: []dataset.CodeTest{{Output: "ok"}}}
	opt := CodeOptions{TestTimeout: 60 * time.Second, TempDir: t.TempDir()}
	p := NewPool(2)
	p.JobTimeout = 1500 * time.Millisecond
	returned := make(chan Result, 1)
	stuck := make(chan struct{})
	defer close(stuck)
	start := time.Now()
	res := p.Run(context.Background(), []Job{
		func(ctx context.Context) Result {
			r := Code(ctx, py("import time\ntime.sleep(60)\nprint('ok')"), ex, opt)
			returned <- r
			return r
		},
		func(context.Context) Result { <-stuck; return Result{Reward: 1} },
	})
	took := time.Since(start)
	for i, r := range res {
		if r.Reward != 0 || !strings.Contains(r.Reason, "verifier timed out after 1.5s") {
			t.Errorf("job %d: %+v, want a pool timeout", i, r)
		}
	}
	if took > 10*time.Second {
		t.Errorf("Run returned after %v with a 1.5s job deadline", took)
	}
	// The code job itself stops soon after its context is cancelled.
	select {
	case r := <-returned:
		if r.Reward != 0 {
			t.Errorf("cancelled code job: %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Code did not return after its context was cancelled")
	}
	assertClean(t, opt.TempDir)
	assertNoSandboxProcesses(t)
}
