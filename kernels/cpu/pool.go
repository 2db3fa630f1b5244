package cpu

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// poolSpin is how long a worker keeps polling for the next job after one
// ends, and the caller for its workers to finish, before sleeping. A
// decode step runs a few hundred ops of tens of microseconds back to back:
// a sleeping goroutine takes tens of microseconds to wake (the wake-up
// only marks it runnable; another thread has to be woken to steal it),
// during which the caller had done most of the op alone. Polling costs a
// core for at most this long after the last op.
const poolSpin = 200 * time.Microsecond

// pool is a fixed set of worker goroutines. run is called by one goroutine
// at a time (the Backend's user), and never from inside a task.
type pool struct {
	n  int
	st *poolState
}

// poolState is what the workers share with run (not the Backend, so that
// the Backend can be collected while they live).
//
// The protocol: run publishes job g (fn, k, pending = n-1) and then moves
// gen to g; each worker runs its part of every job exactly once and
// decrements pending; run returns when pending is 0. Sleeping is on
// condition variables whose conditions (gen moved, pending 0, quit) are
// re-checked under mu, so a wake-up can be neither lost nor taken for
// another job's: a worker late to signal the end of job g-1 at most wakes
// the caller of job g spuriously, which then looks at pending again.
// Because run waits for every worker before the next job, a worker sees
// gen move by exactly one each time.
type poolState struct {
	gen     atomic.Uint64
	pending atomic.Int64
	fn      func(int)
	k       int

	mu     sync.Mutex
	jobs   *sync.Cond // gen moved, or quit
	done   *sync.Cond // pending reached 0
	quit   bool
	asleep int // workers waiting on jobs, so that run skips Broadcast when none is
}

func newPool(n int) *pool {
	st := &poolState{}
	st.jobs = sync.NewCond(&st.mu)
	st.done = sync.NewCond(&st.mu)
	p := &pool{n: n, st: st}
	for i := 1; i < n; i++ {
		go worker(st, i)
	}
	return p
}

// stop ends the workers (the Backend's cleanup calls it).
func (st *poolState) stop() {
	st.mu.Lock()
	st.quit = true
	st.mu.Unlock()
	st.jobs.Broadcast()
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
// while and then sleeping until run publishes one or the pool stops.
func worker(st *poolState, i int) {
	var seen uint64 // not gen.Load(): run may have published job 1 already
	for {
		fresh := func() bool { return st.gen.Load() != seen }
		if !spinWait(fresh) {
			st.mu.Lock()
			for !fresh() && !st.quit {
				st.asleep++
				st.jobs.Wait()
				st.asleep--
			}
			quit := st.quit
			st.mu.Unlock()
			if quit {
				return
			}
		}
		seen = st.gen.Load()
		if i < st.k {
			st.fn(i)
		}
		if st.pending.Add(-1) == 0 {
			// Taking mu orders this after the caller's check of pending
			// (it either saw 0 or is already waiting on done).
			st.mu.Lock()
			st.mu.Unlock()
			st.done.Signal()
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
	st.mu.Lock()
	st.gen.Add(1)
	wake := st.asleep > 0
	st.mu.Unlock()
	if wake {
		st.jobs.Broadcast()
	}
	fn(0)
	finished := func() bool { return st.pending.Load() == 0 }
	if !spinWait(finished) {
		st.mu.Lock()
		for !finished() {
			st.done.Wait()
		}
		st.mu.Unlock()
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
