package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"sdzero/data/chat"
	"sdzero/data/tokenizer"
)

// chatFlags are generate's flags for a chat prompt: the prompt rendered
// with the model's own chat template (as apply_chat_template with
// add_generation_prompt=True), optionally after a system message.
type chatFlags struct {
	chat     *bool
	system   *string
	template *string
	thinking *string
}

func addChatFlags(fs *flag.FlagSet) chatFlags {
	return chatFlags{
		chat:     fs.Bool("chat", false, "render --prompt as a user message with the model's chat template (and stop at its end-of-turn token unless --stop-ids is given)"),
		system:   fs.String("system", "", "with --chat: a system message before the user message"),
		template: fs.String("template", "", "with --chat: a built-in template name or a Jinja file instead of the model's own"),
		thinking: fs.String("thinking", "default", "with --chat: enable_thinking true, false or default (the template's own default)"),
	}
}

// inputIDs returns the prompt ids and, for --prompt, the tokenizer. With
// --chat, the prompt is the rendered conversation and stops are the ids
// that end the assistant's turn (chat.Template.StopIDs).
func (c chatFlags) inputIDs(dir, idsFlag, prompt string, fs *flag.FlagSet) (ids []int32, tok *tokenizer.Tokenizer, stops []int32, err error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !*c.chat {
		for _, name := range []string{"system", "template", "thinking"} {
			if set[name] {
				return nil, nil, nil, fmt.Errorf("--%s needs --chat", name)
			}
		}
		ids, tok, err = inputIDs(dir, idsFlag, prompt, fs)
		return ids, tok, nil, err
	}
	switch {
	case set["ids"]:
		return nil, nil, nil, errors.New("--chat renders --prompt text; it excludes --ids")
	case !set["prompt"]:
		return nil, nil, nil, errors.New("--chat needs --prompt TEXT (the user message)")
	}
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err != nil {
		return nil, nil, nil, fmt.Errorf("--chat needs %s: %w", filepath.Join(dir, "tokenizer.json"), err)
	}
	if tok, err = tokenizer.LoadDir(dir); err != nil {
		return nil, nil, nil, err
	}
	var tm *chat.Template
	if *c.template != "" {
		tm, err = chat.LoadDirAs(dir, *c.template)
	} else {
		tm, err = chat.LoadDir(dir)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	var msgs []chat.Message
	if set["system"] {
		msgs = append(msgs, chat.Message{Role: "system", Content: *c.system})
	}
	msgs = append(msgs, chat.Message{Role: "user", Content: prompt})
	opt := chat.Options{AddGenerationPrompt: true}
	switch *c.thinking {
	case "default":
	case "true", "false":
		b := *c.thinking == "true"
		opt.EnableThinking = &b
	default:
		return nil, nil, nil, fmt.Errorf("--thinking %q: want true, false or default", *c.thinking)
	}
	if ids, err = tm.RenderIDs(tok, msgs, opt); err != nil {
		return nil, nil, nil, err
	}
	if stops, err = tm.StopIDs(tok); err != nil {
		return nil, nil, nil, fmt.Errorf("--chat: %w", err)
	}
	return ids, tok, stops, nil
}
