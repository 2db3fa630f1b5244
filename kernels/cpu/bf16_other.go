//go:build !amd64

package cpu

// detectBF16 reports no bf16 unit: other architectures multiply in float32.
func detectBF16() bf16Kind { return bf16None }

// tileKernel returns the portable kernel (used by tests only, since
// detectBF16 never enables bf16 here).
func tileKernel(bf16Kind) tileFn { return tilesGo }
