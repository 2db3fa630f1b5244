package train

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"sdzero/data/verify"
)

// srtTestTuples are one wrong-attempt and one correct-attempt tuple.
func srtTestTuples() []SRTTuple {
	mk := func(id string, r float64) SRTTuple {
		return SRTTuple{ID: id, Question: "q", PromptIDs: ids("Q" + id + ":"), InitIDs: cat(ids("y"+id), []int32{eot}),
			InitReward: r, DelimIDs: ids("|P|"), RevIDs: cat(ids("rev"+id), []int32{eot})}
	}
	return []SRTTuple{mk("0", 0), mk("1", 1)}
}

// TestSRTGenerationTuples: srt.generation_tuples moves the generation mask
// between tuples and changes nothing else (ids, revision masks, the
// generation mask of the selected tuples).
func TestSRTGenerationTuples(t *testing.T) {
	base := DefaultConfig().SRT
	if base.GenerationTuples != "wrong-init" {
		t.Fatalf("default generation_tuples %q, the official recipe is wrong-init", base.GenerationTuples)
	}
	base.GenerationTuples = "all"
	ref, _ := srtSeqs(srtTestTuples(), base, []int32{eot}, eot, 100)
	if len(ref) != 2 {
		t.Fatalf("%d sequences", len(ref))
	}
	for _, tc := range []struct {
		sel  string
		want [2]bool // generation loss on tuple 0 (wrong init), 1 (correct init)
	}{{"all", [2]bool{true, true}}, {"wrong-init", [2]bool{true, false}}, {"correct-init", [2]bool{false, true}}} {
		sc := base
		sc.GenerationTuples = tc.sel
		got, _ := srtSeqs(srtTestTuples(), sc, []int32{eot}, eot, 100)
		if len(got) != 2 {
			t.Fatalf("%s: %d sequences", tc.sel, len(got))
		}
		for k := range got {
			if !slices.Equal(got[k].IDs, ref[k].IDs) {
				t.Errorf("%s: tuple %d ids changed", tc.sel, k)
			}
			gen := false
			for j, b := range got[k].Mask {
				if b&maskRev != ref[k].Mask[j]&maskRev {
					t.Errorf("%s: tuple %d revision mask changed at %d", tc.sel, k, j)
				}
				wantGen := ref[k].Mask[j] & maskGen
				if !tc.want[k] {
					wantGen = 0
				}
				if b&maskGen != wantGen {
					t.Errorf("%s: tuple %d generation mask at %d: %d want %d", tc.sel, k, j, b&maskGen, wantGen)
				}
				gen = gen || b&maskGen != 0
			}
			if gen != tc.want[k] {
				t.Errorf("%s: tuple %d has generation loss %v", tc.sel, k, gen)
			}
		}
	}
	// A tuple with neither loss is left out.
	sc := base
	sc.GenerationTuples, sc.RevisionMask = "wrong-init", "wrong-init"
	got, _ := srtSeqs(srtTestTuples(), sc, []int32{eot}, eot, 100)
	if len(got) != 1 || !slices.Equal(got[0].IDs, ref[0].IDs) {
		t.Errorf("wrong-init only: %d sequences", len(got))
	}
}

// TestSRTStageOrder: srt.stage_order swaps which loss each two-stage stage
// trains and leaves the stage boundary alone.
func TestSRTStageOrder(t *testing.T) {
	if o := DefaultConfig().SRT.StageOrder; o != "generation-first" {
		t.Fatalf("default stage_order %q, the official code is generation-first", o)
	}
	const total, split = 10, 0.3
	for step := 0; step < total; step++ {
		wantStage := 2
		if step < 3 {
			wantStage = 1
		}
		st, r, g := srtStage(step, total, split, "generation-first")
		if st != wantStage || r != (st == 2) || g != (st == 1) {
			t.Errorf("generation-first step %d: stage %d rev %v gen %v", step, st, r, g)
		}
		st2, r2, g2 := srtStage(step, total, split, "revision-first")
		if st2 != st || r2 != g || g2 != r {
			t.Errorf("revision-first step %d: stage %d rev %v gen %v", step, st2, r2, g2)
		}
	}
}

func TestStripOpening(t *testing.T) {
	tests := []struct{ in, want string }{
		{"You're right, the answer is 5.", "the answer is 5."},
		{"I apologize for the confusion. Let me redo it: 3+4=7", "Let me redo it: 3+4=7"},
		{"Great question! Sorry about that.\n\n2+2=4", "2+2=4"},
		{"You’re absolutely right. 7", "7"},
		{"Thank you for pointing that out. So 9-3=6", "So 9-3=6"},
		{"3+4=7, you're right", "3+4=7, you're right"},   // not an opening
		{"Sorrowful numbers: 3", "Sorrowful numbers: 3"}, // not at a word boundary
		{"Let me redo it.", "Let me redo it."},
	}
	for _, tc := range tests {
		got, ok := StripOpening(tc.in)
		if got != tc.want || ok != (tc.in != tc.want) {
			t.Errorf("StripOpening(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}

func TestTrimRepeatTail(t *testing.T) {
	rep := func(s string, n int) string { return strings.Repeat(s, n) }
	stop := []int32{eot}
	tests := []struct {
		name string
		in   []int32
		min  int
		want []int32
	}{
		{"block x6", ids("ans 7. " + rep("so 7. ", 6)), 4, ids("ans 7. so 7. ")},
		{"partial copy", ids("ans " + rep("abcd", 5) + "ab"), 4, ids("ans abcdab")},
		{"stop kept", cat(ids("x="+rep("12345", 5)), stop), 4, cat(ids("x=12345"), stop)},
		{"too few copies", ids("ans " + rep("so 7. ", 3)), 4, ids("ans " + rep("so 7. ", 3))},
		{"too short a span", ids("1000000"), 4, ids("1000000")}, // zeros of a number stay
		{"off", ids("ans 7. " + rep("so 7. ", 6)), 0, ids("ans 7. " + rep("so 7. ", 6))},
	}
	for _, tc := range tests {
		got, ok := TrimRepeatTail(tc.in, stop, tc.min)
		if !slices.Equal(got, tc.want) || ok != !slices.Equal(tc.in, tc.want) {
			t.Errorf("%s: got %q (%v), want %q", tc.name, string(toBytes(got)), ok, string(toBytes(tc.want)))
		}
	}
}

func toBytes(x []int32) []byte {
	b := make([]byte, len(x))
	for i, v := range x {
		b[i] = byte(v)
	}
	return b
}

// TestDedupeKey: "revision" ignores y_init, "tuple" does not, "none" has
// no key.
func TestDedupeKey(t *testing.T) {
	a := srtTestTuples()[0]
	b := a
	b.InitIDs = ids("another attempt")
	ka, _ := dedupeKey("tuple", a)
	kb, _ := dedupeKey("tuple", b)
	ra, _ := dedupeKey("revision", a)
	rb, _ := dedupeKey("revision", b)
	if ka == kb || ra != rb {
		t.Errorf("tuple keys equal %v, revision keys equal %v", ka == kb, ra == rb)
	}
	c := a
	c.RevIDs = ids("other revision")
	if rc, _ := dedupeKey("revision", c); rc == ra {
		t.Error("revision key ignores y_rev")
	}
	if _, ok := dedupeKey("none", a); ok {
		t.Error("none has a key")
	}
}

// TestCleanRevision runs the cleaning through the real test tokenizer:
// each option does its own cut only.
func TestCleanRevision(t *testing.T) {
	p, err := NewPrompter("testdata/tok", DefaultConfig().Prompt, []int{258})
	if err != nil {
		t.Fatal(err)
	}
	text := "You're right. x=" + strings.Repeat("so 7. ", 6)
	y := append(p.Tok.Encode(text), p.Stop[0])
	for _, tc := range []struct {
		trim  int
		strip bool
		want  string
	}{
		{0, false, text},
		{4, false, "You're right. x=so 7. "},
		{0, true, "x=" + strings.Repeat("so 7. ", 6)},
		{4, true, "x=so 7. "},
	} {
		cc := CollectConfig{TrimRepeats: tc.trim, StripOpenings: tc.strip}
		ids, out, changed := cleanRevision(p, y, text, cc)
		if out != tc.want || changed != (tc.want != text) {
			t.Errorf("trim %d strip %v: %q (changed %v), want %q", tc.trim, tc.strip, out, changed, tc.want)
		}
		if got := p.ResponseText(ids); got != out || ids[len(ids)-1] != p.Stop[0] {
			t.Errorf("trim %d strip %v: ids decode to %q (last %d), text %q", tc.trim, tc.strip, got, ids[len(ids)-1], out)
		}
	}
}

func TestSplitProblems(t *testing.T) {
	probs := make([]Problem, 10)
	for i := range probs {
		probs[i].ID = itoa(i)
	}
	idx := func(ps []Problem) []int {
		var out []int
		for _, p := range ps {
			for i := range probs {
				if probs[i].ID == p.ID {
					out = append(out, i)
				}
			}
		}
		return out
	}
	for _, seed := range []uint64{0, 42} {
		a, err := SplitProblems(probs, DataConfig{SplitFrom: 0, SplitTo: 0.5, SplitSeed: seed})
		if err != nil {
			t.Fatal(err)
		}
		b, err := SplitProblems(probs, DataConfig{SplitFrom: 0.5, SplitTo: 1, SplitSeed: seed})
		if err != nil {
			t.Fatal(err)
		}
		ia, ib := idx(a), idx(b)
		all := slices.Sorted(slices.Values(append(append([]int{}, ia...), ib...)))
		if len(ia) != 5 || len(ib) != 5 || !slices.Equal(all, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
			t.Errorf("seed %d: halves %v and %v do not partition the problems", seed, ia, ib)
		}
		if !slices.IsSorted(ia) || !slices.IsSorted(ib) {
			t.Errorf("seed %d: a split is out of file order: %v %v", seed, ia, ib)
		}
		firstHalf := slices.Equal(ia, []int{0, 1, 2, 3, 4})
		if firstHalf != (seed == 0) {
			t.Errorf("seed %d: first split %v", seed, ia)
		}
	}
	if got, err := SplitProblems(probs, DataConfig{SplitTo: 1}); err != nil || len(got) != 10 {
		t.Errorf("default split kept %d (%v)", len(got), err)
	}
	if _, err := SplitProblems(probs, DataConfig{SplitFrom: 0.5, SplitTo: 0.55}); err == nil {
		t.Error("empty split accepted")
	}
}

// TestNewKeysValidate: every new key's default validates and a bad value
// is an error naming the key.
func TestNewKeysValidate(t *testing.T) {
	tests := []struct {
		phase, set, key string
	}{
		{PhaseDistill, "data.split_to=0", "data.split_from/split_to"},
		{PhaseSRTCollect, "srt_collect.revise=some", "srt_collect.revise"},
		{PhaseSRTCollect, "srt_collect.trim_repeats=1", "srt_collect.trim_repeats"},
		{PhaseSRTCollect, "srt_collect.dedupe=x", "srt_collect.dedupe"},
		{PhaseSRT, "srt.generation_tuples=x", "srt.generation_tuples"},
		{PhaseSRT, "srt.stage_order=x", "srt.stage_order"},
		{PhaseGRPO, "grpo.logprob_temperature=2", "grpo.logprob_temperature"},
		{PhaseGRPO, "grpo.clip_high=0.3", "grpo.dapo_clip_higher"},
		{PhaseGRPO, "grpo.dynamic_sampling_max_draws=-1", "grpo.dynamic_sampling_max_draws"},
	}
	for _, tc := range tests {
		c := DefaultConfig()
		c.Phase, c.Model, c.Out, c.Data.Train, c.SRT.Data = tc.phase, "m", "o", "d", "s"
		c.GRPO.DAPOClipHigher = true
		if err := c.Validate(); err != nil {
			t.Fatalf("%s defaults: %v", tc.phase, err)
		}
		if err := c.Set(tc.set); err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: error %v, want one naming %s", tc.set, err, tc.key)
		}
	}
}

// TestDAPOClipHigher: the option moves only the upper clip bound, to 0.28.
func TestDAPOClipHigher(t *testing.T) {
	c := DefaultConfig()
	if c.grpoClipHigh() != 0.2 {
		t.Fatalf("default upper clip %g", c.grpoClipHigh())
	}
	c.GRPO.DAPOClipHigher = true
	if c.grpoClipHigh() != 0.28 || c.GRPO.ClipLow != 0.2 {
		t.Fatalf("dapo upper clip %g, lower %g", c.grpoClipHigh(), c.GRPO.ClipLow)
	}
	// ratio 1.25 with A > 0: clipped at 1.2, not at 1.28; ratio 0.75 with
	// A < 0 clipped either way.
	for _, tc := range []struct {
		logp, old, adv   float64
		clip020, clip028 bool
	}{{math.Log(1.25), 0, 1, true, false}, {math.Log(0.75), 0, -1, true, true}, {math.Log(1.1), 0, 1, false, false}} {
		_, _, c1 := grpoTokenWeight(tc.logp, tc.old, 0, tc.adv, 0.2, 0.2, 0, 1)
		_, _, c2 := grpoTokenWeight(tc.logp, tc.old, 0, tc.adv, 0.2, DAPOClipHigh, 0, 1)
		if c1 != tc.clip020 || c2 != tc.clip028 {
			t.Errorf("ratio %g adv %g: clipped %v at 0.2, %v at 0.28", math.Exp(tc.logp-tc.old), tc.adv, c1, c2)
		}
	}
}

// TestRunLMTemperature: an lmPass at temperature T scores tokens with
// log_softmax(logits/T) (as seqLogProbsAt does, and a host computation
// from the logits), and its gradient is that of the tempered loss (central
// difference along the gradient).
func TestRunLMTemperature(t *testing.T) {
	tr := engineTrainer(t, 2, 24, false)
	const T = 0.7
	n := 0
	for _, s := range engineSeqs {
		n += len(s) - 1
	}
	// loss = -mean over tokens of logp_T.
	lossAt := func() float64 {
		lp, err := tr.seqLogProbsAt(tr.m, tr.acts, engineSeqs, T)
		if err != nil {
			t.Fatal(err)
		}
		l := 0.0
		for _, r := range lp {
			for j := 1; j < len(r); j++ {
				l -= float64(r[j])
			}
		}
		return l / float64(n)
	}
	got := map[[2]int]float64{}
	tr.m.ZeroGrads()
	_, tokens, err := tr.runLM(lmPass{seqs: engineSeqs, temp: T, active: func(i, j int) bool { return true },
		dyn: func(i, j int, logp float64) float32 {
			got[[2]int{i, j}] = logp
			return 1 / float32(n)
		}})
	if err != nil || tokens != n {
		t.Fatalf("runLM: %d tokens, %v", tokens, err)
	}
	lp, err := tr.seqLogProbsAt(tr.m, tr.acts, engineSeqs, T)
	if err != nil {
		t.Fatal(err)
	}
	lp1, err := tr.seqLogProbs(tr.m, tr.acts, engineSeqs)
	if err != nil {
		t.Fatal(err)
	}
	// Host reference from the T=1 logits of one sequence.
	s := engineSeqs[2]
	if err := tr.m.Forward(tr.acts, s, []int{len(s)}); err != nil {
		t.Fatal(err)
	}
	V := tr.m.Cfg.VocabSize
	logits := make([]float32, len(s)*V)
	tr.be.Download(logits, tr.acts.Logits())
	if err := tr.be.Sync(); err != nil {
		t.Fatal(err)
	}
	differs := false
	for i, r := range lp {
		for j := 1; j < len(r); j++ {
			if d := math.Abs(got[[2]int{i, j}] - float64(r[j])); d > 1e-5 {
				t.Errorf("seq %d token %d: runLM logp %g, seqLogProbsAt %g", i, j, got[[2]int{i, j}], r[j])
			}
			differs = differs || math.Abs(float64(r[j]-lp1[i][j])) > 1e-3
		}
	}
	for j := 1; j < len(s); j++ {
		row := logits[(j-1)*V : j*V]
		mx := math.Inf(-1)
		for _, z := range row {
			mx = math.Max(mx, float64(z)/T)
		}
		sum := 0.0
		for _, z := range row {
			sum += math.Exp(float64(z)/T - mx)
		}
		want := float64(row[s[j]])/T - mx - math.Log(sum)
		if math.Abs(want-float64(lp[2][j])) > 1e-4 {
			t.Errorf("token %d: logp_T %g, host %g", j, lp[2][j], want)
		}
	}
	if !differs {
		t.Error("log-probs at T=0.7 equal those at T=1")
	}
	// Directional derivative along the gradient g: (L(θ+εg) - L(θ-εg)) / 2ε = |g|².
	g := make([]float32, tr.m.Params.N)
	p0 := make([]float32, tr.m.Params.N)
	tr.be.Download(g, tr.m.Grads)
	tr.be.Download(p0, tr.m.Params)
	if err := tr.be.Sync(); err != nil {
		t.Fatal(err)
	}
	g2 := 0.0
	for _, v := range g {
		g2 += float64(v) * float64(v)
	}
	eps := 1e-2 / math.Sqrt(g2)
	at := func(sign float64) float64 {
		p := make([]float32, len(p0))
		for i := range p {
			p[i] = p0[i] + float32(sign*eps)*g[i]
		}
		tr.be.Upload(tr.m.Params, p)
		tr.m.SyncComputeWeights()
		return lossAt()
	}
	fd := (at(1) - at(-1)) / (2 * eps)
	if math.Abs(fd-g2) > 0.02*g2 {
		t.Errorf("directional derivative %g, |g|^2 %g", fd, g2)
	}
}

// TestFrozenTeacher: the distill/sdft teacher and the grpo reference carry
// no gradient buffer, and distillation through a frozen teacher gives the
// same loss and student gradients as through one with a gradient buffer.
func TestFrozenTeacher(t *testing.T) {
	mdl := tinyModelDir(t, 1)
	data := tinyMathData(t, 6)
	for _, phase := range []string{PhaseDistill, PhaseSDFT, PhaseGRPO} {
		cfg := tinyRunConfig(t, phase, mdl, data, filepath.Join(t.TempDir(), "run"))
		if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
			t.Fatal(err)
		}
		be := testBackend()
		tr := &trainer{cfg: cfg, opt: Options{Backend: be}, be: be, runDir: cfg.Out}
		if err := tr.setup(context.Background(), nil, ""); err != nil {
			t.Fatalf("%s: %v", phase, err)
		}
		if tr.teacher == nil || !tr.teacher.Frozen() || tr.teacher.Grads.N != 0 || tr.teacher.Params.N != tr.m.Params.N {
			t.Errorf("%s: teacher frozen %v, %d gradients", phase, tr.teacher != nil && tr.teacher.Frozen(), tr.teacher.Grads.N)
		}
		if tr.m.Frozen() || tr.m.Grads.N != tr.m.Params.N {
			t.Errorf("%s: student has %d gradients for %d parameters", phase, tr.m.Grads.N, tr.m.Params.N)
		}
		tr.free()
	}

	run := func(frozen bool) (float64, []float32) {
		tr := engineTrainer(t, 2, 24, true)
		if frozen {
			tr.tacts.Free()
			tr.teacher.Free()
			var err error
			if tr.teacher, err = tr.m.CloneFrozen(); err != nil {
				t.Fatal(err)
			}
			if tr.tacts, err = tr.teacher.NewInferActs(2, 48); err != nil {
				t.Fatal(err)
			}
		}
		var seqs []distillSeq
		for _, s := range engineSeqs {
			te := cat(ids("ctx "), s)
			seqs = append(seqs, distillSeq{student: s, teacher: te, sStart: 1, tStart: 5, n: len(s) - 1, w: 0.05})
		}
		tr.m.ZeroGrads()
		loss, _, err := tr.runDistill(seqs, divergence("mixed", 8, 0.5, 1), nil)
		if err != nil {
			t.Fatal(err)
		}
		g := make([]float32, tr.m.Grads.N)
		tr.be.Download(g, tr.m.Grads)
		if err := tr.be.Sync(); err != nil {
			t.Fatal(err)
		}
		return loss, g
	}
	l0, g0 := run(false)
	l1, g1 := run(true)
	if l0 != l1 || !slices.Equal(g0, g1) {
		t.Errorf("frozen teacher changed the step: loss %g vs %g, gradients equal %v", l0, l1, slices.Equal(g0, g1))
	}
}

// TestGenTokens: every method's metrics carry gen_tokens, the cumulative
// count of generated tokens, consistent with the samples and their mean
// length; phases that generate nothing count 0.
func TestGenTokens(t *testing.T) {
	mdl := tinyModelDir(t, 1)
	data := tinyMathData(t, 8)
	srtData := writeSRTData(t, 5)
	for _, phase := range []string{PhaseDistill, PhaseGRPO, PhaseRFT, PhaseSRTCollect, PhaseSDFT, PhaseSFT, PhaseSRT} {
		t.Run(phase, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			cfg := tinyRunConfig(t, phase, mdl, data, out)
			cfg.SRT.Data = srtData
			cfg.Train.Steps = 2
			res, err := Run(context.Background(), cfg, Options{Backend: testBackend(), reward: parityReward})
			if err != nil {
				t.Fatal(err)
			}
			ms := readMetrics(t, out)
			prevT, prevS := 0.0, 0.0
			for _, m := range ms {
				tok, ok := m["gen_tokens"].(float64)
				if !ok {
					t.Fatalf("metrics lack gen_tokens: %v", m)
				}
				s := m["samples_generated"].(float64)
				dt, ds := tok-prevT, s-prevS
				if dt < ds || dt > ds*float64(cfg.Rollout.MaxNewTokens) {
					t.Errorf("step %v: %g tokens for %g samples", m["step"], dt, ds)
				}
				if phase == PhaseDistill || phase == PhaseGRPO || phase == PhaseSDFT {
					if want := m["response_len"].(float64) * ds; math.Abs(dt-want) > 1e-6*want {
						t.Errorf("step %v: %g tokens, response_len x samples %g", m["step"], dt, want)
					}
				}
				prevT, prevS = tok, s
			}
			if res.GenTokens != int64(prevT) {
				t.Errorf("Result.GenTokens %d, metrics %g", res.GenTokens, prevT)
			}
			if (phase == PhaseSFT || phase == PhaseSRT) != (prevT == 0) {
				t.Errorf("%s generated %g tokens", phase, prevT)
			}
		})
	}
}

// TestCollectRevise: srt_collect.revise "wrong" revises only wrong
// attempts; "both" revises all; the attempts themselves are the same.
func TestCollectRevise(t *testing.T) {
	mdl := tinyModelDir(t, 5)
	data := tinyMathData(t, 6)
	var attempts [2][]any
	for k, mode := range []string{"wrong", "both"} {
		out := filepath.Join(t.TempDir(), "run")
		cfg := tinyRunConfig(t, PhaseSRTCollect, mdl, data, out)
		cfg.Collect.Revise = mode
		cfg.Train.Steps = 1
		cfg.Train.BatchSize = 6
		res, err := Run(context.Background(), cfg, Options{Backend: testBackend(), reward: parityReward})
		if err != nil {
			t.Fatal(err)
		}
		m := readMetrics(t, out)[0]
		na, acc := m["attempts"].(float64), m["attempt_acc"].(float64)
		wrong := math.Round(na * (1 - acc))
		want := na * float64(cfg.Collect.NRev)
		if mode == "wrong" {
			want = wrong * float64(cfg.Collect.NRev)
		}
		if m["revisions"].(float64) != want || m["samples_generated"].(float64) != na+want {
			t.Errorf("%s: %v revisions, %v samples; want %g revisions (%g of %g attempts wrong)", mode, m["revisions"], m["samples_generated"], want, wrong, na)
		}
		if wrong == 0 || wrong == na {
			t.Fatalf("parity reward gave %g of %g wrong attempts: the test needs both kinds", wrong, na)
		}
		tus, err := ReadSRTTuples(res.DataPath)
		if err != nil {
			t.Fatal(err)
		}
		for _, tu := range tus {
			if mode == "wrong" && tu.InitReward == 1 {
				t.Errorf("wrong: kept a revision of a correct attempt")
			}
		}
		attempts[k] = []any{m["attempts"], m["attempt_acc"], m["response_len"]}
	}
	if !reflect.DeepEqual(attempts[0], attempts[1]) {
		t.Errorf("attempts differ between modes: %v vs %v", attempts[0], attempts[1])
	}
}

// flatEvenReward rewards every response to an even-numbered problem (a
// group with equal rewards) and the others by parity.
func flatEvenReward(p *Problem, text string) verify.Result {
	if p.ID[len(p.ID)-1]%2 == 0 {
		return verify.Result{Reward: 1}
	}
	return parityReward(p, text)
}

// TestGRPOOptions: logprob_temperature changes the scores, not the
// samples; dynamic sampling keeps only groups with a signal, draws a
// bounded number of extra batches, and counts every sample.
func TestGRPOOptions(t *testing.T) {
	mdl := tinyModelDir(t, 1)
	data := tinyMathData(t, 12)
	runGRPO := func(mut func(c *Config), reward func(*Problem, string) verify.Result) (*Config, []map[string]any) {
		out := filepath.Join(t.TempDir(), "run")
		cfg := tinyRunConfig(t, PhaseGRPO, mdl, data, out)
		cfg.Rollout.Temperature = 0.7
		cfg.Train.Steps = 2
		mut(cfg)
		if _, err := Run(context.Background(), cfg, Options{Backend: testBackend(), reward: reward}); err != nil {
			t.Fatal(err)
		}
		return cfg, readMetrics(t, out)
	}
	_, hot := runGRPO(func(c *Config) {}, parityReward)
	_, one := runGRPO(func(c *Config) { c.GRPO.LogProbTemperature = "one" }, parityReward)
	if hot[0]["logprob_temperature"] != float64(float32(0.7)) || one[0]["logprob_temperature"] != 1.0 {
		t.Errorf("logprob_temperature metrics %v, %v", hot[0]["logprob_temperature"], one[0]["logprob_temperature"])
	}
	for _, k := range []string{"reward_mean", "response_len", "zero_adv_groups", "tokens"} {
		if hot[0][k] != one[0][k] {
			t.Errorf("first step %s: %v at T, %v at 1 (the samples must not change)", k, hot[0][k], one[0][k])
		}
	}
	if hot[0]["loss"] == one[0]["loss"] && hot[0]["kl_ref"] == one[0]["kl_ref"] {
		t.Error("logprob_temperature changed neither the loss nor the KL")
	}

	cfg, dyn := runGRPO(func(c *Config) { c.GRPO.DAPODynamicSampling = true; c.GRPO.DynamicSamplingMaxDraws = 2 }, flatEvenReward)
	B, G := float64(cfg.Train.BatchSize), float64(cfg.GRPO.GroupSize)
	prev := 0.0
	for _, m := range dyn {
		draws := m["dyn_draws"].(float64)
		if m["zero_adv_groups"].(float64) != 0 || m["groups"].(float64) > B || draws > 2 {
			t.Errorf("step %v: %v flat groups kept, %v groups, %v draws", m["step"], m["zero_adv_groups"], m["groups"], draws)
		}
		if m["groups"].(float64) < B && draws != 2 {
			t.Errorf("step %v: %v groups after %v draws (bound 2)", m["step"], m["groups"], draws)
		}
		if s := m["samples_generated"].(float64); s-prev != (1+draws)*B*G {
			t.Errorf("step %v: %g samples for %v draws", m["step"], s-prev, draws)
		}
		prev = m["samples_generated"].(float64)
	}
	if dyn[0]["dyn_dropped_groups"].(float64) == 0 {
		t.Error("no flat group was dropped: the test needs some")
	}
	// Every group flat: nothing to train, at most max_draws extra batches.
	_, flat := runGRPO(func(c *Config) { c.GRPO.DAPODynamicSampling = true; c.GRPO.DynamicSamplingMaxDraws = 1 },
		func(*Problem, string) verify.Result { return verify.Result{Reward: 1} })
	if m := flat[0]; m["skipped"] != 1.0 || m["groups"] != 0.0 || m["dyn_draws"] != 1.0 {
		t.Errorf("all flat: %v", m)
	}
}
