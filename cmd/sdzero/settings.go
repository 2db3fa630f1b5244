package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"sdzero/data/chat"
	"sdzero/model"
	"sdzero/train"
	"sdzero/train/eval"
)

// The settings a command runs a model with (eval, generate, explain,
// readiness, score) are resolved in one order, highest first:
//
//  1. the command's own flags (--suffix, --temperature, --question-field, ...);
//  2. --set key=value, on the config below;
//  3. --config FILE (a run's config.yaml or run file);
//  4. MODEL/sdzero.json, written by the trainer with every saved model;
//  5. the built-in defaults.
//
// So a trained model is evaluated with its training prompt unless the user
// says otherwise, and the report says which settings were used.

// settingsOrder is the order above in one line, for help texts.
const settingsOrder = "flags > --set > --config > MODEL/sdzero.json > defaults"

// runSettings is the resolved config of a model command and where it
// came from.
type runSettings struct {
	cfg *train.Config
	// meta is the model's sdzero.json (nil when it has none).
	meta *train.ModelMeta
	// source says where the prompt and sampling settings came from;
	// fromRun is true when that is a run (a config or sdzero.json), whose
	// rollout sampling then replaces the command's built-in defaults.
	source    string
	fromRun   bool
	overrides []string
	warnings  []string
}

// resolveSettings reads the settings for the model in modelDir: --config
// cfgPath when given, else modelDir/sdzero.json when present, else the
// defaults; then the --set overrides.
func resolveSettings(modelDir, cfgPath string, sets []string) (*runSettings, error) {
	rs := &runSettings{cfg: train.DefaultConfig()}
	if modelDir != "" {
		meta, err := train.ReadModelMeta(modelDir)
		switch {
		case err == nil:
			rs.meta = meta
		case !errors.Is(err, os.ErrNotExist):
			return nil, err
		}
	}
	switch {
	case cfgPath != "":
		c, err := train.LoadConfig(cfgPath)
		if err != nil {
			return nil, err
		}
		rs.cfg, rs.source, rs.fromRun = c, "--config "+cfgPath, true
		if rs.meta != nil {
			rs.warnings = append(rs.warnings, promptDifferences(rs.meta, c.Prompt, cfgPath)...)
		}
	case rs.meta != nil:
		if u := unknownMetaKeys(modelDir); len(u) > 0 {
			rs.warnings = append(rs.warnings, fmt.Sprintf("%s: keys this sdzero does not read, ignored: %s", filepath.Join(modelDir, train.ModelMetaFile), strings.Join(u, ", ")))
		}
		rs.meta.ApplyTo(rs.cfg)
		rs.source = fmt.Sprintf("%s (%s model of a %s run, step %d)", filepath.Join(modelDir, train.ModelMetaFile), rs.meta.Saved, rs.meta.Phase, rs.meta.Step)
		rs.fromRun = true
	default:
		rs.source = "built-in defaults (no " + train.ModelMetaFile + " in the model directory, no --config)"
	}
	for _, kv := range sets {
		if err := rs.cfg.Set(kv); err != nil {
			return nil, err
		}
		rs.overrides = append(rs.overrides, "--set "+kv)
	}
	// A hostile or hand-edited sdzero.json (max_new_tokens 2e9, a 10 MB
	// system prompt) is refused here, naming the knob and the file.
	if err := rs.cfg.ValidateBounds(); err != nil {
		return nil, fmt.Errorf("settings from %s: %w", rs.source, err)
	}
	return rs, nil
}

// promptDifferences names the prompt settings of a --config that differ
// from those the model was trained with (the config wins; a mismatch is
// the usual cause of a trained model scoring near 0).
func promptDifferences(meta *train.ModelMeta, p train.PromptConfig, cfgPath string) []string {
	m := meta.PromptConfig()
	var out []string
	diff := func(key, trained, given string) {
		if trained != given {
			out = append(out, fmt.Sprintf("prompt.%s %s in --config %s, the model was trained with %s (%s): the config wins",
				key, strconv.Quote(given), cfgPath, strconv.Quote(trained), train.ModelMetaFile))
		}
	}
	diff("suffix", m.Suffix, p.Suffix)
	diff("system", m.System, p.System)
	if m.EnableThinking != p.EnableThinking {
		diff("enable_thinking", strconv.FormatBool(m.EnableThinking), strconv.FormatBool(p.EnableThinking))
	}
	return out
}

// noteFlags records which of the named flags were given on the command
// line (fs.Visit), as overrides of the resolved settings.
func (rs *runSettings) noteFlags(fs *flag.FlagSet, names ...string) {
	fs.Visit(func(f *flag.Flag) {
		for _, n := range names {
			if f.Name == n {
				rs.overrides = append(rs.overrides, "--"+f.Name+"="+strconv.Quote(f.Value.String()))
				return
			}
		}
	})
}

// settings fills the prompt part of a report header from the prompter the
// command renders with, and warns when the chat template or the stop ids
// differ from what the model was trained with.
func (rs *runSettings) settings(modelDir, tokDir string, p *train.Prompter) *eval.Settings {
	s := &eval.Settings{Model: modelDir, Source: rs.source, Overrides: rs.overrides, Warnings: rs.warnings}
	if tokDir != "" && filepath.Clean(tokDir) != filepath.Clean(modelDir) {
		s.Tokenizer = tokDir
	}
	pc := rs.cfg.Prompt
	s.System, s.Suffix, s.EnableThinking = pc.System, pc.Suffix, pc.EnableThinking
	if p != nil {
		s.Template, s.TemplateSHA256 = p.Tmpl.Name(), train.TemplateHash(p.Tmpl.SourceText())
		s.StopIDs = append([]int32(nil), p.Stop...)
		s.RevisionCorrect, s.RevisionWrong = p.RevisionText(true), p.RevisionText(false)
		if m := rs.meta; m != nil {
			if m.ChatTemplate.SHA256 != "" && m.ChatTemplate.SHA256 != s.TemplateSHA256 {
				s.Warnings = append(s.Warnings, fmt.Sprintf("chat template %s differs from the one the model was trained with (%s, sha256 %s)",
					s.Template, m.ChatTemplate.Origin, shortHash(m.ChatTemplate.SHA256)))
			}
			if len(m.StopIDs) > 0 && fmt.Sprint(m.StopIDs) != fmt.Sprint(s.StopIDs) {
				s.Warnings = append(s.Warnings, fmt.Sprintf("stop ids %v differ from the training run's %v", s.StopIDs, m.StopIDs))
			}
		}
	}
	return s
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// dataFlags are the data.* options as flags, shared by the commands that
// read a problem file; a flag given wins over the config's key.
type dataFlags struct {
	question, answer, solution, kind *string
	skipMalformed                    *bool
}

func addDataFlags(fs *flag.FlagSet) *dataFlags {
	return &dataFlags{
		question:      fs.String("question-field", "", "field holding the question (data.question_field; dotted paths for nested fields; default: question, problem, prompt, messages)"),
		answer:        fs.String("answer-field", "", "field holding the final answer (data.answer_field, e.g. reward_model.ground_truth)"),
		solution:      fs.String("solution-field", "", "field holding a worked solution (data.solution_field)"),
		kind:          fs.String("kind", "", "math (final-answer verifier) or code (tests in the sandbox, verify.* settings) (data.kind; default: the config's or the model's)"),
		skipMalformed: fs.Bool("skip-malformed", false, "skip and count rows that cannot be read instead of failing (data.skip_malformed)"),
	}
}

// apply sets the given flags on dc.
func (d *dataFlags) apply(fs *flag.FlagSet, dc *train.DataConfig) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "question-field":
			dc.QuestionField = *d.question
		case "answer-field":
			dc.AnswerField = *d.answer
		case "solution-field":
			dc.SolutionField = *d.solution
		case "skip-malformed":
			dc.SkipMalformed = *d.skipMalformed
		case "kind":
			if *d.kind != "math" && *d.kind != "code" {
				err = fmt.Errorf("--kind %q: want math or code", *d.kind)
			}
			dc.Kind = *d.kind
		}
	})
	return err
}

// dataOptions lists the data.* options that differ from the defaults, for
// the report header.
func dataOptions(dc train.DataConfig) []string {
	def := train.DefaultConfig().Data
	var out []string
	add := func(key, v string) { out = append(out, "data."+key+"="+v) }
	if dc.QuestionField != "" {
		add("question_field", dc.QuestionField)
	}
	if dc.AnswerField != "" {
		add("answer_field", dc.AnswerField)
	}
	if dc.SolutionField != "" {
		add("solution_field", dc.SolutionField)
	}
	if dc.SkipMalformed {
		add("skip_malformed", "true")
	}
	if dc.Limit != def.Limit {
		add("limit", strconv.Itoa(dc.Limit))
	}
	if dc.SplitFrom != def.SplitFrom || dc.SplitTo != def.SplitTo {
		add("split", fmt.Sprintf("[%g,%g) seed %d", dc.SplitFrom, dc.SplitTo, dc.SplitSeed))
	}
	sort.Strings(out)
	return out
}

// loadEvalProblems reads a problem file the way the trainer reads
// data.train (train.LoadProblems and SplitProblems with the same data.*
// options), says on w how many rows were skipped, and prepares the
// verifier: code problems need the sandbox (verify.* settings, refused
// without isolation unless verify.allow_unisolated_code).
func loadEvalProblems(dc train.DataConfig, vc train.VerifyConfig, w io.Writer) ([]train.Problem, *train.Verifier, error) {
	probs, sum, err := train.LoadProblems(dc)
	if err != nil {
		if strings.Contains(err.Error(), "data.") {
			// the keys named are also flags here
			return nil, nil, fmt.Errorf("%w; as flags: --question-field, --answer-field, --solution-field, --skip-malformed; --kind code for a code dataset (tests instead of answers)", err)
		}
		return nil, nil, err
	}
	if sum.Skipped > 0 {
		fmt.Fprintf(w, "data: %s\n", sum)
	}
	if probs, err = train.SplitProblems(probs, dc); err != nil {
		return nil, nil, err
	}
	ver := train.NewVerifier(vc)
	for i := range probs {
		if probs[i].Code != nil {
			if err := ver.FitCode(w); err != nil {
				return nil, nil, err
			}
			break
		}
	}
	return probs, ver, nil
}

// writeJSONWithSettings writes v, which must encode as a JSON object, with
// a "settings" member added in front of its own, so that the output keeps
// v's shape for scripts that read it.
func writeJSONWithSettings(w io.Writer, v any, s *eval.Settings) error {
	body, err := marshalNoEscape(v)
	if err != nil {
		return err
	}
	out, err := withSettings(body, s)
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}

// withSettings returns the JSON object body with a leading "settings"
// member, indented.
func withSettings(body []byte, s *eval.Settings) ([]byte, error) {
	body = bytes.TrimSpace(body)
	if len(body) < 2 || body[0] != '{' {
		return nil, errors.New("settings: the output is not a JSON object")
	}
	head, err := marshalNoEscape(s)
	if err != nil {
		return nil, err
	}
	out := append([]byte(`{"settings":`), head...)
	if rest := bytes.TrimSpace(body[1:]); len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	out = append(out, body[1:]...)
	var ind bytes.Buffer
	if err := json.Indent(&ind, out, "", "  "); err != nil {
		return nil, fmt.Errorf("settings: %w", err)
	}
	ind.WriteByte('\n')
	return ind.Bytes(), nil
}

// addSettingsToJSON records s in each .json file of paths (a command's
// report files).
func addSettingsToJSON(paths []string, s *eval.Settings) error {
	for _, path := range paths {
		if filepath.Ext(path) != ".json" {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out, err := withSettings(b, s)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, out, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	return nil
}

func marshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(b.Bytes()), nil
}

// genSettings is what generate took from the model's sdzero.json.
type genSettings struct {
	s *eval.Settings
}

// applyGenerateSettings gives `generate --chat` the prompt the model was
// trained with when its directory has sdzero.json: the system message,
// enable_thinking, the question suffix (appended to *prompt; --suffix
// replaces it), the stop ids and the rollout's sampling, each only where
// its flag was not given (settingsOrder). Without --chat the prompt is raw
// text or ids and nothing changes but the recorded source.
func applyGenerateSettings(fs *flag.FlagSet, dir string, prompt *string, suffix string) (*genSettings, error) {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	chatMode := given["chat"] && fs.Lookup("chat").Value.String() == "true"
	if given["suffix"] && !chatMode {
		return nil, errors.New("--suffix needs --chat")
	}
	rs, err := resolveSettings(dir, "", nil)
	if err != nil {
		return nil, err
	}
	s := &eval.Settings{Model: dir, Source: rs.source}
	g := &genSettings{s: s}
	if !chatMode {
		s.Source = "raw prompt (no chat template, no suffix; --chat applies the model's prompt settings)"
		return g, nil
	}
	pc := rs.cfg.Prompt
	if rs.meta == nil {
		// Not a trained model: the prompt is the user's, as typed.
		pc = train.PromptConfig{}
		s.Source = "the prompt as given (no " + train.ModelMetaFile + " in the model directory)"
	}
	if given["suffix"] {
		pc.Suffix = suffix
	}
	*prompt += pc.Suffix
	s.Suffix = pc.Suffix
	set := func(name, v string) error {
		if given[name] {
			return nil
		}
		if err := fs.Set(name, v); err != nil {
			return fmt.Errorf("%s: --%s %q: %w", rs.source, name, v, err)
		}
		return nil
	}
	if m := rs.meta; m != nil {
		r := m.Rollout
		for _, kv := range [][2]string{{"thinking", strconv.FormatBool(pc.EnableThinking)},
			{"temperature", strconv.FormatFloat(r.Temperature, 'g', -1, 64)}, {"top-p", strconv.FormatFloat(r.TopP, 'g', -1, 64)},
			{"top-k", strconv.Itoa(r.TopK)}, {"max-new-tokens", strconv.Itoa(r.MaxNewTokens)}} {
			if err := set(kv[0], kv[1]); err != nil {
				return nil, err
			}
		}
		if pc.System != "" {
			if err := set("system", pc.System); err != nil {
				return nil, err
			}
		}
		if len(m.StopIDs) > 0 {
			if err := set("stop-ids", joinIDs(m.StopIDs)); err != nil {
				return nil, err
			}
		}
	}
	if f := fs.Lookup("system"); f != nil {
		s.System = f.Value.String()
	}
	s.EnableThinking = fs.Lookup("thinking").Value.String() == "true"
	for _, n := range []string{"system", "suffix", "thinking", "template", "temperature", "top-p", "top-k", "max-new-tokens", "stop-ids", "greedy"} {
		if given[n] {
			s.Overrides = append(s.Overrides, "--"+n+"="+strconv.Quote(fs.Lookup(n).Value.String()))
		}
	}
	return g, nil
}

// finish records the decoding generate ran with and the template it
// rendered with (chat mode).
func (g *genSettings) finish(fs *flag.FlagSet, dir string, opt model.GenerateOptions, seed uint64) *eval.Settings {
	s := g.s
	s.Temperature, s.TopP, s.TopK, s.MaxNewTokens, s.Seed = shortest(opt.Temperature), shortest(opt.TopP), opt.TopK, opt.MaxNewTokens, seed
	s.StopIDs = append([]int32(nil), opt.StopIDs...)
	if c := fs.Lookup("chat"); c != nil && c.Value.String() == "true" {
		var tm *chat.Template
		var err error
		if name := fs.Lookup("template").Value.String(); name != "" {
			tm, err = chat.LoadDirAs(dir, name)
		} else {
			tm, err = chat.LoadDir(dir)
		}
		if err == nil {
			s.Template, s.TemplateSHA256 = tm.Name(), train.TemplateHash(tm.SourceText())
			if meta, merr := train.ReadModelMeta(dir); merr == nil && meta.ChatTemplate.SHA256 != "" && meta.ChatTemplate.SHA256 != s.TemplateSHA256 {
				s.Warnings = append(s.Warnings, fmt.Sprintf("chat template %s differs from the one the model was trained with (%s)", s.Template, meta.ChatTemplate.Origin))
			}
		}
	}
	return s
}

// scoreSettings is score's header: it scores the tokens it is given, so no
// prompt setting applies; a trained model's are named so that a user can
// build the same prompt by hand.
func scoreSettings(dir string) *eval.Settings {
	s := &eval.Settings{Model: dir, Source: "the tokens as given (score applies no chat template, suffix or sampling)"}
	if m, err := train.ReadModelMeta(dir); err == nil {
		s.Source += fmt.Sprintf("; the model was trained with the prompt in %s", filepath.Join(dir, train.ModelMetaFile))
		s.System, s.Suffix, s.Template, s.TemplateSHA256, s.StopIDs = m.Prompt.System, m.Prompt.Suffix, m.ChatTemplate.Origin, m.ChatTemplate.SHA256, m.StopIDs
	}
	return s
}

// shortest is the float64 a float32 flag value was written as (0.9, not
// 0.8999999761581421).
func shortest(f float32) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
	return v
}
