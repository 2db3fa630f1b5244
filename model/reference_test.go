package model

import (
	"fmt"
	"math"
	"testing"
)

// refLayer is what the float64 reference needs to know of one layer's
// attention: RoPE's inverse frequencies, the factor on cos and sin (YaRN's
// attention factor, 1 otherwise) and the sliding window (0: full causal).
type refLayer struct {
	invFreq []float64
	mscale  float64
	window  int
}

// refLayers is every layer with the config's full-attention RoPE
// (refInvFreq), no attention factor and no window: the Qwen/Llama
// reference as it was before per-layer attention.
func refLayers(c *Config) []refLayer {
	inv := make([]float64, c.HeadDim/2)
	for j := range inv {
		inv[j] = refInvFreq(c, j)
	}
	out := make([]refLayer, c.Layers)
	for l := range out {
		out[l] = refLayer{invFreq: inv, mscale: 1}
	}
	return out
}

// refForward is refForwardL with refLayers.
func refForward(c *Config, p map[string][]float64, ids []int32) []float64 {
	return refForwardL(c, p, ids, refLayers(c))
}

// refForwardL is an independent float64 transcription of the Hugging Face
// forward for one sequence (no backend ops): Qwen3/Qwen2/Llama
// (modeling_qwen3.py etc.: input norms, per-head q/k norm) and Olmo-2/3
// (modeling_olmo3.py: q_norm/k_norm over the whole projection before the
// split into heads, post_attention_layernorm and post_feedforward_layernorm
// on the sublayer outputs before the residual adds, no input norms),
// with each layer's RoPE, cos/sin factor and sliding window from lay
// (eager attention with transformers' mask: key j visible from query i
// when i-W < j <= i).
func refForwardL(c *Config, p map[string][]float64, ids []int32, lay []refLayer) []float64 {
	T, H, I, d := len(ids), c.Hidden, c.Intermediate, c.HeadDim
	hq, hkv := c.Heads, c.KVHeads
	olmo := c.Arch == "olmo2" || c.Arch == "olmo3"
	lin := func(x []float64, w, b []float64, out, in int) []float64 {
		y := make([]float64, out)
		for o := 0; o < out; o++ {
			s := 0.0
			for i := 0; i < in; i++ {
				s += x[i] * w[o*in+i]
			}
			if b != nil {
				s += b[o]
			}
			y[o] = s
		}
		return y
	}
	norm := func(x, w []float64) []float64 {
		ss := 0.0
		for _, v := range x {
			ss += v * v
		}
		r := 1 / math.Sqrt(ss/float64(len(x))+c.RMSNormEps)
		y := make([]float64, len(x))
		for i := range x {
			y[i] = x[i] * r * w[i]
		}
		return y
	}
	// apply_rotary_pos_emb: q*cos + rotate_half(q)*sin, cos and sin
	// scaled by the attention factor.
	rope := func(x []float64, pos int, ly refLayer) {
		half := d / 2
		for j := 0; j < half; j++ {
			a := float64(pos) * ly.invFreq[j]
			cs, sn := math.Cos(a)*ly.mscale, math.Sin(a)*ly.mscale
			x1, x2 := x[j], x[j+half]
			x[j] = x1*cs - x2*sn
			x[j+half] = x2*cs + x1*sn
		}
	}
	x := make([][]float64, T)
	for t, id := range ids {
		x[t] = append([]float64{}, p["model.embed_tokens.weight"][int(id)*H:(int(id)+1)*H]...)
	}
	for l := 0; l < c.Layers; l++ {
		pre := fmt.Sprintf("model.layers.%d.", l)
		ly := lay[l]
		q := make([][]float64, T)
		k := make([][]float64, T)
		v := make([][]float64, T)
		for t := 0; t < T; t++ {
			h := x[t]
			if !olmo {
				h = norm(x[t], p[pre+"input_layernorm.weight"])
			}
			q[t] = lin(h, p[pre+"self_attn.q_proj.weight"], p[pre+"self_attn.q_proj.bias"], hq*d, H)
			k[t] = lin(h, p[pre+"self_attn.k_proj.weight"], p[pre+"self_attn.k_proj.bias"], hkv*d, H)
			v[t] = lin(h, p[pre+"self_attn.v_proj.weight"], p[pre+"self_attn.v_proj.bias"], hkv*d, H)
			if olmo {
				q[t] = norm(q[t], p[pre+"self_attn.q_norm.weight"])
				k[t] = norm(k[t], p[pre+"self_attn.k_norm.weight"])
			}
			for hh := 0; hh < hq; hh++ {
				s := q[t][hh*d : (hh+1)*d]
				if c.Arch == "qwen3" {
					copy(s, norm(s, p[pre+"self_attn.q_norm.weight"]))
				}
				rope(s, t, ly)
			}
			for hh := 0; hh < hkv; hh++ {
				s := k[t][hh*d : (hh+1)*d]
				if c.Arch == "qwen3" {
					copy(s, norm(s, p[pre+"self_attn.k_norm.weight"]))
				}
				rope(s, t, ly)
			}
		}
		for t := 0; t < T; t++ {
			att := make([]float64, hq*d)
			j0 := 0
			if ly.window > 0 {
				j0 = max(0, t-ly.window+1)
			}
			for hh := 0; hh < hq; hh++ {
				kv := hh / (hq / hkv)
				sc := make([]float64, t+1)
				mx := math.Inf(-1)
				for j := j0; j <= t; j++ {
					s := 0.0
					for e := 0; e < d; e++ {
						s += q[t][hh*d+e] * k[j][kv*d+e]
					}
					sc[j] = s / math.Sqrt(float64(d))
					mx = math.Max(mx, sc[j])
				}
				z := 0.0
				for j := j0; j <= t; j++ {
					sc[j] = math.Exp(sc[j] - mx)
					z += sc[j]
				}
				for j := j0; j <= t; j++ {
					for e := 0; e < d; e++ {
						att[hh*d+e] += sc[j] / z * v[j][kv*d+e]
					}
				}
			}
			o := lin(att, p[pre+"self_attn.o_proj.weight"], p[pre+"self_attn.o_proj.bias"], H, hq*d)
			if olmo {
				o = norm(o, p[pre+"post_attention_layernorm.weight"])
			}
			for i := range o {
				x[t][i] += o[i]
			}
			h := x[t]
			if !olmo {
				h = norm(x[t], p[pre+"post_attention_layernorm.weight"])
			}
			g := lin(h, p[pre+"mlp.gate_proj.weight"], p[pre+"mlp.gate_proj.bias"], I, H)
			u := lin(h, p[pre+"mlp.up_proj.weight"], p[pre+"mlp.up_proj.bias"], I, H)
			for i := range g {
				g[i] = g[i] / (1 + math.Exp(-g[i])) * u[i]
			}
			dn := lin(g, p[pre+"mlp.down_proj.weight"], p[pre+"mlp.down_proj.bias"], H, I)
			if olmo {
				dn = norm(dn, p[pre+"post_feedforward_layernorm.weight"])
			}
			for i := range dn {
				x[t][i] += dn[i]
			}
		}
	}
	head := p["lm_head.weight"]
	if c.TieEmbeddings {
		head = p["model.embed_tokens.weight"]
	}
	out := make([]float64, 0, T*c.VocabSize)
	for t := 0; t < T; t++ {
		out = append(out, lin(norm(x[t], p["model.norm.weight"]), head, nil, c.VocabSize, H)...)
	}
	return out
}

// TestForwardMatchesReference compares the engine's logits with refForward
// for every family, tied and untied, with biases and q/k norms as each
// family has them.
// refInvFreq is RoPE's inverse frequency j in float64, transcribed from
// transformers' _compute_default/_linear/_llama3_parameters.
func refInvFreq(c *Config, j int) float64 {
	d := c.HeadDim
	f := 1 / math.Pow(c.RopeTheta, float64(2*j)/float64(d))
	r := c.RopeScaling
	switch {
	case r == nil:
		return f
	case r.Type == "linear":
		return f / r.Factor
	}
	old := float64(r.OriginalMaxPositions)
	lowWL, highWL := old/r.LowFreqFactor, old/r.HighFreqFactor
	wl := 2 * math.Pi / f
	switch {
	case wl < highWL:
		return f
	case wl > lowWL:
		return f / r.Factor
	}
	smooth := (old/wl - r.LowFreqFactor) / (r.HighFreqFactor - r.LowFreqFactor)
	return (1-smooth)*f/r.Factor + smooth*f
}

// TestRopeScalingMatchesReference: llama3- and linear-scaled RoPE (Llama
// 3.1+ configs) against the float64 reference forward, with frequencies
// on every branch of the llama3 rule (head dim 16, theta 10000: wavelengths
// 6 to 20000; original context 64: high- and low-frequency cut-offs 16 and
// 64); TestFiniteDifferences checks the gradients through it.
func TestRopeScalingMatchesReference(t *testing.T) {
	for _, sc := range []*RopeScaling{
		{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 64},
		{Type: "linear", Factor: 4},
	} {
		t.Run(sc.Type, func(t *testing.T) {
			be := testBackend()
			cfg := tinyConfig("llama")
			cfg.RopeTheta = 10000
			cfg.RopeScaling = sc
			m, err := New(cfg, be, 3)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Free()
			randomize(t, m, 31)
			inv := cfg.RopeInvFreq()
			changed := 0
			for j, f := range inv {
				want := refInvFreq(cfg, j)
				if math.Abs(float64(f)-want) > 1e-6*want {
					t.Errorf("inverse frequency %d: %g, reference %g", j, f, want)
				}
				if float64(f) != 1/math.Pow(10000, float64(2*j)/16) {
					changed++
				}
			}
			if changed < 2 {
				t.Errorf("scaling changed %d of %d frequencies", changed, len(inv))
			}
			ids := refIDs(cfg, 40) // positions past the original context
			got, p := refCheck(t, m, ids)
			// Without the scaling the logits differ: the test can fail.
			plain := *cfg
			plain.RopeScaling = nil
			if e := relErr(got, f32s(refForward(&plain, p, ids))); e < 1e-4 {
				t.Errorf("scaled and unscaled logits agree to %.3g", e)
			}
		})
	}
}

// refIDs returns n random token ids.
func refIDs(cfg *Config, n int) []int32 {
	r := newLCG(6)
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(r.intn(cfg.VocabSize))
	}
	return ids
}

// refCheck runs m over ids and checks its logits against refForward on
// the same parameters (relative error 1e-5); it returns the logits and
// the parameters in float64.
func refCheck(t *testing.T, m *Model, ids []int32) ([]float32, map[string][]float64) {
	t.Helper()
	be := m.BE
	p := hostParams(m)
	a, err := m.NewInferActs(1, len(ids))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Free()
	if err := m.Forward(a, ids, []int{len(ids)}); err != nil {
		t.Fatal(err)
	}
	got := download(be, a.Logits())
	if e := relErr(got, f32s(refForward(m.Cfg, p, ids))); e > 1e-5 {
		t.Errorf("logits relative error %.3g vs the float64 reference", e)
	} else {
		t.Logf("logits relative error %.3g", e)
	}
	return got, p
}

// hostParams returns m's parameters in float64, by name.
func hostParams(m *Model) map[string][]float64 {
	p := map[string][]float64{}
	for _, s := range m.Specs {
		host := download(m.BE, m.Param(s.Name))
		v := make([]float64, len(host))
		for i, x := range host {
			v[i] = float64(x)
		}
		p[s.Name] = v
	}
	return p
}

func f32s(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func TestForwardMatchesReference(t *testing.T) {
	for _, arch := range []string{"qwen3", "qwen2", "llama"} {
		for _, tied := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/tied=%v", arch, tied), func(t *testing.T) {
				be := testBackend()
				cfg := tinyConfig(arch)
				cfg.TieEmbeddings = tied
				cfg.RopeTheta = 500 // large angles at small positions
				m, err := New(cfg, be, 3)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Free()
				randomize(t, m, 31)
				refCheck(t, m, refIDs(cfg, 9))
			})
		}
	}
}

// TestReferenceMatchesHF validates refForward itself on the HF fixture.
func TestReferenceMatchesHF(t *testing.T) {
	dir := fixturesDir(t, "qwen3-tiny-tied")
	be := testBackend()
	m, err := Load(dir, be)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	p := hostParams(m)
	ids := fixtureIDs(t, dir)[:24]
	ref := readTensors(t, dir+"/ref_forward.safetensors")["logits"][:24*m.Cfg.VocabSize]
	want := refForward(m.Cfg, p, ids)
	got := make([]float32, len(want))
	for i, v := range want {
		got[i] = float32(v)
	}
	if e := relErr(got, ref); e > 1e-5 {
		t.Errorf("float64 reference vs HF logits: relative error %.3g", e)
	}
}
