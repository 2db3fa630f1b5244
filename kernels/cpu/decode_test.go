package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"sdzero/kernels"
)

// TestDecodeRowInvariance checks what continuous batching relies on: a
// row's decode product is bit for bit the same whatever the other rows,
// their number and the worker count, for F32 and (where the CPU has
// AVX512_BF16) BF16 operands; and BF16 results against a float64
// reference of the same bf16 values.
func TestDecodeRowInvariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, dt := range []kernels.DType{kernels.F32, kernels.BF16} {
		for _, s := range []struct{ n, k int }{{7, 16}, {33, 31}, {130, 100}, {64, 257}} {
			t.Run(fmt.Sprint(dt, "/n=", s.n, ",k=", s.k), func(t *testing.T) {
				const m = 13
				xs, ws := make([]float32, m*s.k), make([]float32, s.n*s.k)
				for i := range xs {
					xs[i] = float32(rng.NormFloat64())
				}
				for i := range ws {
					ws[i] = float32(rng.NormFloat64())
				}
				var ref []float32
				for _, threads := range []int{1, 2, 3} {
					be := NewBF16(threads)
					if dt == kernels.BF16 && !be.Supports(kernels.BF16) {
						t.Skip("no bf16 unit")
					}
					up := func(v []float32) kernels.Tensor {
						d, err := be.Alloc(dt, len(v))
						if err != nil {
							t.Fatal(err)
						}
						if dt == kernels.BF16 {
							f, _ := be.Alloc(kernels.F32, len(v))
							be.Upload(f, v)
							be.Convert(d, f)
						} else {
							be.Upload(d, v)
						}
						return d
					}
					x, w := up(xs), up(ws)
					c, _ := be.Alloc(kernels.F32, m*s.n)
					be.MatMul(c, x, w, m, s.n, s.k, false, true, 1, 0)
					all := make([]float32, m*s.n)
					be.Download(all, c)
					// Each row alone, from a view.
					for r := range m {
						one, _ := be.Alloc(kernels.F32, s.n)
						be.MatMul(one, x.View(r*s.k, s.k), w, 1, s.n, s.k, false, true, 1, 0)
						got := make([]float32, s.n)
						be.Download(got, one)
						for j, v := range got {
							if math.Float32bits(v) != math.Float32bits(all[r*s.n+j]) {
								t.Fatalf("threads %d row %d col %d: alone %v, in the batch %v", threads, r, j, v, all[r*s.n+j])
							}
						}
					}
					if ref == nil {
						ref = all
					}
					for i := range all {
						if math.Float32bits(all[i]) != math.Float32bits(ref[i]) {
							t.Fatalf("threads %d: element %d = %v, with 1 thread %v", threads, i, all[i], ref[i])
						}
					}
					if err := be.Sync(); err != nil {
						t.Fatal(err)
					}
				}
				if dt != kernels.BF16 {
					return
				}
				round := func(v float32) float64 { return float64(kernels.BF16ToF32(kernels.F32ToBF16(v))) }
				for i := range m {
					for j := range s.n {
						var want, mag float64
						for p := range s.k {
							pr := round(xs[i*s.k+p]) * round(ws[j*s.k+p])
							want += pr
							mag += math.Abs(pr)
						}
						if d := math.Abs(float64(ref[i*s.n+j]) - want); d > 1e-5*mag+1e-6 {
							t.Fatalf("bf16 C[%d,%d] = %v, want %v (|products| %v)", i, j, ref[i*s.n+j], want, mag)
						}
					}
				}
			})
		}
	}
}

// TestAttentionDecodeBF16Cache checks AttentionDecode over BF16 caches
// (read in place) against the F32 path over the same values widened, with
// GQA, rows of different lengths (one empty) and a sliding window, for a
// head size of whole vectors (the assembly loops) and one with a tail.
func TestAttentionDecodeBF16Cache(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	b, tmax, hq, hkv := 3, 20, 4, 2
	for _, c := range []struct{ window, d int }{{0, 40}, {5, 40}, {0, 64}, {7, 128}} {
		window, d := c.window, c.d
		be := NewBF16(2)
		nc := b * tmax * hkv * d
		kh, vh := make([]uint16, nc), make([]uint16, nc)
		kf, vf := make([]float32, nc), make([]float32, nc)
		for i := range kh {
			kh[i], vh[i] = kernels.F32ToBF16(float32(rng.NormFloat64())), kernels.F32ToBF16(float32(rng.NormFloat64()))
			kf[i], vf[i] = kernels.BF16ToF32(kh[i]), kernels.BF16ToF32(vh[i])
		}
		qv := make([]float32, b*hq*d)
		for i := range qv {
			qv[i] = float32(rng.NormFloat64())
		}
		al := func(dt kernels.DType, n int) kernels.Tensor {
			x, err := be.Alloc(dt, n)
			if err != nil {
				t.Fatal(err)
			}
			return x
		}
		kb, vb, k32, v32 := al(kernels.BF16, nc), al(kernels.BF16, nc), al(kernels.F32, nc), al(kernels.F32, nc)
		be.Upload(k32, kf)
		be.Upload(v32, vf)
		be.Convert(kb, k32)
		be.Convert(vb, v32)
		q, lens := al(kernels.F32, len(qv)), al(kernels.I32, b)
		be.Upload(q, qv)
		be.UploadInt32(lens, []int32{17, 0, 20})
		o16, o32 := al(kernels.F32, len(qv)), al(kernels.F32, len(qv))
		be.AttentionDecode(o16, q, kb, vb, lens, b, tmax, hq, hkv, d, 0.2, window)
		be.AttentionDecode(o32, q, k32, v32, lens, b, tmax, hq, hkv, d, 0.2, window)
		g16, g32 := make([]float32, len(qv)), make([]float32, len(qv))
		be.Download(g16, o16)
		be.Download(g32, o32)
		if err := be.Sync(); err != nil {
			t.Fatal(err)
		}
		for i := range g16 {
			if math.Abs(float64(g16[i]-g32[i])) > 1e-5 {
				t.Fatalf("window %d: out[%d] = %v from the BF16 cache, %v from F32", window, i, g16[i], g32[i])
			}
		}
	}
}

// TestPoolRun checks that pool.run calls fn once for each index below
// min(k, n), whether the workers are polling (back-to-back jobs) or asleep
// (after a pause longer than poolSpin), also with GOMAXPROCS 1 (the
// polling loops must yield for the job to progress).
func TestPoolRun(t *testing.T) {
	for _, procs := range []int{0, 1} {
		if procs > 0 {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		}
		p := newPool(4)
		for job := range 60 {
			if job%20 == 19 {
				time.Sleep(2 * poolSpin)
			}
			k := 1 + job%6
			var hits [8]atomic.Int32
			p.run(k, func(w int) { hits[w].Add(1) })
			for w := range hits {
				want := int32(0)
				if w < min(k, 4) {
					want = 1
				}
				if got := hits[w].Load(); got != want {
					t.Fatalf("GOMAXPROCS %d, job %d, k %d: fn(%d) ran %d times, want %d", runtime.GOMAXPROCS(0), job, k, w, got, want)
				}
			}
		}
		p.st.stop()
	}
}

// TestPoolRunStress runs jobs whose parts take from nothing to longer than
// poolSpin, on more workers than processors, so that workers and the
// caller go to sleep and wake in every order (a lost or stale wake-up
// would hang or return before a part ran; the go test timeout catches a
// hang): every part runs exactly once per job, before run returns.
func TestPoolRunStress(t *testing.T) {
	for _, procs := range []int{1, 2} {
		func() {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			p := newPool(3)
			defer p.st.stop()
			rng := uint64(1)
			next := func() uint64 { rng = rng*6364136223846793005 + 1442695040888963407; return rng >> 33 }
			for job := range 1500 {
				var hits [3]atomic.Int32
				var delay [3]time.Duration
				for w := range delay {
					switch next() % 8 {
					case 0:
						delay[w] = time.Duration(next()%400) * time.Microsecond
					case 1:
						delay[w] = time.Duration(next()%20) * time.Microsecond
					}
				}
				k := 2 + int(next()%2)
				p.run(k, func(w int) {
					if d := delay[w]; d > 0 {
						time.Sleep(d)
					}
					hits[w].Add(1)
				})
				for w := range hits {
					want := int32(0)
					if w < k {
						want = 1
					}
					if got := hits[w].Load(); got != want {
						t.Fatalf("GOMAXPROCS %d, job %d, k %d: part %d ran %d times by the time run returned, want %d", procs, job, k, w, got, want)
					}
				}
				if job%300 == 299 {
					time.Sleep(2 * poolSpin) // everyone asleep
				}
			}
		}()
	}
}
