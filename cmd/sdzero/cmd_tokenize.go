package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"sdzero/data/chat"
	"sdzero/data/tokenizer"
)

// runTokenize encodes text to ids, decodes ids to text, or renders a chat
// conversation with the model's template and encodes it.
func runTokenize(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tokenize", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tokPath := fs.String("tokenizer", "", "tokenizer.json file (or a directory holding one)")
	modelDir := fs.String("model", "", "model or tokenizer directory (tokenizer.json, tokenizer_config.json)")
	text := fs.String("text", "", "text to encode (default: read standard input)")
	asJSON := fs.Bool("json", false, `print JSON: {"ids": [...]} or {"text": "..."}`)
	special := fs.Bool("special", false, "add the post-processor's special tokens (e.g. BOS)")
	decode := fs.String("decode", "", "ids to decode, e.g. 1,2,3 (or [1, 2, 3])")
	skipSpecial := fs.Bool("skip-special", false, "with --decode: leave out special tokens")
	chatMode := fs.Bool("chat", false, `treat the input as a JSON list of {"role", "content"} messages and render it with the chat template`)
	tmplName := fs.String("template", "", "with --chat: a built-in template name ("+strings.Join(chat.Names(), ", ")+") or a Jinja file, instead of the model's own")
	kwargs := fs.String("kwargs", "", `with --chat: extra template variables as a JSON object, e.g. {"date_string": "26 Jul 2024"}`)
	genPrompt := fs.Bool("generation-prompt", true, "with --chat: append the assistant generation prompt")
	thinking := fs.String("thinking", "default", "with --chat: enable_thinking true, false or default")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sdzero tokenize (--tokenizer FILE | --model DIR) [--text TEXT] [--json] [--special]\n"+
			"       sdzero tokenize (--tokenizer FILE | --model DIR) --decode 1,2,3 [--json] [--skip-special]\n"+
			"       sdzero tokenize --model DIR --chat [--template NAME|FILE] [--thinking false] [--kwargs JSON] < messages.json")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if (*tokPath == "") == (*modelDir == "") {
		return errors.New("give exactly one of --tokenizer FILE or --model DIR")
	}
	textSet, decodeSet := false, false
	fs.Visit(func(f *flag.Flag) {
		textSet = textSet || f.Name == "text"
		decodeSet = decodeSet || f.Name == "decode"
	})
	if textSet && decodeSet {
		return errors.New("--text and --decode exclude each other")
	}

	var tok *tokenizer.Tokenizer
	var err error
	switch {
	case *modelDir != "":
		tok, err = tokenizer.LoadDir(*modelDir)
	default:
		if st, serr := os.Stat(*tokPath); serr == nil && st.IsDir() {
			tok, err = tokenizer.LoadDir(*tokPath)
		} else {
			tok, err = tokenizer.Load(*tokPath)
		}
	}
	if err != nil {
		return err
	}

	if decodeSet {
		ids, err := parseIDs(*decode)
		if err != nil {
			return err
		}
		var s string
		if *skipSpecial {
			s = tok.DecodeSkipSpecial(ids)
		} else {
			s = tok.Decode(ids)
		}
		if *asJSON {
			return writeJSON(stdout, map[string]any{"text": s})
		}
		_, err = fmt.Fprintln(stdout, s)
		return err
	}

	input := *text
	if !textSet {
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			return fmt.Errorf("read standard input: %w", err)
		}
		input = string(b)
	}

	var ids []int32
	rendered := ""
	if *chatMode {
		// Messages go to the template as written (every field, key order),
		// as apply_chat_template receives them.
		var msgs []map[string]any
		if err := json.Unmarshal([]byte(input), &msgs); err != nil {
			return fmt.Errorf("--chat: input is not a JSON list of messages: %w", err)
		}
		tm, err := loadTemplate(*modelDir, *tokPath, *tmplName)
		if err != nil {
			return err
		}
		opt := chat.Options{AddGenerationPrompt: *genPrompt}
		if *kwargs != "" {
			dec := json.NewDecoder(strings.NewReader(*kwargs))
			dec.UseNumber() // integers stay integers, as in Python
			if err := dec.Decode(&opt.Vars); err != nil {
				return fmt.Errorf("--kwargs: want a JSON object: %w", err)
			}
		}
		switch *thinking {
		case "default":
		case "true", "false":
			b := *thinking == "true"
			opt.EnableThinking = &b
		default:
			return fmt.Errorf("--thinking %q: want true, false or default", *thinking)
		}
		if rendered, err = tm.RenderJSON([]byte(input), opt); err != nil {
			return err
		}
		ids = tok.Encode(rendered)
	} else if *special {
		ids = tok.EncodeSpecial(input)
	} else {
		ids = tok.Encode(input)
	}
	if ids == nil {
		ids = []int32{}
	}
	if *asJSON {
		out := map[string]any{"ids": ids}
		if *chatMode {
			out["text"] = rendered
		}
		return writeJSON(stdout, out)
	}
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.Itoa(int(id))
	}
	_, err = fmt.Fprintln(stdout, strings.Join(parts, " "))
	return err
}

// loadTemplate picks the chat template: a named built-in or a Jinja file
// (with the directory's special tokens), or the model directory's own (the
// tokenizer file's directory with --tokenizer).
func loadTemplate(modelDir, tokPath, name string) (*chat.Template, error) {
	dir := modelDir
	if dir == "" {
		if st, err := os.Stat(tokPath); err == nil && st.IsDir() {
			dir = tokPath
		} else {
			dir = dirOf(tokPath)
		}
	}
	if name != "" {
		return chat.LoadDirAs(dir, name)
	}
	return chat.LoadDir(dir)
}

func dirOf(path string) string {
	if i := strings.LastIndexAny(path, `/\`); i >= 0 {
		return path[:i+1]
	}
	return "."
}

// parseIDs reads "1,2,3", "1 2 3" or "[1, 2, 3]".
func parseIDs(s string) ([]int32, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '[' || r == ']' || r == '\n' || r == '\t'
	})
	ids := make([]int32, 0, len(fields))
	for _, f := range fields {
		v, err := strconv.ParseInt(f, 10, 32)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("--decode: %q is not a token id", f)
		}
		ids = append(ids, int32(v))
	}
	return ids, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
