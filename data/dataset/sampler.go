package dataset

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// Cursor is a sampler position: epoch, position within the epoch's
// permutation and the shuffle seed. It is JSON-serialisable and stored in
// checkpoints so that a resumed run sees exactly the remaining examples.
type Cursor struct {
	// Epoch counts completed passes over the data.
	Epoch int `json:"epoch"`
	// Pos is the next position in the epoch's permutation (0..N).
	Pos int `json:"pos"`
	// Seed is the shuffle seed.
	Seed uint64 `json:"seed"`
	// N is the dataset size the cursor was taken on (0 = unknown); Restore
	// refuses a cursor from a different-sized dataset.
	N int `json:"n,omitempty"`
}

// Sampler yields dataset indices in a deterministic per-epoch shuffle.
// Epoch e's order depends only on (seed, e), so it is the same after a
// restore. A Sampler is not safe for concurrent use.
type Sampler struct {
	n     int
	seed  uint64
	epoch int
	pos   int
	perm  []int
}

// NewSampler returns a sampler over indices 0..n-1 starting at epoch 0.
func NewSampler(n int, seed uint64) *Sampler {
	if n < 0 {
		n = 0
	}
	s := &Sampler{n: n, seed: seed}
	s.perm = Permutation(n, seed, 0)
	return s
}

// Permutation returns the shuffle of 0..n-1 used for the given seed and
// epoch (Fisher-Yates driven by PCG seeded with (seed, epoch)).
func Permutation(n int, seed uint64, epoch int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15^uint64(epoch)))
	for i := n - 1; i > 0; i-- {
		j := r.IntN(i + 1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// Len returns the dataset size.
func (s *Sampler) Len() int { return s.n }

// Next returns the next k indices, continuing into the next epoch (with a
// fresh shuffle) when the current one runs out. It returns nil for an empty
// dataset or k <= 0.
func (s *Sampler) Next(k int) []int {
	if s.n == 0 || k <= 0 {
		return nil
	}
	out := make([]int, 0, k)
	for len(out) < k {
		if s.pos >= s.n {
			s.epoch++
			s.pos = 0
			s.perm = Permutation(s.n, s.seed, s.epoch)
		}
		take := min(k-len(out), s.n-s.pos)
		out = append(out, s.perm[s.pos:s.pos+take]...)
		s.pos += take
	}
	return out
}

// Cursor returns the current position.
func (s *Sampler) Cursor() Cursor {
	return Cursor{Epoch: s.epoch, Pos: s.pos, Seed: s.seed, N: s.n}
}

// Restore moves the sampler to c (including c's seed). It fails when c is
// out of range or was taken on a dataset of a different size.
func (s *Sampler) Restore(c Cursor) error {
	if c.N != 0 && c.N != s.n {
		return fmt.Errorf("dataset: restore cursor: taken on %d examples, dataset has %d", c.N, s.n)
	}
	if c.Epoch < 0 || c.Pos < 0 || c.Pos > s.n {
		return fmt.Errorf("dataset: restore cursor: epoch %d pos %d out of range for %d examples", c.Epoch, c.Pos, s.n)
	}
	s.seed, s.epoch, s.pos = c.Seed, c.Epoch, c.Pos
	s.perm = Permutation(s.n, s.seed, s.epoch)
	return nil
}

// Split deterministically partitions 0..n-1 into train and eval index sets,
// each sorted ascending. The eval set has round(n*evalFrac) elements
// (at least 1 when evalFrac > 0 and n > 1, and at most n-1 when evalFrac < 1).
func Split(n int, evalFrac float64, seed uint64) (train, eval []int) {
	if n <= 0 {
		return nil, nil
	}
	if math.IsNaN(evalFrac) || evalFrac < 0 {
		evalFrac = 0
	}
	if evalFrac > 1 {
		evalFrac = 1
	}
	k := int(math.Round(float64(n) * evalFrac))
	if evalFrac > 0 && k == 0 && n > 1 {
		k = 1
	}
	if evalFrac < 1 && k == n && n > 1 {
		k = n - 1
	}
	// A seed stream distinct from the sampler's epoch shuffles.
	p := Permutation(n, seed^0x5bd1e9955bd1e995, -1)
	eval = append([]int(nil), p[:k]...)
	train = append([]int(nil), p[k:]...)
	sort.Ints(eval)
	sort.Ints(train)
	return train, eval
}
