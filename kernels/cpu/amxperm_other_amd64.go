//go:build amd64 && !linux

package cpu

// requestTilePermission reports false: only Linux's permission protocol is
// implemented, so other systems use AVX512_BF16 or float32.
func requestTilePermission() bool { return false }
