package kernels_test

import (
	"fmt"
	"strings"
	"testing"

	"sdzero/kernels"
	"sdzero/kernels/cpu"
)

// TestLocalComm checks the one-rank communicator: reductions leave the
// data as it is, ReduceScatter and AllGather copy unless in place, and bad
// arguments are errors naming the call.
func TestLocalComm(t *testing.T) {
	b := cpu.New(1)
	c := kernels.NewLocalComm(b)
	if c.Rank() != 0 || c.Size() != 1 {
		t.Fatalf("rank %d of %d", c.Rank(), c.Size())
	}
	alloc := func(vals ...float32) kernels.Tensor {
		x, err := b.Alloc(kernels.F32, len(vals))
		if err != nil {
			t.Fatal(err)
		}
		b.Upload(x, vals)
		return x
	}
	get := func(x kernels.Tensor) string {
		v := make([]float32, x.N)
		b.Download(v, x)
		return fmt.Sprint(v)
	}
	x := alloc(1, 2, 3)
	if err := c.AllReduce(x); err != nil || get(x) != "[1 2 3]" {
		t.Errorf("AllReduce: %v %s", err, get(x))
	}
	if err := c.Broadcast(x, 0); err != nil || get(x) != "[1 2 3]" {
		t.Errorf("Broadcast: %v %s", err, get(x))
	}
	y := alloc(0, 0, 0)
	if err := c.ReduceScatter(y, x); err != nil || get(y) != "[1 2 3]" {
		t.Errorf("ReduceScatter: %v %s", err, get(y))
	}
	z := alloc(0, 0, 0)
	if err := c.AllGather(z, x); err != nil || get(z) != "[1 2 3]" {
		t.Errorf("AllGather: %v %s", err, get(z))
	}
	if err := c.AllGather(z, z); err != nil || get(z) != "[1 2 3]" {
		t.Errorf("AllGather in place: %v %s", err, get(z))
	}
	h := []float64{4}
	if err := c.AllReduceHost(h); err != nil || h[0] != 4 {
		t.Errorf("AllReduceHost: %v %v", err, h)
	}
	if err := c.Barrier(); err != nil {
		t.Error(err)
	}
	i32, err := b.Alloc(kernels.I32, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{c.Broadcast(x, 1), "local rank 0 of 1: Broadcast: root 1 outside ranks 0..0"},
		{c.AllReduce(i32), "local rank 0 of 1: AllReduce: x is I32, want F32"},
		{c.ReduceScatter(y, x.View(0, 2)), "local rank 0 of 1: ReduceScatter: the full tensor has 2 elements, want 1 ranks * 3 (the shard's size)"},
		{c.AllReduce(kernels.Tensor{}), "local rank 0 of 1: AllReduce: x is the zero Tensor"},
	} {
		if tc.err == nil || tc.err.Error() != tc.want {
			t.Errorf("got %v, want %q", tc.err, tc.want)
		}
	}
}

// TestCheckShards covers the layouts a ZeRO-1 step uses: a separate shard,
// the shard as its own slot of the full buffer (in place), and overlaps
// that are neither.
func TestCheckShards(t *testing.T) {
	b := cpu.New(1)
	full, err := b.Alloc(kernels.F32, 12)
	if err != nil {
		t.Fatal(err)
	}
	other, err := b.Alloc(kernels.F32, 3)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		rank, size  int
		full, shard kernels.Tensor
		n           int
		inPlace     bool
		err         string
	}{
		{"separate", 1, 4, full, other, 3, false, ""},
		{"own slot", 2, 4, full, full.View(6, 3), 3, true, ""},
		{"own slot of a view", 1, 2, full.View(6, 6), full.View(9, 3), 3, true, ""},
		{"another rank's slot", 1, 4, full, full.View(6, 3), 0, false, "overlaps the full tensor [0,12) but is not its slot at rank 1"},
		{"outside the view", 0, 2, full.View(0, 6), full.View(6, 3), 3, false, ""},
		{"misaligned", 0, 4, full, full.View(1, 3), 0, false, "overlaps"},
		{"wrong size", 0, 3, full, other, 0, false, "the full tensor has 12 elements, want 3 ranks * 3"},
	}
	for _, tc := range tests {
		n, inPlace, err := kernels.CheckShards("X", tc.rank, tc.size, tc.full, tc.shard)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: got error %v, want %q", tc.name, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.err == "" && (n != tc.n || inPlace != tc.inPlace):
			t.Errorf("%s: got n=%d inPlace=%v, want %d %v", tc.name, n, inPlace, tc.n, tc.inPlace)
		}
	}
}
