package train

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// byteEnc encodes text as its bytes (ids 0..255), like the test tokenizer
// for ASCII.
type byteEnc struct{}

func (byteEnc) Encode(s string) []int32 {
	out := make([]int32, len(s))
	for i := 0; i < len(s); i++ {
		out[i] = int32(s[i])
	}
	return out
}

func ids(s string) []int32 { return byteEnc{}.Encode(s) }

func cat(xs ...[]int32) []int32 {
	var out []int32
	for _, x := range xs {
		out = append(out, x...)
	}
	return out
}

const eot = 258

func TestBuildReviserInput(t *testing.T) {
	x := ids("Q:")
	pr := RevisionPrompt(false, "paper")
	delim := ids("\n\n" + pr + "\n\n")
	tests := []struct {
		name string
		y    []int32
		want []int32
	}{
		{"stopped", cat(ids("ab"), []int32{eot}), cat(x, ids("ab"), delim)},
		{"hit limit", ids("abc"), cat(x, ids("abc"), delim)},
		{"empty", nil, cat(x, delim)},
	}
	for _, tc := range tests {
		got := BuildReviserInput(x, tc.y, []int32{eot, 256}, pr, byteEnc{})
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %v want %v", tc.name, got, tc.want)
		}
	}
}

func TestRevisionPrompt(t *testing.T) {
	if RevisionPrompt(true, "official") != "Let me rephrase the above solution." {
		t.Error("r=1 text")
	}
	if RevisionPrompt(false, "paper") != "Wait, this response is not correct, let me start over." {
		t.Error("r=0 paper text")
	}
	if RevisionPrompt(false, "official") != "Wait, this response is wrong. Let me correct it." {
		t.Error("r=0 official text")
	}
	p := PromptConfig{RevisionVariant: "paper", RevisionWrong: "custom"}
	if p.revisionText(false) != "custom" || p.revisionText(true) != RevisionCorrectText {
		t.Error("override")
	}
}

func TestDistillPair(t *testing.T) {
	x := ids("xx")
	delim := ids("|d|")
	y := cat(ids("abcd"), []int32{eot})
	stop := []int32{eot}
	tests := []struct {
		name          string
		budget        int
		wantS, wantT  []int32
		wantN         int
		trunc, wantOK bool
	}{
		// |x|+|y'|+|delim|+|y| = 2+4+3+5 = 14
		{"fits", 14, cat(x, y), cat(x, ids("abcd"), delim, y), 5, false, true},
		// budget 11: l = (11-2-3)/2 = 3
		{"truncated", 11, cat(x, ids("abc")), cat(x, ids("abc"), delim, ids("abc")), 3, true, true},
		{"no room", 6, nil, nil, 0, true, false},
	}
	for _, tc := range tests {
		s, te, ss, ts, n, tr, ok := DistillPair(x, y, delim, stop, tc.budget)
		if ok != tc.wantOK || tr != tc.trunc {
			t.Fatalf("%s: ok %v trunc %v", tc.name, ok, tr)
		}
		if !ok {
			continue
		}
		if !reflect.DeepEqual(s, tc.wantS) || !reflect.DeepEqual(te, tc.wantT) || n != tc.wantN {
			t.Errorf("%s: student %v teacher %v n %d", tc.name, s, te, n)
		}
		if len(te) > tc.budget {
			t.Errorf("%s: teacher %d tokens over budget %d", tc.name, len(te), tc.budget)
		}
		// The aligned tokens are identical.
		if !reflect.DeepEqual(s[ss:ss+n], te[ts:ts+n]) {
			t.Errorf("%s: misaligned %v vs %v", tc.name, s[ss:ss+n], te[ts:ts+n])
		}
		if ss != len(x) {
			t.Errorf("%s: sStart %d", tc.name, ss)
		}
	}
}

func TestSRTSequence(t *testing.T) {
	tu := SRTTuple{PromptIDs: ids("P"), InitIDs: cat(ids("ab"), []int32{eot}), DelimIDs: ids("|"), RevIDs: ids("cd")}
	stop := []int32{eot}
	idsGot, rm, gm := SRTSequence(tu, stop, eot, true, "turn")
	want := cat(ids("P"), ids("ab"), ids("|"), ids("cd"), []int32{eot})
	if !reflect.DeepEqual(idsGot, want) {
		t.Fatalf("ids %v want %v", idsGot, want)
	}
	mask := func(b []bool) string {
		var s strings.Builder
		for _, x := range b {
			if x {
				s.WriteByte('1')
			} else {
				s.WriteByte('0')
			}
		}
		return s.String()
	}
	// P a b | c d EOT
	if got := mask(rm); got != "0000111" {
		t.Errorf("revision mask %s", got)
	}
	if got := mask(gm); got != "0111111" {
		t.Errorf("generation mask %s", got)
	}
	_, rm, gm = SRTSequence(tu, stop, eot, false, "revision")
	if mask(rm) != "0000000" || mask(gm) != "0000111" {
		t.Errorf("rev=false gen=revision: %s %s", mask(rm), mask(gm))
	}
}

func TestGroupAdvantages(t *testing.T) {
	adv, flat := GroupAdvantages([]float64{1, 0, 0, 0, 1, 1, 1, 1}, 4, 1e-6)
	// group 1: mean .25, sample std sqrt(0.25) = .5
	want := []float64{1.5, -0.5, -0.5, -0.5, 0, 0, 0, 0}
	for i := range want {
		if math.Abs(adv[i]-want[i]) > 1e-5 {
			t.Fatalf("adv %v want %v", adv, want)
		}
	}
	if flat != 1 {
		t.Errorf("flat groups %d", flat)
	}
}

// TestGRPOTokenWeight checks the CrossEntropy weight against a finite
// difference of the token's loss: w must be -dL/dlogp.
func TestGRPOTokenWeight(t *testing.T) {
	tests := []struct {
		logp, old, ref, adv, beta float64
		clipped                   bool
	}{
		{-1.0, -1.0, -1.2, 1.5, 0, false},
		{-1.0, -1.3, -1.2, 1.5, 0.1, true},  // ratio 1.35 > 1.2, A>0: clipped
		{-1.0, -0.7, -1.2, -0.8, 0.1, true}, // ratio 0.74 < 0.8, A<0: clipped
		{-1.0, -1.1, -0.9, -0.8, 0.2, false},
	}
	for i, tc := range tests {
		w, _, c := grpoTokenWeight(tc.logp, tc.old, tc.ref, tc.adv, 0.2, 0.2, tc.beta, 10)
		if c != tc.clipped {
			t.Errorf("%d: clipped %v", i, c)
		}
		const h = 1e-6
		_, lp, _ := grpoTokenWeight(tc.logp+h, tc.old, tc.ref, tc.adv, 0.2, 0.2, tc.beta, 10)
		_, lm, _ := grpoTokenWeight(tc.logp-h, tc.old, tc.ref, tc.adv, 0.2, 0.2, tc.beta, 10)
		fd := -(lp - lm) / (2 * h)
		if math.Abs(fd-w) > 1e-6 {
			t.Errorf("%d: weight %g, finite difference %g", i, w, fd)
		}
	}
}

func TestLRSchedule(t *testing.T) {
	tests := []struct {
		sched       string
		s, w, total int
		want        float64
	}{
		{"cosine", 0, 2, 10, 0.5},
		{"cosine", 1, 2, 10, 1},
		{"cosine", 2, 2, 10, 1},
		{"cosine", 6, 2, 10, 0.55},
		{"cosine", 9, 2, 10, 0.1 + 0.45*(1+math.Cos(math.Pi*7/8))},
		{"linear", 9, 2, 10, 0.2125},
		{"linear", 5, 0, 10, 0.55},
		{"constant", 9, 2, 10, 1},
		{"constant", 0, 4, 10, 0.25},
	}
	for _, tc := range tests {
		got := lrAt(tc.sched, tc.s, tc.w, tc.total, 1, 0.1)
		if math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s step %d: lr %g want %g", tc.sched, tc.s, got, tc.want)
		}
	}
}

func TestSampler(t *testing.T) {
	a := newSampler(5, 3)
	first := append(a.next(3), a.next(4)...)
	seen := map[int]int{}
	for _, i := range first[:5] {
		seen[i]++
	}
	if len(seen) != 5 {
		t.Fatalf("first epoch is not a permutation: %v", first)
	}
	// Restoring mid-epoch continues identically.
	b := newSampler(5, 3)
	b.next(3)
	st := b.st
	c := newSampler(5, 3)
	if err := c.restore(st, 5); err != nil {
		t.Fatal(err)
	}
	if got := c.next(4); !reflect.DeepEqual(got, first[3:]) {
		t.Errorf("restored sampler gave %v want %v", got, first[3:])
	}
	if err := c.restore(st, 6); err == nil {
		t.Error("restore with a different size succeeded")
	}
}

func TestConfigYAMLAndTOML(t *testing.T) {
	dir := t.TempDir()
	yml := `phase: grpo
model: m
out: o
data:
  train: d.jsonl
optim:
  lr: 1e-5
grpo:
  group_size: 4
prompt:
  stop_tokens: ["<|im_end|>"]
`
	toml := `# same in TOML
phase = "grpo"
model = "m"
out = "o"

[data]
train = "d.jsonl"

[optim]
lr = 1e-5

[grpo]
group_size = 4  # comment

[prompt]
stop_tokens = [
  "<|im_end|>",
]
`
	py := filepath.Join(dir, "a.yaml")
	pt := filepath.Join(dir, "a.toml")
	os.WriteFile(py, []byte(yml), 0o644)
	os.WriteFile(pt, []byte(toml), 0o644)
	a, err := LoadConfig(py)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadConfig(pt)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("yaml and toml differ:\n%+v\n%+v", a, b)
	}
	if a.Optim.LR != 1e-5 || a.GRPO.GroupSize != 4 || a.Rollout.Temperature != 0.7 {
		t.Errorf("values: lr %g group %d temp %g", a.Optim.LR, a.GRPO.GroupSize, a.Rollout.Temperature)
	}
	if err := a.Validate(); err != nil {
		t.Error(err)
	}
	if a.Hash() != b.Hash() {
		t.Error("hash differs")
	}
	// Unknown keys are errors naming the file.
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("optim:\n  lrr: 1\n"), 0o644)
	if _, err := LoadConfig(bad); err == nil || !strings.Contains(err.Error(), "bad.yaml") || !strings.Contains(err.Error(), "lrr") {
		t.Errorf("unknown yaml key: %v", err)
	}
	badT := filepath.Join(dir, "bad.toml")
	os.WriteFile(badT, []byte("[optim]\nlrr = 1\n"), 0o644)
	if _, err := LoadConfig(badT); err == nil || !strings.Contains(err.Error(), "lrr") {
		t.Errorf("unknown toml key: %v", err)
	}
}

func TestConfigSet(t *testing.T) {
	c := DefaultConfig()
	for _, kv := range []string{"optim.lr=2e-5", "rollout.temperature=1", "model=123", "prompt.stop_tokens=[a, b]", "prompt.suffix=", "distill.divergence=reverse"} {
		if err := c.Set(kv); err != nil {
			t.Fatalf("%s: %v", kv, err)
		}
	}
	if c.Optim.LR != 2e-5 || c.Rollout.Temperature != 1 || c.Model != "123" || !reflect.DeepEqual(c.Prompt.StopTokens, []string{"a", "b"}) || c.Prompt.Suffix != "" || c.Distill.Divergence != "reverse" {
		t.Errorf("set: %+v", c)
	}
	for _, kv := range []string{"optim.nope=1", "nokey", "optim.lr=abc"} {
		if err := c.Set(kv); err == nil {
			t.Errorf("%s: no error", kv)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	base := func() *Config {
		c := DefaultConfig()
		c.Model, c.Out, c.Data.Train = "m", "o", "d"
		return c
	}
	tests := []struct {
		mut  func(c *Config)
		want string
	}{
		{func(c *Config) { c.Phase = "ppo" }, "phase"},
		{func(c *Config) { c.Model = "" }, "model"},
		{func(c *Config) { c.Optim.LR = 0 }, "optim.lr"},
		{func(c *Config) { c.Optim.Beta2 = 1 }, "optim.beta2"},
		{func(c *Config) { c.Train.MicroBatch = 0 }, "train.micro_batch"},
		{func(c *Config) { c.Rollout.MaxNewTokens = 4096 }, "rollout.max_new_tokens"},
		{func(c *Config) { c.Rollout.TopP = 0 }, "rollout.top_p"},
		{func(c *Config) { c.Distill.Divergence = "js" }, "distill.divergence"},
		{func(c *Config) { c.Distill.ForwardWeight = 2 }, "distill.forward_weight"},
		{func(c *Config) { c.Phase = PhaseSRT }, "srt.data"},
		{func(c *Config) { c.Phase = PhaseSRT; c.SRT.Data = "x"; c.SRT.Mode = "both" }, "srt.mode"},
		{func(c *Config) { c.Phase = PhaseGRPO; c.GRPO.GroupSize = 1 }, "grpo.group_size"},
		{func(c *Config) { c.Phase = PhaseSDFT; c.SDFT.DemoTemplate = "no placeholders" }, "sdft.demo_template"},
		{func(c *Config) { c.Data.Kind = "text" }, "data.kind"},
		{func(c *Config) { c.Train.FinalDType = "f16" }, "train.final_dtype"},
	}
	if err := base().Validate(); err != nil {
		t.Fatalf("base config: %v", err)
	}
	for _, tc := range tests {
		c := base()
		tc.mut(c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want error about %s, got %v", tc.want, err)
		}
	}
}

func TestTOMLErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"a = \n", "line 1"},
		{"a = 1\na = 2\n", "duplicate"},
		{"[t\n", "unterminated"},
		{"a = {x = 1}\n", "inline tables"},
		{"a = \"x\n", "line 1"},
		{"a = bare\n", "quotes"},
		{"x = 1\n[x]\n", "not a table"},
	}
	for _, tc := range tests {
		_, err := parseTOML([]byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: want error containing %q, got %v", tc.src, tc.want, err)
		}
	}
	m, err := parseTOML([]byte("a.b = 'lit\\n'\n\"q k\" = \"e\\u00e9\\t\"\nn = -1_000\nf = 2.5e-3\nbs = [true, false]\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"a": map[string]any{"b": `lit\n`}, "q k": "eé\t", "n": int64(-1000), "f": 2.5e-3, "bs": []any{true, false}}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("got %#v", m)
	}
}
