//go:build linux

package cpu

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// adviseHuge asks the kernel to back the 2 MiB-aligned interior of a large
// buffer with transparent huge pages (a hint: with THP in "madvise" mode it
// cuts TLB misses when MatMul streams weight matrices of tens of MiB).
func adviseHuge(p unsafe.Pointer, bytes int) {
	const huge = 2 << 20
	if bytes < 2*huge {
		return
	}
	start := (uintptr(p) + huge - 1) &^ (huge - 1)
	end := (uintptr(p) + uintptr(bytes)) &^ (huge - 1)
	if end <= start {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Add(p, start-uintptr(p))), end-start)
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE) // best effort
}
