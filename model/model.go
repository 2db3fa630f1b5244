package model

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/nlpodyssey/safetensors"

	"sdzero/kernels"
)

// ParamSpec locates one parameter inside the contiguous parameter (and
// gradient) buffer.
type ParamSpec struct {
	// Name is the Hugging Face name ("model.layers.0.mlp.up_proj.weight").
	Name string
	// Shape is the PyTorch shape ([out,in] for linear weights).
	Shape []int
	// Off and N are the element offset and count in Params and Grads.
	Off, N int
	// Decay is false for norm weights and biases, which AdamW usually
	// exempts from weight decay.
	Decay bool
}

// paramAlign aligns every parameter's offset to 64 elements (256 bytes) so
// that each tensor view starts on a cache line and satisfies GPU vector
// alignment. The gaps are zero and stay zero.
const paramAlign = 64

// layerParams are the views of one decoder layer's parameters.
// postNorm is post_attention_layernorm: on the attention sublayer's input
// residual (pre-norm families) or on its output (PostNorm); ffNorm is
// post_feedforward_layernorm (PostNorm only).
type layerParams struct {
	inNorm, postNorm  kernels.Tensor
	ffNorm            kernels.Tensor
	wq, wk, wv, wo    kernels.Tensor
	bq, bk, bv, bo    kernels.Tensor
	qNorm, kNorm      kernels.Tensor
	wGate, wUp, wDown kernels.Tensor
	bGate, bUp, bDown kernels.Tensor
}

// Model is a decoder-only transformer whose parameters live in one
// contiguous F32 buffer on a backend, with a gradient buffer of the same
// layout.
type Model struct {
	Cfg *Config
	BE  kernels.Backend
	// Params holds every parameter; Grads the gradients, same layout.
	// A BF16-only model (LoadFrozenBF16, CloneFrozenBF16) holds its
	// matmul weights only as BF16 copies: its Params then holds just the
	// other parameters (norms, biases, the embedding), packed in spec
	// order, and Param returns no view of a matmul weight.
	Params kernels.Tensor
	Grads  kernels.Tensor
	// Specs lists the parameters in buffer order.
	Specs []ParamSpec
	// SrcDir is the directory the model was loaded from ("" for New); Save
	// copies its tokenizer and generation files.
	SrcDir string
	// DiskDTypes maps each tensor name to its dtype on disk when loaded.
	DiskDTypes map[string]string

	index  map[string]int
	p, g   modelParams
	closed bool

	// Mixed precision (precision.go): cp are the weights the matmuls
	// read, p itself in PrecisionF32; in PrecisionBF16 its matmul weights
	// are views of low, refreshed from Params by SyncComputeWeights.
	prec      Precision
	cp        modelParams
	low       kernels.Tensor
	lowCopies []lowCopy

	// bf16Only marks a frozen model whose matmul weights live only in
	// low (2 bytes a parameter instead of 4 + 2): spec i is at fOff[i] in
	// Params, -1 for those weights. fOff is nil for every other model
	// (spec i at Specs[i].Off). Its lowCopies are the weights held in both
	// (the tied embedding, whose lookup reads F32).
	bf16Only bool
	fOff     []int

	// ropes is each layer's RoPE (layers of one type share it); ropeBufs
	// the inverse-frequency tensors they hold.
	ropes    []layerRope
	ropeBufs []kernels.Tensor
}

// layerRope is one layer's rotary embedding and softmax scale: freqs holds
// the inverse frequencies [HeadDim/2] when the RoPE is scaled, else RoPE
// derives them from theta; scale includes YaRN's attention factor.
type layerRope struct {
	freqs kernels.Tensor
	theta float32
	scale float32
}

// modelParams are typed views into Params or Grads.
type modelParams struct {
	embed, norm, head kernels.Tensor
	layers            []layerParams
}

// layout computes the specs and the total (aligned) size.
func layout(cfg *Config) ([]ParamSpec, int) {
	shapes := cfg.paramShapes()
	specs := make([]ParamSpec, len(shapes))
	off := 0
	for i, s := range shapes {
		n := 1
		for _, d := range s.shape {
			n *= d
		}
		specs[i] = ParamSpec{Name: s.name, Shape: s.shape, Off: off, N: n, Decay: s.decay}
		off += (n + paramAlign - 1) / paramAlign * paramAlign
	}
	return specs, off
}

// alloc builds a model with a zeroed parameter buffer and, withGrads, a
// zeroed gradient buffer.
func alloc(cfg *Config, be kernels.Backend, withGrads bool) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	specs, total := layout(cfg)
	m := &Model{Cfg: cfg, BE: be, Specs: specs, index: make(map[string]int, len(specs))}
	for i, s := range specs {
		m.index[s.Name] = i
	}
	var err error
	if m.Params, err = be.Alloc(kernels.F32, total); err != nil {
		return nil, fmt.Errorf("allocate %d parameters: %w", total, err)
	}
	if withGrads {
		if m.Grads, err = be.Alloc(kernels.F32, total); err != nil {
			be.Free(m.Params)
			return nil, fmt.Errorf("allocate %d gradients: %w", total, err)
		}
	}
	m.p = m.views(m.paramView)
	m.g = m.views(m.gradView)
	m.cp = m.p
	if err := m.initRopes(); err != nil {
		m.Free()
		return nil, err
	}
	return m, nil
}

// initRopes sets each layer's RoPE, uploading the inverse frequencies of
// every distinct scaled one once.
func (m *Model) initRopes() error {
	c := m.Cfg
	m.ropes = make([]layerRope, c.Layers)
	var seen []Rope
	var bufs []kernels.Tensor
	for l := range m.ropes {
		rp := c.LayerRope(l)
		lr := layerRope{theta: float32(rp.Theta), scale: c.layerAttnScale(l)}
		if rp.Scaling != nil {
			i := 0
			for i < len(seen) && !seen[i].equal(rp) {
				i++
			}
			if i == len(seen) {
				t, err := m.BE.Alloc(kernels.F32, c.HeadDim/2)
				if err != nil {
					return fmt.Errorf("allocate RoPE frequencies: %w", err)
				}
				m.ropeBufs = append(m.ropeBufs, t)
				m.BE.Upload(t, rp.InvFreq(c.HeadDim))
				seen, bufs = append(seen, rp), append(bufs, t)
			}
			lr.freqs = bufs[i]
		}
		m.ropes[l] = lr
	}
	return nil
}

// paramView is spec i's view of Params (the zero Tensor for a matmul
// weight of a BF16-only model, which Params does not hold).
func (m *Model) paramView(i int) kernels.Tensor {
	s := m.Specs[i]
	off := s.Off
	if m.fOff != nil {
		if off = m.fOff[i]; off < 0 {
			return kernels.Tensor{}
		}
	}
	return m.Params.View(off, s.N)
}

// gradView is spec i's view of Grads (the zero Tensor for a frozen model).
func (m *Model) gradView(i int) kernels.Tensor {
	if !m.Grads.Valid() {
		return kernels.Tensor{}
	}
	return m.Grads.View(m.Specs[i].Off, m.Specs[i].N)
}

// views slices Params or Grads (view returns spec i's view) into typed
// per-tensor views.
func (m *Model) views(view func(i int) kernels.Tensor) modelParams {
	get := func(name string) kernels.Tensor {
		i, ok := m.index[name]
		if !ok {
			return kernels.Tensor{}
		}
		return view(i)
	}
	var mp modelParams
	mp.embed = get("model.embed_tokens.weight")
	mp.norm = get("model.norm.weight")
	if m.Cfg.TieEmbeddings {
		mp.head = mp.embed
	} else {
		mp.head = get("lm_head.weight")
	}
	mp.layers = make([]layerParams, m.Cfg.Layers)
	for l := range mp.layers {
		p := fmt.Sprintf("model.layers.%d.", l)
		mp.layers[l] = layerParams{
			inNorm: get(p + "input_layernorm.weight"), postNorm: get(p + "post_attention_layernorm.weight"),
			wq: get(p + "self_attn.q_proj.weight"), wk: get(p + "self_attn.k_proj.weight"),
			wv: get(p + "self_attn.v_proj.weight"), wo: get(p + "self_attn.o_proj.weight"),
			bq: get(p + "self_attn.q_proj.bias"), bk: get(p + "self_attn.k_proj.bias"),
			bv: get(p + "self_attn.v_proj.bias"), bo: get(p + "self_attn.o_proj.bias"),
			qNorm: get(p + "self_attn.q_norm.weight"), kNorm: get(p + "self_attn.k_norm.weight"),
			wGate: get(p + "mlp.gate_proj.weight"), wUp: get(p + "mlp.up_proj.weight"),
			wDown: get(p + "mlp.down_proj.weight"),
			bGate: get(p + "mlp.gate_proj.bias"), bUp: get(p + "mlp.up_proj.bias"),
			bDown:  get(p + "mlp.down_proj.bias"),
			ffNorm: get(p + "post_feedforward_layernorm.weight"),
		}
	}
	return mp
}

// New builds a randomly initialised model like transformers'
// _init_weights: linear and embedding weights normal with std 0.02, biases
// zero, norm weights one. The same seed gives the same weights.
func New(cfg *Config, be kernels.Backend, seed uint64) (*Model, error) {
	m, err := alloc(cfg, be, true)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x5d2e0))
	for _, s := range m.Specs {
		host := make([]float32, s.N)
		switch {
		case strings.HasSuffix(s.Name, "norm.weight"):
			for i := range host {
				host[i] = 1
			}
		case strings.HasSuffix(s.Name, ".bias"):
		default:
			for i := range host {
				host[i] = float32(rng.NormFloat64() * 0.02)
			}
		}
		be.Upload(m.Params.View(s.Off, s.N), host)
	}
	if err := be.Sync(); err != nil {
		m.Free()
		return nil, fmt.Errorf("init model: %w", err)
	}
	return m, nil
}

// Load reads a Hugging Face model directory: config.json and
// model.safetensors or a sharded model.safetensors.index.json. Weights may be
// F32, BF16 or F16 on disk; they are held as F32. A missing, unexpected,
// wrongly shaped or wrongly typed tensor is an error naming it and its file.
func Load(dir string, be kernels.Backend) (*Model, error) { return load(dir, be, true) }

// LoadFrozen is Load without a gradient buffer (half the memory), for
// scoring, generation and frozen teachers; Backward refuses such a model.
func LoadFrozen(dir string, be kernels.Backend) (*Model, error) { return load(dir, be, false) }

func load(dir string, be kernels.Backend, withGrads bool) (*Model, error) {
	cfg, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	files, weightMap, err := checkpointFiles(dir)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	m, err := alloc(cfg, be, withGrads)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	if err := m.loadWeights(files, weightMap); err != nil {
		m.Free()
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	m.SrcDir = dir
	return m, nil
}

// ignoredTensor reports tensors that HF checkpoints may carry and
// transformers ignores on load: RoPE inverse-frequency buffers, and the
// output projection of a tied model (it is the embedding).
func (m *Model) ignoredTensor(name string) bool {
	// rotary_emb.inv_freq, and Olmo-3's per-layer-type
	// rotary_embs.<type>.inv_freq / original_inv_freq.
	if strings.HasSuffix(name, "inv_freq") && strings.Contains(name, "rotary_emb") {
		return true
	}
	return name == "lm_head.weight" && m.Cfg.TieEmbeddings
}

func (m *Model) loadWeights(files []string, weightMap map[string]string) error {
	found := make(map[string]string, len(m.Specs)) // tensor -> file
	m.DiskDTypes = make(map[string]string, len(m.Specs))
	for _, path := range files {
		st, err := openSafetensors(path)
		if err != nil {
			if weightMap != nil {
				return fmt.Errorf("shard of %s: %w", tensorsIn(weightMap, filepath.Base(path)), err)
			}
			return err
		}
		err = m.loadFile(st, weightMap, found)
		st.Close()
		if err != nil {
			return err
		}
	}
	for name, f := range weightMap {
		if _, ok := found[name]; !ok && !m.ignoredTensor(name) {
			return fmt.Errorf("model.safetensors.index.json maps tensor %q to %s, which does not hold it", name, f)
		}
	}
	var missing []string
	for _, s := range m.Specs {
		if _, ok := found[s.Name]; !ok {
			missing = append(missing, s.Name)
		}
	}
	if len(missing) > 0 {
		if len(missing) > 5 {
			missing = append(missing[:5], fmt.Sprintf("... (%d in all)", len(missing)))
		}
		return fmt.Errorf("missing tensors: %s", strings.Join(missing, ", "))
	}
	return m.BE.Sync()
}

func (m *Model) loadFile(st *stFile, weightMap map[string]string, found map[string]string) error {
	names := make([]string, 0, len(st.Tensors))
	for n := range st.Tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	base := filepath.Base(st.Path)
	for _, name := range names {
		t := st.Tensors[name]
		if weightMap != nil {
			if f, ok := weightMap[name]; ok && f != base {
				return fmt.Errorf("%s: tensor %q is mapped to %s by the index", st.Path, name, f)
			}
		}
		if m.ignoredTensor(name) {
			continue
		}
		i, ok := m.index[name]
		if !ok {
			return fmt.Errorf("%s: unexpected tensor %q (not a parameter of %s)", st.Path, name, m.Cfg.Arch)
		}
		if prev, dup := found[name]; dup {
			return fmt.Errorf("%s: tensor %q is also in %s", st.Path, name, prev)
		}
		spec := m.Specs[i]
		if !equalShape(t.Shape, spec.Shape) {
			return fmt.Errorf("%s: tensor %q has shape %v, want %v", st.Path, name, t.Shape, spec.Shape)
		}
		raw, err := st.read(t)
		if err != nil {
			return fmt.Errorf("%s: %w", st.Path, err)
		}
		if t.DType != safetensors.F32 && t.DType != safetensors.BF16 && t.DType != safetensors.F16 {
			return fmt.Errorf("%s: tensor %q has dtype %s (want F32, BF16 or F16)", st.Path, name, t.DType)
		}
		var wide []float32
		if t.DType != safetensors.F32 {
			wide = decode16(raw, t.DType == safetensors.BF16)
		}
		put := func(dst kernels.Tensor, lo, hi int) {
			if wide != nil {
				m.BE.Upload(dst, wide[lo:hi])
			} else {
				m.BE.UploadRaw(dst, raw[4*lo:4*hi])
			}
		}
		if dst := m.paramView(i); dst.Valid() {
			put(dst, 0, spec.N)
		} else if err := m.convertIn(m.lowViews()[i], put); err != nil {
			return fmt.Errorf("%s: tensor %q: %w", st.Path, name, err)
		}
		found[name] = st.Path
		m.DiskDTypes[name] = t.DType.String()
	}
	return nil
}

// tensorsIn names (some of) the tensors an index maps to file.
func tensorsIn(weightMap map[string]string, file string) string {
	var names []string
	for n, f := range weightMap {
		if f == file {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if len(names) > 3 {
		names = append(names[:3], fmt.Sprintf("... (%d tensors)", len(names)))
	}
	return "tensors " + strings.Join(names, ", ")
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// decode16 widens little-endian BF16 or F16 values to float32 (exactly).
func decode16(raw []byte, bf16 bool) []float32 {
	out := make([]float32, len(raw)/2)
	for i := range out {
		h := binary.LittleEndian.Uint16(raw[2*i:])
		if bf16 {
			out[i] = kernels.BF16ToF32(h)
		} else {
			out[i] = kernels.F16ToF32(h)
		}
	}
	return out
}

// Param returns the view of a parameter by HF name (the zero Tensor if
// there is none, or if it is a matmul weight of a BF16-only model, which
// holds no F32 copy of it: DownloadParam reads those).
func (m *Model) Param(name string) kernels.Tensor {
	i, ok := m.index[name]
	if !ok {
		if name == "lm_head.weight" && m.Cfg.TieEmbeddings {
			return m.p.head
		}
		return kernels.Tensor{}
	}
	return m.paramView(i)
}

// Grad returns the view of a parameter's gradient by HF name (the zero
// Tensor for a frozen model).
func (m *Model) Grad(name string) kernels.Tensor {
	if !m.Grads.Valid() {
		return kernels.Tensor{}
	}
	i, ok := m.index[name]
	if !ok {
		if name == "lm_head.weight" && m.Cfg.TieEmbeddings {
			return m.g.head
		}
		return kernels.Tensor{}
	}
	return m.Grads.View(m.Specs[i].Off, m.Specs[i].N)
}

// Spec returns the spec of a parameter by HF name.
func (m *Model) Spec(name string) (ParamSpec, bool) {
	i, ok := m.index[name]
	if !ok {
		return ParamSpec{}, false
	}
	return m.Specs[i], true
}

// ZeroGrads sets every gradient to zero (a no-op for a frozen model).
func (m *Model) ZeroGrads() {
	if m.Grads.Valid() {
		m.BE.Fill(m.Grads, 0)
	}
}

// Frozen reports whether the model has no gradient buffer (LoadFrozen,
// CloneFrozen).
func (m *Model) Frozen() bool { return !m.Grads.Valid() }

// CopyParamsFrom copies src's parameters into m (same config, same
// backend), e.g. to sync a teacher with its student, and refreshes m's
// BF16 weight copies if it has them. Into a BF16-only model, a matmul
// weight is converted from src's F32 master (the rounding
// SyncComputeWeights applies, so m computes exactly what a full copy of
// src in bf16 would) or copied from src's BF16 copy when src is BF16-only
// too; from a BF16-only src into a full model, it is widened (exact).
func (m *Model) CopyParamsFrom(src *Model) {
	if !m.bf16Only && !src.bf16Only {
		if src.Params.N != m.Params.N {
			panic(fmt.Sprintf("model: CopyParamsFrom with %d parameters into %d", src.Params.N, m.Params.N))
		}
		m.BE.Copy(m.Params, src.Params)
		m.SyncComputeWeights()
		return
	}
	if len(src.Specs) != len(m.Specs) {
		panic(fmt.Sprintf("model: CopyParamsFrom with %d tensors into %d", len(src.Specs), len(m.Specs)))
	}
	ml, sl := m.lowViews(), src.lowViews()
	for i := range m.Specs {
		if src.Specs[i].N != m.Specs[i].N {
			panic(fmt.Sprintf("model: CopyParamsFrom: %s has %d elements, %d in the source", m.Specs[i].Name, m.Specs[i].N, src.Specs[i].N))
		}
		d, f := m.paramView(i), src.paramView(i)
		switch {
		case d.Valid() && f.Valid():
			m.BE.Copy(d, f)
		case d.Valid():
			m.BE.Convert(d, sl[i])
		case f.Valid():
			m.BE.Convert(ml[i], f)
		default:
			m.BE.Copy(ml[i], sl[i])
		}
	}
	m.SyncComputeWeights()
}

// Clone returns an independent copy of the model's parameters (gradients
// zero), on the same backend, with the same precision.
func (m *Model) Clone() (*Model, error) { return m.clone(true) }

// CloneFrozen is Clone without a gradient buffer (a frozen teacher).
func (m *Model) CloneFrozen() (*Model, error) { return m.clone(false) }

func (m *Model) clone(withGrads bool) (*Model, error) {
	c, err := alloc(m.Cfg, m.BE, withGrads)
	if err != nil {
		return nil, fmt.Errorf("clone model: %w", err)
	}
	c.CopyParamsFrom(m)
	c.SrcDir = m.SrcDir
	c.DiskDTypes = m.DiskDTypes
	if err := c.SetPrecision(m.prec); err != nil {
		c.Free()
		return nil, fmt.Errorf("clone model: %w", err)
	}
	return c, m.BE.Sync()
}

// Free releases the parameter, gradient and BF16 weight buffers.
func (m *Model) Free() {
	if m.closed {
		return
	}
	m.closed = true
	m.BE.Free(m.low)
	m.low, m.lowCopies = kernels.Tensor{}, nil
	m.BE.Free(m.Params)
	if m.Grads.Valid() {
		m.BE.Free(m.Grads)
	}
	for _, t := range m.ropeBufs {
		m.BE.Free(t)
	}
	m.ropeBufs, m.ropes = nil, nil
	m.Params, m.Grads = kernels.Tensor{}, kernels.Tensor{}
}

// DownloadParam copies a parameter to the host (for tests and tools); a
// matmul weight of a BF16-only model comes widened from its BF16 copy.
func (m *Model) DownloadParam(name string) ([]float32, error) {
	t := m.Param(name)
	if !t.Valid() {
		i, ok := m.index[name]
		if !ok || !m.bf16Only {
			return nil, fmt.Errorf("no parameter %q", name)
		}
		raw, err := m.lowRaw(i)
		if err != nil {
			return nil, err
		}
		return decode16(raw, true), nil
	}
	out := make([]float32, t.N)
	m.BE.Download(out, t)
	return out, m.BE.Sync()
}

// lowRaw returns the little-endian BF16 bytes of spec i's BF16 copy.
func (m *Model) lowRaw(i int) ([]byte, error) {
	src := m.lowViews()[i]
	if !src.Valid() {
		return nil, fmt.Errorf("model: %s has no BF16 copy", m.Specs[i].Name)
	}
	buf := make([]byte, 2*src.N)
	m.BE.DownloadRaw(buf, src)
	return buf, m.BE.Sync()
}

// BF16Only reports whether the model holds its matmul weights only as
// BF16 (LoadFrozenBF16, CloneFrozenBF16).
func (m *Model) BF16Only() bool { return m.bf16Only }

// bf16Dropped reports the parameters a BF16-only model holds only as BF16:
// the matmul weights, except the embedding (tied to the output head), whose
// lookup reads F32 rows.
func (m *Model) bf16Dropped(name string) bool {
	return m.isMatmulWeight(name) && name != "model.embed_tokens.weight"
}

// lowViews returns each spec's view of the BF16 weight buffer (the zero
// Tensor for a parameter without a BF16 copy, or for every one in
// PrecisionF32).
func (m *Model) lowViews() []kernels.Tensor { return m.lowViewsOf(m.low) }

// lowViewsOf is lowViews for a BF16 buffer low laid out like lowElems:
// every matmul weight in spec order, each aligned like in Params.
func (m *Model) lowViewsOf(low kernels.Tensor) []kernels.Tensor {
	out := make([]kernels.Tensor, len(m.Specs))
	if !low.Valid() {
		return out
	}
	off := 0
	for i, s := range m.Specs {
		if m.isMatmulWeight(s.Name) {
			out[i] = low.View(off, s.N)
			off += (s.N + paramAlign - 1) / paramAlign * paramAlign
		}
	}
	return out
}

// bindLow returns the parameter views the matmuls read when the matmul
// weights are the BF16 buffer low (see lowViewsOf): m.p with every matmul
// weight replaced by its BF16 view.
func (m *Model) bindLow(low kernels.Tensor) modelParams {
	lv := m.lowViewsOf(low)
	byName := func(name string) kernels.Tensor {
		if i, ok := m.index[name]; ok {
			return lv[i]
		}
		return kernels.Tensor{}
	}
	cp := m.p
	cp.layers = append([]layerParams(nil), m.p.layers...)
	if m.Cfg.TieEmbeddings {
		cp.head = byName("model.embed_tokens.weight")
	} else {
		cp.head = byName("lm_head.weight")
	}
	for l := range cp.layers {
		pre := fmt.Sprintf("model.layers.%d.", l)
		lp := &cp.layers[l]
		lp.wq, lp.wk = byName(pre+"self_attn.q_proj.weight"), byName(pre+"self_attn.k_proj.weight")
		lp.wv, lp.wo = byName(pre+"self_attn.v_proj.weight"), byName(pre+"self_attn.o_proj.weight")
		lp.wGate, lp.wUp = byName(pre+"mlp.gate_proj.weight"), byName(pre+"mlp.up_proj.weight")
		lp.wDown = byName(pre + "mlp.down_proj.weight")
	}
	return cp
}

// loadChunk bounds the F32 staging buffer of convertIn (64 MiB).
const loadChunk = 1 << 24

// convertIn fills the BF16 tensor dst through an F32 staging buffer:
// put(tmp, lo, hi) writes elements [lo, hi) into tmp as F32, which are
// then converted (round to nearest even, as SetPrecision converts an F32
// master). The staging buffer holds at most loadChunk elements, so a
// BF16-only load never holds a whole weight in F32.
func (m *Model) convertIn(dst kernels.Tensor, put func(tmp kernels.Tensor, lo, hi int)) error {
	c := min(dst.N, loadChunk)
	tmp, err := m.BE.Alloc(kernels.F32, c)
	if err != nil {
		return fmt.Errorf("allocate %d staging elements: %w", c, err)
	}
	defer m.BE.Free(tmp)
	for lo := 0; lo < dst.N; lo += c {
		hi := min(dst.N, lo+c)
		put(tmp.View(0, hi-lo), lo, hi)
		m.BE.Convert(dst.View(lo, hi-lo), tmp.View(0, hi-lo))
	}
	return m.BE.Sync()
}

// allocBF16 builds a zeroed BF16-only frozen model: the F32 buffer holds
// the parameters that are not dropped to BF16 (bf16Dropped), packed and
// aligned in spec order, and the BF16 buffer every matmul weight.
func allocBF16(cfg *Config, be kernels.Backend) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !be.Supports(kernels.BF16) {
		return nil, fmt.Errorf("model: a BF16-only model needs BF16 matmuls, which backend %q does not support", be.Name())
	}
	specs, _ := layout(cfg)
	m := &Model{Cfg: cfg, BE: be, Specs: specs, index: make(map[string]int, len(specs)), bf16Only: true, prec: PrecisionBF16}
	for i, s := range specs {
		m.index[s.Name] = i
	}
	m.fOff = make([]int, len(specs))
	off := 0
	for i, s := range specs {
		if m.bf16Dropped(s.Name) {
			m.fOff[i] = -1
			continue
		}
		m.fOff[i] = off
		off += (s.N + paramAlign - 1) / paramAlign * paramAlign
	}
	var err error
	if m.Params, err = be.Alloc(kernels.F32, off); err != nil {
		return nil, fmt.Errorf("allocate %d F32 parameters: %w", off, err)
	}
	if m.low, err = be.Alloc(kernels.BF16, m.lowElems()); err != nil {
		be.Free(m.Params)
		return nil, fmt.Errorf("allocate %d BF16 matmul weights: %w", m.lowElems(), err)
	}
	m.p = m.views(m.paramView)
	m.g = m.views(m.gradView)
	m.cp = m.bindLow(m.low)
	// A weight held in both (the tied embedding) keeps its BF16 copy in
	// step through SyncComputeWeights, as in a full model.
	for i, dst := range m.lowViews() {
		if src := m.paramView(i); dst.Valid() && src.Valid() {
			m.lowCopies = append(m.lowCopies, lowCopy{src: src, dst: dst})
		}
	}
	if err := m.initRopes(); err != nil {
		m.Free()
		return nil, err
	}
	return m, nil
}

// LoadFrozenBF16 is LoadFrozen followed by SetPrecision(PrecisionBF16)
// for a model that is never updated (a frozen teacher, a GRPO reference):
// it computes bit for bit the same, but holds its matmul weights only as
// the BF16 copies the bf16 forward reads, without their F32 masters: 2
// bytes a matmul parameter instead of 6. Norms, biases and the embedding
// stay F32. Its precision cannot change, and Backward refuses it.
func LoadFrozenBF16(dir string, be kernels.Backend) (*Model, error) {
	cfg, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	files, weightMap, err := checkpointFiles(dir)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	m, err := allocBF16(cfg, be)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	if err := m.loadWeights(files, weightMap); err != nil {
		m.Free()
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	m.SyncComputeWeights() // the tied embedding's BF16 copy
	if err := be.Sync(); err != nil {
		m.Free()
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	m.SrcDir = dir
	return m, nil
}

// CloneFrozenBF16 is CloneFrozen in PrecisionBF16 holding the matmul
// weights only as BF16 (see LoadFrozenBF16): they are converted from m's
// F32 masters as SetPrecision would, so the clone computes exactly what
// CloneFrozen then SetPrecision(PrecisionBF16) computes.
func (m *Model) CloneFrozenBF16() (*Model, error) {
	c, err := allocBF16(m.Cfg, m.BE)
	if err != nil {
		return nil, fmt.Errorf("clone model: %w", err)
	}
	c.CopyParamsFrom(m)
	c.SrcDir = m.SrcDir
	c.DiskDTypes = m.DiskDTypes
	if err := m.BE.Sync(); err != nil {
		c.Free()
		return nil, fmt.Errorf("clone model: %w", err)
	}
	return c, nil
}

// FrozenParamMemory itemises the parameter memory of a frozen model of
// configuration cfg: F32 parameters, plus their BF16 matmul copies in
// PrecisionBF16; with bf16Only (LoadFrozenBF16) the F32 part holds only
// the norms, biases and embedding.
func FrozenParamMemory(cfg *Config, p Precision, bf16Only bool) ([]MemoryItem, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	specs, n := layout(cfg)
	m := &Model{Cfg: cfg, Specs: specs}
	if p != PrecisionBF16 {
		return []MemoryItem{{"parameters (F32)", int64(n) * 4}}, nil
	}
	low := MemoryItem{"parameters (BF16 matmul copies)", int64(m.lowElems()) * 2}
	if !bf16Only {
		return []MemoryItem{{"parameters (F32)", int64(n) * 4}, low}, nil
	}
	kept := 0
	for _, s := range specs {
		if !m.bf16Dropped(s.Name) {
			kept += (s.N + paramAlign - 1) / paramAlign * paramAlign
		}
	}
	low.Name = "matmul weights (BF16 only)"
	return []MemoryItem{{"norms, biases, embedding (F32)", int64(kept) * 4}, low}, nil
}

// fileExists reports whether path is an existing regular file.
func fileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}
