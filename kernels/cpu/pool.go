package cpu

import "sync"

// task is one unit handed to a worker: call fn(i), then wg.Done.
type task struct {
	fn func(int)
	i  int
	wg *sync.WaitGroup
}

// pool is a fixed set of worker goroutines. run is called by one goroutine
// at a time (the Backend's user), and never from inside a task.
type pool struct {
	n    int
	work chan task
}

func newPool(n int) *pool {
	p := &pool{n: n, work: make(chan task)}
	for i := 1; i < n; i++ {
		go worker(p.work)
	}
	return p
}

func worker(c chan task) {
	for t := range c {
		t.fn(t.i)
		t.wg.Done()
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
	var wg sync.WaitGroup
	wg.Add(k - 1)
	for i := 1; i < k; i++ {
		p.work <- task{fn: fn, i: i, wg: &wg}
	}
	fn(0)
	wg.Wait()
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
