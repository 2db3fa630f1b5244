package cpu

import (
	"math"
	"strings"
	"testing"

	"sdzero/kernels"
)

// TestSampleNonFinite: Sample reports NaN settings and NaN or infinite
// logits at Sync, naming the op and the row, instead of panicking or
// returning token 0 silently; finite rows still sample.
func TestSampleNonFinite(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	tests := []struct {
		name   string
		logits []float32 // 2 rows of 3
		temp   float32
		topP   float32
		want   string // "" = no error
	}{
		{"finite greedy", []float32{0, 2, 1, 3, 0, 0}, 0, 1, ""},
		{"finite sampled", []float32{0, 2, 1, 3, 0, 0}, 0.7, 0.9, ""},
		{"NaN temperature", []float32{0, 2, 1, 3, 0, 0}, nan, 1, "temperature NaN"},
		{"Inf temperature", []float32{0, 2, 1, 3, 0, 0}, inf, 1, "temperature +Inf"},
		{"NaN top_p", []float32{0, 2, 1, 3, 0, 0}, 1, nan, "top_p NaN"},
		{"NaN logits greedy", []float32{0, 2, 1, nan, nan, nan}, 0, 1, "row 1"},
		{"NaN logits sampled", []float32{nan, 2, 1, 3, 0, 0}, 1, 1, "row 0"},
		{"NaN logits top-p", []float32{nan, nan, nan, 3, 0, 0}, 1, 0.5, "row 0"},
		{"Inf logits sampled", []float32{0, inf, 1, 3, 0, 0}, 1, 1, "row 0"},
	}
	be := New(1)
	for _, tc := range tests {
		logits, _ := be.Alloc(kernels.F32, 6)
		u, _ := be.Alloc(kernels.F32, 2)
		out, _ := be.Alloc(kernels.I32, 2)
		be.Upload(logits, tc.logits)
		be.Upload(u, []float32{0.5, 0.5})
		be.Sample(out, logits, u, 2, 3, tc.temp, 0, tc.topP)
		err := be.Sync()
		ids := make([]int32, 2)
		be.DownloadInt32(ids, out)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "Sample")):
			t.Errorf("%s: want an error with %q, got %v", tc.name, tc.want, err)
		}
		for _, id := range ids {
			if id < 0 || id >= 3 {
				t.Errorf("%s: id %d outside the vocabulary", tc.name, id)
			}
		}
		if tc.want == "" && tc.temp == 0 && (ids[0] != 1 || ids[1] != 0) {
			t.Errorf("%s: greedy ids %v, want [1 0]", tc.name, ids)
		}
		be.Free(logits)
		be.Free(u)
		be.Free(out)
	}
}
