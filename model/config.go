// Package model is sdzero's decoder-only transformer: Qwen3, Qwen2, Llama,
// Olmo-2 and Olmo-3 configurations (sliding-window layers, RoPE per layer
// type, llama3/linear/YaRN scaling) read from Hugging Face config.json,
// weights loaded from and saved to safetensors (single file or sharded), an
// explicit forward and a hand-written backward over one contiguous
// parameter buffer, and KV-cache generation. Every computation is a
// kernels.Backend op.
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
// "qwen2" (q/k/v biases), "llama", "olmo2" (norms after the sublayers,
// q/k RMSNorm over the whole projection width) or "olmo3" (olmo2 with
// sliding-window layers).
type Config struct {
	Arch string
	// VocabSize, Hidden, Intermediate, Layers, Heads (query heads),
	// KVHeads (key/value heads, GQA) and HeadDim are the dimensions.
	VocabSize, Hidden, Intermediate, Layers, Heads, KVHeads, HeadDim int
	// RMSNormEps is the epsilon of every RMSNorm. RopeTheta and
	// RopeScaling are the RoPE of the full-attention layers, and of every
	// layer unless SlidingRope is set.
	RMSNormEps, RopeTheta float64
	// TieEmbeddings means the output projection is the input embedding.
	TieEmbeddings bool
	// QKNorm adds an RMSNorm on queries and keys before RoPE: per head
	// (Qwen3), or with QKNormFull over the whole projection width before
	// the split into heads (Olmo-2/3: weights [Heads*HeadDim] and
	// [KVHeads*HeadDim]).
	QKNorm, QKNormFull bool
	// PostNorm places the layer norms after the attention and MLP
	// sublayers, on their outputs before the residual adds
	// (post_attention_layernorm, post_feedforward_layernorm), with no input
	// norms (Olmo-2/3).
	PostNorm bool
	// AttnBias gives q_proj, k_proj and v_proj a bias.
	AttnBias bool
	// OBias gives o_proj a bias (Llama and Qwen3 with attention_bias).
	OBias bool
	// MLPBias gives gate_proj, up_proj and down_proj a bias (Llama mlp_bias).
	MLPBias bool
	// RopeScaling, when set, rescales RoPE's frequencies (Llama 3.1 and
	// later configs carry rope_type "llama3"; YaRN configs "yarn").
	RopeScaling *RopeScaling
	// LayerTypes is each layer's attention, "full_attention" or
	// "sliding_attention", as transformers derives it for the family
	// (layer_types, or Qwen's use_sliding_window/max_window_layers, or
	// Olmo-3's default pattern); nil when every layer is full.
	LayerTypes []string
	// SlidingWindow is W of the sliding_attention layers: the query at
	// position i sees keys j with i-W < j <= i.
	SlidingWindow int
	// SlidingRope, when set, is the RoPE of the sliding_attention layers
	// (Olmo-3 computes them without the full layers' scaling).
	SlidingRope *Rope
	// MaxPositions is max_position_embeddings (informational: RoPE has no
	// table, longer sequences are computed the same way; YaRN defaults
	// its original context to it).
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

// Layer types of LayerTypes.
const (
	FullAttention    = "full_attention"
	SlidingAttention = "sliding_attention"
)

// Rope is one layer type's rotary embedding: the base and the scaling.
type Rope struct {
	Theta   float64
	Scaling *RopeScaling
}

// equal reports whether r and o compute the same frequencies.
func (r Rope) equal(o Rope) bool {
	if r.Theta != o.Theta || (r.Scaling == nil) != (o.Scaling == nil) {
		return false
	}
	return r.Scaling == nil || *r.Scaling == *o.Scaling
}

// HFArchitecture is the family's transformers class ("Olmo3ForCausalLM").
func (c *Config) HFArchitecture() string { return archName[c.Arch] }

// LayerWindow is layer l's sliding window W, 0 for full causal attention.
func (c *Config) LayerWindow(l int) int {
	if c.LayerTypes != nil && c.LayerTypes[l] == SlidingAttention {
		return c.SlidingWindow
	}
	return 0
}

// LayerRope is the RoPE of layer l.
func (c *Config) LayerRope(l int) Rope {
	if c.SlidingRope != nil && c.LayerWindow(l) > 0 {
		return *c.SlidingRope
	}
	return Rope{Theta: c.RopeTheta, Scaling: c.RopeScaling}
}

// AttentionFactor is the factor YaRN applies to RoPE's cos and sin (its
// mscale), 1 for every other RoPE. Queries and keys both carry it, so the
// attention scores scale by its square.
func (r Rope) AttentionFactor() float64 {
	if r.Scaling != nil && r.Scaling.Type == "yarn" {
		return r.Scaling.AttentionFactor
	}
	return 1
}

// layerAttnScale is layer l's softmax scale: 1/sqrt(head_dim), times the
// square of YaRN's attention factor (applied to q and k through cos/sin in
// transformers; folded into the scores here).
func (c *Config) layerAttnScale(l int) float32 {
	af := c.LayerRope(l).AttentionFactor()
	return float32(af * af / math.Sqrt(float64(c.HeadDim)))
}

// qkNormShape is the q and k norms' rows per token and width: one row of
// HeadDim per head (Qwen3) or one row of the whole projection (Olmo).
func (c *Config) qkNormShape() (qRows, qDim, kRows, kDim int) {
	if c.QKNormFull {
		return 1, c.Heads * c.HeadDim, 1, c.KVHeads * c.HeadDim
	}
	return c.Heads, c.HeadDim, c.KVHeads, c.HeadDim
}

// RopeScaling rescales RoPE's inverse frequencies as transformers'
// rope_type "llama3", "linear" or "yarn" does (modeling_rope_utils).
type RopeScaling struct {
	// Type is "llama3", "linear" or "yarn".
	Type string
	// Factor divides the frequencies: all of them (linear), or those whose
	// wavelength exceeds OriginalMaxPositions/LowFreqFactor, with a smooth
	// ramp down to OriginalMaxPositions/HighFreqFactor (llama3), or those
	// below YaRN's correction range (yarn).
	Factor float64
	// LowFreqFactor, HighFreqFactor and OriginalMaxPositions
	// (original_max_position_embeddings) are llama3's; yarn uses
	// OriginalMaxPositions too.
	LowFreqFactor, HighFreqFactor float64
	OriginalMaxPositions          int
	// BetaFast and BetaSlow (yarn) bound the correction range in
	// rotations; AttentionFactor is YaRN's scale of cos and sin (from
	// attention_factor, or mscale/mscale_all_dim, or 0.1*ln(factor)+1);
	// NoTruncate is truncate=false (the range's bounds are not rounded).
	BetaFast, BetaSlow, AttentionFactor float64
	NoTruncate                          bool
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
	case "yarn":
		if r.OriginalMaxPositions <= 0 {
			return fmt.Errorf("yarn rope scaling needs original_max_position_embeddings (or max_position_embeddings) > 0, got %d", r.OriginalMaxPositions)
		}
		if !(r.BetaFast > 0) || !(r.BetaSlow > 0) || math.IsInf(r.BetaFast, 0) || math.IsInf(r.BetaSlow, 0) {
			return fmt.Errorf("yarn rope scaling needs positive beta_fast and beta_slow, got %v and %v", r.BetaFast, r.BetaSlow)
		}
		if !(r.AttentionFactor > 0) || math.IsInf(r.AttentionFactor, 0) {
			return fmt.Errorf("yarn attention factor %v must be positive", r.AttentionFactor)
		}
	default:
		return fmt.Errorf("rope scaling type %q is not supported (only llama3, linear and yarn)", r.Type)
	}
	return nil
}

// hf returns the rope_scaling object of config.json.
func (r *RopeScaling) hf() map[string]any {
	m := map[string]any{"rope_type": r.Type, "factor": r.Factor}
	switch r.Type {
	case "llama3":
		m["low_freq_factor"] = r.LowFreqFactor
		m["high_freq_factor"] = r.HighFreqFactor
		m["original_max_position_embeddings"] = r.OriginalMaxPositions
	case "yarn":
		m["original_max_position_embeddings"] = r.OriginalMaxPositions
		m["beta_fast"] = r.BetaFast
		m["beta_slow"] = r.BetaSlow
		m["attention_factor"] = r.AttentionFactor
		m["truncate"] = !r.NoTruncate
	}
	return m
}

// RopeInvFreq returns the full-attention layers' RoPE inverse frequencies
// [HeadDim/2] in float32 (see Rope.InvFreq).
func (c *Config) RopeInvFreq() []float32 {
	return Rope{Theta: c.RopeTheta, Scaling: c.RopeScaling}.InvFreq(c.HeadDim)
}

// InvFreq returns RoPE's inverse frequencies [headDim/2] in float32, as
// transformers computes them: theta^(-2j/d), then the scaling. The float32
// operation order follows _compute_llama3_parameters and
// _compute_yarn_parameters.
func (rp Rope) InvFreq(headDim int) []float32 {
	d := headDim
	inv := make([]float32, d/2)
	for j := range inv {
		e := float32(2*j) / float32(d)
		inv[j] = 1 / float32(math.Pow(rp.Theta, float64(e)))
	}
	r := rp.Scaling
	if r == nil {
		return inv
	}
	factor := float32(r.Factor)
	switch r.Type {
	case "linear":
		for j := range inv {
			inv[j] /= factor
		}
		return inv
	case "yarn":
		return yarnInvFreq(rp.Theta, d, r)
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

// yarnInvFreq is _compute_yarn_parameters' inverse frequencies: the
// correction range [low, high] in float64 (Python floats), the ramp and the
// blend of interpolated and extrapolated frequencies in float32 (torch
// tensors). The explicit float32 conversions keep Go from fusing a
// multiply-add, which torch does not.
func yarnInvFreq(base float64, d int, r *RopeScaling) []float32 {
	corr := func(rot float64) float64 {
		return float64(d) * math.Log(float64(r.OriginalMaxPositions)/(rot*2*math.Pi)) / (2 * math.Log(base))
	}
	low, high := corr(r.BetaFast), corr(r.BetaSlow)
	if !r.NoTruncate {
		low, high = math.Floor(low), math.Ceil(high)
	}
	low, high = max(low, 0), min(high, float64(d-1))
	if low == high {
		high += 0.001 // transformers: "prevent singularity"
	}
	factor, lowF, span := float32(r.Factor), float32(low), float32(high-low)
	inv := make([]float32, d/2)
	for j := range inv {
		pos := float32(math.Pow(base, float64(float32(2*j)/float32(d))))
		extra := 1 / pos
		inter := 1 / float32(factor*pos)
		ramp := min(max((float32(j)-lowF)/span, 0), 1)
		ef := 1 - ramp
		inv[j] = float32(inter*float32(1-ef)) + float32(extra*ef)
	}
	return inv
}

// archInfo maps the supported architectures to their family.
var archInfo = map[string]string{
	"Qwen3ForCausalLM": "qwen3",
	"Qwen2ForCausalLM": "qwen2",
	"LlamaForCausalLM": "llama",
	"Olmo2ForCausalLM": "olmo2",
	"Olmo3ForCausalLM": "olmo3",
}

// archName is the inverse of archInfo, for writing config.json.
var archName = map[string]string{
	"qwen3": "Qwen3ForCausalLM",
	"qwen2": "Qwen2ForCausalLM",
	"llama": "LlamaForCausalLM",
	"olmo2": "Olmo2ForCausalLM",
	"olmo3": "Olmo3ForCausalLM",
}

// supportedArchs names the supported architectures, for errors.
const supportedArchs = "Qwen3ForCausalLM, Qwen2ForCausalLM, LlamaForCausalLM, Olmo2ForCausalLM, Olmo3ForCausalLM"

// LoadConfig reads a Hugging Face config.json. Anything that would make the
// model compute something other than what transformers computes (another
// architecture, MoE, dynamic RoPE, another activation, quantisation) is an
// error naming the field.
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
			return nil, fmt.Errorf("architectures: %q is not supported (supported: %s)", name, supportedArchs)
		}
		if mt != "" && mt != arch {
			return nil, fmt.Errorf("model_type %q does not match architectures %q", mt, name)
		}
		c.Arch = arch
	} else {
		switch mt {
		case "qwen3", "qwen2", "llama", "olmo2", "olmo3":
			c.Arch = mt
		case "":
			return nil, errors.New("neither architectures nor model_type is set")
		default:
			return nil, fmt.Errorf("model_type %q is not supported (supported: qwen3, qwen2, llama, olmo2, olmo3)", mt)
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
	// head_dim: Qwen3Config's default is 128; the other classes have none
	// and their attention uses hidden_size / num_attention_heads.
	hd := 0
	if c.Arch == "qwen3" {
		hd = 128
	} else if c.Heads > 0 {
		hd = c.Hidden / c.Heads
	}
	if c.HeadDim, err = r.intDef("head_dim", hd); err != nil {
		return nil, err
	}
	if c.MaxPositions, err = r.intDef("max_position_embeddings", 0); err != nil {
		return nil, err
	}
	epsDef := 1e-6 // Qwen and Llama classes
	if c.Arch == "olmo2" || c.Arch == "olmo3" {
		epsDef = 1e-5
	}
	if c.RMSNormEps, err = r.floatDef("rms_norm_eps", epsDef); err != nil {
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
	case "olmo2", "olmo3":
		// Olmo2Attention: q/k/v/o use attention_bias; q_norm/k_norm over
		// the projection width; Olmo2DecoderLayer: post-sublayer norms.
		c.QKNorm, c.QKNormFull, c.PostNorm = true, true, true
		c.AttnBias, c.OBias = attnBias, attnBias
	}
	if mlpBias && c.Arch != "llama" {
		return nil, fmt.Errorf("mlp_bias=true is not supported for %s", c.Arch)
	}

	if err := parseLayers(r, c); err != nil {
		return nil, err
	}
	if err := parseRope(r, c); err != nil {
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

// parseLayers sets LayerTypes and SlidingWindow as transformers derives
// them for the family: Olmo3Config (layer_types, default three sliding
// layers in four; sliding_window default 4096), Qwen2Config/Qwen3Config
// (sliding_window only with use_sliding_window; layer_types default:
// sliding from max_window_layers on). Olmo2 and Llama have no sliding
// attention; Llama's sliding_window or sliding layer_types are refused
// rather than ignored. A sliding layer without a window is an error, as it
// is in transformers.
func parseLayers(r rawCfg, c *Config) error {
	var types []string
	if v, ok := r["layer_types"]; ok && v != nil {
		list, ok := v.([]any)
		if !ok {
			return fmt.Errorf("layer_types: want a list, got %v", v)
		}
		if len(list) != c.Layers {
			return fmt.Errorf("layer_types has %d entries for num_hidden_layers %d", len(list), c.Layers)
		}
		for i, t := range list {
			s, _ := t.(string)
			if s != FullAttention && s != SlidingAttention {
				return fmt.Errorf("layer_types[%d] %v is not supported (only full_attention and sliding_attention)", i, t)
			}
			types = append(types, s)
		}
	}
	// sliding_window: absent means the class default, null means none.
	window, hasWindow := 4096, true
	if v, ok := r["sliding_window"]; ok {
		if v == nil {
			hasWindow = false
		} else {
			n, err := toInt(v)
			if err != nil {
				return fmt.Errorf("sliding_window: %w", err)
			}
			window = n
		}
	}
	switch c.Arch {
	case "olmo2":
		// Olmo2Attention attends fully whatever the config says.
		return nil
	case "llama":
		if v, ok := r["sliding_window"]; ok && v != nil {
			return fmt.Errorf("sliding_window %v is not supported for llama", v)
		}
		for i, t := range types {
			if t != FullAttention {
				return fmt.Errorf("layer_types[%d] %s is not supported for llama", i, t)
			}
		}
		return nil
	case "olmo3":
		if types == nil {
			for i := 0; i < c.Layers; i++ {
				t := SlidingAttention
				if (i+1)%4 == 0 {
					t = FullAttention
				}
				types = append(types, t)
			}
		}
	case "qwen2", "qwen3":
		use, err := r.boolDef("use_sliding_window", false)
		if err != nil {
			return err
		}
		if !use {
			hasWindow = false // the config classes set sliding_window = None
		}
		mwl, err := r.intDef("max_window_layers", 28)
		if err != nil {
			return err
		}
		if types == nil {
			for i := 0; i < c.Layers; i++ {
				t := FullAttention
				if hasWindow && i >= mwl {
					t = SlidingAttention
				}
				types = append(types, t)
			}
		}
	}
	sliding := false
	for i, t := range types {
		if t != SlidingAttention {
			continue
		}
		sliding = true
		if !hasWindow {
			return fmt.Errorf("layer_types[%d] is sliding_attention but there is no sliding window (sliding_window null, or use_sliding_window false)", i)
		}
	}
	if !sliding {
		return nil
	}
	if window <= 0 {
		return fmt.Errorf("sliding_window %d must be positive", window)
	}
	c.LayerTypes, c.SlidingWindow = types, window
	return nil
}

// ropeKeys are the rope_scaling/rope_parameters fields of a scaling type,
// removed before an entry is rewritten.
var ropeKeys = []string{"rope_type", "type", "factor", "low_freq_factor", "high_freq_factor",
	"original_max_position_embeddings", "beta_fast", "beta_slow", "attention_factor", "truncate",
	"mscale", "mscale_all_dim"}

// parseRope reads every layer type's RoPE from either layout:
// transformers 4's top-level rope_theta + rope_scaling, or transformers 5's
// rope_parameters, flat or keyed by layer type ({"full_attention": {...},
// "sliding_attention": {...}}). For Olmo-3, a flat scaling applies to the
// full-attention layers only and the sliding layers use the default RoPE
// with the same base (transformers 4.57 and current main, vLLM).
func parseRope(r rawCfg, c *Config) error {
	theta := 10000.0 // the default of every supported config class (4.x)
	if v, ok := r["rope_theta"]; ok && v != nil {
		f, err := r.floatDef("rope_theta", theta)
		if err != nil {
			return err
		}
		theta = f
	}
	full := Rope{Theta: theta}
	var sliding *Rope
	keyed := false
	if v, ok := r["rope_scaling"]; ok && v != nil {
		var err error
		if full, err = readRope(c, "rope_scaling", v, full); err != nil {
			return err
		}
	}
	if v, ok := r["rope_parameters"]; ok && v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("rope_parameters: want an object or null, got %v", v)
		}
		if keyed = ropeKeyed(m); keyed {
			for k := range m {
				if k != FullAttention && k != SlidingAttention {
					return fmt.Errorf("rope_parameters: key %q mixes a layer type layout with a flat one", k)
				}
			}
			var err error
			if e, ok := m[FullAttention]; ok && e != nil {
				if full, err = readRope(c, "rope_parameters.full_attention", e, Rope{Theta: theta}); err != nil {
					return err
				}
			}
			s := Rope{Theta: theta}
			if e, ok := m[SlidingAttention]; ok && e != nil {
				if s, err = readRope(c, "rope_parameters.sliding_attention", e, s); err != nil {
					return err
				}
			}
			sliding = &s
		} else {
			var err error
			if full, err = readRope(c, "rope_parameters", m, full); err != nil {
				return err
			}
		}
	}
	c.RopeTheta, c.RopeScaling = full.Theta, full.Scaling
	if keyed {
		if !sliding.equal(full) {
			c.SlidingRope = sliding
		}
	} else {
		c.SlidingRope = c.flatSlidingRope()
	}
	for _, rp := range []*Rope{&full, c.SlidingRope} {
		if rp != nil && (!(rp.Theta > 0) || math.IsInf(rp.Theta, 0)) {
			return fmt.Errorf("rope_theta %v must be positive", rp.Theta)
		}
	}
	return nil
}

// ropeKeyed reports whether a rope_parameters object is keyed by layer
// type (transformers 5: its keys are layer types, each an object).
func ropeKeyed(m map[string]any) bool {
	for _, k := range []string{FullAttention, SlidingAttention} {
		if v, ok := m[k]; ok {
			if _, isMap := v.(map[string]any); isMap {
				return true
			}
		}
	}
	return false
}

// flatSlidingRope is the sliding layers' RoPE implied by a flat layout:
// Olmo-3 leaves them unscaled; nil (the full layers' RoPE) otherwise.
func (c *Config) flatSlidingRope() *Rope {
	if c.Arch == "olmo3" && c.RopeScaling != nil {
		return &Rope{Theta: c.RopeTheta}
	}
	return nil
}

// readRope reads one RoPE object (rope_scaling, rope_parameters or one of
// its layer-type entries) over base.
func readRope(c *Config, field string, v any, base Rope) (Rope, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return base, fmt.Errorf("%s: want an object or null, got %v", field, v)
	}
	if f, ok := m["partial_rotary_factor"]; ok && f != nil {
		if n, err := toFloat(f); err != nil || n != 1 {
			return base, fmt.Errorf("%s.partial_rotary_factor %v is not supported (only 1)", field, f)
		}
	}
	out := base
	if f, ok := m["rope_theta"]; ok && f != nil {
		n, err := toFloat(f)
		if err != nil {
			return base, fmt.Errorf("%s.rope_theta: %w", field, err)
		}
		out.Theta = n
	}
	typ := "default"
	for _, k := range []string{"rope_type", "type"} {
		if t, ok := m[k]; ok && t != nil {
			s, ok := t.(string)
			if !ok {
				return base, fmt.Errorf("%s.%s: want a string, got %v", field, k, t)
			}
			typ = s
			break
		}
	}
	switch typ {
	case "default":
		out.Scaling = nil
		return out, nil
	case "llama3", "linear", "yarn":
	default:
		return base, fmt.Errorf("%s rope_type %q is not supported (RoPE scaling: only default, llama3, linear and yarn)", field, typ)
	}
	sc := &RopeScaling{Type: typ}
	get := func(key string) (float64, bool, error) {
		v, ok := m[key]
		if !ok || v == nil {
			return 0, false, nil
		}
		n, err := toFloat(v)
		if err != nil {
			return 0, false, fmt.Errorf("%s.%s: %w", field, key, err)
		}
		return n, true, nil
	}
	num := func(key string, dst *float64) error {
		n, ok, err := get(key)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%s: rope_type %s needs %s", field, typ, key)
		}
		*dst = n
		return nil
	}
	origMax := func() (int, bool, error) {
		n, ok, err := get("original_max_position_embeddings")
		if err != nil || !ok {
			return 0, ok, err
		}
		if n != math.Trunc(n) || n > math.MaxInt32 {
			return 0, false, fmt.Errorf("%s.original_max_position_embeddings %v: want an integer", field, n)
		}
		return int(n), true, nil
	}
	switch typ {
	case "linear":
		if err := num("factor", &sc.Factor); err != nil {
			return base, err
		}
	case "llama3":
		var orig float64
		for _, kv := range []struct {
			k string
			d *float64
		}{{"factor", &sc.Factor}, {"low_freq_factor", &sc.LowFreqFactor}, {"high_freq_factor", &sc.HighFreqFactor}, {"original_max_position_embeddings", &orig}} {
			if err := num(kv.k, kv.d); err != nil {
				return base, err
			}
		}
		if orig != math.Trunc(orig) {
			return base, fmt.Errorf("%s.original_max_position_embeddings %v: want an integer", field, orig)
		}
		sc.OriginalMaxPositions = int(orig)
	case "yarn":
		// _compute_yarn_parameters: original context from the object or
		// max_position_embeddings; factor given (transformers 5 derives a
		// missing one from the two lengths); beta_fast/beta_slow "or 32"
		// and "or 1"; attention_factor given, else from mscale and
		// mscale_all_dim, else 0.1*ln(factor)+1.
		orig, ok, err := origMax()
		if err != nil {
			return base, err
		}
		if !ok {
			orig = c.MaxPositions
		}
		sc.OriginalMaxPositions = orig
		f, ok, err := get("factor")
		if err != nil {
			return base, err
		}
		if !ok {
			if orig <= 0 || c.MaxPositions <= 0 {
				return base, fmt.Errorf("%s: rope_type yarn needs factor", field)
			}
			f = float64(c.MaxPositions) / float64(orig)
		}
		sc.Factor = f
		sc.BetaFast, sc.BetaSlow = 32, 1
		if n, ok, err := get("beta_fast"); err != nil {
			return base, err
		} else if ok && n != 0 {
			sc.BetaFast = n
		}
		if n, ok, err := get("beta_slow"); err != nil {
			return base, err
		} else if ok && n != 0 {
			sc.BetaSlow = n
		}
		mscale := func(scale, m float64) float64 {
			if scale <= 1 {
				return 1
			}
			return 0.1*m*math.Log(scale) + 1
		}
		af, ok, err := get("attention_factor")
		if err != nil {
			return base, err
		}
		if !ok {
			ms, _, err := get("mscale")
			if err != nil {
				return base, err
			}
			msAll, _, err := get("mscale_all_dim")
			if err != nil {
				return base, err
			}
			if ms != 0 && msAll != 0 {
				af = mscale(sc.Factor, ms) / mscale(sc.Factor, msAll)
			} else {
				af = mscale(sc.Factor, 1)
			}
		}
		sc.AttentionFactor = af
		if t, ok := m["truncate"]; ok && t != nil {
			b, isBool := t.(bool)
			if !isBool {
				return base, fmt.Errorf("%s.truncate: want true or false, got %v", field, t)
			}
			sc.NoTruncate = !b
		}
	}
	if err := sc.validate(); err != nil {
		return base, fmt.Errorf("%s: %w", field, err)
	}
	out.Scaling = sc
	return out, nil
}

// checkUnsupported rejects features that change the computation.
func checkUnsupported(r rawCfg, c *Config) error {
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
		return fmt.Errorf("config: unknown arch %q (want qwen3, qwen2, llama, olmo2 or olmo3)", c.Arch)
	}
	if c.RopeScaling != nil {
		if err := c.RopeScaling.validate(); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	if c.SlidingRope != nil {
		if !(c.SlidingRope.Theta > 0) {
			return fmt.Errorf("config: sliding layers' rope_theta %v must be positive", c.SlidingRope.Theta)
		}
		if sc := c.SlidingRope.Scaling; sc != nil {
			if err := sc.validate(); err != nil {
				return fmt.Errorf("config: sliding layers' %w", err)
			}
		}
	}
	if c.LayerTypes != nil {
		if len(c.LayerTypes) != c.Layers {
			return fmt.Errorf("config: %d layer types for %d layers", len(c.LayerTypes), c.Layers)
		}
		for i, t := range c.LayerTypes {
			if t != FullAttention && t != SlidingAttention {
				return fmt.Errorf("config: layer type %d %q (want full_attention or sliding_attention)", i, t)
			}
		}
		if c.SlidingWindow <= 0 {
			return fmt.Errorf("config: sliding_window %d must be positive", c.SlidingWindow)
		}
		if c.Arch == "olmo2" || c.Arch == "llama" {
			return fmt.Errorf("config: %s has no sliding-window layers", c.Arch)
		}
	}
	olmo := c.Arch == "olmo2" || c.Arch == "olmo3"
	if olmo != c.PostNorm || (olmo && (!c.QKNorm || !c.QKNormFull)) {
		return fmt.Errorf("config: %s: olmo2/olmo3 and only they have post-sublayer norms and full-width q/k norms", c.Arch)
	}
	if c.QKNormFull && !c.QKNorm {
		return errors.New("config: QKNormFull without QKNorm")
	}
	if olmo && c.AttnBias != c.OBias {
		return fmt.Errorf("config: %s biases q/k/v and o_proj together (attention_bias)", c.Arch)
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
	case "qwen3", "olmo2", "olmo3":
		out["attention_bias"] = c.AttnBias
	case "llama":
		out["attention_bias"] = c.AttnBias
		out["mlp_bias"] = c.MLPBias
	}
	c.marshalLayers(out)
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
	c.marshalRope(out)
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

// marshalLayers writes the layer pattern in the fields the family's
// config class reads (layer_types and sliding_window; Qwen's
// use_sliding_window too).
func (c *Config) marshalLayers(out map[string]any) {
	switch c.Arch {
	case "olmo2", "llama":
		return
	}
	types := make([]any, c.Layers)
	for l := range types {
		types[l] = FullAttention
		if c.LayerWindow(l) > 0 {
			types[l] = SlidingAttention
		}
	}
	sliding := c.LayerTypes != nil
	if c.Arch == "olmo3" || sliding {
		out["layer_types"] = types
	} else if _, ok := out["layer_types"]; ok {
		out["layer_types"] = types
	}
	switch {
	case sliding:
		out["sliding_window"] = c.SlidingWindow
		if c.Arch != "olmo3" {
			out["use_sliding_window"] = true
		}
	case c.Arch == "olmo3":
		// All layers full: the window is unused but the class wants one.
		if v, ok := out["sliding_window"]; !ok || v == nil {
			out["sliding_window"] = 4096
		}
	default:
		if v, ok := out["use_sliding_window"].(bool); ok && v {
			out["use_sliding_window"] = false
		}
	}
}

// ropeEntry returns a RoPE object for config.json: old's other fields
// (if any) with rp's base and scaling.
func ropeEntry(old any, rp Rope) map[string]any {
	m := map[string]any{}
	if om, ok := old.(map[string]any); ok {
		for k, v := range om {
			m[k] = v
		}
	}
	for _, k := range ropeKeys {
		delete(m, k)
	}
	m["rope_theta"] = rp.Theta
	m["rope_type"] = "default"
	if rp.Scaling != nil {
		for k, v := range rp.Scaling.hf() {
			m[k] = v
		}
	}
	return m
}

// marshalRope writes the RoPE fields, keeping the layout the config came
// in: transformers 5's rope_parameters (keyed by layer type when it was,
// or when the sliding layers' RoPE is not what a flat object implies), or
// else transformers 4's top-level rope_theta and rope_scaling, which both
// versions read.
func (c *Config) marshalRope(out map[string]any) {
	full := Rope{Theta: c.RopeTheta, Scaling: c.RopeScaling}
	implied := c.flatSlidingRope()
	slidingRope := full
	if c.SlidingRope != nil {
		slidingRope = *c.SlidingRope
	}
	impliedRope := full
	if implied != nil {
		impliedRope = *implied
	}
	rp, hasV5 := out["rope_parameters"].(map[string]any)
	keyed := (hasV5 && ropeKeyed(rp)) || (c.LayerTypes != nil && !slidingRope.equal(impliedRope))
	switch {
	case keyed:
		m := map[string]any{
			FullAttention:    ropeEntry(rp[FullAttention], full),
			SlidingAttention: ropeEntry(rp[SlidingAttention], slidingRope),
		}
		out["rope_parameters"] = m
		delete(out, "rope_scaling")
		if _, ok := out["rope_theta"]; ok {
			out["rope_theta"] = c.RopeTheta
		}
	case hasV5:
		out["rope_parameters"] = ropeEntry(rp, full)
		if _, ok := out["rope_theta"]; ok {
			out["rope_theta"] = c.RopeTheta
		}
	default:
		out["rope_theta"] = c.RopeTheta
		out["rope_scaling"] = nil
		if c.RopeScaling != nil {
			out["rope_scaling"] = c.RopeScaling.hf()
		}
	}
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
	// CreateTemp makes 0600 files: saved models are 0644 like other
	// tools' output, readable by the group that shares them.
	werr := f.Chmod(0o644)
	if werr == nil {
		werr = write(f)
	}
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
	_, qn, _, kn := c.qkNormShape()
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		if !c.PostNorm {
			vec(p+"input_layernorm.weight", H)
		}
		vec(p+"post_attention_layernorm.weight", H)
		if c.PostNorm {
			vec(p+"post_feedforward_layernorm.weight", H)
		}
		if c.QKNorm {
			vec(p+"self_attn.q_norm.weight", qn)
			vec(p+"self_attn.k_norm.weight", kn)
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
	switch {
	case c.QKNormFull:
		extra = append(extra, "qk-norm-full")
	case c.QKNorm:
		extra = append(extra, "qk-norm")
	}
	if c.PostNorm {
		extra = append(extra, "post-norm")
	}
	if c.LayerTypes != nil {
		n := 0
		for l := range c.LayerTypes {
			if c.LayerWindow(l) > 0 {
				n++
			}
		}
		extra = append(extra, fmt.Sprintf("sliding-window-%d-x%d", c.SlidingWindow, n))
	}
	if c.RopeScaling != nil {
		extra = append(extra, "rope-"+c.RopeScaling.Type)
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
