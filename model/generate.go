package model

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"sdzero/kernels"
)

// GenerateOptions control Generate.
type GenerateOptions struct {
	// MaxNewTokens is the most tokens generated per row.
	MaxNewTokens int
	// StopIDs end a row once it emits one of them (the stop id is kept in
	// the output). None by default: not even the config's EOS.
	StopIDs []int32
	// Temperature <= 0 is greedy decoding (argmax, lowest id on ties).
	Temperature float32
	// TopK > 0 samples among the TopK most likely ids only.
	TopK int
	// TopP in (0,1) samples from the smallest set of ids whose probability
	// reaches TopP; 0 or >= 1 is off.
	TopP float32
	// Seed makes sampling reproducible: the host draws one uniform per row
	// per step from a PCG stream seeded with it.
	Seed uint64
	// SampleRows and SampleRowOffset, when SampleRows > 0, make this call
	// draw its uniforms as rows [SampleRowOffset, SampleRowOffset+len(
	// prompts)) of a call of SampleRows rows with the same Seed: a batch
	// split across processes then samples as the whole batch would.
	SampleRows, SampleRowOffset int
	// NoGraphs runs every decode step op by op even on backends that can
	// record it once and replay it (kernels.Recorder: CUDA graphs). The
	// tokens are the same either way.
	NoGraphs bool
	// Slots, when in (0, len(prompts)), is continuous batching: at most
	// Slots rows decode at once, and when a row ends (stop id or
	// MaxNewTokens) its slot and KV-cache rows are refilled with the next
	// waiting prompt (prefilled on its own) instead of idling until the
	// longest row ends. Prompts enter in order, so the N samples of one
	// prompt (consecutive rows) decode side by side. Row r's token i is
	// drawn with the same uniform as in one batch of all rows, so the
	// outputs are the same as without Slots wherever the backend's ops
	// give a row the same result whatever batch it is in. The CPU
	// backend's do (every prefill is padded to kernels.PrefillRows
	// positions, so that short prompts take the batch's kernels; tested
	// in F32 and BF16 with prompts of 1 to 40 tokens) but where a prompt
	// alone and its batch fall on two sides of a kernel choice made by
	// size: F32 products with a small C split a long k across workers, and
	// BF16 attention takes bf16 GEMMs from some work per head (2 x 128 x
	// 128 x 128 at Qwen3-0.6B's heads) up to 512 positions. There the
	// values are equal to rounding, and a token differs only where two
	// candidates tie to that precision.
	Slots int
	// Uniform, if set, replaces the Seed stream (and SampleRows): it
	// returns the uniform in [0,1) that samples token i of row r. Callers
	// that cut a rollout into separately seeded chunks use it to decode
	// the chunks continuously as one call (see SeedUniforms).
	Uniform func(r, i int) float32
	// Stats, if set, receives the call's prefill and decode times.
	Stats *GenerateStats
	// Admit, if set, is called with each row's index, in order, before
	// the row's prefill (the first Slots rows before the first prefill);
	// an error ends the call with it. Rollouts stop there when asked to.
	Admit func(r int) error
	// Context, if set, is checked before every decode step: once it is
	// done, the call ends with an error wrapping its Err (a graceful
	// stop of one long generation, which Admit cannot give).
	Context context.Context
}

// GenerateStats are the timings of one Generate call, each phase synced.
type GenerateStats struct {
	// Prefill is the time of the prompts' forward passes and the
	// sampling of their first tokens; Prefills counts the passes (one for
	// the first batch, one per refilled slot).
	Prefill  time.Duration
	Prefills int
	// Decode is the time of the single-token decode steps (forward and
	// sampling of every slot) and Steps their number; RowSteps counts the
	// slots that held a live row, summed over the steps (RowSteps/Steps is
	// the batch's mean occupancy).
	Decode          time.Duration
	Steps, RowSteps int
}

// SeedUniforms returns Generate's default uniforms for Seed: the value
// that samples token i of row r when the call's rows are rows [offset,
// offset+...) of a call of rows rows (GenerateOptions.SampleRows). The
// stream draws rows values per token index, in order, and remembers them:
// a continuously batched call asks for early token indices of late rows.
func SeedUniforms(seed uint64, rows, offset int) func(r, i int) float32 {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	var steps [][]float32
	return func(r, i int) float32 {
		for len(steps) <= i {
			u := make([]float32, rows)
			for j := range u {
				u[j] = rng.Float32() // in [0,1)
			}
			steps = append(steps, u)
		}
		return steps[i][offset+r]
	}
}

// decodeState holds the buffers of single-token decode steps for b rows.
type decodeState struct {
	b                   int
	ids, pos, lens, out kernels.Tensor // I32 [b]
	u                   kernels.Tensor // F32 [b]
	x, ln, rstd, o      kernels.Tensor
	qp, kp, q, k, v     kernels.Tensor
	qrstd, krstd        kernels.Tensor
	att                 kernels.Tensor
	ln2, rstd2, down    kernels.Tensor
	gate, up, act       kernels.Tensor
	logits              kernels.Tensor // [b,V]
	low                 kernels.Tensor // BF16 matmul inputs (PrecisionBF16)
	kLow, vLow          kernels.Tensor // BF16 k, v for a BF16 cache (PrecisionBF16)
	owned               []kernels.Tensor
}

func (m *Model) newDecodeState(b int) (*decodeState, error) {
	c, be := m.Cfg, m.BE
	H, I, V := c.Hidden, c.Intermediate, c.VocabSize
	qd, kvd := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	s := &decodeState{b: b}
	var err error
	al := func(d kernels.DType, n int) kernels.Tensor {
		if err != nil {
			return kernels.Tensor{}
		}
		var t kernels.Tensor
		t, err = be.Alloc(d, n)
		if err == nil {
			s.owned = append(s.owned, t)
		}
		return t
	}
	f := func(n int) kernels.Tensor { return al(kernels.F32, n) }
	s.ids, s.pos, s.lens, s.out = al(kernels.I32, b), al(kernels.I32, b), al(kernels.I32, b), al(kernels.I32, b)
	s.u = f(b)
	s.x, s.ln, s.rstd, s.o = f(b*H), f(b*H), f(b), f(b*H)
	s.q, s.k, s.v = f(b*qd), f(b*kvd), f(b*kvd)
	s.qp, s.kp = s.q, s.k
	if c.QKNorm {
		qr, _, kr, _ := c.qkNormShape()
		s.qp, s.kp, s.qrstd, s.krstd = f(b*qd), f(b*kvd), f(b*qr), f(b*kr)
	}
	s.att = f(b * qd)
	s.ln2, s.rstd2, s.down = f(b*H), f(b), f(b*H)
	s.gate, s.up, s.act = f(b*I), f(b*I), f(b*I)
	s.logits = f(b * V)
	if m.prec == PrecisionBF16 {
		s.low = al(kernels.BF16, b*max(H, qd, I))
		s.kLow, s.vLow = al(kernels.BF16, b*kvd), al(kernels.BF16, b*kvd)
	}
	if err != nil {
		s.free(be)
		return nil, fmt.Errorf("model: decode buffers for %d rows: %w", b, err)
	}
	return s, nil
}

func (s *decodeState) free(be kernels.Backend) {
	for _, t := range s.owned {
		be.Free(t)
	}
	s.owned = nil
}

// KVCacheBytes is the size of Generate's KV cache for b rows of tmax
// positions (prompt plus new tokens) in precision p (BF16 in
// PrecisionBF16, else F32): keys and values of every layer, tmax rows
// each. Sliding-window layers are no exception: their decode step reads
// at most SlidingWindow of those rows, but the cache keeps every position
// (it is not a ring buffer).
func KVCacheBytes(cfg *Config, b, tmax int, p Precision) int64 {
	elem := int64(4)
	if p == PrecisionBF16 {
		elem = 2
	}
	return 2 * int64(cfg.Layers) * int64(b) * int64(tmax) * int64(cfg.KVHeads*cfg.HeadDim) * elem
}

func (m *Model) newCache(b, tmax int) (*kvCache, error) {
	c, be := m.Cfg, m.BE
	kvd := c.KVHeads * c.HeadDim
	kc := &kvCache{b: b, tmax: tmax, k: make([]kernels.Tensor, c.Layers), v: make([]kernels.Tensor, c.Layers)}
	// PrecisionBF16 keeps the cache in BF16, as attention's inputs are:
	// decoding reads the whole cache every step, so this halves its
	// dominant memory traffic (and the cache's size).
	dt := kernels.F32
	if m.prec == PrecisionBF16 {
		dt = kernels.BF16
	}
	// One buffer for every layer's keys and values: on the CPU a buffer
	// that large is backed by huge pages, so that filling the cache costs
	// a page fault per 2 MiB instead of one per 4 KiB (on a VM each costs
	// microseconds: a few per decode step and layer otherwise).
	per := b * tmax * kvd
	var err error
	if kc.all, err = be.Alloc(dt, 2*c.Layers*per); err == nil {
		for l := range c.Layers {
			kc.k[l], kc.v[l] = kc.all.View(2*l*per, per), kc.all.View((2*l+1)*per, per)
		}
		kc.start, err = be.Alloc(kernels.I32, b)
	}
	if err != nil {
		kc.free(be)
		return nil, fmt.Errorf("model: KV cache for %d rows x %d positions: %w", b, tmax, err)
	}
	return kc, nil
}

func (kc *kvCache) free(be kernels.Backend) {
	be.Free(kc.all)
	be.Free(kc.start)
}

// decodeStep runs one token per row through the model at positions pos
// (s.ids, s.pos set by the caller; s.lens = pos+1), appending its keys and
// values to the cache, and leaves the logits in s.logits.
func (m *Model) decodeStep(s *decodeState, kc *kvCache) {
	c, be := m.Cfg, m.BE
	b := s.b
	H, d := c.Hidden, c.HeadDim
	kvd := c.KVHeads * d
	eps := float32(c.RMSNormEps)
	be.Embedding(s.x, m.p.embed, s.ids, b, H)
	for l := 0; l < c.Layers; l++ {
		// m.cp: the BF16 weight copies in PrecisionBF16 (half the bytes
		// each step reads), the F32 parameters otherwise.
		lp := &m.cp.layers[l]
		ln := s.x // PostNorm: no input norm
		if !c.PostNorm {
			ln = normFor(be, s.ln, s.rstd, s.x, lp.inNorm, lp.wq, s.low, b, H, eps)
		}
		m.qkv(l, lp, ln, s.qp, s.kp, s.q, s.k, s.v, s.qrstd, s.krstd, s.pos, s.low, b)
		ck, cv := s.k, s.v
		if kc.k[l].DType == kernels.BF16 {
			be.Convert(s.kLow, s.k)
			be.Convert(s.vLow, s.v)
			ck, cv = s.kLow, s.vLow
		}
		be.CacheWrite(kc.k[l], ck, s.pos, b, 1, kc.tmax, kvd)
		be.CacheWrite(kc.v[l], cv, s.pos, b, 1, kc.tmax, kvd)
		// A sliding layer's query at position lens-1 reads at most W rows.
		be.AttentionDecode(s.att, s.q, kc.k[l], kc.v[l], s.lens, b, kc.tmax, c.Heads, c.KVHeads, d,
			m.ropes[l].scale, c.LayerWindow(l))
		linear(be, s.o, s.att, lp.wo, lp.bo, s.low, b, H, c.Heads*d)
		m.attnResidual(lp, s.x, s.x, s.o, s.ln, s.rstd, b)
		m.mlpBlock(lp, s.x, s.ln2, s.rstd2, s.gate, s.up, s.act, s.down, s.x, s.low, b)
	}
	x := normFor(be, s.ln, s.rstd, s.x, m.p.norm, m.cp.head, s.low, b, H, eps)
	be.MatMul(s.logits, x, m.cp.head, b, c.VocabSize, H, false, true, 1, 0)
}

// Generate continues each prompt (rows may differ in length) with batched
// KV-cache decoding and returns only the new tokens of each row. A row ends
// after MaxNewTokens tokens or after emitting a stop id (kept). With
// opt.Slots it decodes continuously (see GenerateOptions.Slots).
func (m *Model) Generate(prompts [][]int32, opt GenerateOptions) ([][]int32, error) {
	if m.closed {
		return nil, fmt.Errorf("model: used after Free")
	}
	n := len(prompts)
	out := make([][]int32, n)
	if n == 0 || opt.MaxNewTokens <= 0 {
		return out, nil
	}
	c, be := m.Cfg, m.BE
	V := c.VocabSize
	P := 0
	for r, p := range prompts {
		if len(p) == 0 {
			return nil, fmt.Errorf("model: prompt %d is empty", r)
		}
		for i, id := range p {
			if id < 0 || int(id) >= V {
				return nil, fmt.Errorf("model: prompt %d token %d is id %d, outside the vocabulary [0,%d)", r, i, id, V)
			}
		}
		P = max(P, len(p))
	}
	stop := make(map[int32]bool, len(opt.StopIDs))
	for _, id := range opt.StopIDs {
		stop[id] = true
	}
	temp, topP := opt.Temperature, opt.TopP
	if topP <= 0 || topP > 1 {
		topP = 1
	}
	uni := opt.Uniform
	if uni == nil {
		uRows, uOff := n, 0
		if opt.SampleRows > 0 {
			if opt.SampleRowOffset < 0 || opt.SampleRowOffset+n > opt.SampleRows {
				return nil, fmt.Errorf("model: generate: rows [%d,%d) outside SampleRows %d", opt.SampleRowOffset, opt.SampleRowOffset+n, opt.SampleRows)
			}
			uRows, uOff = opt.SampleRows, opt.SampleRowOffset
		}
		uni = SeedUniforms(opt.Seed, uRows, uOff)
	}
	var st GenerateStats
	if opt.Stats != nil {
		defer func() { *opt.Stats = st }()
	}
	// b slots; the static batch is every row in its own slot.
	b := n
	if opt.Slots > 0 && opt.Slots < n {
		b = opt.Slots
	}
	tmax := P + opt.MaxNewTokens
	kc, err := m.newCache(b, tmax)
	if err != nil {
		return nil, err
	}
	defer kc.free(be)
	s, err := m.newDecodeState(b)
	if err != nil {
		return nil, err
	}
	defer s.free(be)

	if opt.Admit != nil {
		for r := range b {
			if err := opt.Admit(r); err != nil {
				return nil, err
			}
		}
	}
	// A TimingBackend's per-op times are kept by phase as well.
	setPhase := func(string) string { return "" }
	if tb, ok := be.(*TimingBackend); ok {
		setPhase = tb.SetPhase
	}
	defer setPhase(setPhase("prefill"))
	// Prefill the first b prompts as one right-padded batch, writing the
	// cache.
	t0 := time.Now()
	P0 := 0
	for _, p := range prompts[:b] {
		P0 = max(P0, len(p))
	}
	// Every prefill at least minRows positions long (right padding, never
	// attended to): shorter, a backend may take another kernel for its
	// products or its attention, and a prompt's values would depend on
	// whether it is prefilled alone (kernels.PrefillRows).
	minRows := 1
	if pr, ok := be.(kernels.PrefillRows); ok {
		minRows = pr.PrefillRows()
	}
	P0 = max(P0, minRows)
	a, err := m.NewInferActs(b, P0)
	if err != nil {
		return nil, err
	}
	defer a.Free()
	ids := make([]int32, b*P0)
	lens := make([]int, b)
	last := make([]int32, b)
	for r, p := range prompts[:b] {
		copy(ids[r*P0:], p)
		lens[r] = len(p)
		last[r] = int32(r*P0 + len(p) - 1)
	}
	if err := a.setBatch(ids, lens); err != nil {
		return nil, err
	}
	be.UploadInt32(kc.start, make([]int32, b))
	m.forwardHidden(a, kc)
	// Logits of each row's last prompt token.
	be.UploadInt32(s.out, last)
	be.GatherRows(s.ln, a.lnf, s.out, b, c.Hidden)
	x := lowered(be, s.ln, m.cp.head, s.low, b*c.Hidden)
	be.MatMul(s.logits, x, m.cp.head, b, V, c.Hidden, false, true, 1, 0)

	// Decode steps after the first are recorded once and replayed where
	// the backend can (CUDA graphs): a step is hundreds of small kernels,
	// and launching each from the host would cost more than running it.
	rec, _ := be.(kernels.Recorder)
	if opt.NoGraphs {
		rec = nil
	}
	var graph kernels.Graph
	defer func() {
		if graph != nil {
			graph.Free()
		}
	}()
	sample := func() { be.Sample(s.out, s.logits, s.u, b, V, temp, opt.TopK, topP) }
	step := func() {
		m.decodeStep(s, kc)
		sample()
	}

	row := make([]int, b)   // the row in each slot, -1 when idle
	cur := make([]int32, b) // tokens in the slot's cache
	u := make([]float32, b)
	next := make([]int32, b)
	pos := make([]int32, b)
	lensPlus := make([]int32, b)
	for j := range row {
		row[j] = j
		cur[j] = int32(len(prompts[j]))
		u[j] = uni(j, 0)
	}
	be.Upload(s.u, u)
	sample() // the prefill's logits
	be.DownloadInt32(next, s.out)
	if err := be.Sync(); err != nil {
		return nil, fmt.Errorf("model: generate prefill: %w", err)
	}
	st.Prefill += time.Since(t0)
	st.Prefills++
	pending := b
	// take appends slot j's new token to its row and frees the slot when
	// the row ends.
	take := func(j int) {
		r := row[j]
		out[r] = append(out[r], next[j])
		if stop[next[j]] || len(out[r]) >= opt.MaxNewTokens {
			row[j] = -1
		}
	}
	var ra *Acts // the refills' one-row activations
	defer func() {
		if ra != nil {
			ra.Free()
		}
	}()
	one := []int32{0}
	var pad []int32 // a short prompt's padded ids
	// refill prefills prompt r alone into slot j's cache rows and samples
	// its first token into next[j].
	refill := func(j, r int) error {
		if opt.Admit != nil {
			if err := opt.Admit(r); err != nil {
				return err
			}
		}
		setPhase("prefill")
		t0 := time.Now()
		if ra == nil {
			Pr := minRows
			for _, p := range prompts[b:] {
				Pr = max(Pr, len(p))
			}
			var err error
			if ra, err = m.NewInferActs(1, Pr); err != nil {
				return err
			}
		}
		p := prompts[r]
		ids := p
		if len(p) < minRows {
			if pad == nil {
				pad = make([]int32, minRows)
			}
			clear(pad[copy(pad, p):])
			ids = pad
		}
		if err := ra.setBatch(ids, []int{len(p)}); err != nil {
			return err
		}
		kvd := c.KVHeads * c.HeadDim
		slot := &kvCache{b: 1, tmax: tmax, start: kc.start.View(0, 1), k: make([]kernels.Tensor, c.Layers), v: make([]kernels.Tensor, c.Layers)}
		for l := range slot.k {
			slot.k[l] = kc.k[l].View(j*tmax*kvd, tmax*kvd)
			slot.v[l] = kc.v[l].View(j*tmax*kvd, tmax*kvd)
		}
		m.forwardHidden(ra, slot)
		H := c.Hidden
		o := s.out.View(j, 1)
		one[0] = int32(len(p) - 1)
		be.UploadInt32(o, one)
		be.GatherRows(s.ln.View(j*H, H), ra.lnf, o, 1, H)
		var lowJ kernels.Tensor
		if s.low.Valid() {
			lowJ = s.low.View(j*H, H)
		}
		x := lowered(be, s.ln.View(j*H, H), m.cp.head, lowJ, H)
		lg := s.logits.View(j*V, V)
		be.MatMul(lg, x, m.cp.head, 1, V, H, false, true, 1, 0)
		uj := s.u.View(j, 1)
		be.Upload(uj, []float32{uni(r, 0)})
		be.Sample(o, lg, uj, 1, V, temp, opt.TopK, topP)
		be.DownloadInt32(next[j:j+1], o)
		if err := be.Sync(); err != nil {
			return fmt.Errorf("model: generate: prefill of row %d: %w", r, err)
		}
		row[j], cur[j] = r, int32(len(p))
		st.Prefill += time.Since(t0)
		st.Prefills++
		return nil
	}
	for i := 0; ; i++ {
		live := 0
		for j := range row {
			if row[j] >= 0 {
				take(j)
			}
			// A freed slot takes the next waiting prompt at once (its
			// first token may end it too).
			for row[j] < 0 && pending < n {
				pending++
				if err := refill(j, pending-1); err != nil {
					return nil, err
				}
				take(j)
			}
			if row[j] >= 0 {
				live++
			}
		}
		if live == 0 {
			break
		}
		if opt.Context != nil {
			if err := opt.Context.Err(); err != nil {
				return nil, fmt.Errorf("model: generate stopped before decode step %d: %w", i, err)
			}
		}
		// Feed the new tokens; idle slots rewrite their last cache row.
		for j := range row {
			if row[j] < 0 {
				next[j] = 0
				pos[j] = max(cur[j]-1, 0)
				u[j] = 0
			} else {
				pos[j] = cur[j]
				cur[j]++
				u[j] = uni(row[j], len(out[row[j]]))
			}
			lensPlus[j] = pos[j] + 1
		}
		setPhase("decode")
		t0 := time.Now()
		be.UploadInt32(s.ids, next)
		be.UploadInt32(s.pos, pos)
		be.UploadInt32(s.lens, lensPlus)
		be.Upload(s.u, u)
		switch {
		case graph != nil:
			graph.Replay()
		default:
			step()
			if rec != nil {
				// This step ran op by op first, so modules are loaded
				// and tables uploaded; later steps replay the graph. On
				// failure, steps simply keep running op by op.
				if g, err := rec.Record(step); err == nil {
					graph = g
				}
				rec = nil
			}
		}
		be.DownloadInt32(next, s.out)
		if err := be.Sync(); err != nil {
			return nil, fmt.Errorf("model: generate step %d: %w", i, err)
		}
		st.Decode += time.Since(t0)
		st.Steps++
		st.RowSteps += live
	}
	return out, nil
}
