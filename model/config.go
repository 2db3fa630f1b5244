// Package model is sdzero's decoder-only transformer: Qwen3, Qwen2 and Llama
// configurations read from Hugging Face config.json, weights loaded from and
// saved to safetensors (single file or sharded), an explicit forward and a
// hand-written backward over one contiguous parameter buffer, and KV-cache
// generation. Every computation is a kernels.Backend op.
//
// Entry points: Load/New build a Model (F32 Params and Grads buffers, Specs
// locating each HF tensor); NewActs/NewInferActs preallocate activations
// for B rows x T tokens; Forward (+ Logits) and Backward work on
// right-padded batches; ForwardBackwardCE and TokenLogProbs do the same
// without a [B*T, vocab] logits buffer (row chunks); Generate decodes with a
// KV cache (no stop ids unless given: not even EOS); Save writes an HF
// directory atomically. TimingBackend attributes time to ops.
package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Config is the architecture of a model, as read from a Hugging Face
// config.json. Arch selects the family: "qwen3" (per-head q/k RMSNorm),
// "qwen2" (q/k/v biases) or "llama".
type Config struct {
	Arch string
	// VocabSize, Hidden, Intermediate, Layers, Heads (query heads),
	// KVHeads (key/value heads, GQA) and HeadDim are the dimensions.
	VocabSize, Hidden, Intermediate, Layers, Heads, KVHeads, HeadDim int
	// RMSNormEps is the epsilon of every RMSNorm; RopeTheta the RoPE base.
	RMSNormEps, RopeTheta float64
	// TieEmbeddings means the output projection is the input embedding.
	TieEmbeddings bool
	// QKNorm adds a per-head RMSNorm on queries and keys (Qwen3).
	QKNorm bool
	// AttnBias gives q_proj, k_proj and v_proj a bias.
	AttnBias bool
	// OBias gives o_proj a bias (Llama and Qwen3 with attention_bias).
	OBias bool
	// MLPBias gives gate_proj, up_proj and down_proj a bias (Llama mlp_bias).
	MLPBias bool
	// RopeScaling, when set, rescales RoPE's frequencies (Llama 3.1 and
	// later configs carry rope_type "llama3").
	RopeScaling *RopeScaling
	// MaxPositions is max_position_embeddings (informational: RoPE has no
	// table, longer sequences are computed the same way).
	MaxPositions int
	// BOSTokenID is the beginning-of-sequence id, -1 if none.
	BOSTokenID int
	// EOSTokenIDs are the end-of-sequence ids (config.json allows an int
	// or a list).
	EOSTokenIDs []int
	// Raw is the config.json object as read, so that fields this package
	// does not interpret survive a re-save. Nil for configs built in code.
	Raw map[string]any
}

// RopeScaling rescales RoPE's inverse frequencies as transformers'
// rope_type "llama3" or "linear" does (modeling_rope_utils).
type RopeScaling struct {
	// Type is "llama3" or "linear".
	Type string
	// Factor divides the frequencies: all of them (linear), or those whose
	// wavelength exceeds OriginalMaxPositions/LowFreqFactor, with a smooth
	// ramp down to OriginalMaxPositions/HighFreqFactor (llama3).
	Factor float64
	// LowFreqFactor, HighFreqFactor and OriginalMaxPositions
	// (original_max_position_embeddings) are llama3's.
	LowFreqFactor, HighFreqFactor float64
	OriginalMaxPositions          int
}

// validate checks the parameters the type needs.
func (r *RopeScaling) validate() error {
	if !(r.Factor > 0) || math.IsInf(r.Factor, 0) {
		return fmt.Errorf("rope scaling factor %v must be positive", r.Factor)
	}
	switch r.Type {
	case "linear":
	case "llama3":
		if !(r.HighFreqFactor > r.LowFreqFactor) || !(r.LowFreqFactor > 0) {
			return fmt.Errorf("llama3 rope scaling needs 0 < low_freq_factor < high_freq_factor, got %v and %v", r.LowFreqFactor, r.HighFreqFactor)
		}
		if r.OriginalMaxPositions <= 0 {
			return fmt.Errorf("llama3 rope scaling needs original_max_position_embeddings > 0, got %d", r.OriginalMaxPositions)
		}
	default:
		return fmt.Errorf("rope scaling type %q is not supported (only llama3 and linear)", r.Type)
	}
	return nil
}

// hf returns the rope_scaling object of config.json.
func (r *RopeScaling) hf() map[string]any {
	m := map[string]any{"rope_type": r.Type, "factor": r.Factor}
	if r.Type == "llama3" {
		m["low_freq_factor"] = r.LowFreqFactor
		m["high_freq_factor"] = r.HighFreqFactor
		m["original_max_position_embeddings"] = r.OriginalMaxPositions
	}
	return m
}

// RopeInvFreq returns RoPE's inverse frequencies [HeadDim/2] in float32,
// as transformers computes them: theta^(-2j/d), then the scaling. The
// float32 operation order follows _compute_llama3_parameters.
func (c *Config) RopeInvFreq() []float32 {
	d := c.HeadDim
	inv := make([]float32, d/2)
	for j := range inv {
		e := float32(2*j) / float32(d)
		inv[j] = 1 / float32(math.Pow(c.RopeTheta, float64(e)))
	}
	r := c.RopeScaling
	if r == nil {
		return inv
	}
	factor := float32(r.Factor)
	if r.Type == "linear" {
		for j := range inv {
			inv[j] /= factor
		}
		return inv
	}
	old := float32(r.OriginalMaxPositions)
	lowF, highF := float32(r.LowFreqFactor), float32(r.HighFreqFactor)
	lowWL, highWL := float32(float64(r.OriginalMaxPositions)/r.LowFreqFactor), float32(float64(r.OriginalMaxPositions)/r.HighFreqFactor)
	for j, f := range inv {
		wl := float32(2*math.Pi) / f
		v := f
		if wl > lowWL {
			v = f / factor
		}
		if !(wl < highWL) && !(wl > lowWL) {
			smooth := (old/wl - lowF) / (highF - lowF)
			v = (1-smooth)*v/factor + smooth*v
		}
		inv[j] = v
	}
	return inv
}

// archInfo maps the supported architectures to their family.
var archInfo = map[string]string{
	"Qwen3ForCausalLM": "qwen3",
	"Qwen2ForCausalLM": "qwen2",
	"LlamaForCausalLM": "llama",
}

// archName is the inverse of archInfo, for writing config.json.
var archName = map[string]string{
	"qwen3": "Qwen3ForCausalLM",
	"qwen2": "Qwen2ForCausalLM",
	"llama": "LlamaForCausalLM",
}

// LoadConfig reads a Hugging Face config.json. Anything that would make the
// model compute something other than what transformers computes (another
// architecture, MoE, sliding windows, RoPE scaling, another activation,
// quantisation) is an error naming the field.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// ParseConfig parses the contents of a config.json (see LoadConfig).
func ParseConfig(data []byte) (*Config, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if raw == nil {
		return nil, errors.New("config is not a JSON object")
	}
	c := &Config{Raw: raw, BOSTokenID: -1}
	r := rawCfg(raw)

	// Architecture: architectures[0] wins, model_type must agree.
	mt, err := r.str("model_type", "")
	if err != nil {
		return nil, err
	}
	if a, ok := raw["architectures"]; ok && a != nil {
		list, ok := a.([]any)
		if !ok || len(list) != 1 {
			return nil, fmt.Errorf("architectures: want a list of one name, got %v", a)
		}
		name, _ := list[0].(string)
		arch, ok := archInfo[name]
		if !ok {
			return nil, fmt.Errorf("architectures: %q is not supported (supported: Qwen3ForCausalLM, Qwen2ForCausalLM, LlamaForCausalLM)", name)
		}
		if mt != "" && mt != arch {
			return nil, fmt.Errorf("model_type %q does not match architectures %q", mt, name)
		}
		c.Arch = arch
	} else {
		switch mt {
		case "qwen3", "qwen2", "llama":
			c.Arch = mt
		case "":
			return nil, errors.New("neither architectures nor model_type is set")
		default:
			return nil, fmt.Errorf("model_type %q is not supported (supported: qwen3, qwen2, llama)", mt)
		}
	}

	ints := []struct {
		key string
		dst *int
	}{
		{"vocab_size", &c.VocabSize}, {"hidden_size", &c.Hidden},
		{"intermediate_size", &c.Intermediate}, {"num_hidden_layers", &c.Layers},
		{"num_attention_heads", &c.Heads},
	}
	for _, f := range ints {
		v, ok, err := r.intOpt(f.key)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%s is missing", f.key)
		}
		*f.dst = v
	}
	if c.KVHeads, err = r.intDef("num_key_value_heads", c.Heads); err != nil {
		return nil, err
	}
	hd := 0
	if c.Heads > 0 {
		hd = c.Hidden / c.Heads
	}
	if c.HeadDim, err = r.intDef("head_dim", hd); err != nil {
		return nil, err
	}
	if c.MaxPositions, err = r.intDef("max_position_embeddings", 0); err != nil {
		return nil, err
	}
	if c.RMSNormEps, err = r.floatDef("rms_norm_eps", 1e-6); err != nil {
		return nil, err
	}
	if c.TieEmbeddings, err = r.boolDef("tie_word_embeddings", false); err != nil {
		return nil, err
	}
	if c.BOSTokenID, err = r.intDef("bos_token_id", -1); err != nil {
		return nil, err
	}
	if c.EOSTokenIDs, err = r.intList("eos_token_id"); err != nil {
		return nil, err
	}

	act, err := r.str("hidden_act", "silu")
	if err != nil {
		return nil, err
	}
	if act != "silu" {
		return nil, fmt.Errorf("hidden_act %q is not supported (only silu)", act)
	}

	attnBias, err := r.boolDef("attention_bias", false)
	if err != nil {
		return nil, err
	}
	mlpBias, err := r.boolDef("mlp_bias", false)
	if err != nil {
		return nil, err
	}
	switch c.Arch {
	case "qwen3":
		// Qwen3Attention: q/k/v/o all use attention_bias; q_norm, k_norm.
		c.QKNorm, c.AttnBias, c.OBias = true, attnBias, attnBias
	case "qwen2":
		// Qwen2Attention: q/k/v always biased, o_proj never.
		c.AttnBias = true
	case "llama":
		c.AttnBias, c.OBias, c.MLPBias = attnBias, attnBias, mlpBias
	}
	if mlpBias && c.Arch != "llama" {
		return nil, fmt.Errorf("mlp_bias=true is not supported for %s", c.Arch)
	}

	if c.RopeTheta, c.RopeScaling, err = parseRope(r); err != nil {
		return nil, err
	}
	if err := checkUnsupported(r, c); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// parseRope reads the RoPE base and scaling from either layout:
// transformers 4's top-level rope_theta + rope_scaling, or transformers 5's
// rope_parameters.
func parseRope(r rawCfg) (float64, *RopeScaling, error) {
	theta := 10000.0 // the default of every supported config class
	if v, ok := r["rope_theta"]; ok && v != nil {
		f, err := r.floatDef("rope_theta", theta)
		if err != nil {
			return 0, nil, err
		}
		theta = f
	}
	var scaling *RopeScaling
	read := func(field string, v any) error {
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object or null, got %v", field, v)
		}
		if f, ok := m["partial_rotary_factor"]; ok && f != nil {
			if n, err := toFloat(f); err != nil || n != 1 {
				return fmt.Errorf("%s.partial_rotary_factor %v is not supported (only 1)", field, f)
			}
		}
		if f, ok := m["rope_theta"]; ok && f != nil {
			n, err := toFloat(f)
			if err != nil {
				return fmt.Errorf("%s.rope_theta: %w", field, err)
			}
			theta = n
		}
		typ := "default"
		for _, k := range []string{"rope_type", "type"} {
			if t, ok := m[k]; ok && t != nil {
				s, ok := t.(string)
				if !ok {
					return fmt.Errorf("%s.%s: want a string, got %v", field, k, t)
				}
				typ = s
				break
			}
		}
		switch typ {
		case "default":
			return nil
		case "llama3", "linear":
		default:
			return fmt.Errorf("%s rope_type %q is not supported (RoPE scaling: only default, llama3 and linear)", field, typ)
		}
		sc := &RopeScaling{Type: typ}
		num := func(key string, dst *float64) error {
			v, ok := m[key]
			if !ok || v == nil {
				return fmt.Errorf("%s: rope_type %s needs %s", field, typ, key)
			}
			n, err := toFloat(v)
			if err != nil {
				return fmt.Errorf("%s.%s: %w", field, key, err)
			}
			*dst = n
			return nil
		}
		if err := num("factor", &sc.Factor); err != nil {
			return err
		}
		if typ == "llama3" {
			var orig float64
			for _, kv := range []struct {
				k string
				d *float64
			}{{"low_freq_factor", &sc.LowFreqFactor}, {"high_freq_factor", &sc.HighFreqFactor}, {"original_max_position_embeddings", &orig}} {
				if err := num(kv.k, kv.d); err != nil {
					return err
				}
			}
			if orig != math.Trunc(orig) {
				return fmt.Errorf("%s.original_max_position_embeddings %v: want an integer", field, orig)
			}
			sc.OriginalMaxPositions = int(orig)
		}
		if err := sc.validate(); err != nil {
			return fmt.Errorf("%s: %w", field, err)
		}
		scaling = sc
		return nil
	}
	for _, field := range []string{"rope_scaling", "rope_parameters"} {
		if v, ok := r[field]; ok && v != nil {
			if err := read(field, v); err != nil {
				return 0, nil, err
			}
		}
	}
	if !(theta > 0) || math.IsInf(theta, 0) {
		return 0, nil, fmt.Errorf("rope_theta %v must be positive", theta)
	}
	return theta, scaling, nil
}

// checkUnsupported rejects features that change the computation.
func checkUnsupported(r rawCfg, c *Config) error {
	useSW, err := r.boolDef("use_sliding_window", false)
	if err != nil {
		return err
	}
	if useSW {
		// Qwen2/Qwen3 slide only layers >= max_window_layers.
		mwl, err := r.intDef("max_window_layers", 0)
		if err != nil {
			return err
		}
		if mwl < c.Layers {
			return fmt.Errorf("use_sliding_window=true (sliding_window %v from layer %d) is not supported", r["sliding_window"], mwl)
		}
	}
	if c.Arch == "llama" {
		if v, ok := r["sliding_window"]; ok && v != nil {
			return fmt.Errorf("sliding_window %v is not supported", v)
		}
	}
	if v, ok := r["layer_types"]; ok && v != nil {
		list, ok := v.([]any)
		if !ok {
			return fmt.Errorf("layer_types: want a list, got %v", v)
		}
		for i, t := range list {
			if s, _ := t.(string); s != "full_attention" {
				return fmt.Errorf("layer_types[%d] %v is not supported (only full_attention)", i, t)
			}
		}
	}
	for _, k := range []string{"num_experts", "num_local_experts", "n_routed_experts", "moe_intermediate_size"} {
		if v, ok := r[k]; ok && v != nil {
			if n, err := toFloat(v); err != nil || n != 0 {
				return fmt.Errorf("%s %v: mixture-of-experts models are not supported", k, v)
			}
		}
	}
	if v, ok := r["quantization_config"]; ok && v != nil {
		return errors.New("quantization_config is set: quantised checkpoints are not supported")
	}
	if v, ok := r["attention_dropout"]; ok && v != nil {
		if n, err := toFloat(v); err != nil || n != 0 {
			return fmt.Errorf("attention_dropout %v is not supported (only 0)", v)
		}
	}
	if v, ok := r["pretraining_tp"]; ok && v != nil {
		// pretraining_tp > 1 only splits matmuls in HF: same math, accepted.
		if _, err := toFloat(v); err != nil {
			return fmt.Errorf("pretraining_tp: %w", err)
		}
	}
	return nil
}

// Validate checks that the dimensions are consistent.
func (c *Config) Validate() error {
	if _, ok := archName[c.Arch]; !ok {
		return fmt.Errorf("config: unknown arch %q (want qwen3, qwen2 or llama)", c.Arch)
	}
	if c.RopeScaling != nil {
		if err := c.RopeScaling.validate(); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	dims := []struct {
		name string
		v    int
	}{
		{"vocab_size", c.VocabSize}, {"hidden_size", c.Hidden}, {"intermediate_size", c.Intermediate},
		{"num_hidden_layers", c.Layers}, {"num_attention_heads", c.Heads},
		{"num_key_value_heads", c.KVHeads}, {"head_dim", c.HeadDim},
	}
	for _, d := range dims {
		if d.v <= 0 {
			return fmt.Errorf("config: %s must be positive, got %d", d.name, d.v)
		}
	}
	if c.Heads%c.KVHeads != 0 {
		return fmt.Errorf("config: num_attention_heads %d is not a multiple of num_key_value_heads %d", c.Heads, c.KVHeads)
	}
	if c.HeadDim%2 != 0 {
		return fmt.Errorf("config: head_dim %d must be even for RoPE", c.HeadDim)
	}
	if !(c.RMSNormEps > 0) {
		return fmt.Errorf("config: rms_norm_eps %v must be positive", c.RMSNormEps)
	}
	if !(c.RopeTheta > 0) {
		return fmt.Errorf("config: rope_theta %v must be positive", c.RopeTheta)
	}
	if c.Arch == "qwen2" && (!c.AttnBias || c.OBias || c.QKNorm) {
		return errors.New("config: qwen2 has q/k/v biases, no o_proj bias and no q/k norm")
	}
	if c.MLPBias && c.Arch != "llama" {
		return fmt.Errorf("config: mlp_bias is only supported for llama, not %s", c.Arch)
	}
	// The parameter count must fit the int sizes used for tensors.
	if n := c.NumParams(); n <= 0 || n > math.MaxInt32*int64(64) {
		return fmt.Errorf("config: %d parameters is out of range", n)
	}
	return nil
}

// NumParams is the number of parameters (a tied output projection counts
// once).
func (c *Config) NumParams() int64 {
	var n int64
	for _, s := range c.paramShapes() {
		p := int64(1)
		for _, d := range s.shape {
			p *= int64(d)
		}
		n += p
	}
	return n
}

// WriteJSON writes an HF-compatible config.json (atomically: temp file and
// rename). A config read from disk keeps every field it had; the fields this
// package interprets are set from c.
func (c *Config) WriteJSON(path string) error {
	data, err := c.MarshalHF("")
	if err != nil {
		return fmt.Errorf("write config %s: %w", path, err)
	}
	return writeFileAtomic(path, data)
}

// MarshalHF returns the config.json bytes. torchDType, if not empty, sets
// the dtype field ("float32", "bfloat16").
func (c *Config) MarshalHF(torchDType string) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	out := make(map[string]any, len(c.Raw)+24)
	for k, v := range c.Raw {
		out[k] = v
	}
	out["architectures"] = []any{archName[c.Arch]}
	out["model_type"] = c.Arch
	out["vocab_size"] = c.VocabSize
	out["hidden_size"] = c.Hidden
	out["intermediate_size"] = c.Intermediate
	out["num_hidden_layers"] = c.Layers
	out["num_attention_heads"] = c.Heads
	out["num_key_value_heads"] = c.KVHeads
	out["head_dim"] = c.HeadDim
	out["rms_norm_eps"] = c.RMSNormEps
	out["tie_word_embeddings"] = c.TieEmbeddings
	out["hidden_act"] = "silu"
	if c.MaxPositions > 0 {
		out["max_position_embeddings"] = c.MaxPositions
	}
	switch c.Arch {
	case "qwen3":
		out["attention_bias"] = c.AttnBias
	case "llama":
		out["attention_bias"] = c.AttnBias
		out["mlp_bias"] = c.MLPBias
	}
	if c.BOSTokenID >= 0 {
		out["bos_token_id"] = c.BOSTokenID
	} else if _, ok := out["bos_token_id"]; !ok {
		out["bos_token_id"] = nil
	}
	switch len(c.EOSTokenIDs) {
	case 0:
		if _, ok := out["eos_token_id"]; !ok {
			out["eos_token_id"] = nil
		}
	case 1:
		out["eos_token_id"] = c.EOSTokenIDs[0]
	default:
		l := make([]any, len(c.EOSTokenIDs))
		for i, v := range c.EOSTokenIDs {
			l[i] = v
		}
		out["eos_token_id"] = l
	}
	// RoPE: keep the layout the config came in (transformers 5's
	// rope_parameters) or else write transformers 4's top-level rope_theta,
	// which both versions read.
	if rp, ok := out["rope_parameters"].(map[string]any); ok {
		m := make(map[string]any, len(rp))
		for k, v := range rp {
			m[k] = v
		}
		m["rope_theta"] = c.RopeTheta
		m["rope_type"] = "default"
		if c.RopeScaling != nil {
			for k, v := range c.RopeScaling.hf() {
				m[k] = v
			}
		}
		out["rope_parameters"] = m
		if _, ok := out["rope_theta"]; ok {
			out["rope_theta"] = c.RopeTheta
		}
	} else {
		out["rope_theta"] = c.RopeTheta
		if c.RopeScaling != nil {
			out["rope_scaling"] = c.RopeScaling.hf()
		} else if _, ok := out["rope_scaling"]; !ok {
			out["rope_scaling"] = nil
		}
	}
	if torchDType != "" {
		set := false
		for _, k := range []string{"torch_dtype", "dtype"} {
			if _, ok := out[k]; ok {
				out[k] = torchDType
				set = true
			}
		}
		if !set {
			out["torch_dtype"] = torchDType
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	// encoding/json writes map keys sorted: the output is deterministic.
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeFileAtomic writes data to a temp file beside path, syncs it and
// renames it over path, so that a crash leaves either the old or the new
// file, never a partial one.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := writeTemp(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// writeTemp creates a temp file beside path, fills it with write, syncs
// and closes it, and returns its name (removed again on failure).
func writeTemp(path string, write func(io.Writer) error) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	werr := write(f)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("write %s: %w", path, werr)
	}
	return tmp, nil
}

// rawCfg gives typed access to a config.json object with errors naming the
// field.
type rawCfg map[string]any

func (r rawCfg) str(key, def string) (string, error) {
	v, ok := r[key]
	if !ok || v == nil {
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s: want a string, got %v", key, v)
	}
	return s, nil
}

func (r rawCfg) intOpt(key string) (int, bool, error) {
	v, ok := r[key]
	if !ok || v == nil {
		return 0, false, nil
	}
	n, err := toInt(v)
	if err != nil {
		return 0, false, fmt.Errorf("%s: %w", key, err)
	}
	return n, true, nil
}

func (r rawCfg) intDef(key string, def int) (int, error) {
	n, ok, err := r.intOpt(key)
	if err != nil || !ok {
		return def, err
	}
	return n, nil
}

func (r rawCfg) floatDef(key string, def float64) (float64, error) {
	v, ok := r[key]
	if !ok || v == nil {
		return def, nil
	}
	f, err := toFloat(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", key, err)
	}
	return f, nil
}

func (r rawCfg) boolDef(key string, def bool) (bool, error) {
	v, ok := r[key]
	if !ok || v == nil {
		return def, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("%s: want true or false, got %v", key, v)
	}
	return b, nil
}

// intList reads an int, a list of ints or null.
func (r rawCfg) intList(key string) ([]int, error) {
	v, ok := r[key]
	if !ok || v == nil {
		return nil, nil
	}
	if l, ok := v.([]any); ok {
		out := make([]int, 0, len(l))
		for i, e := range l {
			n, err := toInt(e)
			if err != nil {
				return nil, fmt.Errorf("%s[%d]: %w", key, i, err)
			}
			out = append(out, n)
		}
		return out, nil
	}
	n, err := toInt(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return []int{n}, nil
}

func toInt(v any) (int, error) {
	switch x := v.(type) {
	case json.Number:
		n, err := x.Int64()
		if err != nil {
			f, ferr := x.Float64()
			if ferr != nil || f != math.Trunc(f) {
				return 0, fmt.Errorf("want an integer, got %s", x)
			}
			n = int64(f)
		}
		if n > math.MaxInt32 || n < math.MinInt32 {
			return 0, fmt.Errorf("%d is out of range", n)
		}
		return int(n), nil
	case float64:
		if x != math.Trunc(x) {
			return 0, fmt.Errorf("want an integer, got %v", x)
		}
		return int(x), nil
	case int:
		return x, nil
	}
	return 0, fmt.Errorf("want an integer, got %v", v)
}

func toFloat(v any) (float64, error) {
	switch x := v.(type) {
	case json.Number:
		return x.Float64()
	case float64:
		return x, nil
	case int:
		return float64(x), nil
	}
	return 0, fmt.Errorf("want a number, got %v", v)
}

// shapeSpec is the name and shape of one parameter.
type shapeSpec struct {
	name  string
	shape []int
	decay bool
}

// paramShapes lists every parameter with its HF name, in the order of the
// parameter buffer: all weight matrices (decayed) first, then norms and
// biases (not decayed), so that an optimiser sees two contiguous runs.
func (c *Config) paramShapes() []shapeSpec {
	H, I, V := c.Hidden, c.Intermediate, c.VocabSize
	qd, kvd := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	var mats, rest []shapeSpec
	mat := func(name string, s ...int) { mats = append(mats, shapeSpec{name, s, true}) }
	vec := func(name string, n int) { rest = append(rest, shapeSpec{name, []int{n}, false}) }
	mat("model.embed_tokens.weight", V, H)
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		mat(p+"self_attn.q_proj.weight", qd, H)
		mat(p+"self_attn.k_proj.weight", kvd, H)
		mat(p+"self_attn.v_proj.weight", kvd, H)
		mat(p+"self_attn.o_proj.weight", H, qd)
		mat(p+"mlp.gate_proj.weight", I, H)
		mat(p+"mlp.up_proj.weight", I, H)
		mat(p+"mlp.down_proj.weight", H, I)
	}
	if !c.TieEmbeddings {
		mat("lm_head.weight", V, H)
	}
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		vec(p+"input_layernorm.weight", H)
		vec(p+"post_attention_layernorm.weight", H)
		if c.QKNorm {
			vec(p+"self_attn.q_norm.weight", c.HeadDim)
			vec(p+"self_attn.k_norm.weight", c.HeadDim)
		}
		if c.AttnBias {
			vec(p+"self_attn.q_proj.bias", qd)
			vec(p+"self_attn.k_proj.bias", kvd)
			vec(p+"self_attn.v_proj.bias", kvd)
		}
		if c.OBias {
			vec(p+"self_attn.o_proj.bias", H)
		}
		if c.MLPBias {
			vec(p+"mlp.gate_proj.bias", I)
			vec(p+"mlp.up_proj.bias", I)
			vec(p+"mlp.down_proj.bias", H)
		}
	}
	vec("model.norm.weight", H)
	return append(mats, rest...)
}

// String summarises the architecture on one line.
func (c *Config) String() string {
	var extra []string
	if c.QKNorm {
		extra = append(extra, "qk-norm")
	}
	if c.AttnBias {
		extra = append(extra, "qkv-bias")
	}
	if c.OBias {
		extra = append(extra, "o-bias")
	}
	if c.MLPBias {
		extra = append(extra, "mlp-bias")
	}
	if c.TieEmbeddings {
		extra = append(extra, "tied-embeddings")
	}
	sort.Strings(extra)
	return fmt.Sprintf("%s: vocab %d, hidden %d, intermediate %d, layers %d, heads %d/%d kv, head_dim %d, rope_theta %g, eps %g [%s]",
		c.Arch, c.VocabSize, c.Hidden, c.Intermediate, c.Layers, c.Heads, c.KVHeads, c.HeadDim,
		c.RopeTheta, c.RMSNormEps, strings.Join(extra, ","))
}
