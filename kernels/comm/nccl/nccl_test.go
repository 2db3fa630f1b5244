package nccl

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/ebitengine/purego"

	"sdzero/kernels"
	"sdzero/kernels/comm/internal/dynlib"
	"sdzero/kernels/cpu"
	"sdzero/kernels/cuda"
)

// hostDevice plays the CUDA backend for the fake library: "device"
// pointers are the CPU backend's host memory, and the stream is the value
// testdata/fakenccl.c insists on.
type hostDevice struct{ syncs int }

const fakeStream = 0x5151

func (d *hostDevice) DevicePointer(t kernels.Tensor) (uintptr, error) {
	v, err := cpu.Float32s(t)
	if err != nil {
		return 0, err
	}
	return uintptr(unsafe.Pointer(unsafe.SliceData(v))), nil
}
func (d *hostDevice) Stream() uintptr                 { return fakeStream }
func (d *hostDevice) InContext(fn func() error) error { return fn() }
func (d *hostDevice) Sync() error                     { d.syncs++; return nil }

// oneRank is a bootstrap of size ranks seen from rank 0, without MPI:
// failedRanks are reported as having failed to load NCCL.
type oneRank struct {
	size        int
	failedRanks []int
	broadcasts  [][]byte
	closed      bool
}

func (b *oneRank) Rank() int { return 0 }
func (b *oneRank) Size() int { return b.size }
func (b *oneRank) BroadcastBytes(p []byte, root int) error {
	b.broadcasts = append(b.broadcasts, append([]byte(nil), p...))
	return nil
}
func (b *oneRank) AllReduceHost(x []float64) error {
	for _, r := range b.failedRanks {
		x[r]++
	}
	return nil
}
func (b *oneRank) Barrier() error       { return nil }
func (b *oneRank) Abort(code int) error { return fmt.Errorf("abort %d", code) }
func (b *oneRank) Close() error         { b.closed = true; return nil }

// fakeLibrary builds testdata/fakenccl.c into a folder as libnccl.so.2.
func fakeLibrary(t *testing.T) string {
	t.Helper()
	cc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not on PATH: cannot build the fake libnccl.so.2 (Debian: apt-get install gcc)")
	}
	dir := t.TempDir()
	out, err := exec.Command(cc, "-shared", "-fPIC", "-O1", "-o", filepath.Join(dir, Soname), filepath.Join("testdata", "fakenccl.c")).CombinedOutput()
	if err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	return dir
}

// TestFakeLibrary runs every call through the real binding against a
// one-rank C stand-in with NCCL's signatures: the 128-byte id passed by
// value, size_t counts, dtype and op enums and the stream all arrive as
// NCCL expects, or the fake returns ncclInvalidArgument.
func TestFakeLibrary(t *testing.T) {
	dir := fakeLibrary(t)
	dev, boot := &hostDevice{}, &oneRank{size: 1}
	c, err := New(dev, boot, Options{LibDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Library(); !strings.HasPrefix(got, filepath.Join(dir, Soname)) || !strings.Contains(got, "NCCL 2.23.4") {
		t.Errorf("Library() = %q", got)
	}
	if len(boot.broadcasts) != 1 || len(boot.broadcasts[0]) != 1+uniqueIDBytes || boot.broadcasts[0][0] != 0 {
		t.Fatalf("the unique id was not broadcast as status byte + 128 bytes: %v", boot.broadcasts)
	}
	if got := boot.broadcasts[0][1:4]; got[0] != 3 || got[1] != 10 || got[2] != 17 {
		t.Errorf("broadcast id starts % x, want the fake's 03 0a 11", got)
	}

	b := cpu.New(1)
	alloc := func(vals ...float32) kernels.Tensor {
		x, err := b.Alloc(kernels.F32, len(vals))
		if err != nil {
			t.Fatal(err)
		}
		b.Upload(x, vals)
		return x
	}
	get := func(x kernels.Tensor) []float32 {
		v := make([]float32, x.N)
		b.Download(v, x)
		return v
	}
	same := func(what string, got, want []float32) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: got %v, want %v", what, got, want)
		}
	}

	x := alloc(1, 2, 3, 4)
	if err := c.AllReduce(x.View(1, 2)); err != nil {
		t.Fatal(err)
	}
	same("AllReduce", get(x), []float32{1, 2, 3, 4})
	full, shard := alloc(5, 6, 7), alloc(0, 0, 0)
	if err := c.ReduceScatter(shard, full); err != nil {
		t.Fatal(err)
	}
	same("ReduceScatter", get(shard), []float32{5, 6, 7})
	dst := alloc(0, 0, 0)
	if err := c.AllGather(dst, full); err != nil {
		t.Fatal(err)
	}
	same("AllGather", get(dst), []float32{5, 6, 7})
	if err := c.AllGather(dst, dst); err != nil {
		t.Fatal(err)
	}
	if err := c.Broadcast(x, 0); err != nil {
		t.Fatal(err)
	}
	h := []float64{2.5}
	if err := c.AllReduceHost(h); err != nil || h[0] != 2.5 {
		t.Errorf("AllReduceHost: %v, %v", h, err)
	}
	if err := c.Barrier(); err != nil || dev.syncs != 1 {
		t.Errorf("Barrier: %v (syncs %d)", err, dev.syncs)
	}

	// Errors name the rank, the call and NCCL's messages; bad arguments
	// never reach the library.
	thirteen := alloc(make([]float32, 13)...)
	bad := []struct {
		name string
		err  error
		want string
	}{
		{"library error", c.AllReduce(thirteen), "nccl rank 0 of 1: ncclAllReduce: internal error: fake detail (ncclResult 3)"},
		{"root", c.Broadcast(x, 1), "nccl rank 0 of 1: ncclBroadcast: root 1 outside ranks 0..0"},
		{"sizes", c.ReduceScatter(shard, x), "nccl rank 0 of 1: ncclReduceScatter: the full tensor has 4 elements, want 1 ranks * 3 (the shard's size)"},
		{"dtype", c.AllReduce(kernels.Tensor{DType: kernels.BF16, N: 2, Buf: x.Buf}), "nccl rank 0 of 1: ncclAllReduce: x is BF16, want F32"},
	}
	for _, tc := range bad {
		if tc.err == nil || tc.err.Error() != tc.want {
			t.Errorf("%s: got error %v, want %q", tc.name, tc.err, tc.want)
		}
	}

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if !boot.closed {
		t.Error("Close did not close the bootstrap communicator")
	}
	if err := c.AllReduce(x); err == nil || !strings.Contains(err.Error(), "after Close") {
		t.Errorf("use after Close: %v", err)
	}
}

// TestLoadFailureOnAnotherRank: when another rank cannot load NCCL, every
// rank gets an error naming it instead of waiting for its id.
func TestLoadFailureOnAnotherRank(t *testing.T) {
	dir := fakeLibrary(t)
	boot := &oneRank{size: 3, failedRanks: []int{2}}
	_, err := New(&hostDevice{}, boot, Options{LibDir: dir})
	if want := "nccl rank 0 of 3: rank(s) 2 could not load NCCL"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("got %v, want %q...", err, want)
	}
	if len(boot.broadcasts) != 0 {
		t.Error("the id was broadcast although a rank had failed")
	}
}

// TestRealLibraryExportsSymbols binds every symbol from a real
// libnccl.so.2 named by SDZERO_NCCL_LIB (no GPU needed: binding resolves
// names, and ncclGetVersion and ncclGetErrorString need no device). On
// the GPU machine: SDZERO_NCCL_LIB=$(python3 -c 'import nvidia.nccl, os;
// print(os.path.join(nvidia.nccl.__path__[0], "lib", "libnccl.so.2"))').
func TestRealLibraryExportsSymbols(t *testing.T) {
	path := os.Getenv("SDZERO_NCCL_LIB")
	if path == "" {
		t.Skip("SDZERO_NCCL_LIB not set: no real libnccl.so.2 to check symbol names against")
	}
	h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		t.Fatalf("dlopen %s: %v", path, err)
	}
	var c Comm
	syms := c.api.symbols()
	for i := range syms {
		syms[i].Optional = false // optional ones are used when present: they must be here
	}
	if err := dynlib.Bind(h, path, syms); err != nil {
		t.Fatal(err)
	}
	var v int32
	if r := c.api.getVersion(&v); r != ncclSuccess {
		t.Fatalf("ncclGetVersion: %d", r)
	}
	c.version = int(v)
	c.lib = path
	t.Logf("%s", c.Library())
	if s := c.api.getErrorString(4); !strings.Contains(s, "invalid argument") {
		t.Errorf("ncclGetErrorString(ncclInvalidArgument) = %q", s)
	}
}

// TestGPUOneRank runs a one-rank NCCL communicator on the real GPU (the
// bootstrap is the one-rank stand-in, so no MPI is needed): ncclCommInitRank
// and every collective on device memory and the backend's stream.
func TestGPUOneRank(t *testing.T) {
	if ok, why := cuda.Available(); !ok {
		t.Skipf("no usable CUDA GPU (GPU tests run on the GPU machine via scripts/gpu-all.sh): %s", why)
	}
	if s := Find(""); s.Path == "" {
		if _, _, err := s.Open(); err != nil {
			t.Skipf("no libnccl.so.2: %v", err)
		}
	}
	be, err := cuda.New(cuda.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	boot := &oneRank{size: 1}
	c, err := New(be, boot, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", c.Library())
	const n = 1 << 20
	vals := make([]float32, n)
	for i := range vals {
		vals[i] = float32(i%1000) + 0.5
	}
	x, err := be.Alloc(kernels.F32, n)
	if err != nil {
		t.Fatal(err)
	}
	y, err := be.Alloc(kernels.F32, n)
	if err != nil {
		t.Fatal(err)
	}
	be.Upload(x, vals)
	for _, step := range []struct {
		name string
		run  func() error
	}{
		{"AllReduce", func() error { return c.AllReduce(x) }},
		{"ReduceScatter", func() error { return c.ReduceScatter(y, x) }},
		{"AllGather in place", func() error { return c.AllGather(y, y) }},
		{"Broadcast", func() error { return c.Broadcast(y, 0) }},
		{"Barrier", c.Barrier},
	} {
		if err := step.run(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
	}
	got := make([]float32, n)
	be.Download(got, y)
	if err := be.Sync(); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i] != vals[i] {
			t.Fatalf("after the one-rank collectives y[%d] = %v, want %v", i, got[i], vals[i])
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}
