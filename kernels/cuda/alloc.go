package cuda

import (
	"fmt"
	"math/bits"
)

// Stats describes the backend's device memory.
type Stats struct {
	// InUseBytes is the size (by size class) of live tensors.
	InUseBytes int64
	// CachedBytes is memory freed by the program but kept for reuse.
	CachedBytes int64
	// PeakInUseBytes is the largest InUseBytes seen.
	PeakInUseBytes int64
	// DeviceBytes is all memory held from cuMemAlloc (InUse + Cached).
	DeviceBytes int64
	// Allocs and Frees count Alloc and Free calls (and internal scratch).
	Allocs, Frees int64
	// CacheHits counts allocations served from the cache.
	CacheHits int64
	// DeviceAllocs and DeviceFrees count cuMemAlloc and cuMemFree calls.
	DeviceAllocs, DeviceFrees int64
	// GraphReplays counts Graph.Replay calls (recorded decode steps).
	GraphReplays int64
	// FreeDeviceBytes and TotalDeviceBytes are cuMemGetInfo's view of the GPU
	// (0 when unknown).
	FreeDeviceBytes, TotalDeviceBytes int64
}

// sizeClass rounds a request up to its bucket: 512-byte granularity up to
// 4 KiB, then four classes per power of two (<= 25% waste), and sixteen
// per power of two from 256 MiB (<= 6.25% waste) where waste costs most.
func sizeClass(n int) int {
	if n <= 512 {
		return 512
	}
	if n <= 4096 {
		return (n + 511) &^ 511
	}
	top := bits.Len(uint(n-1)) - 1 // 2^top < n <= 2^(top+1)
	div := 2
	if top >= 28 {
		div = 4
	}
	step := 1 << (top - div)
	return (n + step - 1) &^ (step - 1)
}

// deviceMem is what the caching allocator needs from the device; the GPU
// backend implements it with cuMemAlloc/cuMemFree, tests with a fake.
type deviceMem interface {
	alloc(bytes int) (uintptr, error)
	free(p uintptr) error
	// sync waits for queued work, before memory goes back to the driver.
	sync() error
}

// cachingAllocator keeps freed blocks in per-class free lists. All work is
// on one stream, so a block freed by the host can be handed out again at
// once: later kernels using it are ordered after earlier ones.
type cachingAllocator struct {
	mem   deviceMem
	free  map[int][]uintptr
	stats Stats
	// hold, when set (while a graph is recorded), receives the blocks put
	// back instead of the cache: the graph's replays use them, so they
	// stay out of reach of other allocations until the graph is freed.
	hold *[]heldBlock
}

// heldBlock is a block kept for a recorded graph.
type heldBlock struct {
	p uintptr
	c int
}

func newCachingAllocator(mem deviceMem) *cachingAllocator {
	return &cachingAllocator{mem: mem, free: map[int][]uintptr{}}
}

// get returns a block of at least n bytes and its class size.
func (a *cachingAllocator) get(n int) (uintptr, int, error) {
	if n < 0 {
		return 0, 0, fmt.Errorf("negative allocation size %d", n)
	}
	c := sizeClass(n)
	a.stats.Allocs++
	if l := a.free[c]; len(l) > 0 {
		p := l[len(l)-1]
		a.free[c] = l[:len(l)-1]
		a.stats.CacheHits++
		a.stats.CachedBytes -= int64(c)
		a.use(c)
		return p, c, nil
	}
	p, err := a.mem.alloc(c)
	if err != nil && isOOM(err) && a.stats.CachedBytes > 0 {
		// Give the cache back to the driver and try once more.
		if rerr := a.release(); rerr != nil {
			return 0, 0, fmt.Errorf("allocate %d bytes: %w (releasing cache: %v)", c, err, rerr)
		}
		p, err = a.mem.alloc(c)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("allocate %d bytes (in use %d, cached %d): %w", c, a.stats.InUseBytes, a.stats.CachedBytes, err)
	}
	a.stats.DeviceAllocs++
	a.stats.DeviceBytes += int64(c)
	a.use(c)
	return p, c, nil
}

func (a *cachingAllocator) use(c int) {
	a.stats.InUseBytes += int64(c)
	if a.stats.InUseBytes > a.stats.PeakInUseBytes {
		a.stats.PeakInUseBytes = a.stats.InUseBytes
	}
}

// put returns a block of class c to the cache.
func (a *cachingAllocator) put(p uintptr, c int) {
	if a.hold != nil {
		*a.hold = append(*a.hold, heldBlock{p, c})
		return
	}
	a.stats.Frees++
	a.stats.InUseBytes -= int64(c)
	a.stats.CachedBytes += int64(c)
	a.free[c] = append(a.free[c], p)
}

// release frees every cached block to the driver.
func (a *cachingAllocator) release() error {
	if a.stats.CachedBytes == 0 {
		return nil
	}
	if err := a.mem.sync(); err != nil {
		return err
	}
	var first error
	for c, l := range a.free {
		for _, p := range l {
			if err := a.mem.free(p); err != nil && first == nil {
				first = err
			}
			a.stats.DeviceFrees++
			a.stats.DeviceBytes -= int64(c)
			a.stats.CachedBytes -= int64(c)
		}
		delete(a.free, c)
	}
	return first
}
