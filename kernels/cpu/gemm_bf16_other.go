//go:build !amd64

package cpu

// packRowsFast has no fast path here: packRowsBF16 packs panel by panel.
func packRowsFast(dst, b []uint16, n, kc, j0, j1, ps int) bool { return false }
