package cpu

import (
	"fmt"

	"sdzero/kernels"
)

// fusedBlock is the number of elements the fused optimiser pass updates
// before it rounds them to BF16: p, g, m and v of a block (32 KiB) are
// still in L1/L2 when the conversion reads p back, so the pass reads each
// master once from memory instead of twice.
const fusedBlock = 2048

// AdamWBF16 is AdamW followed by Convert(low, p), fused into one pass
// (kernels.FusedAdamW). The update is AdamW's own code on each block and
// the rounding Convert's, so the results are bit for bit those of the two
// ops.
func (be *Backend) AdamWBF16(p, g, m, v, low kernels.Tensor, n int, a kernels.AdamWParams) {
	const op = "AdamWBF16"
	if low.DType != kernels.BF16 {
		panic(fmt.Sprintf("cpu %s: low copy is %v, want BF16", op, low.DType))
	}
	ps, gs, ms, vs := f32(op, p, n), f32(op, g, n), f32(op, m, n), f32(op, v, n)
	ls := u16(op, low, n)
	c := adamwConsts(op, a)
	be.parallelFor(n, 1<<14, func(lo, hi int) {
		for b := lo; b < hi; b += fusedBlock {
			e := min(hi, b+fusedBlock)
			d := adamwVec(ps[b:e], gs[b:e], ms[b:e], vs[b:e], &c)
			adamwGo(ps[b+d:e], gs[b+d:e], ms[b+d:e], vs[b+d:e], &c)
			f32ToBF16Slice(ls[b:e], ps[b:e])
		}
	})
}
