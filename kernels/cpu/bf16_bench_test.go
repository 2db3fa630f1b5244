package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"sdzero/kernels"
)

// BenchmarkMatMulBF16 reports GFLOP/s of BF16 products (F32 results) on
// each bf16 kernel this machine has, for BenchmarkMatMul's shapes.
func BenchmarkMatMulBF16(b *testing.B) {
	cases := []struct {
		name    string
		m, n, k int
		ta, tb  bool
	}{
		{"256x256x256", 256, 256, 256, false, false},
		{"1024x1024x1024", 1024, 1024, 1024, false, false},
		{"1024x1024x1024_NT", 1024, 1024, 1024, false, true},
		{"lmhead_fwd_256x50304x256_NT", 256, 50304, 256, false, true},
		{"lmhead_dx_256x256x50304_NN", 256, 256, 50304, false, false},
		{"lmhead_dW_50304x256x256_TN", 50304, 256, 256, true, false},
		{"mlp_256x1024x256_NT", 256, 1024, 256, false, true},
	}
	for _, kind := range bf16Kinds() {
		for _, c := range cases {
			b.Run(fmt.Sprintf("%s/%s", kind, c.name), func(b *testing.B) {
				be := New(0)
				be.enableBF16(kind)
				rng := rand.New(rand.NewPCG(1, 1))
				bf := func(n int) kernels.Tensor {
					t, err := be.Alloc(kernels.BF16, n)
					if err != nil {
						b.Fatal(err)
					}
					be.Upload(t, randSlice(rng, n))
					return t
				}
				x, y, z := bf(c.m*c.k), bf(c.k*c.n), benchTensor(b, be, c.m*c.n, rng)
				flops := 2 * float64(c.m) * float64(c.n) * float64(c.k)
				be.MatMul(z, x, y, c.m, c.n, c.k, c.ta, c.tb, 1, 0) // warm the scratch buffers
				c0 := cpuSeconds()
				for b.Loop() {
					be.MatMul(z, x, y, c.m, c.n, c.k, c.ta, c.tb, 1, 0)
				}
				report(b, flops, c0, "GFLOP/s")
			})
		}
	}
}

// BenchmarkMatMulBF16Train reports GFLOP/s of the three products of each
// linear layer of a train step (rows tokens; weight W [out,in]): forward
// y = x W^T, dx = dy W, dW += dy^T x (beta 1, as the model accumulates
// gradients), for Qwen3-0.6B's dimensions at 256 tokens (the LM head in
// the model's row chunks of 110) and the small model's head.
func BenchmarkMatMulBF16Train(b *testing.B) {
	shapes := []struct {
		name          string
		rows, out, in int
	}{
		{"q_256x2048x1024", 256, 2048, 1024},
		{"kv_256x1024x1024", 256, 1024, 1024},
		{"o_256x1024x2048", 256, 1024, 2048},
		{"up_256x3072x1024", 256, 3072, 1024},
		{"down_256x1024x3072", 256, 1024, 3072},
		{"head_110x151936x1024", 110, 151936, 1024},
		{"smallhead_256x50304x256", 256, 50304, 256},
		{"smallmlp_256x1024x256", 256, 1024, 256},
	}
	if len(bf16Kinds()) == 0 {
		b.Skip("no bf16 unit")
	}
	kind := bf16Kinds()[0] // the best kernel: the one NewBF16 picks
	for _, s := range shapes {
		for _, prod := range []string{"fwd", "dx", "dW"} {
			b.Run(s.name+"/"+prod, func(b *testing.B) {
				be := New(0)
				be.enableBF16(kind)
				rng := rand.New(rand.NewPCG(1, 1))
				bf := func(n int) kernels.Tensor {
					t, err := be.Alloc(kernels.BF16, n)
					if err != nil {
						b.Fatal(err)
					}
					be.Upload(t, randSlice(rng, n))
					return t
				}
				r, o, in := s.rows, s.out, s.in
				var run func()
				switch prod {
				case "fwd":
					x, w, y := bf(r*in), bf(o*in), benchTensor(b, be, r*o, rng)
					run = func() { be.MatMul(y, x, w, r, o, in, false, true, 1, 0) }
				case "dx":
					dy, w, dx := bf(r*o), bf(o*in), benchTensor(b, be, r*in, rng)
					run = func() { be.MatMul(dx, dy, w, r, in, o, false, false, 1, 0) }
				case "dW":
					dy, x, dw := bf(r*o), bf(r*in), benchTensor(b, be, o*in, rng)
					run = func() { be.MatMul(dw, dy, x, o, in, r, true, false, 1, 1) }
				}
				run() // warm the scratch buffers
				c0 := cpuSeconds()
				for b.Loop() {
					run()
				}
				report(b, 2*float64(r)*float64(o)*float64(in), c0, "GFLOP/s")
			})
		}
	}
}

// BenchmarkBF16TileKernel reports the single-thread rate of the bf16 tile
// kernel on mt packed A panels times nt packed B panels over a k block of
// ks steps, C accumulated: 2x16x16 is one unit of the blocked product as
// it calls the kernel (about 100 KiB of operands, from L2), 1x1x8 has
// all operands in L1.
func BenchmarkBF16TileKernel(b *testing.B) {
	for _, kind := range bf16Kinds() {
		for _, sh := range []struct{ mt, nt, ks int }{{2, 16, 16}, {1, 1, 8}, {2, 2, 4}, {1, 16, 16}, {4, 4, 16}} {
			b.Run(fmt.Sprintf("%s/%dx%dx%d", kind, sh.mt, sh.nt, sh.ks), func(b *testing.B) {
				mt, nt, ks := sh.mt, sh.nt, sh.ks
				rng := rand.New(rand.NewPCG(1, 2))
				a, y := randBF16(rng, mt*ks*1024), randBF16(rng, nt*ks*1024)
				c := make([]float32, mt*32*nt*32)
				tiles := tileKernel(kind)
				c0 := cpuSeconds()
				for b.Loop() {
					tiles(a, packedA(ks*1024), y, ks*1024, c, nt*32, ks, mt, nt, true)
				}
				report(b, 2*float64(mt*nt)*32*32*32*float64(ks), c0, "GFLOP/s")
			})
		}
	}
}
