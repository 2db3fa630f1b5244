package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"sdzero/kernels"
	"sdzero/model"
	"sdzero/train"
)

// Flag checks shared by generate, score, inspect and eval: every numeric
// flag is refused at the entry point when it is not finite or out of
// range, with the flag's name, before a model is loaded or memory planned.

// positionalError refuses stray positional arguments. "key=value" gets a
// hint: "--key=value" when key is one of fs's flags, "--set key=value"
// where the command has --set (hasSet).
func positionalError(fs *flag.FlagSet, hasSet bool) error {
	if fs.NArg() == 0 {
		return nil
	}
	a := fs.Arg(0)
	if k, _, ok := strings.Cut(a, "="); ok && k != "" && !strings.HasPrefix(k, "-") {
		if fs.Lookup(k) != nil {
			return fmt.Errorf("unexpected argument %q: flags take dashes, --%s", a, a)
		}
		if hasSet {
			return fmt.Errorf("unexpected argument %q: to override a config knob use --set %s", a, a)
		}
	}
	return fmt.Errorf("unexpected arguments %q", fs.Args())
}

// intFlag is one integer flag and its allowed range.
type intFlag struct {
	name   string
	v      int
	lo, hi int
}

// checkIntFlags returns an error naming the first flag outside its range.
func checkIntFlags(flags ...intFlag) error {
	for _, f := range flags {
		if f.v < f.lo || f.v > f.hi {
			return fmt.Errorf("--%s %d is out of range: must be in [%d, %d]", f.name, f.v, f.lo, f.hi)
		}
	}
	return nil
}

// checkSampling checks --temperature, --top-p and --top-k.
func checkSampling(temp, topP float64, topK int) error {
	if err := train.CheckTemperature("--temperature", temp); err != nil {
		return err
	}
	if !(topP > 0 && topP <= 1) {
		return fmt.Errorf("--top-p %g is out of range: must be in (0, 1]", topP)
	}
	return checkIntFlags(intFlag{"top-k", topK, 0, train.MaxVocabLimit})
}

// checkWeights refuses a model with NaN or infinite weights, naming the
// tensor.
func checkWeights(dir string, m *model.Model) error {
	if err := m.CheckFinite(); err != nil {
		return fmt.Errorf("model %s: %w", dir, err)
	}
	return nil
}

// checkDecodeMemory refuses a generation of rows sequences of promptLen
// prompt tokens plus maxNew new ones whose KV cache, prefill activations
// and logits do not fit in what be has left, with the plan in the error.
func checkDecodeMemory(what string, m *model.Model, be kernels.Backend, rows, promptLen, maxNew int, hint string) error {
	tmax := promptLen + maxNew
	acts, err := model.InferenceMemory(m.Cfg, rows, promptLen, m.Precision())
	if err != nil {
		return err
	}
	plan := []model.MemoryItem{
		{Name: fmt.Sprintf("KV cache (%d x %d positions)", rows, tmax), Bytes: model.KVCacheBytes(m.Cfg, rows, tmax, m.Precision())},
		{Name: fmt.Sprintf("prefill activations (%d x %d)", rows, promptLen), Bytes: acts},
		{Name: "logits (F32)", Bytes: int64(rows) * int64(m.Cfg.VocabSize) * 4},
	}
	return train.CheckMemoryPlan(what, plan, be, hint)
}

// checkFiniteValues returns an error naming the first NaN or infinite
// value of vs (what names the values, e.g. "log-probability of token").
func checkFiniteValues(what string, vs []float32) error {
	for i, v := range vs {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%s %d is %g: the model's activations are not finite", what, i+1, v)
		}
	}
	return nil
}

// promptIDsWithin renders question as a prompt that must fit the model's
// positions (max_position_embeddings, else train.MaxSeqLenLimit): a
// question that cannot fit by its length alone is refused before it is
// tokenized, so that a megabyte of text costs neither seconds nor a
// prefill of a million positions. what names the input in the error.
func promptIDsWithin(what, question string, p *train.Prompter, m *model.Model) ([]int32, error) {
	budget := positions(m)
	if train.PromptTooLong(question, budget) {
		return nil, fmt.Errorf("%s: the question (%d bytes) is longer than the model's %d positions", what, len(question), budget)
	}
	ids, err := p.PromptIDs(question)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if len(ids) > budget {
		return nil, fmt.Errorf("%s: the prompt is %d tokens, longer than the model's %d positions", what, len(ids), budget)
	}
	return ids, nil
}

// positions is the longest prompt m takes: max_position_embeddings, else
// train.MaxSeqLenLimit.
func positions(m *model.Model) int {
	if m.Cfg.MaxPositions > 0 {
		return min(train.MaxSeqLenLimit, m.Cfg.MaxPositions)
	}
	return train.MaxSeqLenLimit
}

// checkPromptPositions refuses a prompt of n tokens (what names it) longer
// than the model's positions: its prefill would run for minutes on
// positions the model was never trained on.
func checkPromptPositions(what string, n int, m *model.Model) error {
	if b := positions(m); n > b {
		return fmt.Errorf("%s is %d tokens, longer than the model's %d positions (max_position_embeddings)", what, n, b)
	}
	return nil
}

// unknownMetaKeys lists the keys of dir's sdzero.json that this sdzero
// does not read (dotted, sorted): encoding/json ignores them, which keeps
// a newer writer's file readable, and the report header names them so
// that a misspelt or hostile key is not silently without effect.
func unknownMetaKeys(dir string) []string {
	b, err := os.ReadFile(filepath.Join(dir, train.ModelMetaFile))
	if err != nil {
		return nil
	}
	var raw map[string]any
	if json.Unmarshal(b, &raw) != nil {
		return nil
	}
	var out []string
	var walk func(obj map[string]any, t reflect.Type, prefix string)
	walk = func(obj map[string]any, t reflect.Type, prefix string) {
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			if name != "" && name != "-" {
				fields[name] = t.Field(i).Type
			}
		}
		for k, v := range obj {
			ft, ok := fields[k]
			switch {
			case !ok:
				out = append(out, prefix+k)
			case ft.Kind() == reflect.Struct:
				if sub, isObj := v.(map[string]any); isObj {
					walk(sub, ft, prefix+k+".")
				}
			}
		}
	}
	walk(raw, reflect.TypeOf(train.ModelMeta{}), "")
	sort.Strings(out)
	return out
}
