package model

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// base configs in both transformers layouts, edited per case.
const qwen3V5 = `{"architectures":["Qwen3ForCausalLM"],"model_type":"qwen3","vocab_size":512,"hidden_size":64,
"intermediate_size":160,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"head_dim":16,
"rms_norm_eps":1e-6,"rope_parameters":{"rope_theta":1000000.0,"rope_type":"default"},"tie_word_embeddings":true,
"hidden_act":"silu","attention_bias":false,"use_sliding_window":false,"sliding_window":null,"max_window_layers":28,
"layer_types":["full_attention","full_attention"],"bos_token_id":1,"eos_token_id":2,"max_position_embeddings":256,
"attention_dropout":0.0,"custom_field":{"keep":[1,2]}}`

const qwen2V4 = `{"architectures":["Qwen2ForCausalLM"],"model_type":"qwen2","vocab_size":151936,"hidden_size":896,
"intermediate_size":4864,"num_hidden_layers":24,"num_attention_heads":14,"num_key_value_heads":2,
"rms_norm_eps":1e-6,"rope_theta":1000000.0,"rope_scaling":null,"tie_word_embeddings":true,"hidden_act":"silu",
"use_sliding_window":false,"sliding_window":32768,"max_window_layers":21,"bos_token_id":151643,
"eos_token_id":151645,"torch_dtype":"bfloat16","max_position_embeddings":32768}`

const llamaV4 = `{"architectures":["LlamaForCausalLM"],"model_type":"llama","vocab_size":32000,"hidden_size":2048,
"intermediate_size":5632,"num_hidden_layers":22,"num_attention_heads":32,"num_key_value_heads":4,
"rms_norm_eps":1e-5,"rope_theta":10000.0,"rope_scaling":null,"tie_word_embeddings":false,"hidden_act":"silu",
"attention_bias":false,"mlp_bias":false,"bos_token_id":1,"eos_token_id":[2,3],"pretraining_tp":1}`

// edit applies a JSON-merge-style patch (null deletes a key) to a config.
func edit(t *testing.T, base string, patch map[string]any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(base), &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range patch {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseConfig(t *testing.T) {
	cases := []struct {
		name  string
		base  string
		patch map[string]any
		check func(*Config) string
		err   string // substring of the expected error
	}{
		{name: "qwen3 v5 layout", base: qwen3V5, check: func(c *Config) string {
			if c.Arch != "qwen3" || !c.QKNorm || c.AttnBias || c.RopeTheta != 1e6 || !c.TieEmbeddings ||
				c.HeadDim != 16 || c.KVHeads != 2 || c.BOSTokenID != 1 || !reflect.DeepEqual(c.EOSTokenIDs, []int{2}) {
				return c.String()
			}
			return ""
		}},
		{name: "qwen3 v4 layout", base: qwen3V5, patch: map[string]any{"rope_parameters": nil, "rope_theta": 5e5},
			check: func(c *Config) string {
				if c.RopeTheta != 5e5 {
					return c.String()
				}
				return ""
			}},
		{name: "qwen3 attention bias", base: qwen3V5, patch: map[string]any{"attention_bias": true},
			check: func(c *Config) string {
				if !c.AttnBias || !c.OBias {
					return c.String()
				}
				return ""
			}},
		{name: "qwen2", base: qwen2V4, check: func(c *Config) string {
			if c.Arch != "qwen2" || c.QKNorm || !c.AttnBias || c.OBias || c.HeadDim != 64 || c.RopeTheta != 1e6 {
				return c.String()
			}
			return ""
		}},
		{name: "llama", base: llamaV4, check: func(c *Config) string {
			if c.Arch != "llama" || c.QKNorm || c.AttnBias || c.HeadDim != 64 || c.TieEmbeddings ||
				!reflect.DeepEqual(c.EOSTokenIDs, []int{2, 3}) || c.RMSNormEps != 1e-5 {
				return c.String()
			}
			return ""
		}},
		{name: "llama biases", base: llamaV4, patch: map[string]any{"attention_bias": true, "mlp_bias": true},
			check: func(c *Config) string {
				if !c.AttnBias || !c.OBias || !c.MLPBias {
					return c.String()
				}
				return ""
			}},
		{name: "kv heads default", base: llamaV4, patch: map[string]any{"num_key_value_heads": nil},
			check: func(c *Config) string {
				if c.KVHeads != 32 {
					return c.String()
				}
				return ""
			}},
		{name: "rope default theta", base: llamaV4, patch: map[string]any{"rope_theta": nil},
			check: func(c *Config) string {
				if c.RopeTheta != 10000 {
					return c.String()
				}
				return ""
			}},
		{name: "rope_scaling default type ok", base: llamaV4, patch: map[string]any{"rope_scaling": map[string]any{"rope_type": "default"}},
			check: func(c *Config) string { return "" }},
		{name: "llama3 rope scaling", base: llamaV4, patch: map[string]any{"rope_scaling": llama31Scaling},
			check: func(c *Config) string {
				want := RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 8192}
				if c.RopeScaling == nil || *c.RopeScaling != want {
					return fmt.Sprintf("%+v", c.RopeScaling)
				}
				return ""
			}},
		{name: "llama3 missing field", base: llamaV4, patch: map[string]any{"rope_scaling": map[string]any{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0}},
			err: "rope_type llama3 needs original_max_position_embeddings"},
		{name: "llama3 bad factors", base: llamaV4, patch: map[string]any{"rope_scaling": map[string]any{"rope_type": "llama3", "factor": 8.0,
			"low_freq_factor": 4.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}},
			err: "low_freq_factor < high_freq_factor"},
		{name: "yarn v4 type key", base: qwen2V4, patch: map[string]any{"rope_scaling": map[string]any{"type": "yarn", "factor": 4.0}},
			check: func(c *Config) string {
				// Defaults of _compute_yarn_parameters: the original context
				// is max_position_embeddings, betas 32 and 1, truncation on,
				// attention factor 0.1*ln(factor)+1.
				want := RopeScaling{Type: "yarn", Factor: 4, OriginalMaxPositions: 32768, BetaFast: 32, BetaSlow: 1,
					AttentionFactor: 0.1*math.Log(4) + 1}
				if c.RopeScaling == nil || *c.RopeScaling != want {
					return fmt.Sprintf("%+v", c.RopeScaling)
				}
				return ""
			}},
		{name: "yarn qwen3 v5", base: qwen3V5, patch: map[string]any{"rope_parameters": map[string]any{"rope_theta": 1e6, "rope_type": "yarn",
			"factor": 4.0, "original_max_position_embeddings": 64, "beta_fast": 0, "attention_factor": 1.5, "truncate": false}},
			check: func(c *Config) string {
				want := RopeScaling{Type: "yarn", Factor: 4, OriginalMaxPositions: 64, BetaFast: 32, BetaSlow: 1,
					AttentionFactor: 1.5, NoTruncate: true}
				if c.RopeScaling == nil || *c.RopeScaling != want || c.RopeTheta != 1e6 || c.SlidingRope != nil {
					return fmt.Sprintf("%+v", c.RopeScaling)
				}
				return ""
			}},
		{name: "yarn factor from lengths", base: qwen3V5, patch: map[string]any{"rope_parameters": map[string]any{"rope_type": "yarn",
			"original_max_position_embeddings": 64}},
			check: func(c *Config) string {
				if c.RopeScaling == nil || c.RopeScaling.Factor != 4 || c.RopeTheta != 10000 {
					return fmt.Sprintf("%+v", c.RopeScaling)
				}
				return ""
			}},
		{name: "yarn bad truncate", base: qwen3V5, patch: map[string]any{"rope_parameters": map[string]any{"rope_type": "yarn", "factor": 2.0, "truncate": "no"}},
			err: "truncate"},
		{name: "qwen3 head_dim default", base: qwen3V5, patch: map[string]any{"head_dim": nil},
			check: func(c *Config) string {
				if c.HeadDim != 128 {
					return c.String()
				}
				return ""
			}},
		{name: "dynamic", base: llamaV4, patch: map[string]any{"rope_scaling": map[string]any{"type": "dynamic", "factor": 2.0}},
			err: `rope_type "dynamic" is not supported`},
		{name: "v5 linear scaling", base: qwen3V5, patch: map[string]any{"rope_parameters": map[string]any{"rope_theta": 1e6, "rope_type": "linear", "factor": 2.0}},
			check: func(c *Config) string {
				if c.RopeScaling == nil || c.RopeScaling.Type != "linear" || c.RopeScaling.Factor != 2 || c.RopeTheta != 1e6 {
					return fmt.Sprintf("%+v", c.RopeScaling)
				}
				return ""
			}},
		{name: "sliding window", base: qwen2V4, patch: map[string]any{"use_sliding_window": true},
			check: func(c *Config) string {
				// Qwen2Config: layers from max_window_layers (21) on slide.
				for l := 0; l < c.Layers; l++ {
					if w := c.LayerWindow(l); (l >= 21) != (w == 32768) || (l < 21 && w != 0) {
						return fmt.Sprintf("layer %d window %d", l, w)
					}
				}
				return ""
			}},
		{name: "sliding window off", base: qwen2V4, patch: map[string]any{"max_window_layers": 0},
			check: func(c *Config) string {
				if c.LayerTypes != nil {
					return fmt.Sprint(c.LayerTypes)
				}
				return ""
			}},
		{name: "layer types without window", base: qwen3V5, patch: map[string]any{"layer_types": []string{"full_attention", "sliding_attention"}},
			err: "layer_types[1]"},
		{name: "llama sliding layer", base: llamaV4, patch: map[string]any{"num_hidden_layers": 1, "layer_types": []string{"sliding_attention"}},
			err: "layer_types[0]"},
		{name: "olmo2", base: llamaV4, patch: map[string]any{"architectures": []string{"Olmo2ForCausalLM"}, "model_type": "olmo2",
			"rms_norm_eps": nil, "mlp_bias": nil, "attention_bias": true},
			check: func(c *Config) string {
				if c.Arch != "olmo2" || !c.PostNorm || !c.QKNormFull || !c.AttnBias || !c.OBias || c.RMSNormEps != 1e-5 {
					return c.String()
				}
				return ""
			}},
		{name: "keyed rope on qwen3", base: qwen3V5, patch: map[string]any{"use_sliding_window": true, "sliding_window": 8,
			"layer_types": nil, "max_window_layers": 1,
			"rope_parameters": map[string]any{"full_attention": map[string]any{"rope_type": "default", "rope_theta": 1e6},
				"sliding_attention": map[string]any{"rope_type": "linear", "factor": 2.0, "rope_theta": 1e4}}},
			check: func(c *Config) string {
				r0, r1 := c.LayerRope(0), c.LayerRope(1)
				if r0.Theta != 1e6 || r0.Scaling != nil || r1.Theta != 1e4 || r1.Scaling == nil || r1.Scaling.Type != "linear" || c.LayerWindow(1) != 8 {
					return fmt.Sprintf("%+v %+v", r0, r1)
				}
				return ""
			}},
		{name: "moe arch", base: qwen3V5, patch: map[string]any{"architectures": []string{"Qwen3MoeForCausalLM"}, "model_type": "qwen3_moe"},
			err: "Qwen3MoeForCausalLM"},
		{name: "moe field", base: qwen3V5, patch: map[string]any{"num_experts": 8}, err: "num_experts"},
		{name: "other model type", base: qwen3V5, patch: map[string]any{"architectures": nil, "model_type": "mistral"}, err: "mistral"},
		{name: "gelu", base: llamaV4, patch: map[string]any{"hidden_act": "gelu"}, err: "hidden_act"},
		{name: "mismatch", base: llamaV4, patch: map[string]any{"model_type": "qwen2"}, err: "does not match"},
		{name: "missing hidden", base: llamaV4, patch: map[string]any{"hidden_size": nil}, err: "hidden_size is missing"},
		{name: "bad gqa", base: llamaV4, patch: map[string]any{"num_key_value_heads": 5}, err: "multiple"},
		{name: "quantised", base: llamaV4, patch: map[string]any{"quantization_config": map[string]any{"bits": 4}}, err: "quantization_config"},
		{name: "mlp bias on qwen2", base: qwen2V4, patch: map[string]any{"mlp_bias": true}, err: "mlp_bias"},
		{name: "string number", base: llamaV4, patch: map[string]any{"hidden_size": "2048"}, err: "hidden_size"},
		{name: "partial rotary", base: qwen3V5, patch: map[string]any{"rope_parameters": map[string]any{"rope_theta": 1e6, "rope_type": "default", "partial_rotary_factor": 0.5}},
			err: "partial_rotary_factor"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := ParseConfig(edit(t, c.base, c.patch))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if msg := c.check(cfg); msg != "" {
				t.Errorf("unexpected config: %s", msg)
			}
		})
	}
}

// TestConfigRoundTrip writes and re-reads configs: interpreted fields are
// kept, unknown fields survive, the RoPE layout is preserved.
// llama31Scaling is Llama 3.1's rope_scaling.
var llama31Scaling = map[string]any{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
	"original_max_position_embeddings": 8192}

// withPatch returns base (a config.json) with the fields of patch set.
func withPatch(t *testing.T, base string, patch map[string]any) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(base), &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range patch {
		m[k] = v
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestConfigRoundTrip(t *testing.T) {
	v5llama3 := map[string]any{"rope_theta": 5e5}
	for k, v := range llama31Scaling {
		v5llama3[k] = v
	}
	olmo3 := withPatch(t, llamaV4, map[string]any{"architectures": []string{"Olmo3ForCausalLM"}, "model_type": "olmo3",
		"num_hidden_layers": 4, "sliding_window": 64, "max_position_embeddings": 65536,
		"rope_scaling": map[string]any{"rope_type": "yarn", "factor": 8.0, "original_max_position_embeddings": 8192, "attention_factor": 1.2}})
	without := func(base, key string) string {
		var m map[string]any
		json.Unmarshal([]byte(base), &m)
		delete(m, key)
		out, _ := json.Marshal(m)
		return string(out)
	}
	for _, base := range []string{qwen3V5, qwen2V4, llamaV4,
		withPatch(t, llamaV4, map[string]any{"rope_scaling": llama31Scaling}),
		withPatch(t, qwen3V5, map[string]any{"rope_parameters": v5llama3}),
		withPatch(t, qwen2V4, map[string]any{"use_sliding_window": true, "rope_scaling": map[string]any{"type": "yarn", "factor": 4.0}}),
		olmo3,
		withPatch(t, without(olmo3, "rope_scaling"), map[string]any{"rope_parameters": map[string]any{
			"full_attention":    map[string]any{"rope_type": "yarn", "factor": 4.0, "rope_theta": 1e4},
			"sliding_attention": map[string]any{"rope_type": "default", "rope_theta": 500.0}}}),
	} {
		c, err := ParseConfig([]byte(base))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "config.json")
		if err := c.WriteJSON(path); err != nil {
			t.Fatal(err)
		}
		c2, err := LoadConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		a, b := *c, *c2
		a.Raw, b.Raw = nil, nil
		if !reflect.DeepEqual(a, b) {
			t.Errorf("round trip changed the config:\n%+v\n%+v", a, b)
		}
		for k := range c.Raw {
			if _, ok := c2.Raw[k]; !ok {
				t.Errorf("field %q lost", k)
			}
		}
		_, hadV5 := c.Raw["rope_parameters"]
		_, hasV5 := c2.Raw["rope_parameters"]
		_, hasV4 := c2.Raw["rope_theta"]
		if hadV5 != hasV5 || (!hadV5 && !hasV4) {
			t.Errorf("RoPE layout not preserved: %v", c2.Raw)
		}
	}
	// A config built in code writes transformers 4's layout.
	c := tinyConfig("llama")
	path := filepath.Join(t.TempDir(), "config.json")
	if err := c.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	c2, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	c2.Raw = nil
	if !reflect.DeepEqual(c, c2) {
		t.Errorf("round trip changed the config:\n%+v\n%+v", c, c2)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

func TestNumParams(t *testing.T) {
	c, err := ParseConfig([]byte(qwen2V4)) // Qwen2.5-0.5B
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.NumParams(), int64(494032768); got != want {
		t.Errorf("Qwen2.5-0.5B NumParams = %d, want %d", got, want)
	}
	c, err = ParseConfig([]byte(llamaV4)) // TinyLlama-1.1B
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.NumParams(), int64(1100048384); got != want {
		t.Errorf("TinyLlama NumParams = %d, want %d", got, want)
	}
}
