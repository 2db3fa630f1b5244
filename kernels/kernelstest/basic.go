package kernelstest

import (
	"encoding/binary"
	"math"
	"slices"

	"sdzero/kernels"
)

// testMemory: Alloc zero-fills; Upload/Download, Int32 and Raw round trips
// are exact; Copy copies views.
func testMemory(x *h) {
	be := x.be
	for _, n := range []int{1, 3, 17, 127} {
		for _, d := range []kernels.DType{kernels.F32, kernels.BF16, kernels.F16, kernels.I32} {
			t, err := be.Alloc(d, n)
			if err != nil {
				x.t.Fatalf("Alloc(%v,%d): %v", d, n, err)
			}
			raw := make([]byte, n*d.Size())
			be.DownloadRaw(raw, t)
			for i, b := range raw {
				if b != 0 {
					x.t.Fatalf("Alloc(%v,%d) not zero-filled at byte %d", d, n, i)
				}
			}
			be.Free(t)
		}
		// F32 exact round trip, including specials.
		v := x.randn(n, 3)
		v[0] = float32(math.Inf(-1))
		if n > 2 {
			v[1] = float32(math.NaN())
			v[2] = float32(math.Copysign(0, -1))
		}
		t := x.f32("f32", v)
		got := x.get(t)
		x.exact("F32 Upload/Download", got, v)
		// Partial download reads the first elements.
		part := make([]float32, (n+1)/2)
		be.Download(part, t)
		x.exact("partial Download", part, v[:len(part)])

		// Raw round trips for every dtype.
		for _, d := range []kernels.DType{kernels.F32, kernels.BF16, kernels.F16, kernels.I32} {
			raw := make([]byte, n*d.Size())
			for i := range raw {
				raw[i] = byte(x.rng.IntN(256))
			}
			rt := x.view("raw", d, n)
			be.UploadRaw(rt, raw)
			back := make([]byte, len(raw))
			be.DownloadRaw(back, rt)
			if !slices.Equal(raw, back) {
				x.t.Errorf("UploadRaw/DownloadRaw %v n=%d: bytes differ", d, n)
			}
			if d == kernels.F32 {
				// Raw bytes are little-endian float32 bits.
				vals := x.get(rt)
				for i := range vals {
					want := binary.LittleEndian.Uint32(raw[4*i:])
					if math.Float32bits(vals[i]) != want {
						x.t.Errorf("UploadRaw F32 [%d]: bits %08x want %08x", i, math.Float32bits(vals[i]), want)
						break
					}
				}
			}
			if d == kernels.I32 {
				ids := x.geti(rt)
				for i := range ids {
					if uint32(ids[i]) != binary.LittleEndian.Uint32(raw[4*i:]) {
						x.t.Errorf("UploadRaw I32 [%d] mismatch", i)
						break
					}
				}
			}
		}

		ids := make([]int32, n)
		for i := range ids {
			ids[i] = int32(x.rng.Uint32())
		}
		it := x.i32("ids", ids)
		if got := x.geti(it); !slices.Equal(got, ids) {
			x.t.Errorf("UploadInt32/DownloadInt32 n=%d differ", n)
		}

		// Copy of F32, I32 and BF16 views.
		dst := x.view("copy dst", kernels.F32, n)
		be.Copy(dst, t)
		x.exact("Copy F32", x.get(dst), v)
		idst := x.view("copy dst i32", kernels.I32, n)
		be.Copy(idst, it)
		if !slices.Equal(x.geti(idst), ids) {
			x.t.Errorf("Copy I32 n=%d differs", n)
		}
		bsrc := x.view("bf16 src", kernels.BF16, n)
		raw := make([]byte, 2*n)
		for i := range raw {
			raw[i] = byte(x.rng.IntN(256))
		}
		be.UploadRaw(bsrc, raw)
		bdst := x.view("bf16 dst", kernels.BF16, n)
		be.Copy(bdst, bsrc)
		back := make([]byte, 2*n)
		be.DownloadRaw(back, bdst)
		if !slices.Equal(raw, back) {
			x.t.Errorf("Copy BF16 n=%d differs", n)
		}
	}
	// Views of views address the right elements.
	v := x.randn(40, 1)
	t := x.f32("base", v)
	sub := t.View(5, 20).View(3, 7)
	x.exact("view of view", x.get(sub), v[8:15])
	// Free of the zero tensor is a no-op.
	be.Free(kernels.Tensor{})
}

// bf16Table and f16Table list every finite value of each format as float64,
// sorted, with its bits: an independent reference for rounding.
type fmtValue struct {
	v    float64
	bits uint16
}

func finiteValues(decode func(uint16) (float64, bool)) []fmtValue {
	var out []fmtValue
	for b := 0; b < 1<<16; b++ {
		v, ok := decode(uint16(b))
		if !ok || (v == 0 && b != 0) { // skip NaN/Inf and -0
			continue
		}
		out = append(out, fmtValue{v, uint16(b)})
	}
	slices.SortFunc(out, func(a, b fmtValue) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		}
		return 0
	})
	return out
}

func decodeBF16(b uint16) (float64, bool) {
	f := math.Float32frombits(uint32(b) << 16)
	return float64(f), !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0)
}

func decodeF16(b uint16) (float64, bool) {
	e := int(b>>10) & 31
	m := float64(b & 0x3ff)
	s := 1.0
	if b&0x8000 != 0 {
		s = -1
	}
	switch e {
	case 31:
		return 0, false
	case 0:
		return s * m * math.Pow(2, -24), true
	}
	return s * (1 + m/1024) * math.Pow(2, float64(e-15)), true
}

// roundRef rounds v to the nearest value of the table, ties to the even
// bit pattern, overflowing to infinity past maxv + half an ulp; it returns
// the expected float32 value after widening.
func roundRef(tab []fmtValue, v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	i, _ := slices.BinarySearchFunc(tab, v, func(a fmtValue, t float64) int {
		switch {
		case a.v < t:
			return -1
		case a.v > t:
			return 1
		}
		return 0
	})
	n := len(tab)
	top := tab[n-1].v
	ulp := top - tab[n-2].v
	if v >= top+ulp/2 {
		return math.Inf(1)
	}
	if v <= -top-ulp/2 {
		return math.Inf(-1)
	}
	if i == n {
		return top
	}
	if i == 0 {
		return tab[0].v
	}
	lo, hi := tab[i-1], tab[i]
	if hi.v == v {
		return v
	}
	dl, dh := v-lo.v, hi.v-v
	r := lo
	if dh < dl || (dh == dl && hi.bits&1 == 0) {
		r = hi
	}
	if r.v == 0 && math.Signbit(v) {
		return math.Copysign(0, -1)
	}
	return r.v
}

// testConvert checks Upload/Download and Convert for BF16 and F16 against
// table-based round-to-nearest-even, with NaN, Inf, overflow, subnormals.
func testConvert(x *h) {
	be := x.be
	bfTab := finiteValues(decodeBF16)
	hfTab := finiteValues(decodeF16)
	vals := []float32{0, 1, -1, 1.00390625, 1.01171875, 3.14159265, -2.5e-3, 65504, 65520, 65519.99, -65520,
		6e-8, 2.98e-8, 2.9802322e-08, 5.9604645e-08, 1e-40, -1e-45, 3.3895314e38, 3.4028235e38,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), float32(math.Copysign(0, -1))}
	vals = append(vals, math.Float32frombits(0x3f808000), math.Float32frombits(0x3f818000), math.Float32frombits(0x3f808001),
		math.Float32frombits(0x7f7fffff), math.Float32frombits(0x7f7f7fff), math.Float32frombits(0x00008000),
		math.Float32frombits(0x3f801000), math.Float32frombits(0x3f803000), math.Float32frombits(0x38800000), math.Float32frombits(0x33000000),
		math.Float32frombits(0x33000001), math.Float32frombits(0x7fc00001), math.Float32frombits(0xff800001))
	vals = append(vals, x.randn(200, 10)...)
	vals = append(vals, x.randn(50, 1e-5)...)
	for range 100 {
		vals = append(vals, math.Float32frombits(x.rng.Uint32()))
	}
	n := len(vals)
	src := x.f32("convert src", vals)
	for _, c := range []struct {
		d   kernels.DType
		tab []fmtValue
	}{{kernels.BF16, bfTab}, {kernels.F16, hfTab}} {
		want := make([]float64, n)
		for i, v := range vals {
			want[i] = roundRef(c.tab, float64(v))
		}
		check := func(how string, got []float32) {
			x.t.Helper()
			for i := range got {
				w := want[i]
				g := float64(got[i])
				ok := g == w && math.Signbit(g) == math.Signbit(w)
				if math.IsNaN(w) {
					ok = math.IsNaN(g)
				}
				if !ok {
					x.t.Errorf("%s %v: %v (bits %08x) -> %v, want %v", how, c.d, vals[i], math.Float32bits(vals[i]), g, w)
				}
			}
		}
		// Upload rounds; Download widens.
		t := x.view("convert "+c.d.String(), c.d, n)
		be.Upload(t, vals)
		check("Upload/Download", x.get(t))
		// Convert F32 -> d -> F32.
		t2 := x.view("convert2 "+c.d.String(), c.d, n)
		be.Convert(t2, src)
		back := x.view("convert back", kernels.F32, n)
		be.Convert(back, t2)
		check("Convert", x.get(back))
		// Raw bits of Upload and Convert agree.
		r1, r2 := make([]byte, 2*n), make([]byte, 2*n)
		be.DownloadRaw(r1, t)
		be.DownloadRaw(r2, t2)
		for i := 0; i < n; i++ {
			if math.IsNaN(float64(vals[i])) {
				continue
			}
			if r1[2*i] != r2[2*i] || r1[2*i+1] != r2[2*i+1] {
				x.t.Errorf("Upload and Convert give different %v bits for %v", c.d, vals[i])
			}
		}
	}
	// BF16 <-> F16 conversions round once from the exact value.
	bt := x.view("bf16", kernels.BF16, n)
	be.Upload(bt, vals)
	bv := x.get(bt)
	ht := x.view("f16 from bf16", kernels.F16, n)
	be.Convert(ht, bt)
	got := x.get(ht)
	for i, v := range bv {
		w := roundRef(hfTab, float64(v))
		if !(float64(got[i]) == w || (math.IsNaN(w) && math.IsNaN(float64(got[i])))) {
			x.t.Errorf("Convert BF16->F16: %v -> %v want %v", v, got[i], w)
		}
	}
	// Same-dtype Convert is a copy.
	cp := x.view("same", kernels.F32, n)
	be.Convert(cp, src)
	x.exact("Convert F32->F32", x.get(cp), vals)
}

// testElementwise covers Fill, Scale, AXPY and Add (with aliasing).
func testElementwise(x *h) {
	be, tol := x.be, x.tol.Elementwise
	for _, n := range []int{1, 3, 17, 65, 1000, 70001} {
		a, b := x.randn(n, 1), x.randn(n, 2)
		ta, tb := x.f32("a", a), x.f32("b", b)

		fl := x.f32("fill", a)
		for _, fv := range []float32{0.375, 0, float32(math.Copysign(0, -1))} {
			be.Fill(fl, fv)
			for i, v := range x.get(fl) {
				if math.Float32bits(v) != math.Float32bits(fv) {
					x.t.Fatalf("Fill(%v) n=%d: [%d] = %v", fv, n, i, v)
				}
			}
		}

		// Scale over a prefix only.
		m := max(1, n-2)
		sc := x.f32("scale", a)
		be.Scale(sc, -1.5, m)
		want := f64s(a)
		for i := 0; i < m; i++ {
			want[i] *= -1.5
		}
		x.near(sprint("Scale n=", n), x.get(sc), want, tol)

		y := x.f32("axpy", b)
		be.AXPY(y, ta, 0.7, m)
		want = f64s(b)
		for i := 0; i < m; i++ {
			want[i] += 0.7 * float64(a[i])
		}
		x.near(sprint("AXPY n=", n), x.get(y), want, tol)

		out := x.view("add", kernels.F32, n)
		be.Add(out, ta, tb, n)
		want = make([]float64, n)
		for i := range want {
			want[i] = float64(a[i]) + float64(b[i])
		}
		x.near(sprint("Add n=", n), x.get(out), want, tol)
		// out aliasing a.
		be.Add(ta, ta, tb, n)
		x.near(sprint("Add aliased n=", n), x.get(ta), want, tol)
	}
}

// testSumSquares checks the float64 sum and NaN/Inf propagation.
func testSumSquares(x *h) {
	be := x.be
	for _, n := range []int{1, 3, 127, 100003} {
		v := x.randn(n, 3)
		t := x.f32("ss", v)
		var want float64
		for _, e := range v[:max(1, n-1)] {
			want += float64(e) * float64(e)
		}
		got := be.SumSquares(t, max(1, n-1))
		if math.Abs(got-want) > 1e-9*want {
			x.t.Errorf("SumSquares n=%d: %v want %v", n, got, want)
		}
	}
	big := []float32{3e30, 4e30, 1}
	if got := be.SumSquares(x.f32("big", big), 3); math.Abs(got-25e60) > 1e-6*25e60 {
		x.t.Errorf("SumSquares must accumulate in float64: got %v want 2.5e61", got)
	}
	v := x.randn(1000, 1)
	v[517] = float32(math.NaN())
	if got := be.SumSquares(x.f32("nan", v), 1000); !math.IsNaN(got) {
		x.t.Errorf("SumSquares with a NaN = %v, want NaN", got)
	}
	v[517] = float32(math.Inf(-1))
	if got := be.SumSquares(x.f32("inf", v), 1000); !math.IsInf(got, 1) {
		x.t.Errorf("SumSquares with -Inf = %v, want +Inf", got)
	}
}

// testErrors: size misuse panics; bad ids are reported by Sync.
func testErrors(x *h) {
	be := x.be
	a := x.f32("a", x.randn(10, 1))
	b := x.f32("b", x.randn(12, 1))
	x.expectPanic("Scale past the end", func() { be.Scale(a, 2, 11) })
	x.expectPanic("Copy of different sizes", func() { be.Copy(a, b) })
	x.expectPanic("MatMul too small", func() { be.MatMul(a, a, b, 3, 4, 4, false, false, 1, 0) })
	x.expectPanic("View out of range", func() { a.View(5, 6) })

	table := x.f32("table", x.randn(4*3, 1))
	out := x.view("out", kernels.F32, 2*3)
	ids := x.i32("ids", []int32{1, 4})
	be.Embedding(out, table, ids, 2, 3)
	if err := be.Sync(); err == nil {
		x.t.Errorf("Embedding with id 4 of a 4-row table: Sync returned nil")
	}
	logits := x.f32("logits", x.randn(2*5, 1))
	loss := x.view("loss", kernels.F32, 2)
	tg := x.i32("targets", []int32{0, 5})
	be.CrossEntropy(loss, kernels.Tensor{}, logits, tg, x.f32("w", []float32{1, 1}), 2, 5, 1)
	if err := be.Sync(); err == nil {
		x.t.Errorf("CrossEntropy with target 5 of vocab 5: Sync returned nil")
	}
	if err := be.Sync(); err != nil {
		x.t.Errorf("Sync did not clear the reported error: %v", err)
	}
}
