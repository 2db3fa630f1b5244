package tokenizer

import (
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"unicode/utf8"
)

// mergeVal is what a merge rule produces: its priority (lower merges first)
// and the id of the merged token.
type mergeVal struct {
	rank int32
	id   int32
}

// bpeModel is Hugging Face's BPE model (models/bpe) without dropout.
type bpeModel struct {
	vocab        map[string]int32
	merges       map[uint64]mergeVal // key: left id << 32 | right id
	unkID        int32               // -1 when there is no unk token
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool
	contPrefix   string // continuing_subword_prefix
	eowSuffix    string // end_of_word_suffix
	// byteIDs[b] is the id of the byte-level rune of byte b, or -1; used by
	// the byte-level fast path that skips building the mapped string.
	byteIDs [256]int32
	cache   *wordCache
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// newBPE builds the model from the vocabulary and the merge list (each
// merge a pair of token strings, in priority order).
func newBPE(vocab map[string]int32, merges [][2]string, unk string, fuseUnk, byteFallback, ignoreMerges bool, contPrefix, eowSuffix string) (*bpeModel, error) {
	m := &bpeModel{
		vocab: vocab, merges: make(map[uint64]mergeVal, len(merges)), unkID: -1,
		fuseUnk: fuseUnk, byteFallback: byteFallback, ignoreMerges: ignoreMerges,
		contPrefix: contPrefix, eowSuffix: eowSuffix, cache: newWordCache(),
	}
	if unk != "" {
		id, ok := vocab[unk]
		if !ok {
			return nil, fmt.Errorf("BPE unk_token %q is not in the vocabulary", unk)
		}
		m.unkID = id
	}
	for i, mg := range merges {
		a, ok := vocab[mg[0]]
		if !ok {
			return nil, fmt.Errorf("BPE merge %d (%q %q): token %q is not in the vocabulary", i, mg[0], mg[1], mg[0])
		}
		b, ok := vocab[mg[1]]
		if !ok {
			return nil, fmt.Errorf("BPE merge %d (%q %q): token %q is not in the vocabulary", i, mg[0], mg[1], mg[1])
		}
		right := mg[1]
		if contPrefix != "" && len(right) >= len(contPrefix) && right[:len(contPrefix)] == contPrefix {
			right = right[len(contPrefix):]
		}
		merged := mg[0] + right
		id, ok := vocab[merged]
		if !ok {
			return nil, fmt.Errorf("BPE merge %d (%q %q): merged token %q is not in the vocabulary", i, mg[0], mg[1], merged)
		}
		// A repeated pair keeps its last rank, as collecting into
		// Hugging Face's HashMap does.
		m.merges[pairKey(a, b)] = mergeVal{rank: int32(i), id: id}
	}
	for b := 0; b < 256; b++ {
		m.byteIDs[b] = -1
		if id, ok := vocab[string(byteToRune[b])]; ok {
			m.byteIDs[b] = id
		}
	}
	return m, nil
}

// maxCachedWord is the longest word (in bytes) whose result is cached, as
// Hugging Face caches only words shorter than 256 characters.
const maxCachedWord = 256

// appendByteLevel tokenizes raw, a pre-tokenized piece whose byte-level
// mapping is the model's input, appending the ids to dst.
func (m *bpeModel) appendByteLevel(dst []int32, raw string) []int32 {
	if len(raw) == 1 && m.contPrefix == "" && m.eowSuffix == "" {
		// One byte is one symbol: no merge applies and no cache is needed.
		if id := m.byteIDs[raw[0]]; id >= 0 {
			return append(dst, id)
		}
	}
	if len(raw) <= maxCachedWord {
		if ids, ok := m.cache.get(raw); ok {
			return append(dst, ids...)
		}
	}
	var ids []int32
	fast := m.contPrefix == "" && m.eowSuffix == ""
	if fast && m.ignoreMerges {
		// ignore_merges (Llama 3): a word in the vocabulary is one token.
		if id, ok := m.vocab[byteLevelString(raw)]; ok {
			ids = []int32{id}
		}
	}
	if fast && ids == nil {
		syms := make([]int32, len(raw))
		for i := 0; i < len(raw); i++ {
			id := m.byteIDs[raw[i]]
			if id < 0 {
				fast = false
				break
			}
			syms[i] = id
		}
		if fast {
			ids = m.mergeAll(syms)
		}
	}
	if ids == nil {
		ids = m.word(byteLevelString(raw))
	}
	if len(raw) <= maxCachedWord {
		m.cache.put(raw, ids)
	}
	return append(dst, ids...)
}

// appendWord tokenizes a word given as the model's input string.
func (m *bpeModel) appendWord(dst []int32, w string) []int32 {
	if len(w) <= maxCachedWord {
		if ids, ok := m.cache.get(w); ok {
			return append(dst, ids...)
		}
	}
	ids := m.word(w)
	if len(w) <= maxCachedWord {
		m.cache.put(w, ids)
	}
	return append(dst, ids...)
}

// word is the general path of BPE::tokenize: one symbol per character
// (with the subword prefix/suffix), byte fallback or unk for characters not
// in the vocabulary, then the merges.
func (m *bpeModel) word(w string) []int32 {
	if m.ignoreMerges {
		if id, ok := m.vocab[w]; ok {
			return []int32{id}
		}
	}
	syms := make([]int32, 0, len(w))
	// Hugging Face adds an unknown character's unk token lazily (so that
	// fuse_unk can extend it); byte-fallback tokens do not flush it.
	pendingUnk := false
	for i := 0; i < len(w); {
		_, size := utf8.DecodeRuneInString(w[i:])
		s := w[i : i+size]
		first, last := i == 0, i+size == len(w)
		i += size
		if !first && m.contPrefix != "" {
			s = m.contPrefix + s
		}
		if last && m.eowSuffix != "" {
			s += m.eowSuffix
		}
		if id, ok := m.vocab[s]; ok {
			if pendingUnk {
				syms = append(syms, m.unkID)
				pendingUnk = false
			}
			syms = append(syms, id)
			continue
		}
		if m.byteFallback {
			bytesIDs := make([]int32, 0, 4)
			ok := true
			for k := 0; k < len(s); k++ {
				id, found := m.vocab[fmt.Sprintf("<0x%02X>", s[k])]
				if !found {
					ok = false
					break
				}
				bytesIDs = append(bytesIDs, id)
			}
			if ok {
				syms = append(syms, bytesIDs...)
				continue
			}
		}
		if m.unkID >= 0 {
			if pendingUnk && !m.fuseUnk {
				syms = append(syms, m.unkID)
			}
			pendingUnk = true
		}
		// Without an unk token Hugging Face drops the character.
	}
	if pendingUnk {
		syms = append(syms, m.unkID)
	}
	return m.mergeAll(syms)
}

// heapItem is a candidate merge of the pair starting at symbol pos.
type heapItem struct {
	rank, pos, id int32
}

func itemLess(a, b heapItem) bool {
	return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos)
}

type mergeHeap []heapItem

func (h *mergeHeap) push(x heapItem) {
	*h = append(*h, x)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !itemLess(s[i], s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *mergeHeap) pop() heapItem {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		c := l
		if r := l + 1; r < n && itemLess(s[r], s[l]) {
			c = r
		}
		if !itemLess(s[c], s[i]) {
			break
		}
		s[i], s[c] = s[c], s[i]
		i = c
	}
	*h = s
	return top
}

// mergeAll applies the merges to the symbols exactly as Hugging Face's
// Word::merge_all does: a priority queue ordered by (rank, position), with
// stale entries skipped when the pair at their position no longer produces
// the same token.
func (m *bpeModel) mergeAll(c []int32) []int32 {
	n := len(c)
	if n < 2 {
		return c
	}
	if n == 2 {
		if v, ok := m.merges[pairKey(c[0], c[1])]; ok {
			return []int32{v.id}
		}
		return c
	}
	prev := make([]int32, n)
	next := make([]int32, n)
	alive := make([]bool, n)
	var h mergeHeap = make([]heapItem, 0, n)
	for i := 0; i < n; i++ {
		prev[i], next[i], alive[i] = int32(i-1), int32(i+1), true
		if i+1 < n {
			if v, ok := m.merges[pairKey(c[i], c[i+1])]; ok {
				h.push(heapItem{v.rank, int32(i), v.id})
			}
		}
	}
	next[n-1] = -1
	for len(h) > 0 {
		top := h.pop()
		p := top.pos
		if !alive[p] || next[p] < 0 {
			continue
		}
		q := next[p]
		v, ok := m.merges[pairKey(c[p], c[q])]
		if !ok || v.id != top.id {
			continue
		}
		c[p] = top.id
		alive[q] = false
		nn := next[q]
		next[p] = nn
		if nn >= 0 {
			prev[nn] = p
		}
		if pp := prev[p]; pp >= 0 {
			if v, ok := m.merges[pairKey(c[pp], c[p])]; ok {
				h.push(heapItem{v.rank, pp, v.id})
			}
		}
		if nn >= 0 {
			if v, ok := m.merges[pairKey(c[p], c[nn])]; ok {
				h.push(heapItem{v.rank, p, v.id})
			}
		}
	}
	out := make([]int32, 0, n)
	for i := int32(0); i >= 0; i = next[i] {
		out = append(out, c[i])
	}
	return out
}

// wordCache is a concurrency-safe, bounded map from a word to its ids,
// sharded so that parallel encoders rarely contend.
type wordCache struct {
	seed   maphash.Seed
	shards [32]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[string][]int32
}

// maxCacheShard bounds each shard; a full shard is emptied, which keeps
// memory bounded at a small cost in hit rate.
const maxCacheShard = 4096

func newWordCache() *wordCache {
	c := &wordCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[string][]int32)
	}
	return c
}

func (c *wordCache) shard(k string) *cacheShard {
	return &c.shards[maphash.String(c.seed, k)%uint64(len(c.shards))]
}

func (c *wordCache) get(k string) ([]int32, bool) {
	s := c.shard(k)
	s.mu.RLock()
	v, ok := s.m[k]
	s.mu.RUnlock()
	return v, ok
}

func (c *wordCache) put(k string, v []int32) {
	s := c.shard(k)
	s.mu.Lock()
	if len(s.m) >= maxCacheShard {
		clear(s.m)
	}
	s.m[strings.Clone(k)] = v
	s.mu.Unlock()
}
