package cuda

import (
	"strings"
	"testing"

	"sdzero/kernels"
)

// checkRecord records a small chain of ops (kernels, a BF16 x F32 GEMM
// that needs scratch, sampling), replays it on changed inputs, and
// compares with running the ops directly; then checks what Record refuses.
func checkRecord(t *testing.T, be *Backend) {
	const m, n, k = 5, 7, 9
	alloc := func(d kernels.DType, cnt int) kernels.Tensor {
		x, err := be.Alloc(d, cnt)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { be.Free(x) })
		return x
	}
	a, w := alloc(kernels.F32, m*k), alloc(kernels.BF16, n*k)
	y, z := alloc(kernels.F32, m*n), alloc(kernels.F32, m*n)
	u, ids := alloc(kernels.F32, m), alloc(kernels.I32, m)
	wv := make([]float32, n*k)
	for i := range wv {
		wv[i] = float32(i%5) - 2
	}
	be.Upload(w, wv)
	be.Upload(u, []float32{0.1, 0.5, 0.9, 0.3, 0.7})
	ops := func() {
		be.MatMul(y, a, w, m, n, k, false, true, 1, 0) // mixed dtypes: scratch
		be.Scale(y, 0.5, m*n)
		be.Add(z, y, y, m*n)
		be.Sample(ids, z, u, m, n, 1, 0, 1)
	}
	input := func(s float32) {
		av := make([]float32, m*k)
		for i := range av {
			av[i] = s * float32((i*7)%11-5) / 5
		}
		be.Upload(a, av)
	}
	get := func() ([]float32, []int32) {
		zv, iv := make([]float32, m*n), make([]int32, m)
		be.Download(zv, z)
		be.DownloadInt32(iv, ids)
		if err := be.Sync(); err != nil {
			t.Fatal(err)
		}
		return zv, iv
	}
	before := be.MemoryStats()
	g, err := be.Record(ops)
	if err != nil {
		t.Fatal(err)
	}
	if err := be.Sync(); err != nil {
		t.Fatalf("Sync after Record: %v", err)
	}
	held := be.MemoryStats().InUseBytes - before.InUseBytes
	if held <= 0 {
		t.Errorf("the recorded GEMM's scratch is not held by the graph (in use %d -> %d bytes)", before.InUseBytes, be.MemoryStats().InUseBytes)
	}
	for _, s := range []float32{1, -2, 0.5} {
		input(s)
		ops()
		wz, wi := get()
		be.Fill(z, -1)
		be.Fill(y, -1)
		g.Replay()
		gz, gi := get()
		for i := range wz {
			if gz[i] != wz[i] {
				t.Fatalf("input scale %v: replayed z[%d] = %v, direct %v", s, i, gz[i], wz[i])
			}
		}
		for i := range wi {
			if gi[i] != wi[i] {
				t.Fatalf("input scale %v: replayed id[%d] = %d, direct %d", s, i, gi[i], wi[i])
			}
		}
	}
	g.Free()
	if after := be.MemoryStats().InUseBytes; after != before.InUseBytes {
		t.Errorf("after Graph.Free: %d bytes in use, want %d", after, before.InUseBytes)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Replay after Free did not panic")
			}
		}()
		g.Replay()
	}()

	// Host-side work inside Record is refused, and the backend recovers.
	for name, fn := range map[string]func(){
		"Upload":   func() { be.Upload(u, []float32{1}) },
		"Download": func() { be.Download(make([]float32, 1), u) },
		"Sync": func() {
			if err := be.Sync(); err == nil {
				t.Error("Sync inside Record succeeded")
			}
			be.Scale(y, 2, 1)
			be.Upload(u, []float32{1})
		},
		"Alloc": func() {
			if _, err := be.Alloc(kernels.F32, 3); err == nil {
				t.Error("Alloc inside Record succeeded")
			}
			be.Free(a)
		},
	} {
		g, err := be.Record(fn)
		if err == nil || !strings.Contains(err.Error(), "recording a graph") {
			t.Errorf("Record with %s inside: %v, want a recording error", name, err)
		}
		if g != nil {
			g.Free()
		}
		input(1)
		ops()
		if _, iv := get(); len(iv) != m {
			t.Fatalf("after the refused %s: backend unusable", name)
		}
	}
}

func TestEmulatedRecord(t *testing.T) { checkRecord(t, newEmulated(t)) }

// TestGPURecord is the same check with real CUDA graphs.
func TestGPURecord(t *testing.T) { checkRecord(t, gpuBackend(t, false)) }

// TestEmulatedEscapeHatches: with NoGraphs, Record fails and generation
// runs op by op with the same tokens; with NoTensorCoreAttention, BF16
// attention runs widened on the F32 kernels (F32 accuracy on the rounded
// inputs).
func TestEmulatedEscapeHatches(t *testing.T) {
	be := newEmulatedWith(t, Options{NoGraphs: true})
	if _, err := be.Record(func() {}); err == nil || !strings.Contains(err.Error(), "NoGraphs") {
		t.Errorf("Record with NoGraphs: %v", err)
	}
	checkGenerateGraphsOff(t, be)

	nt := newEmulatedWith(t, Options{NoTensorCoreAttention: true})
	if nt.tensorCoreAttn(128) {
		t.Fatal("tensor-core attention still on")
	}
	checkTensorCoreVsF32Tol(t, nt, 1, 70, 2, 1, 64, []int32{70}, 1e-5)
}
