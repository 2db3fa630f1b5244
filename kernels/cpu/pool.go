package cpu

import (
	"runtime"
	"sync/atomic"
	"time"
)

// task is the element type of pool.work, which carries no values: it is
// closed (by the Backend's cleanup, see newWithKernel) to end the workers.
type task struct{}

// poolSpin is how long a worker keeps polling for the next job after one
// ends, and the caller for its workers to finish, before sleeping. A
// decode step runs a few hundred ops of tens of microseconds back to back:
// a sleeping goroutine takes tens of microseconds to wake (the channel
// send only marks it runnable; another thread has to be woken to steal
// it), during which the caller had done most of the op alone. Polling
// costs a core for at most this long after the last op.
const poolSpin = 200 * time.Microsecond

// pool is a fixed set of worker goroutines. run is called by one goroutine
// at a time (the Backend's user), and never from inside a task.
type pool struct {
	n    int
	work chan task
	st   *poolState
}

// poolState is what the workers share with run (not the Backend, so that
// the Backend can be collected while they live).
type poolState struct {
	// gen counts jobs; a worker that has seen gen g runs job g+1 when gen
	// moves. fn and k are the job (written before gen moves).
	gen atomic.Uint64
	fn  func(int)
	k   int
	// pending counts the workers still running the job.
	pending atomic.Int64
	// sleeping[i] says worker i waits on wake[i]; callerSleeping that run
	// waits on done. Whoever clears a flag (Swap) owes the sleeper one
	// send (channels of capacity 1).
	sleeping       []atomic.Bool
	wake           []chan struct{}
	callerSleeping atomic.Bool
	done           chan struct{}
}

func newPool(n int) *pool {
	st := &poolState{sleeping: make([]atomic.Bool, n), wake: make([]chan struct{}, n), done: make(chan struct{}, 1)}
	p := &pool{n: n, work: make(chan task), st: st}
	for i := 1; i < n; i++ {
		st.wake[i] = make(chan struct{}, 1)
		go worker(st, i, p.work)
	}
	return p
}

// spinWait polls cond, yielding the processor between polls, for up to
// poolSpin; it reports whether cond became true.
func spinWait(cond func() bool) bool {
	var t0 time.Time
	for i := 0; ; i++ {
		if cond() {
			return true
		}
		if i&63 == 63 {
			if t0.IsZero() {
				t0 = time.Now()
			} else if time.Since(t0) > poolSpin {
				return false
			}
		}
		// Let other goroutines have this thread (with GOMAXPROCS 1 the
		// job's other half runs here).
		runtime.Gosched()
	}
}

// worker i runs its part of each job, polling for the next one for a
// while and then sleeping until run wakes it or quit is closed.
func worker(st *poolState, i int, quit chan task) {
	var seen uint64 // not gen.Load(): run may have started job 1 already
	for {
		fresh := func() bool { return st.gen.Load() != seen }
		if !spinWait(fresh) {
			st.sleeping[i].Store(true)
			if fresh() {
				if !st.sleeping[i].Swap(false) {
					<-st.wake[i] // run cleared the flag: take its send
				}
			} else {
				select {
				case <-st.wake[i]:
				case <-quit:
					return
				}
			}
		}
		seen++ // run waits for every worker, so jobs never skip one
		if i < st.k {
			st.fn(i)
		}
		if st.pending.Add(-1) == 0 && st.callerSleeping.Swap(false) {
			st.done <- struct{}{}
		}
	}
}

// run calls fn(0), ..., fn(k-1) concurrently (k is capped at the pool
// size); fn(0) runs on the calling goroutine.
func (p *pool) run(k int, fn func(w int)) {
	if k > p.n {
		k = p.n
	}
	if k <= 1 {
		fn(0)
		return
	}
	st := p.st
	st.fn, st.k = fn, k
	// Every worker takes part (those past k only count down), so that
	// each sees every job.
	st.pending.Store(int64(p.n - 1))
	st.gen.Add(1)
	for i := 1; i < p.n; i++ {
		if st.sleeping[i].Swap(false) {
			st.wake[i] <- struct{}{}
		}
	}
	fn(0)
	finished := func() bool { return st.pending.Load() == 0 }
	if !spinWait(finished) {
		st.callerSleeping.Store(true)
		if finished() {
			if !st.callerSleeping.Swap(false) {
				<-st.done // a worker cleared the flag: take its send
			}
		} else {
			<-st.done
		}
	}
	st.fn = nil
}

// chunks is the number of chunks parallelFor(n, grain, ...) uses.
func (be *Backend) chunks(n, grain int) int {
	if n <= 0 {
		return 0
	}
	if grain < 1 {
		grain = 1
	}
	k := (n + grain - 1) / grain
	return min(k, be.pool.n)
}

// parallelForW is parallelFor that also passes the chunk index w in
// [0, chunks(n, grain)), so that workers can own per-chunk partial results.
func (be *Backend) parallelForW(n, grain int, fn func(w, lo, hi int)) {
	k := be.chunks(n, grain)
	if k == 0 {
		return
	}
	if k == 1 {
		fn(0, 0, n)
		return
	}
	be.pool.run(k, func(w int) {
		lo, hi := w*n/k, (w+1)*n/k
		if lo < hi {
			fn(w, lo, hi)
		}
	})
}

// parallelFor splits [0,n) into at most one contiguous chunk per worker,
// each of at least grain items, and calls fn on each chunk concurrently.
func (be *Backend) parallelFor(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	k := (n + grain - 1) / grain
	if k > be.pool.n {
		k = be.pool.n
	}
	if k <= 1 {
		fn(0, n)
		return
	}
	be.pool.run(k, func(w int) {
		lo, hi := w*n/k, (w+1)*n/k
		if lo < hi {
			fn(lo, hi)
		}
	})
}

// workerBuf returns worker w's reusable float32 buffer of at least n
// elements (contents unspecified), so that row-wise ops do not allocate on
// every call. Only one op runs at a time, and within it each parallelForW
// chunk index has its own buffer.
func (be *Backend) workerBuf(w, n int) []float32 {
	if len(be.rowScratch) <= w {
		be.rowScratch = append(be.rowScratch, make([][]float32, w+1-len(be.rowScratch))...)
	}
	if len(be.rowScratch[w]) < n {
		be.rowScratch[w] = make([]float32, n)
	}
	return be.rowScratch[w][:n]
}
