package bench

import (
	"strings"
	"testing"

	"sdzero/kernels/cpu"
	"sdzero/model"
)

func TestMatMul(t *testing.T) {
	for _, tc := range []struct {
		name    string
		bf16    bool
		size    int
		p       model.Precision
		wantErr string
	}{
		{"fp32", false, 40, model.PrecisionF32, ""},
		{"bf16 on an F32-only backend", false, 40, model.PrecisionBF16, "does not support"},
		{"bf16", true, 40, model.PrecisionBF16, ""},
		{"zero size", false, 0, model.PrecisionF32, "must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := cpu.New(1)
			if tc.bf16 {
				if be = cpu.NewBF16(1); be.BF16Kernel() == "" {
					t.Skip("no AMX or AVX512_BF16 on this CPU")
				}
			}
			r, err := MatMul(be, tc.size, tc.p, 1, 3, 1)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Size != tc.size || r.Steps != 3 || r.Precision != tc.p.String() || !(r.GFLOPs > 0) || !(r.MsPerStep >= 0) {
				t.Fatalf("result %+v", r)
			}
		})
	}
}
