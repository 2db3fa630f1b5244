package train

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// Run files (YAML, TOML) and --set values are decoded by decodeNode rather
// than yaml.v3's struct decoder, for errors in the config's own words: the
// dotted key path and line of a bad value ("line 3: optim.learning_rate:
// unknown key (did you mean optim.lr?)"), never Go type names, and no
// silent conversion (yaml.v3 truncates 1.5 into an int field and reports
// 1e30 as a type error).

// KeyError is a config error at one key: its dotted path in the run file
// (e.g. "optim.lr") and, when read from a file, the line.
type KeyError struct {
	// Line is the 1-based line in the run file (0 for --set).
	Line int
	// Key is the dotted key path.
	Key string
	// Msg says what is wrong, with a suggestion for unknown keys.
	Msg string
}

func (e *KeyError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s: %s", e.Line, e.Key, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Key, e.Msg)
}

func keyErr(n *yaml.Node, key, format string, a ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &KeyError{Line: line, Key: key, Msg: fmt.Sprintf(format, a...)}
}

func joinKey(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// yamlName is a struct field's key in run files ("" = not a knob).
func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	return name
}

// decodeNode decodes n over v (a settable value of a config type) strictly:
// keys not naming a knob, values of the wrong kind and numbers beyond the
// field's type are KeyErrors naming key (the dotted path of v). Keys that
// n does not mention keep their value in v.
func decodeNode(n *yaml.Node, v reflect.Value, key string) error {
	for n.Kind == yaml.DocumentNode || n.Kind == yaml.AliasNode {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
			continue
		}
		if len(n.Content) == 0 {
			return nil
		}
		n = n.Content[0]
	}
	null := n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
	switch v.Kind() {
	case reflect.Struct:
		if null {
			return nil // an empty section ("eval:") changes nothing
		}
		if n.Kind != yaml.MappingNode {
			return keyErr(n, keyOrRoot(key), "want a table of keys, got %s", describeNode(n))
		}
		t := v.Type()
		fields := make(map[string]int, t.NumField())
		for i := 0; i < t.NumField(); i++ {
			if name := yamlName(t.Field(i)); name != "" {
				fields[name] = i
			}
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn, vn := n.Content[i], n.Content[i+1]
			if kn.Kind != yaml.ScalarNode {
				return keyErr(kn, keyOrRoot(key), "a key must be a name, got %s", describeNode(kn))
			}
			if kn.Value == "<<" {
				return keyErr(kn, keyOrRoot(key), "YAML merge keys (<<) are not supported; write the keys out")
			}
			p := joinKey(key, kn.Value)
			if seen[kn.Value] {
				return keyErr(kn, p, "given twice")
			}
			seen[kn.Value] = true
			idx, ok := fields[kn.Value]
			if !ok {
				return keyErr(kn, p, "unknown key%s", suggestKey(p))
			}
			if err := decodeNode(vn, v.Field(idx), p); err != nil {
				return err
			}
		}
		return nil
	case reflect.String:
		switch {
		case null:
			v.SetString("")
		case n.Kind != yaml.ScalarNode:
			return keyErr(n, key, "want a string, got %s (quote the value)", describeNode(n))
		case n.ShortTag() == "!!binary":
			var s string
			if err := n.Decode(&s); err != nil {
				return keyErr(n, key, "bad !!binary string: %v", err)
			}
			v.SetString(s)
		default:
			v.SetString(n.Value)
		}
		return nil
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			return keyErr(n, key, "want true or false, got %s", describeNode(n))
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			return keyErr(n, key, "want true or false, got %s", describeNode(n))
		}
		v.SetBool(b)
		return nil
	case reflect.Int, reflect.Int64:
		x, err := nodeInt(n, key)
		if err != nil {
			return err
		}
		v.SetInt(x)
		return nil
	case reflect.Uint64:
		x, err := nodeUint(n, key)
		if err != nil {
			return err
		}
		v.SetUint(x)
		return nil
	case reflect.Float64:
		f, err := nodeFloat(n, key)
		if err != nil {
			return err
		}
		v.SetFloat(f)
		return nil
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			break
		}
		if null {
			v.Set(reflect.Zero(v.Type()))
			return nil
		}
		if n.Kind != yaml.SequenceNode {
			return keyErr(n, key, "want a list of strings, e.g. [a, b], got %s", describeNode(n))
		}
		var list []string
		for i, e := range n.Content {
			s := reflect.New(reflect.TypeOf("")).Elem()
			if err := decodeNode(e, s, fmt.Sprintf("%s[%d]", key, i)); err != nil {
				return err
			}
			list = append(list, s.String())
		}
		v.Set(reflect.ValueOf(list))
		return nil
	}
	return keyErr(n, key, "config field of unsupported Go type %s", v.Type())
}

func keyOrRoot(key string) string {
	if key == "" {
		return "(top level)"
	}
	return key
}

// clearLines zeroes the line numbers of n's tree (a --set value has no
// line in any file).
func clearLines(n *yaml.Node) {
	n.Line, n.Column = 0, 0
	for _, c := range n.Content {
		clearLines(c)
	}
}

// describeNode names what a node holds, for "want X, got Y" errors.
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a table"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "an empty value"
		case "!!str":
			return fmt.Sprintf("the string %q", n.Value)
		case "!!bool":
			return "the boolean " + n.Value
		}
		return n.Value
	}
	return "an unreadable value"
}

// numberText is the scalar text of a number-typed knob: a YAML number, or
// an unquoted word that only failed to be one by its size (yaml.v3 leaves
// 1e400 a string).
func numberText(n *yaml.Node, key, want string) (tag string, err error) {
	if n.Kind != yaml.ScalarNode {
		return "", keyErr(n, key, "want %s, got %s", want, describeNode(n))
	}
	switch tag = n.ShortTag(); tag {
	case "!!int", "!!float":
		return tag, nil
	case "!!str":
		if n.Style == 0 {
			if _, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64); errors.Is(err, strconv.ErrRange) {
				return "", keyErr(n, key, "%s is out of range (beyond a 64-bit float)", n.Value)
			}
		}
	case "!!null":
		return "", keyErr(n, key, "empty value; want %s", want)
	}
	return "", keyErr(n, key, "want %s, got %s", want, describeNode(n))
}

// nodeInt reads a 64-bit integer knob (Validate checks its range). A float
// is accepted only when it is a whole number in range (1e3 is 1000; 1.5
// and 1e30 are errors).
func nodeInt(n *yaml.Node, key string) (int64, error) {
	tag, err := numberText(n, key, "an integer")
	if err != nil {
		return 0, err
	}
	var x int64
	if tag == "!!int" {
		if err := n.Decode(&x); err != nil {
			return 0, keyErr(n, key, "%s is out of range for an integer", n.Value)
		}
	} else {
		var f float64
		if err := n.Decode(&f); err != nil {
			return 0, keyErr(n, key, "want an integer, got %s", n.Value)
		}
		switch {
		case math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f):
			return 0, keyErr(n, key, "want an integer, got %s", n.Value)
		case f < -9.223372036854775808e18 || f >= 9.223372036854775808e18:
			return 0, keyErr(n, key, "%s is out of range for an integer", n.Value)
		}
		x = int64(f)
	}
	return x, nil
}

// nodeUint reads a non-negative 64-bit integer knob (the seed).
func nodeUint(n *yaml.Node, key string) (uint64, error) {
	tag, err := numberText(n, key, "an integer >= 0")
	if err != nil {
		return 0, err
	}
	if strings.HasPrefix(strings.TrimSpace(n.Value), "-") {
		return 0, keyErr(n, key, "must be >= 0, got %s", n.Value)
	}
	if tag == "!!int" {
		var x uint64
		if err := n.Decode(&x); err != nil {
			return 0, keyErr(n, key, "%s is out of range (0 to %d)", n.Value, uint64(math.MaxUint64))
		}
		return x, nil
	}
	var f float64
	if err := n.Decode(&f); err != nil || math.IsNaN(f) || f != math.Trunc(f) {
		return 0, keyErr(n, key, "want an integer >= 0, got %s", n.Value)
	}
	if f >= 1.8446744073709551616e19 {
		return 0, keyErr(n, key, "%s is out of range (0 to %d)", n.Value, uint64(math.MaxUint64))
	}
	return uint64(f), nil
}

// nodeFloat reads a float knob. NaN and infinities decode (".nan" is valid
// YAML) and are refused by Validate, which names the knob's range.
func nodeFloat(n *yaml.Node, key string) (float64, error) {
	if _, err := numberText(n, key, "a number"); err != nil {
		return 0, err
	}
	var f float64
	if err := n.Decode(&f); err != nil {
		return 0, keyErr(n, key, "want a number, got %s", n.Value)
	}
	return f, nil
}

// configKeys lists every dotted key of Config: sections and knobs.
func configKeys() []string {
	var keys []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			name := yamlName(t.Field(i))
			if name == "" {
				continue
			}
			p := joinKey(prefix, name)
			keys = append(keys, p)
			if t.Field(i).Type.Kind() == reflect.Struct {
				walk(t.Field(i).Type, p)
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	return keys
}

// keySynonyms maps names other trainers (TRL, verl, HF Trainer) and common
// spellings use to this config's key names.
var keySynonyms = map[string]string{
	"learning_rate": "lr", "max_lr": "lr", "peak_lr": "lr", "lr_min": "min_lr", "final_lr": "min_lr",
	"wd": "weight_decay", "adam_beta1": "beta1", "adam_beta2": "beta2", "adam_epsilon": "eps", "epsilon": "eps",
	"max_grad_norm": "grad_clip", "clip_grad_norm": "grad_clip", "gradient_clipping": "grad_clip",
	"lr_scheduler_type": "schedule", "lr_scheduler": "schedule", "scheduler": "schedule",
	"warmup": "warmup_steps", "num_warmup_steps": "warmup_steps",
	"max_steps": "steps", "total_steps": "steps", "num_train_epochs": "epochs", "num_epochs": "epochs",
	"train_batch_size": "batch_size", "per_device_train_batch_size": "micro_batch", "micro_batch_size": "micro_batch",
	"gradient_checkpointing": "recompute", "activation_checkpointing": "recompute",
	"save_steps": "checkpoint_every", "save_every": "checkpoint_every", "save_total_limit": "keep_checkpoints",
	"logging_steps": "log_every", "max_length": "max_seq_len", "max_seq_length": "max_seq_len", "seq_len": "max_seq_len",
	"max_tokens": "max_new_tokens", "max_completion_length": "max_new_tokens", "response_length": "max_new_tokens",
	"num_generations": "group_size", "num_samples": "n", "beta": "kl_coef", "epsilon_high": "clip_high",
	"system_prompt": "system", "prompt_suffix": "suffix", "question_key": "question_field", "answer_key": "answer_field",
	"optimizer": "optim", "training": "train", "generation": "rollout", "sampling": "rollout", "dataset": "data",
	"reward": "verify", "verifier": "verify", "evaluation": "eval", "skip_bad": "skip_malformed",
}

// suggestKey returns " (did you mean X?)" for an unknown dotted key, or "".
// It prefers the same name (or a known synonym) under another section, then
// near spellings among the section's keys, then among all keys.
func suggestKey(key string) string {
	all := configKeys()
	parent, leaf := "", key
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		parent, leaf = key[:i], key[i+1:]
	}
	lastOf := func(k string) string { return k[strings.LastIndexByte(k, '.')+1:] }
	parentOf := func(k string) string {
		if i := strings.LastIndexByte(k, '.'); i >= 0 {
			return k[:i]
		}
		return ""
	}
	format := func(c []string) string {
		if len(c) == 0 {
			return ""
		}
		if len(c) > 3 {
			c = c[:3]
		}
		return " (did you mean " + strings.Join(c, " or ") + "?)"
	}
	names := []string{strings.ToLower(leaf)}
	if s, ok := keySynonyms[names[0]]; ok {
		names = append(names, s)
	}
	// The same name under the key's own section first, then elsewhere.
	for _, name := range names {
		var same, other []string
		for _, k := range all {
			if lastOf(k) != name || k == key {
				continue
			}
			if parentOf(k) == parent {
				same = append(same, k)
			} else {
				other = append(other, k)
			}
		}
		if len(same) > 0 {
			return format(same)
		}
		if len(other) > 0 {
			return format(other)
		}
	}
	// Near spellings: edit distance at most a third of the name (>= 1).
	limit := len(leaf) / 3
	if limit < 1 {
		limit = 1
	}
	type cand struct {
		k string
		d int
	}
	var siblings, others []cand
	for _, k := range all {
		d := editDistance(strings.ToLower(leaf), lastOf(k))
		if d > limit {
			continue
		}
		if parentOf(k) == parent {
			siblings = append(siblings, cand{k, d})
		} else {
			others = append(others, cand{k, d})
		}
	}
	pick := func(cs []cand) []string {
		sort.SliceStable(cs, func(i, j int) bool { return cs[i].d < cs[j].d })
		out := make([]string, len(cs))
		for i, c := range cs {
			out[i] = c.k
		}
		return out
	}
	if len(siblings) > 0 {
		return format(pick(siblings))
	}
	return format(pick(others))
}

// editDistance is the Levenshtein distance of a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// yaml.v3 loses some strings when writing (a leading newline, a lone "\n":
// its literal block style drops them) and fails on others (a tab after a
// newline), also in yaml.Node.Encode. Config.YAML therefore encodes a copy
// in which each such string is a placeholder, then puts the exact text
// back into the node tree in the double-quoted style, which escapes every
// character. Strings that round-trip keep yaml.v3's style, so configs
// without such strings are written (and hashed) as before.

// lossyPlaceholder is the stand-in for the i-th lossy string.
func lossyPlaceholder(i int) string { return fmt.Sprintf("sdzero-exact-string-%d", i) }

// replaceLossy replaces, in v (a shallow copy of a config: its lists are
// copied before they are changed), every string that yaml.v3 would not
// write back exactly by a placeholder, and records the string under it.
func replaceLossy(v reflect.Value, lossy map[string]string) {
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if yamlName(v.Type().Field(i)) != "" {
				replaceLossy(v.Field(i), lossy)
			}
		}
	case reflect.Slice:
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(c, v)
		if !v.IsNil() {
			v.Set(c)
		}
		for i := 0; i < v.Len(); i++ {
			replaceLossy(v.Index(i), lossy)
		}
	case reflect.String:
		if s := v.String(); !plainRoundTrips(s) {
			p := lossyPlaceholder(len(lossy))
			lossy[p] = s
			v.SetString(p)
		}
	}
}

// restoreLossy puts the recorded strings back in place of their
// placeholders, double-quoted.
func restoreLossy(n *yaml.Node, lossy map[string]string) {
	if s, ok := lossy[n.Value]; ok && n.Kind == yaml.ScalarNode {
		n.Tag, n.Value, n.Style = "!!str", s, yaml.DoubleQuotedStyle
	}
	for _, c := range n.Content {
		restoreLossy(c, lossy)
	}
}

// plainRoundTrips reports whether yaml.v3 writes s in a form it reads back
// as s. Strings of printable characters always do; others are tried.
func plainRoundTrips(s string) bool {
	simple := true
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && (!unicode.IsPrint(r) || unicode.IsSpace(r))) {
			simple = false
			break
		}
	}
	if simple {
		return true
	}
	b, err := yaml.Marshal(map[string]string{"k": s})
	if err != nil {
		return false
	}
	var back map[string]string
	return yaml.Unmarshal(b, &back) == nil && back["k"] == s
}

// firstDifference returns the dotted key of the first knob whose values
// differ between a and b (config structs of one type), or "". NaN equals
// NaN and a nil list equals an empty one.
func firstDifference(a, b reflect.Value, key string) string {
	switch a.Kind() {
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			name := yamlName(a.Type().Field(i))
			if name == "" {
				continue
			}
			if d := firstDifference(a.Field(i), b.Field(i), joinKey(key, name)); d != "" {
				return d
			}
		}
		return ""
	case reflect.Float64:
		x, y := a.Float(), b.Float()
		if x == y || math.IsNaN(x) && math.IsNaN(y) {
			return ""
		}
		return key
	case reflect.Slice:
		if a.Len() != b.Len() {
			return key
		}
		for i := 0; i < a.Len(); i++ {
			if d := firstDifference(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", key, i)); d != "" {
				return d
			}
		}
		return ""
	}
	if a.Interface() != b.Interface() {
		return key
	}
	return ""
}

// DecodeYAMLNode decodes n (a mapping of run-file keys, e.g. a section of a
// larger YAML document) over c with LoadConfig's rules: unknown keys and
// bad values are KeyErrors with their line, and strings are taken exactly
// as parsed (re-encoding a node with yaml.Marshal loses leading newlines).
func (c *Config) DecodeYAMLNode(n *yaml.Node) error {
	return decodeNode(n, reflect.ValueOf(c).Elem(), "")
}
