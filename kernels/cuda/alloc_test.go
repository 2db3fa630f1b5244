package cuda

import (
	"testing"

	"sdzero/kernels"
)

// fakeMem hands out increasing addresses and fails with CUDA's out-of-memory
// result beyond limit bytes held.
type fakeMem struct {
	next, held, limit int
	sizes             map[uintptr]int
	syncs, frees      int
}

func (f *fakeMem) alloc(n int) (uintptr, error) {
	if f.held+n > f.limit {
		return 0, (*driverAPI)(nil).err("cuMemAlloc", cuErrorOutOfMemory)
	}
	f.next += 1 << 20
	p := uintptr(f.next)
	f.sizes[p] = n
	f.held += n
	return p, nil
}

func (f *fakeMem) free(p uintptr) error {
	f.held -= f.sizes[p]
	delete(f.sizes, p)
	f.frees++
	return nil
}

func (f *fakeMem) sync() error { f.syncs++; return nil }

func TestSizeClass(t *testing.T) {
	tests := []struct{ n, want int }{
		{0, 512}, {1, 512}, {512, 512}, {513, 1024}, {4096, 4096}, {4097, 5120}, {5000, 5120},
		{8192, 8192}, {8193, 10240}, {1 << 20, 1 << 20}, {(1 << 20) + 1, 1<<20 + 1<<18},
		{(1 << 30) + 1, 1<<30 + 1<<26},
	}
	for _, tc := range tests {
		if got := sizeClass(tc.n); got != tc.want {
			t.Errorf("sizeClass(%d) = %d want %d", tc.n, got, tc.want)
		}
	}
	for n := 1; n < 1<<22; n = n*3/2 + 1 {
		c := sizeClass(n)
		if c < n || (n > 4096 && float64(c) > 1.25*float64(n)) {
			t.Errorf("sizeClass(%d) = %d: too small or wastes > 25%%", n, c)
		}
		if sizeClass(c) != c {
			t.Errorf("class %d is not its own class", c)
		}
	}
}

func TestCachingAllocator(t *testing.T) {
	f := &fakeMem{limit: 10 << 20, sizes: map[uintptr]int{}}
	a := newCachingAllocator(f)
	p1, c1, err := a.get(1000)
	if err != nil || c1 != 1024 {
		t.Fatalf("get: %v class %d", err, c1)
	}
	p2, _, _ := a.get(1000)
	if p1 == p2 {
		t.Fatal("two live blocks share an address")
	}
	a.put(p1, c1)
	p3, c3, _ := a.get(900) // same class: reuses p1
	if p3 != p1 || c3 != c1 {
		t.Errorf("cache not reused: %x vs %x", p3, p1)
	}
	s := a.stats
	if s.Allocs != 3 || s.CacheHits != 1 || s.DeviceAllocs != 2 || s.InUseBytes != 2048 || s.CachedBytes != 0 {
		t.Errorf("stats %+v", s)
	}
	// Fill the fake device, free into the cache, then ask for a different
	// class: the allocator must release its cache and retry.
	big, cb, err := a.get(8 << 20)
	if err != nil {
		t.Fatal(err)
	}
	a.put(big, cb)
	if a.stats.CachedBytes != int64(cb) {
		t.Errorf("cached %d want %d", a.stats.CachedBytes, cb)
	}
	if _, _, err := a.get(6 << 20); err != nil {
		t.Fatalf("get after release: %v", err)
	}
	if f.syncs == 0 || f.frees != 1 || a.stats.CachedBytes != 0 || a.stats.DeviceFrees != 1 {
		t.Errorf("cache not released before retry: syncs %d frees %d stats %+v", f.syncs, f.frees, a.stats)
	}
	if a.stats.PeakInUseBytes < 8<<20 {
		t.Errorf("peak %d", a.stats.PeakInUseBytes)
	}
	// Beyond the device: a clear error.
	if _, _, err := a.get(64 << 20); err == nil || !isOOM(err) {
		t.Errorf("oversized get: %v", err)
	}
	if a.stats.DeviceBytes != int64(f.held) {
		t.Errorf("DeviceBytes %d, device holds %d", a.stats.DeviceBytes, f.held)
	}
}

// TestEmulatedPeakBytes: the peak follows allocations and ResetPeak
// restarts it from what is in use.
func TestEmulatedPeakBytes(t *testing.T) {
	be := newEmulated(t)
	base := be.MemoryStats().InUseBytes
	x, err := be.Alloc(kernels.F32, 1<<18) // 1 MiB
	if err != nil {
		t.Fatal(err)
	}
	if p := be.PeakBytes(); p < base+1<<20 {
		t.Errorf("peak %d with 1 MiB allocated over %d", p, base)
	}
	be.Free(x)
	be.ResetPeak()
	if p := be.PeakBytes(); p != be.MemoryStats().InUseBytes {
		t.Errorf("after ResetPeak: peak %d, in use %d", p, be.MemoryStats().InUseBytes)
	}
}
