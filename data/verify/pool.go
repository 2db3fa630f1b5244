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

// Job is one verification. It must honour ctx: the pool cancels it at the
// job's deadline (Code does: it kills its sandbox and returns).
type Job func(ctx context.Context) Result

// Pool runs verification jobs with bounded parallelism. A job that panics
// or outlives JobTimeout yields reward 0 with a reason; the batch always
// completes within JobTimeout (plus scheduling) of its last job's start. A
// Pool may be used by several goroutines at once.
type Pool struct {
	sem chan struct{}
	// JobTimeout is the hard deadline of one job (default
	// DefaultJobTimeout). At the deadline the job's context is cancelled
	// and Run reports it as timed out without waiting for it; its
	// goroutine keeps its worker slot until it really returns, so a stuck
	// job cannot make the pool exceed its worker count.
	JobTimeout time.Duration
}

// NewPool returns a pool with the given number of workers (<= 0 means
// runtime.NumCPU()). For code rewards, size workers with FitCodeWorkers so
// that they fit in memory.
func NewPool(workers int) *Pool {
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	return &Pool{sem: make(chan struct{}, workers), JobTimeout: DefaultJobTimeout}
}

// Sandbox reports the code sandbox mode of this machine (ProbeSandbox,
// probed once per process on first use).
func (p *Pool) Sandbox() SandboxInfo { return ProbeSandbox() }

// Workers returns the maximum number of jobs run at once.
func (p *Pool) Workers() int { return cap(p.sem) }

// Run executes jobs and returns their results in order. Jobs not started
// when ctx is cancelled get reward 0 with reason "cancelled".
func (p *Pool) Run(ctx context.Context, jobs []Job) []Result {
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
			break
		}
		go p.runOne(ctx, i, jobs[i], timeout, results, done)
	}
	for range jobs {
		<-done
	}
	return results
}

// runOne runs job i, writing its result before signalling done exactly once.
func (p *Pool) runOne(ctx context.Context, i int, job Job, timeout time.Duration, results []Result, done chan<- int) {
	jctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
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
		ch <- job(jctx)
	}()
	select {
	case r := <-ch:
		results[i] = r
	case <-jctx.Done():
		// Prefer a result that raced with the deadline.
		select {
		case r := <-ch:
			results[i] = r
		default:
			if ctx.Err() != nil {
				results[i] = Result{Reason: "cancelled: " + ctx.Err().Error()}
			} else {
				results[i] = Result{Reason: fmt.Sprintf("verifier timed out after %v", timeout)}
			}
		}
	}
	done <- i
}
