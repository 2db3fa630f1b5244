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

// refYarnInvFreq is transformers' _compute_yarn_parameters in float64:
// the correction range from beta_fast/beta_slow over the original context
// (floored/ceiled unless truncate is false, clamped to [0, d-1], nudged if
// empty), a linear ramp over it, and a blend of interpolated (divided by
// factor) and extrapolated frequencies.
func refYarnInvFreq(theta float64, d int, factor float64, orig int, betaFast, betaSlow float64, truncate bool) []float64 {
	corr := func(rot float64) float64 {
		return float64(d) * math.Log(float64(orig)/(rot*2*math.Pi)) / (2 * math.Log(theta))
	}
	low, high := corr(betaFast), corr(betaSlow)
	if truncate {
		low, high = math.Floor(low), math.Ceil(high)
	}
	low, high = math.Max(low, 0), math.Min(high, float64(d-1))
	if low == high {
		high += 0.001
	}
	inv := make([]float64, d/2)
	for j := range inv {
		pos := math.Pow(theta, float64(2*j)/float64(d))
		ramp := math.Min(math.Max((float64(j)-low)/(high-low), 0), 1)
		extra := 1 - ramp // extrapolation weight
		inv[j] = 1/(factor*pos)*(1-extra) + 1/pos*extra
	}
	return inv
}

// refDefaultInvFreq is the unscaled RoPE theta^(-2j/d).
func refDefaultInvFreq(theta float64, d int) []float64 {
	inv := make([]float64, d/2)
	for j := range inv {
		inv[j] = 1 / math.Pow(theta, float64(2*j)/float64(d))
	}
	return inv
}

// refRopeOf is the float64 RoPE of one Rope value (default, linear,
// llama3 or yarn) and its cos/sin factor.
func refRopeOf(c *Config, rp Rope) ([]float64, float64) {
	sc := rp.Scaling
	switch {
	case sc == nil:
		return refDefaultInvFreq(rp.Theta, c.HeadDim), 1
	case sc.Type == "yarn":
		return refYarnInvFreq(rp.Theta, c.HeadDim, sc.Factor, sc.OriginalMaxPositions, sc.BetaFast, sc.BetaSlow, !sc.NoTruncate), sc.AttentionFactor
	}
	cc := *c
	cc.RopeTheta, cc.RopeScaling = rp.Theta, sc
	inv := make([]float64, c.HeadDim/2)
	for j := range inv {
		inv[j] = refInvFreq(&cc, j)
	}
	return inv, 1
}

// refLayersOf reads the per-layer attention off a config's fields: a
// sliding_attention layer has window SlidingWindow and RoPE SlidingRope
// (when set), every other layer full attention with RopeTheta/RopeScaling.
func refLayersOf(c *Config) []refLayer {
	out := make([]refLayer, c.Layers)
	for l := range out {
		rp := Rope{Theta: c.RopeTheta, Scaling: c.RopeScaling}
		if c.LayerTypes != nil && c.LayerTypes[l] == "sliding_attention" {
			out[l].window = c.SlidingWindow
			if c.SlidingRope != nil {
				rp = *c.SlidingRope
			}
		}
		out[l].invFreq, out[l].mscale = refRopeOf(c, rp)
	}
	return out
}

// refCheckL runs m over ids and checks its logits against refForwardL
// with lay (relative error 1e-5); it returns the logits and parameters.
func refCheckL(t *testing.T, m *Model, ids []int32, lay []refLayer) ([]float32, map[string][]float64) {
	t.Helper()
	p := hostParams(m)
	a, err := m.NewInferActs(1, len(ids))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Free()
	if err := m.Forward(a, ids, []int{len(ids)}); err != nil {
		t.Fatal(err)
	}
	got := download(m.BE, a.Logits())
	if e := relErr(got, f32s(refForwardL(m.Cfg, p, ids, lay))); e > 1e-5 {
		t.Errorf("logits relative error %.3g vs the float64 reference", e)
	} else {
		t.Logf("logits relative error %.3g", e)
	}
	return got, p
}

// tinyJSON builds a small config.json of the given class with extra
// fields (nil values delete).
func tinyJSON(t *testing.T, arch, modelType string, extra map[string]any) *Config {
	t.Helper()
	m := map[string]any{"architectures": []string{arch}, "model_type": modelType, "vocab_size": 97,
		"hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 4, "num_attention_heads": 4,
		"num_key_value_heads": 2, "head_dim": 12, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
		"max_position_embeddings": 8192, "tie_word_embeddings": false, "hidden_act": "silu",
		"attention_bias": false, "attention_dropout": 0.0, "pad_token_id": 1, "eos_token_id": 2}
	for k, v := range extra {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		t.Fatalf("%s config: %v", arch, err)
	}
	return c
}

// olmo3YarnV4 is Olmo-3-7B's rope_scaling (transformers 4.57 layout)
// scaled down to the tiny configs: factor 4 over 2048 positions.
var olmo3YarnV4 = map[string]any{"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 2048,
	"beta_fast": 32, "beta_slow": 1, "attention_factor": 1.25}

// TestOlmoMatchesReference: Olmo-2 and Olmo-3 against the float64
// transcription of modeling_olmo3.py, with GQA, biases, sliding windows
// shorter than the sequence and YaRN on the full-attention layers only;
// the per-layer attention of the configs read from JSON is written out
// here from the JSON's numbers, not derived from Config.
func TestOlmoMatchesReference(t *testing.T) {
	d := 12
	yarn := func(theta float64, truncate bool) []float64 {
		return refYarnInvFreq(theta, d, 4, 2048, 32, 1, truncate)
	}
	def := refDefaultInvFreq(10000, d)
	cases := []struct {
		name string
		cfg  func(t *testing.T) *Config
		lay  func(c *Config) []refLayer // nil: refLayersOf
	}{
		{"olmo2", func(*testing.T) *Config { return tinyConfig("olmo2") }, nil},
		{"olmo2/bias-tied", func(*testing.T) *Config {
			c := tinyConfig("olmo2")
			c.AttnBias, c.OBias, c.TieEmbeddings = true, true, true
			return c
		}, nil},
		{"olmo3", func(*testing.T) *Config { return tinyConfig("olmo3") }, nil},
		{"olmo3/json-v4", func(t *testing.T) *Config {
			// Default layer pattern (three sliding, one full), window 3,
			// YaRN in rope_scaling: full layer 3 only.
			return tinyJSON(t, "Olmo3ForCausalLM", "olmo3", map[string]any{"sliding_window": 3, "rope_scaling": olmo3YarnV4})
		}, func(c *Config) []refLayer {
			s := refLayer{invFreq: def, mscale: 1, window: 3}
			return []refLayer{s, s, s, {invFreq: yarn(10000, true), mscale: 1.25}}
		}},
		{"olmo3/json-v5-keyed", func(t *testing.T) *Config {
			// transformers 5: rope_parameters per layer type; the sliding
			// layers' own base; no truncation; attention factor derived.
			return tinyJSON(t, "Olmo3ForCausalLM", "olmo3", map[string]any{"sliding_window": 2, "rope_theta": nil,
				"layer_types": []string{"full_attention", "sliding_attention", "sliding_attention", "full_attention"},
				"rope_parameters": map[string]any{
					"full_attention":    map[string]any{"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0, "original_max_position_embeddings": 2048, "truncate": false},
					"sliding_attention": map[string]any{"rope_type": "default", "rope_theta": 500.0},
				}})
		}, func(c *Config) []refLayer {
			f := refLayer{invFreq: yarn(10000, false), mscale: 0.1*math.Log(4) + 1}
			s := refLayer{invFreq: refDefaultInvFreq(500, d), mscale: 1, window: 2}
			return []refLayer{f, s, s, f}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg(t)
			m, err := New(cfg, testBackend(), 3)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Free()
			randomize(t, m, 31)
			lay := refLayersOf(cfg)
			if tc.lay != nil {
				lay = tc.lay(cfg)
			}
			ids := refIDs(cfg, 11)
			got, p := refCheckL(t, m, ids, lay)
			// The windows and the attention factor change the logits: the
			// comparison above can fail.
			plain := make([]refLayer, len(lay))
			changed := false
			for l, ly := range lay {
				plain[l] = refLayer{invFreq: ly.invFreq, mscale: 1}
				changed = changed || ly.window > 0 || ly.mscale != 1
			}
			if changed {
				if e := relErr(got, f32s(refForwardL(cfg, p, ids, plain))); e < 1e-3 {
					t.Errorf("logits without windows and attention factor agree to %.3g", e)
				}
			}
		})
	}
}

// TestYarnMatchesReference: YaRN on Qwen3 (transformers 5's flat
// rope_parameters) and Llama (transformers 4's rope_scaling, truncate
// false, attention_factor from mscale/mscale_all_dim): frequencies within
// float32 rounding of the float64 formula, logits against the reference.
func TestYarnMatchesReference(t *testing.T) {
	cases := []struct {
		name string
		cfg  *Config
		af   float64
	}{
		{"qwen3", tinyJSON(t, "Qwen3ForCausalLM", "qwen3", map[string]any{"rope_theta": nil, "num_hidden_layers": 2,
			"rope_parameters": map[string]any{"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0, "original_max_position_embeddings": 2048}}),
			0.1*math.Log(4) + 1},
		{"llama", tinyJSON(t, "LlamaForCausalLM", "llama", map[string]any{"num_hidden_layers": 2, "head_dim": 16, "num_key_value_heads": 1,
			"rope_scaling": map[string]any{"type": "yarn", "factor": 8.0, "original_max_position_embeddings": 4096, "beta_fast": 16.0,
				"beta_slow": 2.0, "truncate": false, "mscale": 1.0, "mscale_all_dim": 0.5}}),
			(0.1*math.Log(8) + 1) / (0.05*math.Log(8) + 1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			sc := cfg.RopeScaling
			if sc == nil || sc.Type != "yarn" || math.Abs(sc.AttentionFactor-tc.af) > 1e-12 {
				t.Fatalf("rope scaling %+v, want yarn with attention factor %g", sc, tc.af)
			}
			want := refYarnInvFreq(cfg.RopeTheta, cfg.HeadDim, sc.Factor, sc.OriginalMaxPositions, sc.BetaFast, sc.BetaSlow, !sc.NoTruncate)
			for j, f := range cfg.RopeInvFreq() {
				if math.Abs(float64(f)-want[j]) > 1e-6*want[j] {
					t.Errorf("inverse frequency %d: %g, reference %g", j, f, want[j])
				}
			}
			m, err := New(cfg, testBackend(), 3)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Free()
			randomize(t, m, 31)
			refCheckL(t, m, refIDs(cfg, 10), refLayersOf(cfg))
		})
	}
}

// TestQwenSlidingWindow: Qwen2/Qwen3 configs slide exactly the layers
// transformers slides (use_sliding_window with max_window_layers, or
// layer_types), and the forward matches the reference with those windows.
func TestQwenSlidingWindow(t *testing.T) {
	cases := []struct {
		name  string
		cfg   *Config
		types []int // windows per layer
	}{
		{"qwen2/max_window_layers", tinyJSON(t, "Qwen2ForCausalLM", "qwen2", map[string]any{"head_dim": nil, "num_hidden_layers": 3,
			"use_sliding_window": true, "sliding_window": 4, "max_window_layers": 1}), []int{0, 4, 4}},
		{"qwen3/layer_types", tinyJSON(t, "Qwen3ForCausalLM", "qwen3", map[string]any{"num_hidden_layers": 2,
			"use_sliding_window": true, "sliding_window": 3, "max_window_layers": 28,
			"layer_types": []string{"sliding_attention", "full_attention"}}), []int{3, 0}},
		{"qwen2/off", tinyJSON(t, "Qwen2ForCausalLM", "qwen2", map[string]any{"head_dim": nil, "num_hidden_layers": 2,
			"use_sliding_window": false, "sliding_window": 4, "max_window_layers": 0}), []int{0, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			lay := refLayers(cfg)
			for l, w := range tc.types {
				if got := cfg.LayerWindow(l); got != w {
					t.Errorf("layer %d window %d, want %d", l, got, w)
				}
				lay[l].window = w
			}
			m, err := New(cfg, testBackend(), 3)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Free()
			randomize(t, m, 31)
			refCheckL(t, m, refIDs(cfg, 10), lay)
		})
	}
}

// TestOlmoConfig reads Olmo-3-7B-Instruct's and OLMo-2's config.json
// fields (dimensions scaled down) and checks what each family computes.
func TestOlmoConfig(t *testing.T) {
	types := make([]string, 8)
	for i := range types {
		types[i] = "sliding_attention"
		if i%4 == 3 {
			types[i] = "full_attention"
		}
	}
	olmo3 := tinyJSON(t, "Olmo3ForCausalLM", "olmo3", map[string]any{"num_hidden_layers": 8, "head_dim": nil,
		"rope_theta": 500000, "sliding_window": 4096, "layer_types": types, "max_position_embeddings": 65536,
		"rope_scaling": map[string]any{"attention_factor": 1.2079441541679836, "beta_fast": 32, "beta_slow": 1,
			"factor": 8.0, "original_max_position_embeddings": 8192, "rope_type": "yarn"}})
	if !olmo3.PostNorm || !olmo3.QKNormFull || olmo3.HeadDim != 8 || olmo3.AttnBias || olmo3.TieEmbeddings {
		t.Errorf("olmo3: %s", olmo3)
	}
	for l := 0; l < 8; l++ {
		rp := olmo3.LayerRope(l)
		full := l%4 == 3
		if w := olmo3.LayerWindow(l); (w == 0) != full || (!full && w != 4096) {
			t.Errorf("olmo3 layer %d window %d", l, w)
		}
		if (rp.Scaling != nil) != full || rp.Theta != 500000 {
			t.Errorf("olmo3 layer %d RoPE %+v (YaRN on the full layers only)", l, rp)
		}
	}
	if sc := olmo3.RopeScaling; sc.Factor != 8 || sc.OriginalMaxPositions != 8192 || sc.AttentionFactor != 1.2079441541679836 {
		t.Errorf("olmo3 yarn %+v", sc)
	}
	// Default layer types: three sliding layers in four; default window.
	def := tinyJSON(t, "Olmo3ForCausalLM", "olmo3", map[string]any{"num_hidden_layers": 5})
	if !reflect.DeepEqual(def.LayerTypes, []string{"sliding_attention", "sliding_attention", "sliding_attention", "full_attention", "sliding_attention"}) ||
		def.SlidingWindow != 4096 {
		t.Errorf("olmo3 defaults: %v, window %d", def.LayerTypes, def.SlidingWindow)
	}
	// OLMo-2 has no sliding attention, whatever the config carries.
	olmo2 := tinyJSON(t, "Olmo2ForCausalLM", "olmo2", map[string]any{"sliding_window": 16, "attention_bias": true, "rms_norm_eps": nil})
	if olmo2.LayerTypes != nil || !olmo2.AttnBias || !olmo2.OBias || olmo2.RMSNormEps != 1e-5 {
		t.Errorf("olmo2: %s", olmo2)
	}
	for _, tc := range []struct {
		name  string
		patch map[string]any
		err   string
	}{
		{"null window", map[string]any{"sliding_window": nil, "layer_types": []string{"sliding_attention", "full_attention", "full_attention", "full_attention"}}, "no sliding window"},
		{"dynamic", map[string]any{"rope_scaling": map[string]any{"rope_type": "dynamic", "factor": 2.0}}, `rope_type "dynamic" is not supported`},
		{"bad layer type", map[string]any{"layer_types": []string{"chunked_attention", "full_attention", "full_attention", "full_attention"}}, "layer_types[0]"},
		{"layer count", map[string]any{"layer_types": []string{"full_attention"}}, "layer_types has 1 entries"},
		{"zero window", map[string]any{"sliding_window": 0}, "sliding_window 0"},
		{"mixed keyed", map[string]any{"rope_parameters": map[string]any{"full_attention": map[string]any{"rope_type": "default"}, "rope_theta": 1.0}}, "mixes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := map[string]any{"architectures": []string{"Olmo3ForCausalLM"}, "model_type": "olmo3", "vocab_size": 97,
				"hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 4, "num_attention_heads": 4}
			for k, v := range tc.patch {
				m[k] = v
			}
			data, _ := json.Marshal(m)
			_, err := ParseConfig(data)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("err = %v, want one containing %q", err, tc.err)
			}
		})
	}
}

// TestOlmoSaveLoadHF saves Olmo models in the Hugging Face layout and
// reads them back: the tensor names and shapes transformers expects
// (post_feedforward_layernorm, full-width q_norm/k_norm, no
// input_layernorm), config.json fields it reads (architectures,
// layer_types, sliding_window, the RoPE layout), and the same config and
// parameters after loading.
func TestOlmoSaveLoadHF(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(t *testing.T) *Config
	}{
		{"olmo2", func(*testing.T) *Config { return tinyConfig("olmo2") }},
		{"olmo3-code", func(*testing.T) *Config { return tinyConfig("olmo3") }},
		{"olmo3-v4", func(t *testing.T) *Config {
			return tinyJSON(t, "Olmo3ForCausalLM", "olmo3", map[string]any{"sliding_window": 3, "rope_scaling": olmo3YarnV4})
		}},
		{"olmo3-v5-keyed", func(t *testing.T) *Config {
			return tinyJSON(t, "Olmo3ForCausalLM", "olmo3", map[string]any{"sliding_window": 2, "rope_theta": nil,
				"rope_parameters": map[string]any{
					"full_attention":    map[string]any{"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0, "original_max_position_embeddings": 2048},
					"sliding_attention": map[string]any{"rope_type": "default", "rope_theta": 500.0},
				}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := testBackend()
			cfg := tc.cfg(t)
			m, err := New(cfg, be, 7)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Free()
			randomize(t, m, 3)
			dir := t.TempDir()
			if err := m.Save(dir, SaveOptions{}); err != nil {
				t.Fatal(err)
			}
			ts, err := ReadTensors(filepath.Join(dir, "model.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			qd, kvd := cfg.Heads*cfg.HeadDim, cfg.KVHeads*cfg.HeadDim
			for name, shape := range map[string][]int{
				"model.layers.0.self_attn.q_norm.weight":                          {qd},
				"model.layers.0.self_attn.k_norm.weight":                          {kvd},
				"model.layers.0.post_attention_layernorm.weight":                  {cfg.Hidden},
				"model.layers.0.post_feedforward_layernorm.weight":                {cfg.Hidden},
				fmt.Sprintf("model.layers.%d.mlp.down_proj.weight", cfg.Layers-1): {cfg.Hidden, cfg.Intermediate},
				"model.norm.weight": {cfg.Hidden},
			} {
				if got, ok := ts[name]; !ok || !reflect.DeepEqual(got.Shape, shape) {
					t.Errorf("%s: shape %v (present %v), want %v", name, got.Shape, ok, shape)
				}
			}
			if _, ok := ts["model.layers.0.input_layernorm.weight"]; ok {
				t.Error("input_layernorm written for a post-norm model")
			}
			if _, ok := ts["lm_head.weight"]; ok == cfg.TieEmbeddings {
				t.Errorf("lm_head.weight present %v with tie_word_embeddings %v", ok, cfg.TieEmbeddings)
			}
			raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
			if err != nil {
				t.Fatal(err)
			}
			var js map[string]any
			if err := json.Unmarshal(raw, &js); err != nil {
				t.Fatal(err)
			}
			if a := js["architectures"].([]any); a[0] != archName[cfg.Arch] || js["model_type"] != cfg.Arch {
				t.Errorf("architectures %v, model_type %v", a, js["model_type"])
			}
			if cfg.Arch == "olmo3" {
				if lt, _ := js["layer_types"].([]any); len(lt) != cfg.Layers || js["sliding_window"] != float64(cfg.SlidingWindow) {
					t.Errorf("layer_types %v, sliding_window %v", js["layer_types"], js["sliding_window"])
				}
			}
			m2, err := Load(dir, be)
			if err != nil {
				t.Fatal(err)
			}
			defer m2.Free()
			a, b := *cfg, *m2.Cfg
			a.Raw, b.Raw = nil, nil
			if !reflect.DeepEqual(a, b) {
				t.Errorf("config changed by save/load:\n%+v\n%+v", a, b)
			}
			if relErr(download(be, m2.Params), download(be, m.Params)) != 0 {
				t.Error("parameters changed by save/load")
			}
		})
	}
}
