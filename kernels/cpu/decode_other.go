//go:build !amd64

package cpu

// decodeTile returns nil: no assembly tile off amd64 (decodeGemm uses the
// portable dot product).
func (be *Backend) decodeTile() func(k int, a, b *[4]*float32, out *[16]float32) { return nil }
