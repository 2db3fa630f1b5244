package verify

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"time"
)

// DefaultJobTimeout bounds one verification job in a Pool.
const DefaultJobTimeout = 5 * time.Minute

// Pool runs verification jobs with bounded parallelism. A job that panics
// or outlives JobTimeout yields reward 0 with a reason; the batch always
// completes. A Pool may be used by several goroutines at once.
type Pool struct {
	sem chan struct{}
	// JobTimeout is the longest Run waits for one job (default
	// DefaultJobTimeout). A job past it is reported as timed out; its
	// goroutine keeps its worker slot until it really returns, so a stuck
	// job cannot make the pool exceed its worker count. Code's own limits
	// make such jobs rare: this is the last line of defence.
	JobTimeout time.Duration
	info       SandboxInfo
}

// NewPool returns a pool with the given number of workers (<= 0 means
// runtime.NumCPU()). It probes the code sandbox once (see ProbeSandbox).
func NewPool(workers int) *Pool {
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	return &Pool{sem: make(chan struct{}, workers), JobTimeout: DefaultJobTimeout, info: ProbeSandbox()}
}

// Sandbox reports the code sandbox mode found when the pool was created.
func (p *Pool) Sandbox() SandboxInfo { return p.info }

// Workers returns the maximum number of jobs run at once.
func (p *Pool) Workers() int { return cap(p.sem) }

// Run executes jobs and returns their results in order. Jobs not started
// when ctx is cancelled get reward 0 with reason "cancelled".
func (p *Pool) Run(ctx context.Context, jobs []func() Result) []Result {
	results := make([]Result, len(jobs))
	done := make(chan int, len(jobs))
	timeout := p.JobTimeout
	if timeout <= 0 {
		timeout = DefaultJobTimeout
	}
	for i := range jobs {
		acquired := false
		if ctx.Err() == nil {
			select {
			case p.sem <- struct{}{}:
				acquired = ctx.Err() == nil
				if !acquired {
					<-p.sem
				}
			case <-ctx.Done():
			}
		}
		if !acquired {
			for j := i; j < len(jobs); j++ {
				results[j] = Result{Reason: "cancelled: " + ctx.Err().Error()}
				done <- j
			}
			goto wait
		}
		go p.runOne(ctx, i, jobs[i], timeout, results, done)
	}
wait:
	for range jobs {
		<-done
	}
	return results
}

// runOne runs job i, writing its result before signalling done exactly once.
func (p *Pool) runOne(ctx context.Context, i int, job func() Result, timeout time.Duration, results []Result, done chan<- int) {
	ch := make(chan Result, 1)
	go func() {
		defer func() { <-p.sem }()
		defer func() {
			if r := recover(); r != nil {
				ch <- Result{Reason: fmt.Sprintf("verifier panicked: %v\n%s", r, tail(string(debug.Stack()), 800))}
			}
		}()
		if job == nil {
			ch <- Result{Reason: "nil verification job"}
			return
		}
		ch <- job()
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case r := <-ch:
		results[i] = r
	case <-timer.C:
		results[i] = Result{Reason: fmt.Sprintf("verifier timed out after %v", timeout)}
	case <-ctx.Done():
		results[i] = Result{Reason: "cancelled: " + ctx.Err().Error()}
	}
	done <- i
}
