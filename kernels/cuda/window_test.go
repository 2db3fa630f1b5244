package cuda

import (
	"fmt"
	"testing"

	"sdzero/kernels"
	"sdzero/model"
	"sdzero/model/mptest"
)

// Sliding-window attention beyond the conformance suite's small cases:
// the tensor-core kernels against the CUDA-core ones at sizes of several
// blocks, and windowed Olmo-3 models (training step, decoding through
// graphs past the window) against the CPU backend.

// windowConfig is a small Olmo-3 configuration at head dim headDim: a
// sliding layer of window w, then a full one (two layers: the emulator is
// slow).
func windowConfig(headDim, w int) *model.Config {
	return &model.Config{Arch: "olmo3", VocabSize: 97, Hidden: 96, Intermediate: 128, Layers: 2, Heads: 4, KVHeads: 2,
		HeadDim: headDim, RMSNormEps: 1e-6, RopeTheta: 10000, MaxPositions: 256, BOSTokenID: -1,
		QKNorm: true, QKNormFull: true, PostNorm: true,
		LayerTypes:    []string{model.SlidingAttention, model.FullAttention},
		SlidingWindow: w, SlidingRope: &model.Rope{Theta: 500000}}
}

// TestEmulatedTensorCoreWindowVsF32: a window wider than a block's 64
// queries on a row of three blocks (the conformance suite covers narrower
// windows against its float64 reference; the emulator is slow).
func TestEmulatedTensorCoreWindowVsF32(t *testing.T) {
	checkTensorCoreVsF32Window(t, newEmulated(t), 1, 150, 2, 1, 64, []int32{150}, 0, 100)
}

// TestGPUTensorCoreWindowVsF32 is the same at real sizes: head dims 128
// and 64, GQA, ragged rows, windows from a quarter of the row to just
// under it.
func TestGPUTensorCoreWindowVsF32(t *testing.T) {
	be := gpuBackend(t, false)
	checkTensorCoreVsF32Window(t, be, 2, 2048, 16, 4, 128, []int32{2048, 1500}, 0, 512)
	checkTensorCoreVsF32Window(t, be, 3, 777, 12, 4, 64, []int32{777, 64, 700}, 0, 100)
	checkTensorCoreVsF32Window(t, be, 1, 1024, 8, 8, 128, []int32{1024}, 0, 1023)
}

// TestEmulatedModelWindow: a training step of the windowed model in mixed
// precision (tensor-core attention with windows, rows past the window and
// over one block) against the CPU F32 model.
func TestEmulatedModelWindow(t *testing.T) {
	tol := mptest.DefaultTolerances
	tol.Steps = 1
	mptest.CheckRandom(t, newEmulated(t), windowConfig(64, 24), 5, 1, 70, tol)
}

// TestGPUModelWindow is TestEmulatedModelWindow on a GPU at both
// tensor-core head dims and rows of several windows.
func TestGPUModelWindow(t *testing.T) {
	be := gpuBackend(t, false)
	for _, d := range []int{64, 128} {
		mptest.CheckRandom(t, be, windowConfig(d, 48), 5, 3, 300, mptest.DefaultTolerances)
	}
}

// TestEmulatedGenerateWindow: decoding a windowed model past its window
// through recorded graphs gives the tokens of op-by-op decoding (F32 and
// BF16) and, greedy in F32, of the CPU backend; in BF16 it agrees with the
// BF16 full forward.
func TestEmulatedGenerateWindow(t *testing.T) {
	be := newEmulated(t)
	prompts := [][]int32{{1, 2, 3}, {4}, {5, 6, 7, 8, 9, 10}}
	checkGenerateGraphs(t, be, windowConfig(64, 3), prompts, 6)
	mptest.CheckGenerate(t, be, windowConfig(64, 4), 3, prompts, 5)
}

// TestGPUGenerateWindow is the same on a GPU, with more steps.
func TestGPUGenerateWindow(t *testing.T) {
	be := gpuBackend(t, false)
	prompts := [][]int32{{1, 2, 3}, {4}, {5, 6, 7, 8, 9, 10}, {7, 7}}
	checkGenerateGraphs(t, be, windowConfig(128, 8), prompts, 40)
	mptest.CheckGenerate(t, be, windowConfig(128, 8), 3, prompts, 24)
}

// BenchmarkGPUAttentionWindow: BF16 attention (tensor cores) and BF16-cache
// decoding at T = 4096 with full rows against a window of 512, where the
// kernels skip the key tiles (cache rows) outside the window.
func BenchmarkGPUAttentionWindow(b *testing.B) {
	const bs, t, hq, hkv, d = 2, 4096, 16, 4, 128
	be := benchBackend(b, false)
	nq, nk := bs*t*hq*d, bs*t*hkv*d
	out, _ := be.Alloc(kernels.F32, nq)
	lse, _ := be.Alloc(kernels.F32, bs*hq*t)
	lens, _ := be.Alloc(kernels.I32, bs)
	be.UploadInt32(lens, []int32{t, t})
	dout := benchRand(be, b, kernels.F32, nq, 1)
	dq, _ := be.Alloc(kernels.F32, nq)
	dk, _ := be.Alloc(kernels.F32, nk)
	dv, _ := be.Alloc(kernels.F32, nk)
	q, k, v := benchRand(be, b, kernels.BF16, nq, 1), benchRand(be, b, kernels.BF16, nk, 1), benchRand(be, b, kernels.BF16, nk, 1)
	q1 := benchRand(be, b, kernels.F32, bs*hq*d, 1)
	o1, _ := be.Alloc(kernels.F32, bs*hq*d)
	for _, w := range []int{0, 512} {
		b.Run(fmt.Sprintf("window=%d/fwd", w), func(b *testing.B) {
			for range b.N {
				be.Attention(out, lse, q, k, v, lens, bs, t, hq, hkv, d, 0.088, w)
			}
			benchSync(b, be)
		})
		b.Run(fmt.Sprintf("window=%d/bwd", w), func(b *testing.B) {
			for range b.N {
				be.AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, lens, bs, t, hq, hkv, d, 0.088, w)
			}
			benchSync(b, be)
		})
		b.Run(fmt.Sprintf("window=%d/decode", w), func(b *testing.B) {
			for range b.N {
				be.AttentionDecode(o1, q1, k, v, lens, bs, t, hq, hkv, d, 0.088, w)
			}
			benchSync(b, be)
		})
	}
}
