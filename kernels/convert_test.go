package kernels

import (
	"math"
	"testing"
)

func TestHalfConversions(t *testing.T) {
	bits := math.Float32frombits
	tests := []struct {
		f        float32
		bf, half uint16
	}{
		{0, 0x0000, 0x0000},
		{float32(math.Copysign(0, -1)), 0x8000, 0x8000},
		{1, 0x3f80, 0x3c00},
		{-2, 0xc000, 0xc000},
		{bits(0x3f808000), 0x3f80, 0x3c04}, // bf16 tie to even (down)
		{bits(0x3f818000), 0x3f82, 0x3c0c}, // bf16 tie to even (up)
		{bits(0x3f808001), 0x3f81, 0x3c04},
		{1.0 / 3, 0x3eab, 0x3555},
		{65504, 0x4780, 0x7bff},
		{65519.99, 0x4780, 0x7bff},
		{65520, 0x4780, 0x7c00},            // f16 overflow on the tie
		{5.9604645e-08, 0x3380, 0x0001},    // smallest f16 subnormal
		{2.9802322e-08, 0x3300, 0x0000},    // half of it: tie to even (zero)
		{bits(0x33000001), 0x3300, 0x0001}, // just above the tie
		{6.097555e-05, 0x3880, 0x03ff},     // largest f16 subnormal
		{bits(0x7f7fffff), 0x7f80, 0x7c00},
		{float32(math.Inf(-1)), 0xff80, 0xfc00},
	}
	for _, tc := range tests {
		if got := F32ToBF16(tc.f); got != tc.bf {
			t.Errorf("F32ToBF16(%v) = %#04x want %#04x", tc.f, got, tc.bf)
		}
		if got := F32ToF16(tc.f); got != tc.half {
			t.Errorf("F32ToF16(%v) = %#04x want %#04x", tc.f, got, tc.half)
		}
	}
	if h := F32ToBF16(float32(math.NaN())); h&0x7f80 != 0x7f80 || h&0x7f == 0 {
		t.Errorf("bf16 NaN = %#04x", h)
	}
	if h := F32ToF16(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("f16 NaN = %#04x", h)
	}
	// Widening is exact and inverts rounding for every 16-bit pattern.
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		if f := BF16ToF32(h); !math.IsNaN(float64(f)) && F32ToBF16(f) != h {
			t.Fatalf("bf16 %#04x -> %v -> %#04x", h, f, F32ToBF16(f))
		}
		if f := F16ToF32(h); !math.IsNaN(float64(f)) && F32ToF16(f) != h {
			t.Fatalf("f16 %#04x -> %v -> %#04x", h, f, F32ToF16(f))
		}
	}
	if F16ToF32(0x0001) != 5.9604645e-08 || F16ToF32(0x7bff) != 65504 || F16ToF32(0xc000) != -2 {
		t.Error("f16ToF32 values")
	}
}
