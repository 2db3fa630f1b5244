package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nlpodyssey/safetensors"

	"sdzero/kernels"
)

// TestSaveLoadExact saves models in every layout and dtype and checks that
// loading gives back the same parameters bit for bit (BF16: the rounded
// values, and a second BF16 save is byte-identical).
func TestSaveLoadExact(t *testing.T) {
	for _, arch := range []string{"qwen3", "qwen2", "llama", "olmo3"} {
		for _, tc := range []struct {
			name  string
			dtype kernels.DType
			shard int64
			tied  bool
		}{
			{"f32", kernels.F32, 0, false},
			{"f32-tied-sharded", kernels.F32, 20000, true},
			{"bf16", kernels.BF16, 0, true},
			{"bf16-sharded", kernels.BF16, 9000, false},
		} {
			t.Run(arch+"/"+tc.name, func(t *testing.T) {
				be := testBackend()
				cfg := tinyConfig(arch)
				cfg.TieEmbeddings = tc.tied
				m, err := New(cfg, be, 7)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Free()
				randomize(t, m, 3)
				dir := t.TempDir()
				if err := m.Save(dir, SaveOptions{DType: tc.dtype, MaxShardBytes: tc.shard}); err != nil {
					t.Fatal(err)
				}
				_, idxErr := os.Stat(filepath.Join(dir, "model.safetensors.index.json"))
				if (tc.shard > 0) != (idxErr == nil) {
					t.Errorf("sharded=%v but index present=%v", tc.shard > 0, idxErr == nil)
				}
				m2, err := Load(dir, be)
				if err != nil {
					t.Fatal(err)
				}
				defer m2.Free()
				for _, s := range m.Specs {
					a, b := download(be, m.Param(s.Name)), download(be, m2.Param(s.Name))
					for i := range a {
						want := a[i]
						if tc.dtype == kernels.BF16 {
							want = kernels.BF16ToF32(kernels.F32ToBF16(want))
						}
						if b[i] != want {
							t.Fatalf("%s[%d] = %g after save/load, want %g", s.Name, i, b[i], want)
						}
					}
					if got := m2.DiskDTypes[s.Name]; got != tc.dtype.String() {
						t.Errorf("%s on disk as %s, want %s", s.Name, got, tc.dtype)
					}
				}
				if tc.dtype == kernels.BF16 {
					dir2 := t.TempDir()
					if err := m2.Save(dir2, SaveOptions{DType: kernels.BF16, MaxShardBytes: tc.shard}); err != nil {
						t.Fatal(err)
					}
					files, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
					for _, f := range files {
						a, _ := os.ReadFile(f)
						b, err := os.ReadFile(filepath.Join(dir2, filepath.Base(f)))
						if err != nil || !bytes.Equal(a, b) {
							t.Errorf("%s differs on re-save (%v)", filepath.Base(f), err)
						}
					}
				}
				// Re-save into the same dir in the other layout: stale files go.
				if err := m2.Save(dir, SaveOptions{DType: kernels.F32, MaxShardBytes: map[bool]int64{true: 0, false: 20000}[tc.shard > 0]}); err != nil {
					t.Fatal(err)
				}
				m3, err := Load(dir, be)
				if err != nil {
					t.Fatal(err)
				}
				m3.Free()
				// And sharded twice into the same dir: fresh shard names,
				// the old ones removed after the commit.
				for k := 0; k < 2; k++ {
					if err := m2.Save(dir, SaveOptions{DType: kernels.F32, MaxShardBytes: 20000}); err != nil {
						t.Fatal(err)
					}
				}
				m4, err := Load(dir, be)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range m.Specs {
					if relErr(download(be, m4.Param(s.Name)), download(be, m2.Param(s.Name))) != 0 {
						t.Fatalf("%s changed after re-saving", s.Name)
					}
				}
				m4.Free()
				files, _ := filepath.Glob(filepath.Join(dir, "model-*.safetensors"))
				var idx shardIndex
				data, _ := os.ReadFile(filepath.Join(dir, "model.safetensors.index.json"))
				json.Unmarshal(data, &idx)
				used := map[string]bool{}
				for _, f := range idx.WeightMap {
					used[f] = true
				}
				if len(files) != len(used) {
					t.Errorf("%d shard files for %d in the index", len(files), len(used))
				}
				if err := m2.Save(dir, SaveOptions{DType: kernels.F32}); err != nil {
					t.Fatal(err)
				}
				entries, _ := os.ReadDir(dir)
				for _, e := range entries {
					if strings.HasPrefix(e.Name(), ".") {
						t.Errorf("temp file %s left behind", e.Name())
					}
					if strings.HasPrefix(e.Name(), "model-") || e.Name() == "model.safetensors.index.json" {
						t.Errorf("stale shard %s left behind", e.Name())
					}
				}
			})
		}
	}
}

// TestSaveKeepsConfigFields re-saves a fixture and checks that config
// fields this package does not interpret survive, with the dtype updated.
func TestSaveKeepsConfigFields(t *testing.T) {
	dir := fixturesDir(t, "qwen3-tiny-untied-bf16")
	m, err := Load(dir, testBackend())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	out := t.TempDir()
	if err := m.Save(out, SaveOptions{DType: kernels.F32}); err != nil {
		t.Fatal(err)
	}
	var a, b map[string]any
	for p, dst := range map[string]*map[string]any{filepath.Join(dir, "config.json"): &a, filepath.Join(out, "config.json"): &b} {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, dst); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range a {
		if k == "dtype" {
			continue
		}
		if _, ok := b[k]; !ok {
			t.Errorf("field %s (%v) dropped", k, v)
		}
	}
	if b["dtype"] != "float32" {
		t.Errorf("dtype = %v, want float32", b["dtype"])
	}
	if _, err := os.Stat(filepath.Join(out, "generation_config.json")); err != nil {
		t.Errorf("generation_config.json not copied: %v", err)
	}
}

// writeST writes a safetensors file from raw tensors.
func writeST(t *testing.T, path string, tensors map[string]lazyView) {
	t.Helper()
	tmp, err := writeSafetensorsTemp(path, tensors, map[string]string{"format": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func rawView(dt safetensors.DType, shape []uint64, data []byte) lazyView {
	return lazyView{dtype: dt, shape: shape, n: uint64(len(data)), fetch: func() []byte { return data }}
}

// TestLoadErrors corrupts a valid checkpoint in the ways a loader must
// report: each error names the tensor or the problem and the file.
func TestLoadErrors(t *testing.T) {
	be := testBackend()
	cfg := tinyConfig("qwen2")
	m, err := New(cfg, be, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	good := t.TempDir()
	if err := m.Save(good, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := openSafetensors(filepath.Join(good, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	views := map[string]lazyView{}
	for name, tt := range st.Tensors {
		raw, _ := st.read(tt)
		shape := make([]uint64, len(tt.Shape))
		for i, d := range tt.Shape {
			shape[i] = uint64(d)
		}
		views[name] = rawView(tt.DType, shape, raw)
	}
	st.Close()
	cfgData, _ := os.ReadFile(filepath.Join(good, "config.json"))
	fileData, _ := os.ReadFile(filepath.Join(good, "model.safetensors"))

	const victim = "model.layers.1.self_attn.k_proj.bias"
	cases := []struct {
		name   string
		mutate func(map[string]lazyView)
		raw    func([]byte) []byte
		want   []string
	}{
		{name: "missing", mutate: func(v map[string]lazyView) { delete(v, victim) }, want: []string{"missing", victim}},
		{name: "unexpected", mutate: func(v map[string]lazyView) {
			v["model.layers.0.extra.weight"] = rawView(safetensors.F32, []uint64{2}, make([]byte, 8))
		}, want: []string{"unexpected", "model.layers.0.extra.weight", "model.safetensors"}},
		{name: "shape", mutate: func(v map[string]lazyView) {
			old := v[victim]
			v[victim] = rawView(safetensors.F32, []uint64{old.n / 8, 2}, old.fetch())
		}, want: []string{"shape", victim}},
		{name: "dtype", mutate: func(v map[string]lazyView) {
			old := v[victim]
			v[victim] = rawView(safetensors.I32, old.shape, old.fetch())
		}, want: []string{"dtype", victim, "I32"}},
		{name: "truncated", raw: func(b []byte) []byte { return b[:len(b)-10] }, want: []string{"truncated", "model.safetensors"}},
		{name: "trailing", raw: func(b []byte) []byte { return append(b, 0, 0) }, want: []string{"trailing"}},
		{name: "header length", raw: func(b []byte) []byte {
			c := bytes.Clone(b)
			binary.LittleEndian.PutUint64(c, 1<<40)
			return c
		}, want: []string{"header length"}},
		{name: "short file", raw: func(b []byte) []byte { return b[:5] }, want: []string{"truncated"}},
		{name: "bad json", raw: func(b []byte) []byte {
			c := bytes.Clone(b)
			c[8] = '['
			return c
		}, want: []string{"corrupt header"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "config.json"), cfgData, 0o644)
			path := filepath.Join(dir, "model.safetensors")
			if c.mutate != nil {
				v := map[string]lazyView{}
				for k, x := range views {
					v[k] = x
				}
				c.mutate(v)
				writeST(t, path, v)
			} else {
				os.WriteFile(path, c.raw(bytes.Clone(fileData)), 0o644)
			}
			_, err := Load(dir, be)
			if err == nil {
				t.Fatal("loaded a broken checkpoint")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	t.Run("no weights", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "config.json"), cfgData, 0o644)
		if _, err := Load(dir, be); err == nil || !strings.Contains(err.Error(), "model.safetensors.index.json") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("index points elsewhere", func(t *testing.T) {
		dir := t.TempDir()
		if err := m.Save(dir, SaveOptions{MaxShardBytes: 20000}); err != nil {
			t.Fatal(err)
		}
		var idx shardIndex
		data, _ := os.ReadFile(filepath.Join(dir, "model.safetensors.index.json"))
		json.Unmarshal(data, &idx)
		idx.WeightMap[victim] = "model-00001-of-00009.safetensors"
		data, _ = json.Marshal(idx)
		os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), data, 0o644)
		_, err := Load(dir, be)
		if err == nil || !strings.Contains(err.Error(), victim) {
			t.Fatalf("err = %v, want one naming %s", err, victim)
		}
	})
}

// FuzzParseSafetensors feeds arbitrary bytes to the header parser and the
// tensor reader: they must return errors, never panic or over-allocate.
func FuzzParseSafetensors(f *testing.F) {
	var buf bytes.Buffer
	views := map[string]lazyView{
		"a": rawView(safetensors.F32, []uint64{2, 2}, make([]byte, 16)),
		"b": rawView(safetensors.BF16, []uint64{3}, []byte{1, 2, 3, 4, 5, 6}),
	}
	if err := safetensors.SerializeToWriter(views, map[string]string{"format": "pt"}, &buf); err != nil {
		f.Fatal(err)
	}
	valid := buf.Bytes()
	f.Add(valid)
	f.Add(valid[:len(valid)-1])
	f.Add(valid[:12])
	f.Add([]byte{})
	f.Add([]byte(`xxxxxxxx{}`))
	hdr := []byte(`{"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}}`)
	f.Add(append(binary.LittleEndian.AppendUint64(nil, uint64(len(hdr))), hdr...))
	hdr = []byte(`{"t":{"dtype":"F32","shape":[2],"data_offsets":[8,0]},"u":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`)
	f.Add(append(append(binary.LittleEndian.AppendUint64(nil, uint64(len(hdr))), hdr...), make([]byte, 8)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := parseSafetensors(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		for _, tt := range st.Tensors {
			raw, err := st.read(tt)
			if err != nil {
				t.Fatalf("valid header but tensor %s unreadable: %v", tt.Name, err)
			}
			if int64(len(raw)) != tt.End-tt.Start {
				t.Fatalf("tensor %s: %d bytes, want %d", tt.Name, len(raw), tt.End-tt.Start)
			}
		}
	})
}

var _ = errors.New

// TestLoadVariants loads F16 weights, a tied checkpoint that still carries
// lm_head.weight, and rotary inv_freq buffers (all accepted as HF does).
func TestLoadVariants(t *testing.T) {
	be := testBackend()
	cfg := tinyConfig("qwen3")
	cfg.TieEmbeddings = true
	m, err := New(cfg, be, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	randomize(t, m, 2)
	dir := t.TempDir()
	if err := cfg.WriteJSON(filepath.Join(dir, "config.json")); err != nil {
		t.Fatal(err)
	}
	views := map[string]lazyView{}
	want := map[string][]float32{}
	for _, s := range m.Specs {
		host := download(be, m.Param(s.Name))
		raw := make([]byte, 2*len(host))
		w := make([]float32, len(host))
		for i, v := range host {
			h := kernels.F32ToF16(v)
			binary.LittleEndian.PutUint16(raw[2*i:], h)
			w[i] = kernels.F16ToF32(h)
		}
		shape := make([]uint64, len(s.Shape))
		for i, d := range s.Shape {
			shape[i] = uint64(d)
		}
		views[s.Name] = rawView(safetensors.F16, shape, raw)
		want[s.Name] = w
	}
	views["lm_head.weight"] = views["model.embed_tokens.weight"]
	views["model.layers.0.self_attn.rotary_emb.inv_freq"] = rawView(safetensors.F32, []uint64{4}, make([]byte, 16))
	writeST(t, filepath.Join(dir, "model.safetensors"), views)
	m2, err := Load(dir, be)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Free()
	for name, w := range want {
		if e := relErr(download(be, m2.Param(name)), w); e != 0 {
			t.Errorf("%s: F16 load differs from the F16 values (%.3g)", name, e)
		}
		if m2.DiskDTypes[name] != "F16" {
			t.Errorf("%s: disk dtype %q", name, m2.DiskDTypes[name])
		}
	}
}
