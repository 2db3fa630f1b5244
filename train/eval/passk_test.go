package eval

import (
	"math"
	"testing"
)

// bruteForce enumerates every k-subset of n samples (c of them correct, in
// positions 0..c-1) and returns the fraction containing a correct one.
func bruteForce(n, c, k int) float64 {
	total, hit := 0, 0
	var rec func(start, left int, any bool)
	rec = func(start, left int, any bool) {
		if left == 0 {
			total++
			if any {
				hit++
			}
			return
		}
		for i := start; i <= n-left; i++ {
			rec(i+1, left-1, any || i < c)
		}
	}
	rec(0, k, false)
	return float64(hit) / float64(total)
}

func TestPassAtKMatchesEnumeration(t *testing.T) {
	for n := 1; n <= 12; n++ {
		for c := 0; c <= n; c++ {
			for k := 1; k <= n; k++ {
				got, want := PassAtK(n, c, k), bruteForce(n, c, k)
				if math.Abs(got-want) > 1e-12 {
					t.Fatalf("PassAtK(%d,%d,%d) = %v, enumeration %v", n, c, k, got, want)
				}
			}
		}
	}
}

func TestPassAtKEdges(t *testing.T) {
	cases := []struct {
		n, c, k int
		want    float64
	}{
		{8, 0, 1, 0},
		{8, 8, 1, 1},
		{8, 2, 1, 0.25},
		{8, 1, 8, 1},
		{200, 3, 1, 0.015},
		{1000, 1, 1000, 1},
	}
	for _, tc := range cases {
		if got := PassAtK(tc.n, tc.c, tc.k); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("PassAtK(%d,%d,%d) = %v, want %v", tc.n, tc.c, tc.k, got, tc.want)
		}
	}
}

func TestKValues(t *testing.T) {
	cases := []struct {
		K    int
		want []int
	}{
		{1, []int{1}},
		{8, []int{1, 2, 4, 8}},
		{6, []int{1, 2, 4, 6}},
		{16, []int{1, 2, 4, 8, 16}},
	}
	for _, tc := range cases {
		got := KValues(tc.K)
		if len(got) != len(tc.want) {
			t.Fatalf("KValues(%d) = %v, want %v", tc.K, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("KValues(%d) = %v, want %v", tc.K, got, tc.want)
			}
		}
	}
}
