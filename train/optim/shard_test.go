package optim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"sdzero/kernels"
	"sdzero/kernels/cpu"
)

// hub joins the goroutine "ranks" of one in-process communicator: each
// collective posts every rank's host values, waits for all, and lets
// each rank read all of them (summed in rank order).
type hub struct {
	size  int
	mu    sync.Mutex
	cond  *sync.Cond
	gen   int
	count int
	slots [][]float64
}

func newHub(size int) *hub {
	h := &hub{size: size, slots: make([][]float64, size)}
	h.cond = sync.NewCond(&h.mu)
	return h
}

// wait is a reusable barrier.
func (h *hub) wait() {
	h.mu.Lock()
	g := h.gen
	h.count++
	if h.count == h.size {
		h.count = 0
		h.gen++
		h.cond.Broadcast()
	} else {
		for g == h.gen {
			h.cond.Wait()
		}
	}
	h.mu.Unlock()
}

// exchange posts v for rank and returns every rank's values.
func (h *hub) exchange(rank int, v []float64) [][]float64 {
	h.mu.Lock()
	h.slots[rank] = v
	h.mu.Unlock()
	h.wait()
	all := make([][]float64, h.size)
	h.mu.Lock()
	copy(all, h.slots)
	h.mu.Unlock()
	h.wait() // nobody posts the next collective before all have read
	return all
}

// loopComm is rank of a hub: a kernels.Comm for CPU tensors within one
// process, so that the sharded optimizer is tested without MPI.
type loopComm struct {
	h    *hub
	rank int
}

func (c loopComm) Rank() int { return c.rank }
func (c loopComm) Size() int { return c.h.size }

func host(t kernels.Tensor) []float32 {
	x, err := cpu.Float32s(t)
	if err != nil {
		panic(err)
	}
	return x
}

func widen(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

func (c loopComm) AllReduce(x kernels.Tensor) error {
	v := host(x)
	all := c.h.exchange(c.rank, widen(v))
	for i := range v {
		s := float32(0)
		for r := range all {
			s += float32(all[r][i])
		}
		v[i] = s
	}
	return nil
}

func (c loopComm) ReduceScatter(dst, src kernels.Tensor) error {
	n := dst.N
	all := c.h.exchange(c.rank, widen(host(src)))
	d := host(dst)
	for i := 0; i < n; i++ {
		s := float32(0)
		for r := range all {
			s += float32(all[r][c.rank*n+i])
		}
		d[i] = s
	}
	return nil
}

func (c loopComm) AllGather(dst, src kernels.Tensor) error {
	n := src.N
	all := c.h.exchange(c.rank, widen(host(src)))
	d := host(dst)
	for r := range all {
		for i := 0; i < n; i++ {
			d[r*n+i] = float32(all[r][i])
		}
	}
	return nil
}

func (c loopComm) Broadcast(x kernels.Tensor, root int) error {
	all := c.h.exchange(c.rank, widen(host(x)))
	v := host(x)
	for i := range v {
		v[i] = float32(all[root][i])
	}
	return nil
}

func (c loopComm) AllReduceHost(x []float64) error {
	all := c.h.exchange(c.rank, append([]float64(nil), x...))
	for i := range x {
		s := 0.0
		for r := range all {
			s += all[r][i]
		}
		x[i] = s
	}
	return nil
}

func (c loopComm) Barrier() error       { c.h.exchange(c.rank, nil); return nil }
func (c loopComm) Abort(code int) error { return fmt.Errorf("loopComm: abort %d", code) }
func (c loopComm) Close() error         { return nil }

// TestShardedAdamW: ranks that each hold 1/size of the AdamW state (ZeRO-1)
// and the shares of a gradient that sum to the whole reach, after three
// steps with clipping and weight decay, the weights of one unsharded
// optimizer (within float32 rounding: the gradient norm is summed shard by
// shard), on parameter counts that leave a tail (n not divisible by size);
// each rank's state is StateBytes = 8*(n/size + tail).
func TestShardedAdamW(t *testing.T) {
	for _, size := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d ranks", size), func(t *testing.T) {
			ref, be := tinyModel(t)
			defer ref.Free()
			n := ref.Params.N
			rng := rand.New(rand.NewPCG(1, uint64(size)))
			// Gradients of each step, split into size random parts.
			const steps = 3
			parts := make([][][]float32, steps)
			whole := make([][]float32, steps)
			for s := range parts {
				whole[s] = make([]float32, n)
				parts[s] = make([][]float32, size)
				for r := range parts[s] {
					parts[s][r] = make([]float32, n)
					for i := range parts[s][r] {
						// Small integers and halves: their float32 sums
						// are exact in any order.
						parts[s][r][i] = float32(rng.IntN(9)-4) / 2
						whole[s][i] += parts[s][r][i]
					}
				}
			}
			cfg := Config{LR: 1e-2, WeightDecay: 0.1}
			o, err := NewAdamW(ref, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer o.Free()
			for s := 0; s < steps; s++ {
				be.Upload(ref.Grads, whole[s])
				if _, err := o.Step(ref, 1e-2, 5); err != nil {
					t.Fatal(err)
				}
			}
			want := make([]float32, n)
			be.Download(want, ref.Params)

			h := newHub(size)
			got := make([][]float32, size)
			errs := make([]error, size)
			bytes := make([]int64, size)
			var wg sync.WaitGroup
			for r := 0; r < size; r++ {
				wg.Add(1)
				go func(r int) {
					defer wg.Done()
					m, rbe := tinyModel(t)
					defer m.Free()
					so, err := NewShardedAdamW(m, cfg, loopComm{h: h, rank: r})
					if err != nil {
						errs[r] = err
						return
					}
					defer so.Free()
					bytes[r] = so.StateBytes()
					for s := 0; s < steps; s++ {
						rbe.Upload(m.Grads, parts[s][r])
						if _, err := so.Step(m, 1e-2, 5); err != nil {
							errs[r] = err
							return
						}
					}
					got[r] = make([]float32, n)
					rbe.Download(got[r], m.Params)
				}(r)
			}
			wg.Wait()
			sh := n / size
			for r := 0; r < size; r++ {
				if errs[r] != nil {
					t.Fatalf("rank %d: %v", r, errs[r])
				}
				if w := 8 * int64(sh+n-size*sh); bytes[r] != w || bytes[r] != ShardedStateBytes(n, size) {
					t.Errorf("rank %d: optimizer state %d bytes, want %d (shard %d + tail %d of %d parameters)", r, bytes[r], w, sh, n-size*sh, n)
				}
				worst := 0.0
				for i := range want {
					worst = max(worst, math.Abs(float64(got[r][i]-want[i])))
				}
				if worst > 1e-6 {
					t.Errorf("rank %d: weights differ from the unsharded optimizer's by up to %g", r, worst)
				}
			}
			if n%size == 0 {
				t.Logf("%d parameters: no tail", n)
			}
		})
	}
}
