package train

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
)

// ModelMetaFile is written beside config.json in every model directory a
// run saves (RUN/final, each checkpoint's model/, RUN/best): the prompt and
// sampling settings the run used, so that `sdzero eval --model DIR` scores
// a trained model with its training prompt without the run's config.
const ModelMetaFile = "sdzero.json"

// ModelCardFile is the model card the trainer writes in RUN/final.
const ModelCardFile = "README.md"

// ModelMetaFormat is the layout version of sdzero.json; readers refuse a
// newer one rather than guess at its fields.
const ModelMetaFormat = 1

// ModelMeta is sdzero.json.
type ModelMeta struct {
	Format int `json:"format"`
	// Version is the sdzero build that wrote the file.
	Version string `json:"sdzero_version"`
	// Saved is which model of the run this is: "final", "checkpoint" or
	// "best" (the collapse guard's best model); Step its trainer step.
	Saved string `json:"saved"`
	Step  int    `json:"step"`
	// Phase is the run's phase and Method its name in words.
	Phase  string `json:"phase"`
	Method string `json:"method"`
	// BaseModel is the model directory the run started from; Tokenizer
	// the tokenizer directory when it was not the model's.
	BaseModel string `json:"base_model"`
	Tokenizer string `json:"tokenizer,omitempty"`
	// Prompt is what every prompt of the run was rendered with.
	Prompt MetaPrompt `json:"prompt"`
	// ChatTemplate identifies the chat template the prompts used.
	ChatTemplate MetaTemplate `json:"chat_template"`
	// StopIDs are the token ids that ended a generated turn (resolved from
	// prompt.stop_tokens and the model's EOS ids with the run's tokenizer).
	StopIDs []int32 `json:"stop_ids"`
	// Rollout is the student's sampling during training; EvalTemperature
	// the in-training evaluation's (eval.temperature).
	Rollout         MetaSampling `json:"rollout"`
	EvalTemperature float64      `json:"eval_temperature"`
	// Data is the training data and how its rows were read.
	Data MetaData `json:"data"`
}

// MetaPrompt is the prompt part of sdzero.json. RevisionCorrect and
// RevisionWrong are the reviser phrases P_r as used (the variant's text
// unless the config overrode it).
type MetaPrompt struct {
	System          string   `json:"system"`
	Suffix          string   `json:"suffix"`
	EnableThinking  bool     `json:"enable_thinking"`
	RevisionVariant string   `json:"revision_variant"`
	RevisionCorrect string   `json:"revision_correct"`
	RevisionWrong   string   `json:"revision_wrong"`
	StopTokens      []string `json:"stop_tokens"`
}

// MetaTemplate says where the chat template came from and what it was.
type MetaTemplate struct {
	// Origin is the file the template was read from (or "built-in NAME").
	Origin string `json:"origin"`
	// SHA256 is the hash of the template's Jinja text.
	SHA256 string `json:"sha256"`
}

// MetaSampling is a sampling setup.
type MetaSampling struct {
	Temperature  float64 `json:"temperature"`
	TopP         float64 `json:"top_p"`
	TopK         int     `json:"top_k"`
	MaxNewTokens int     `json:"max_new_tokens"`
	N            int     `json:"n"`
}

// MetaData is the data part of sdzero.json.
type MetaData struct {
	Train         string `json:"train,omitempty"`
	SRTData       string `json:"srt_data,omitempty"`
	Kind          string `json:"kind"`
	QuestionField string `json:"question_field,omitempty"`
	AnswerField   string `json:"answer_field,omitempty"`
	SolutionField string `json:"solution_field,omitempty"`
}

// TemplateHash is the SHA256 (hex) of a chat template's text, as recorded
// in sdzero.json.
func TemplateHash(source string) string {
	s := sha256.Sum256([]byte(source))
	return hex.EncodeToString(s[:])
}

// MethodName says what a phase does, in words (model card, sdzero.json).
func MethodName(phase string) string {
	switch phase {
	case PhaseSRTCollect:
		return "SD-Zero self-revision data collection"
	case PhaseSRT:
		return "SD-Zero self-revision training (SRT)"
	case PhaseDistill:
		return "SD-Zero on-policy self-distillation"
	case PhaseSFT:
		return "supervised fine-tuning (SFT)"
	case PhaseRFT:
		return "rejection-sampling fine-tuning (RFT)"
	case PhaseGRPO:
		return "GRPO reinforcement learning"
	case PhaseSDFT:
		return "self-distillation fine-tuning (SDFT)"
	}
	return phase
}

// BuildVersion is the module version and VCS commit of the running binary
// from its build information ("(devel)" plus the commit for a source
// build); "unknown" when the binary carries none.
func BuildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		v += " " + rev
		if modified {
			v += "+dirty"
		}
	}
	return v
}

// PromptConfig returns the prompt settings of m as a config section. A
// reviser phrase that differs from its variant's text becomes an override
// (revision_correct/revision_wrong), so the result renders exactly the
// run's P_r; one that equals it stays the variant's, so that choosing
// another variant afterwards (eval --pr-variant) still takes effect.
func (m *ModelMeta) PromptConfig() PromptConfig {
	p := m.Prompt
	pc := PromptConfig{System: p.System, Suffix: p.Suffix, EnableThinking: p.EnableThinking,
		RevisionVariant: p.RevisionVariant, RevisionCorrect: p.RevisionCorrect, RevisionWrong: p.RevisionWrong,
		StopTokens: append([]string(nil), p.StopTokens...)}
	if pc.RevisionCorrect == RevisionPrompt(true, pc.RevisionVariant) {
		pc.RevisionCorrect = ""
	}
	if pc.RevisionWrong == RevisionPrompt(false, pc.RevisionVariant) {
		pc.RevisionWrong = ""
	}
	return pc
}

// ApplyTo sets in cfg what a model's sdzero.json decides for commands that
// use the model: the prompt, the rollout's sampling (temperature, top_p,
// top_k, max_new_tokens) and the data kind. The training file's field
// names are recorded but not applied: they describe that file, not the
// model, and another file read with them would fail.
func (m *ModelMeta) ApplyTo(cfg *Config) {
	cfg.Prompt = m.PromptConfig()
	if m.Prompt.RevisionVariant == "" {
		cfg.Prompt.RevisionVariant = DefaultConfig().Prompt.RevisionVariant
	}
	r := m.Rollout
	if r.MaxNewTokens > 0 {
		cfg.Rollout.Temperature, cfg.Rollout.TopP, cfg.Rollout.TopK, cfg.Rollout.MaxNewTokens = r.Temperature, r.TopP, r.TopK, r.MaxNewTokens
	}
	if m.Data.Kind != "" {
		cfg.Data.Kind = m.Data.Kind
	}
}

// ReadModelMeta reads DIR/sdzero.json. A directory without one gives an
// error wrapping os.ErrNotExist (errors.Is), so callers can fall back on
// defaults for models not written by sdzero.
func ReadModelMeta(dir string) (*ModelMeta, error) {
	path := filepath.Join(dir, ModelMetaFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model settings: %w", err)
	}
	m := &ModelMeta{}
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("model settings %s: %w", path, err)
	}
	if m.Format < 1 || m.Format > ModelMetaFormat {
		return nil, fmt.Errorf("model settings %s: format %d, this sdzero reads format %d (written by sdzero %s)", path, m.Format, ModelMetaFormat, m.Version)
	}
	return m, nil
}

// version is the sdzero build recorded in the run's model files:
// Options.Version, with the VCS commit of the build when it does not
// name it already.
func (t *trainer) version() string {
	b := BuildVersion()
	v := t.opt.Version
	if v == "" {
		return b
	}
	if _, commit, ok := strings.Cut(b, " "); ok && !strings.Contains(v, strings.TrimSuffix(commit, "+dirty")) {
		v += " " + commit
	}
	return v
}

// modelMeta describes the run's prompt and sampling settings for a model
// saved as saved ("final", "checkpoint", "best").
func (t *trainer) modelMeta(saved string) *ModelMeta {
	c := t.cfg
	m := &ModelMeta{Format: ModelMetaFormat, Version: t.version(), Saved: saved, Step: t.st.Step,
		Phase: c.Phase, Method: MethodName(c.Phase), BaseModel: c.Model, Tokenizer: c.Tokenizer,
		Prompt: MetaPrompt{System: c.Prompt.System, Suffix: c.Prompt.Suffix, EnableThinking: c.Prompt.EnableThinking,
			RevisionVariant: c.Prompt.RevisionVariant, RevisionCorrect: c.Prompt.revisionText(true),
			RevisionWrong: c.Prompt.revisionText(false), StopTokens: c.Prompt.StopTokens},
		Rollout: MetaSampling{Temperature: c.Rollout.Temperature, TopP: c.Rollout.TopP, TopK: c.Rollout.TopK,
			MaxNewTokens: c.Rollout.MaxNewTokens, N: c.Rollout.N},
		EvalTemperature: c.Eval.Temperature,
		Data: MetaData{Train: c.Data.Train, Kind: c.Data.Kind, QuestionField: c.Data.QuestionField,
			AnswerField: c.Data.AnswerField, SolutionField: c.Data.SolutionField},
	}
	if c.Phase == PhaseSRT {
		m.Data.Train, m.Data.SRTData = "", c.SRT.Data
	}
	if t.p != nil {
		m.StopIDs = append([]int32(nil), t.p.Stop...)
		if t.p.Tmpl != nil {
			m.ChatTemplate = MetaTemplate{Origin: t.p.Tmpl.Name(), SHA256: TemplateHash(t.p.Tmpl.SourceText())}
		}
	}
	return m
}

// writeModelFiles completes a saved model directory: sdzero.json, the
// chat template as chat_template.jinja when the directory would otherwise
// render prompts with another template (or none), and, for the final
// model, the model card. Rank 0 only (callers are).
func (t *trainer) writeModelFiles(dir, saved string) error {
	meta := t.modelMeta(saved)
	b, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return fmt.Errorf("model settings: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, ModelMetaFile), append(b, '\n')); err != nil {
		return fmt.Errorf("model settings: %w", err)
	}
	if err := t.keepTemplate(dir); err != nil {
		return err
	}
	if saved != "final" {
		return nil
	}
	if err := writeFileAtomic(filepath.Join(dir, ModelCardFile), []byte(t.modelCard(meta))); err != nil {
		return fmt.Errorf("model card: %w", err)
	}
	return nil
}

// keepTemplate writes the run's chat template into dir as
// chat_template.jinja when dir's own files (the copied tokenizer files)
// would not give the same template, e.g. when the source model kept it in
// chat_template.jinja, which the tokenizer copy does not carry.
func (t *trainer) keepTemplate(dir string) error {
	if t.p == nil || t.p.Tmpl == nil {
		return nil
	}
	want := t.p.Tmpl.SourceText()
	if mc, err := readTemplateSource(dir); err == nil && mc == want {
		return nil
	}
	if err := writeFileAtomic(filepath.Join(dir, "chat_template.jinja"), []byte(want)); err != nil {
		return fmt.Errorf("chat template: %w", err)
	}
	return nil
}

// readTemplateSource is the template text a directory's files give
// (chat_template.jinja first, as transformers and data/chat read it).
func readTemplateSource(dir string) (string, error) {
	if b, err := os.ReadFile(filepath.Join(dir, "chat_template.jinja")); err == nil {
		return string(b), nil
	}
	b, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
	if err != nil {
		return "", err
	}
	var tc struct {
		ChatTemplate json.RawMessage `json:"chat_template"`
	}
	if err := json.Unmarshal(b, &tc); err != nil {
		return "", err
	}
	var s string
	if err := json.Unmarshal(tc.ChatTemplate, &s); err != nil {
		return "", errors.New("chat_template is not a single string")
	}
	return s, nil
}

// modelCard is RUN/final/README.md: what the model is, how it was made and
// how to use it.
func (t *trainer) modelCard(meta *ModelMeta) string {
	c := t.cfg
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	base := baseModelName(c.Model)
	p("---\nlibrary_name: sdzero\nbase_model: %s\ntags:\n- sdzero\n- %s\n---\n\n", yamlQuote(base), c.Phase)
	p("# %s, %s\n\n", base, meta.Method)
	p("Trained with sdzero %s from `%s` (phase `%s`).\n\n", meta.Version, c.Model, c.Phase)
	p("| | |\n|---|---|\n")
	p("| base model | `%s` |\n", c.Model)
	if c.Tokenizer != "" {
		p("| tokenizer | `%s` |\n", c.Tokenizer)
	}
	p("| method | %s (`phase: %s`) |\n", meta.Method, c.Phase)
	p("| data | %s |\n", t.cardData())
	p("| steps | %d of %d planned; %d optimizer updates |\n", t.st.Step, t.st.TotalSteps, t.st.OptimStep)
	p("| generated | %d samples, %d tokens |\n", t.st.SamplesGenerated, t.st.GenTokens)
	p("| weights | %s (`train.final_dtype`) |\n", c.Train.FinalDType)
	p("| sdzero | %s |\n\n", meta.Version)

	p("## Prompt\n\n")
	p("- chat template: %s (sha256 %s)\n", meta.ChatTemplate.Origin, short(meta.ChatTemplate.SHA256))
	p("- system prompt: %s\n", quoteOrNone(c.Prompt.System))
	p("- question suffix: %s\n", quoteOrNone(c.Prompt.Suffix))
	p("- stop tokens: %s (ids %v)\n", quoteList(c.Prompt.StopTokens), meta.StopIDs)
	if c.Phase == PhaseSRT || c.Phase == PhaseSRTCollect || c.Phase == PhaseDistill {
		p("- reviser phrases P_r: right %q, wrong %q\n", meta.Prompt.RevisionCorrect, meta.Prompt.RevisionWrong)
	}
	p("\nAll of these are in `%s`; sdzero's eval, generate, explain and readiness use them when given this directory.\n\n", ModelMetaFile)

	p("## Key settings\n\n```yaml\n")
	for _, kv := range t.cardSettings() {
		p("%s: %s\n", kv[0], kv[1])
	}
	p("```\n\nThe whole resolved config is `%s`.\n\n", filepath.Join(t.runDir, configFile))

	if _, evals := readMetricsSummary(filepath.Join(t.runDir, metricsFile)); len(evals) > 0 {
		p("## Evaluation during training\n\n")
		p("Held-out `%s`, %d problems, one sample each at temperature %g, up to %d new tokens:\n\n",
			c.Eval.Data, len(t.evalProbs), c.Eval.Temperature, c.Rollout.MaxNewTokens)
		p("| step | accuracy | mean response length |\n|---:|---:|---:|\n")
		for _, e := range evals {
			p("| %d | %.4f | %.1f |\n", e.Step, e.Accuracy, e.ResponseLen)
		}
		p("\n")
	}

	final := filepath.Join(t.runDir, finalSubdir)
	p("## Use\n\n```sh\n")
	p("# avg@k and pass@k with the training prompt (read from %s)\n", ModelMetaFile)
	p("sdzero eval --model %s --data TEST.jsonl --k 8\n", final)
	p("sdzero generate --model %s --prompt 'TEXT' --max-new-tokens 256\n", final)
	p("```\n\nThe directory is a Hugging Face model (config.json, safetensors, tokenizer files): ")
	p("`transformers.AutoModelForCausalLM.from_pretrained(%q)` loads it too; apply the prompt above for the same behaviour.\n", final)
	return b.String()
}

// baseModelName names the base model for the card: "org/name" for a
// Hugging Face cache snapshot (.../models--org--name/snapshots/HASH), else
// the directory's name.
func baseModelName(dir string) string {
	parts := strings.Split(filepath.ToSlash(filepath.Clean(dir)), "/")
	for i := len(parts) - 1; i >= 0; i-- {
		if name, ok := strings.CutPrefix(parts[i], "models--"); ok && name != "" {
			return strings.Replace(name, "--", "/", 1)
		}
	}
	return filepath.Base(filepath.Clean(dir))
}

// cardData describes the training data and what the run used of it.
func (t *trainer) cardData() string {
	c := t.cfg
	if c.Phase == PhaseSRT {
		return fmt.Sprintf("`%s` (self-revision tuples from srt-collect), %d training sequences", c.SRT.Data, len(t.seqs))
	}
	s := fmt.Sprintf("`%s` (%s), %d problems", c.Data.Train, c.Data.Kind, len(t.probs))
	if t.usable != nil {
		s += fmt.Sprintf(", %d used", len(t.usable))
	}
	if len(t.dropped) > 0 {
		keys := make([]string, 0, len(t.dropped))
		for k := range t.dropped {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%d %s", t.dropped[k], strings.ReplaceAll(k, "_", " ")))
		}
		s += "; dropped: " + strings.Join(parts, ", ")
	}
	if c.Data.SplitFrom != 0 || c.Data.SplitTo != 1 {
		s += fmt.Sprintf("; split [%g, %g) seed %d", c.Data.SplitFrom, c.Data.SplitTo, c.Data.SplitSeed)
	}
	return s
}

// cardSettings are the config values that shaped the model, by key.
func (t *trainer) cardSettings() [][2]string {
	c := t.cfg
	f := func(v any) string { return fmt.Sprint(v) }
	kv := [][2]string{
		{"seed", f(c.Seed)},
		{"optim.lr", f(c.Optim.LR)}, {"optim.schedule", yamlQuote(c.schedule())},
		{"optim.warmup_steps", f(t.warmup)}, {"optim.weight_decay", f(c.Optim.WeightDecay)},
		{"optim.grad_clip", f(c.Optim.GradClip)},
		{"train.batch_size", f(c.Train.BatchSize)}, {"train.micro_batch", f(c.Train.MicroBatch)},
		{"train.max_seq_len", f(c.Train.MaxSeqLen)},
	}
	switch c.Phase {
	case PhaseSFT, PhaseSRT:
	default:
		kv = append(kv, [2]string{"rollout.temperature", f(c.Rollout.Temperature)}, [2]string{"rollout.top_p", f(c.Rollout.TopP)},
			[2]string{"rollout.max_new_tokens", f(c.Rollout.MaxNewTokens)})
	}
	switch c.Phase {
	case PhaseSRT:
		kv = append(kv, [2]string{"srt.mode", yamlQuote(c.SRT.Mode)}, [2]string{"srt.revision_mask", yamlQuote(c.SRT.RevisionMask)},
			[2]string{"srt.generation_mask", yamlQuote(c.SRT.GenerationMask)})
	case PhaseDistill:
		d := c.Distill
		kv = append(kv, [2]string{"rollout.n", f(c.Rollout.N)}, [2]string{"distill.divergence", yamlQuote(d.Divergence)},
			[2]string{"distill.top_k", f(d.TopK)}, [2]string{"distill.forward_weight", f(d.ForwardWeight)},
			[2]string{"distill.teacher_sync_every", f(d.TeacherSyncEvery)})
	case PhaseRFT:
		kv = append(kv, [2]string{"rft.k", f(c.RFT.K)}, [2]string{"rft.rounds", f(c.RFT.Rounds)})
	case PhaseGRPO:
		g := c.GRPO
		kv = append(kv, [2]string{"grpo.group_size", f(g.GroupSize)}, [2]string{"grpo.kl_coef", f(g.KLCoef)},
			[2]string{"grpo.clip_low", f(g.ClipLow)}, [2]string{"grpo.clip_high", f(g.ClipHigh)})
	case PhaseSDFT:
		s := c.SDFT
		kv = append(kv, [2]string{"rollout.n", f(c.Rollout.N)}, [2]string{"sdft.divergence", yamlQuote(s.Divergence)},
			[2]string{"sdft.ema_rate", f(s.EMARate)})
	}
	return kv
}

// yamlQuote writes s as a double-quoted YAML scalar.
func yamlQuote(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // keep <|im_end|> readable
	_ = enc.Encode(s)        // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

func quoteOrNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return "`" + strings.ReplaceAll(yamlQuote(s), "`", "'") + "`"
}

func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = yamlQuote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
