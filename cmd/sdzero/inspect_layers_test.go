package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sdzero/kernels/cpu"
	"sdzero/model"
)

// TestInspectLayers: inspect prints an Olmo-3 model's layer pattern, the
// RoPE of each layer type (YaRN on the full layers only) and the KV-cache
// plan's assumption about sliding layers, in text and JSON.
func TestInspectLayers(t *testing.T) {
	dir := t.TempDir()
	cfg := `{"architectures":["Olmo3ForCausalLM"],"model_type":"olmo3","vocab_size":97,"hidden_size":32,
"intermediate_size":48,"num_hidden_layers":4,"num_attention_heads":4,"num_key_value_heads":2,"rms_norm_eps":1e-6,
"rope_theta":500000,"sliding_window":16,"max_position_embeddings":65536,"tie_word_embeddings":false,
"rope_scaling":{"rope_type":"yarn","factor":8.0,"original_max_position_embeddings":8192,"attention_factor":1.2}}`
	c, err := model.ParseConfig([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(c, cpu.New(1), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	if err := m.Save(dir, model.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := runInspect([]string{"--model", dir, "--batch", "2", "--seq", "64"}, &out, &errb); err != nil {
		t.Fatalf("%v: %s", err, errb.String())
	}
	text := out.String()
	for _, want := range []string{"Olmo3ForCausalLM", "3 sliding_attention (window 16), 1 full_attention; pattern SSSF",
		"rope          full_attention: theta 500000, yarn scaling (factor 8, original context 8192",
		"rope          sliding_attention: theta 500000\n", "after each sublayer", "over the whole projection width",
		"sliding layers read at most 16"} {
		if !strings.Contains(text, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, text)
		}
	}
	out.Reset()
	if err := runInspect([]string{"--model", dir, "--batch", "2", "--seq", "64", "--json"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	var res struct {
		LayerTypes []string `json:"layer_types"`
		Rope       []struct {
			Type    string             `json:"layer_type"`
			Scaling *model.RopeScaling `json:"rope_scaling"`
		} `json:"rope"`
		KV struct {
			Bytes int64 `json:"bytes"`
		} `json:"kv_cache"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.LayerTypes, ",") != "sliding_attention,sliding_attention,sliding_attention,full_attention" ||
		len(res.Rope) != 2 || res.Rope[0].Scaling == nil || res.Rope[1].Scaling != nil {
		t.Errorf("JSON layers %v, rope %+v", res.LayerTypes, res.Rope)
	}
	// 2 (k, v) x 4 layers x 2 rows x 64 positions x 2 kv heads x 8 dims x F32.
	if res.KV.Bytes != 2*4*2*64*2*8*4 {
		t.Errorf("KV cache %d bytes", res.KV.Bytes)
	}
}
