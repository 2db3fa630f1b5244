package eval

import "sort"

// PassAtK is the unbiased estimator of pass@k from n samples of which c are
// correct (Chen et al. 2021): 1 - C(n-c, k) / C(n, k), computed as a
// product so it neither overflows nor loses precision. k must satisfy
// 1 <= k <= n; c is clamped to [0, n].
func PassAtK(n, c, k int) float64 {
	if k < 1 || k > n {
		panic("eval: PassAtK needs 1 <= k <= n")
	}
	c = max(0, min(c, n))
	if n-c < k {
		return 1
	}
	// C(n-c,k)/C(n,k) = prod_{i=n-c+1}^{n} (1 - k/i)
	p := 1.0
	for i := n - c + 1; i <= n; i++ {
		p *= 1 - float64(k)/float64(i)
	}
	return 1 - p
}

// KValues returns the k at which pass@k is reported for K samples per
// problem: 1, 2, 4, ... up to K, and K itself.
func KValues(K int) []int {
	var ks []int
	for k := 1; k <= K; k *= 2 {
		ks = append(ks, k)
	}
	if K >= 1 && ks[len(ks)-1] != K {
		ks = append(ks, K)
	}
	sort.Ints(ks)
	return ks
}
