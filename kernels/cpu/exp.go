package cpu

import "math"

// exp32 is a fast float32 e^x (Cephes expf: range reduction by ln 2 and a
// degree-6 polynomial), accurate to about 2 ulp; it returns 0 below -103,
// +Inf above 88.72 and NaN for NaN.
func exp32(x float32) float32 {
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693359375
		ln2lo = -2.12194440e-4
	)
	if !(x < 88.72283) { // also catches NaN
		if x != x {
			return x
		}
		return float32(math.Inf(1))
	}
	if x < -103.9 {
		return 0
	}
	// Round x*log2e to the nearest integer by adding 1.5*2^23: the float32
	// sum keeps no fraction bits.
	const magic = 12582912
	t := x*log2e + magic
	n := t - magic
	r := x - n*ln2hi
	r -= n * ln2lo
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	p = p*r*r + r + 1
	// Scale by 2^n in two steps so that subnormal results stay correct.
	ni := int32(math.Float32bits(t)) - int32(math.Float32bits(magic))
	if ni > 127 {
		return p * 2 * math.Float32frombits(uint32(ni+126)<<23)
	}
	if ni < -125 {
		return p * math.Float32frombits(uint32(ni+127+64)<<23) * (1.0 / (1 << 64))
	}
	return p * math.Float32frombits(uint32(ni+127)<<23)
}
