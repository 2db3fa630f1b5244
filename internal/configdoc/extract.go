package configdoc

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Extract reads the struct types of the Go source src (named name in
// errors), starting at type root, and returns one Key per YAML key in the
// order the config is written (a section before its keys). def is a
// pointer to the default config (of type root): each key's Default is read
// from it. valid lists the phase names a "Phases:" line may use.
//
// A field with no comment of its own that directly follows a documented
// field (no blank line between) shares that field's comment, and Group
// names the first field. A key without a comment gets an empty Doc.
func Extract(name string, src []byte, root string, def any, valid []string) ([]Key, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.ParseComments)
	if err != nil {
		return nil, fmt.Errorf("configdoc: %w", err)
	}
	x := &extractor{fset: fset, name: name, types: map[string]*ast.StructType{}, typeDoc: map[string]string{}, valid: valid}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.TYPE {
			continue
		}
		for _, s := range gd.Specs {
			ts := s.(*ast.TypeSpec)
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				continue
			}
			x.types[ts.Name.Name] = st
			doc := ts.Doc
			if doc == nil && len(gd.Specs) == 1 {
				doc = gd.Doc
			}
			x.typeDoc[ts.Name.Name] = doc.Text()
		}
	}
	st, ok := x.types[root]
	if !ok {
		return nil, fmt.Errorf("configdoc: %s: no struct type %s", name, root)
	}
	v := reflect.ValueOf(def)
	if v.Kind() != reflect.Pointer || v.Elem().Type().Name() != root {
		return nil, fmt.Errorf("configdoc: default config is a %T, want *%s", def, root)
	}
	// Type names of sections read as their paths ("DataConfig" -> data),
	// and Section.Field as a dotted key ("Train.Epochs" -> train.epochs).
	x.sectionOf = map[string]string{}
	x.qualified = map[string]string{}
	for _, fld := range st.Fields.List {
		id, ok := fld.Type.(*ast.Ident)
		if !ok || x.types[id.Name] == nil {
			continue
		}
		for _, n := range fld.Names {
			path := yamlName(fld, n.Name)
			x.sectionOf[id.Name] = path
			for _, sf := range x.types[id.Name].Fields.List {
				for _, sn := range sf.Names {
					x.qualified[n.Name+"."+sn.Name] = path + "." + yamlName(sf, sn.Name)
				}
			}
		}
	}
	if err := x.walk(st, v.Elem(), "", nil); err != nil {
		return nil, err
	}
	x.quoteKeys()
	return x.keys, nil
}

// keyRef matches text that may name a key as written in YAML: a dotted
// path ("rollout.max_new_tokens") or a snake_case name ("stage_split").
var keyRef = regexp.MustCompile("`[^`]*`|\\b[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)?\\b")

// quoteKeys puts backquotes around the keys the docs name in YAML form: a
// full dotted path, or a snake_case key of the same section.
func (x *extractor) quoteKeys() {
	paths := map[string]bool{}
	for _, k := range x.keys {
		paths[k.Path] = true
	}
	for i, k := range x.keys {
		section := ""
		if j := strings.LastIndexByte(k.Path, '.'); j >= 0 && !k.Section {
			section = k.Path[:j]
		} else if k.Section {
			section = k.Path
		}
		x.keys[i].Doc = keyRef.ReplaceAllStringFunc(k.Doc, func(w string) string {
			if strings.HasPrefix(w, "`") {
				return w
			}
			if strings.Contains(w, ".") && paths[w] {
				return "`" + w + "`"
			}
			if strings.Contains(w, "_") && section != "" && paths[section+"."+w] {
				return "`" + w + "`"
			}
			return w
		})
	}
}

type extractor struct {
	fset      *token.FileSet
	name      string
	types     map[string]*ast.StructType
	typeDoc   map[string]string
	sectionOf map[string]string
	qualified map[string]string
	valid     []string
	keys      []Key
}

// phasesLine is a doc comment's "Phases: a, b." line.
var phasesLine = regexp.MustCompile(`(?m)^Phases:\s*(.*?)\.?\s*$`)

// walk appends the keys of struct st (value v) under prefix; phases are
// the enclosing section's.
func (x *extractor) walk(st *ast.StructType, v reflect.Value, prefix string, phases []string) error {
	names := fieldKeys(st)
	// A comment documents its field and the undocumented fields directly
	// below it (owner: the first field's path).
	var prevRaw, prevOwner string
	prevEnd := -10
	for _, fld := range st.Fields.List {
		start := x.fset.Position(fld.Pos()).Line
		raw, owner, shared := fld.Doc.Text(), "", false
		switch {
		case fld.Doc != nil && len(fld.Names) > 0:
			owner = joinPath(prefix, yamlName(fld, fld.Names[0].Name))
		case fld.Doc == nil && start == prevEnd+1 && prevRaw != "":
			raw, owner, shared = prevRaw, prevOwner, true
		}
		prevEnd = x.fset.Position(fld.End()).Line
		prevRaw, prevOwner = raw, owner
		for i, n := range fld.Names {
			key := yamlName(fld, n.Name)
			if !n.IsExported() || key == "-" {
				continue
			}
			path := joinPath(prefix, key)
			group := ""
			if raw != "" && (shared || i > 0) {
				group = owner
			}
			doc, ph, err := x.docText(raw, names, phases)
			if err != nil {
				return fmt.Errorf("configdoc: %s: key %s: %w", x.name, path, err)
			}
			fv := v.FieldByName(n.Name)
			if !fv.IsValid() {
				return fmt.Errorf("configdoc: %s: field %s %s is not in the default config's type (rebuild the generator)", x.name, prefix, n.Name)
			}
			if id, ok := fld.Type.(*ast.Ident); ok && x.types[id.Name] != nil {
				// A section: its type's comment says what it holds.
				sdoc, sph, err := x.docText(x.typeDoc[id.Name], fieldKeys(x.types[id.Name]), phases)
				if err != nil {
					return fmt.Errorf("configdoc: %s: type %s: %w", x.name, id.Name, err)
				}
				if sdoc == "" {
					sdoc, sph = doc, ph
				}
				x.keys = append(x.keys, Key{Path: path, Section: true, Doc: sdoc, Phases: sph})
				if err := x.walk(x.types[id.Name], fv, path, sph); err != nil {
					return err
				}
				continue
			}
			x.keys = append(x.keys, Key{Path: path, Type: typeWords(fv.Type()), Doc: doc, Group: group, Phases: ph, Default: flowText(fv)})
		}
	}
	return nil
}

// docText turns a Go doc comment into Key.Doc: the Phases line taken out
// (its phases returned, else inherited), lines joined into paragraphs, and
// Go names of keys written as `key`.
func (x *extractor) docText(raw string, names map[string]string, inherited []string) (string, []string, error) {
	phases := inherited
	if m := phasesLine.FindStringSubmatch(raw); m != nil {
		phases = nil
		for _, p := range strings.Split(m[1], ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			if !slices.Contains(x.valid, p) {
				return "", nil, fmt.Errorf("Phases line names %q, not one of %s", p, strings.Join(x.valid, ", "))
			}
			phases = append(phases, p)
		}
		raw = phasesLine.ReplaceAllString(raw, "")
	}
	var paras []string
	for _, p := range strings.Split(strings.TrimSpace(raw), "\n\n") {
		p = strings.Join(strings.Fields(p), " ")
		if p != "" {
			paras = append(paras, x.keyNames(p, names))
		}
	}
	return strings.Join(paras, "\n\n"), phases, nil
}

// goName matches an exported Go name, optionally qualified (Train.Epochs).
var goName = regexp.MustCompile(`\b[A-Z][A-Za-z0-9]*(\.[A-Z][A-Za-z0-9]*)?\b`)

// keyNames writes the Go names of keys in s as their YAML keys.
func (x *extractor) keyNames(s string, names map[string]string) string {
	return goName.ReplaceAllStringFunc(s, func(w string) string {
		if k, ok := x.qualified[w]; ok {
			return "`" + k + "`"
		}
		head, tail, dotted := strings.Cut(w, ".")
		if dotted {
			// Only the first part may be a key ("Limit.": sentence end is
			// not matched, but "Train.Epochs" of another struct is).
			if k, ok := names[head]; ok {
				return "`" + k + "`." + tail
			}
			return w
		}
		if k, ok := names[w]; ok {
			return "`" + k + "`"
		}
		if k, ok := x.sectionOf[w]; ok {
			return "`" + k + "`"
		}
		return w
	})
}

// fieldKeys maps the Go names of st's fields to their YAML keys.
func fieldKeys(st *ast.StructType) map[string]string {
	names := map[string]string{}
	for _, fld := range st.Fields.List {
		for _, n := range fld.Names {
			names[n.Name] = yamlName(fld, n.Name)
		}
	}
	return names
}

func joinPath(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// yamlName is the field's YAML key (its tag, else the lower-cased name as
// yaml.v3 does).
func yamlName(fld *ast.Field, goName string) string {
	if fld.Tag != nil {
		tag, err := strconv.Unquote(fld.Tag.Value)
		if err == nil {
			if y, ok := reflect.StructTag(tag).Lookup("yaml"); ok {
				if n, _, _ := strings.Cut(y, ","); n != "" {
					return n
				}
			}
		}
	}
	return strings.ToLower(goName)
}

// typeWords names a value type for a reader.
func typeWords(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "int"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "uint"
	case reflect.Float32, reflect.Float64:
		return "float"
	case reflect.String:
		return "string"
	case reflect.Slice:
		return "list of " + typeWords(t.Elem()) + "s"
	case reflect.Map:
		return "map of " + typeWords(t.Key()) + " to " + typeWords(t.Elem())
	}
	return t.String()
}

// flowText writes v as YAML flow text: strings double-quoted (as Go
// quotes them, which YAML reads the same for the printable text of a
// config), numbers as written by yaml.v3.
func flowText(v reflect.Value) string {
	switch v.Kind() {
	case reflect.String:
		return strconv.Quote(v.String())
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = flowText(v.Index(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case reflect.Map:
		if v.Len() == 0 {
			return "{}"
		}
	}
	return fmt.Sprint(v.Interface())
}
