// Package tokenizer loads Hugging Face tokenizer.json files and encodes and
// decodes text with exact parity with the Rust `tokenizers` library for
// byte-level BPE tokenizers (Qwen2/Qwen3, Llama 3, GPT-2 style).
//
// Supported components: the BPE model (merges as "a b" strings or
// ["a","b"] pairs, ignore_merges, byte_fallback, unk_token/fuse_unk,
// continuing_subword_prefix, end_of_word_suffix); added tokens with
// lstrip/rstrip/single_word/normalized; the NFC/NFD/NFKC/NFKD and Sequence
// normalizers; the Split (all behaviours, invert), ByteLevel, Digits and
// Sequence pre-tokenizers; the ByteLevel decoder; the ByteLevel,
// TemplateProcessing, RobertaProcessing, BertProcessing and Sequence
// post-processors. Any other component is a load error naming it.
//
// Regexes follow Hugging Face's Oniguruma semantics. The GPT-2, Llama 3 and
// Qwen2/Qwen3 patterns have hand-written scanners, tested identical to
// github.com/dlclark/regexp2 (a backtracking engine close to Oniguruma) on
// random and adversarial text (except that the scanners case-fold (?i) as
// Oniguruma does, so "'ſ" (U+017F) is a contraction, which regexp2 misses);
// any other pattern runs on regexp2.
//
// Added tokens get the ids Hugging Face gives them on load (their content's
// id in the model vocabulary, else the next free id), not the "id" field.
//
// Text that is not valid UTF-8 (which cannot reach Hugging Face, whose
// inputs are Rust strings) is encoded as if each invalid byte were U+FFFD.
// truncation and padding in tokenizer.json are ignored: callers shape
// batches themselves. Decode is the tokenizers library's decode:
// transformers' clean_up_tokenization_spaces is not applied.
//
// Parity is tested against Hugging Face tokenizers 0.23.2 on the fixture's
// golden strings and on testdata/hf_reference.json.gz (about 700 strings
// under the Qwen3 tokenizer and seven variants of its components).
package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// Tokenizer is a loaded tokenizer. It is safe for concurrent use.
type Tokenizer struct {
	model       *bpeModel
	idToToken   []string // every id: model vocabulary and added tokens
	known       []bool   // known[id]: the id has a token (ids may have gaps)
	tokenToID   map[string]int32
	special     map[int32]bool
	rawAdded    *addedMatcher // added tokens with normalized=false
	normAdded   *addedMatcher // added tokens with normalized=true
	normalize   normalizer
	pre         []preStep
	byteLevelIn bool // the model's input is the byte-level mapping of the pieces
	post        []postStep
	decoder     decoderKind

	// From tokenizer_config.json (LoadDir), empty when absent.
	eosToken, bosToken, padToken string
}

// decoderKind is the supported decoder.
type decoderKind int

const (
	decoderNone      decoderKind = iota // tokens joined with spaces
	decoderByteLevel                    // ByteLevel
)

// tokenizerFile is the top level of tokenizer.json less the model.
type tokenizerFile struct {
	AddedTokens   []addedToken
	Normalizer    json.RawMessage
	PreTokenizer  json.RawMessage
	PostProcessor json.RawMessage
	Decoder       json.RawMessage
}

// modelFile is tokenizer.json's "model".
type modelFile struct {
	Type                    string           `json:"type"`
	Dropout                 *float64         `json:"dropout"`
	UnkToken                *string          `json:"unk_token"`
	ContinuingSubwordPrefix *string          `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string          `json:"end_of_word_suffix"`
	FuseUnk                 bool             `json:"fuse_unk"`
	ByteFallback            bool             `json:"byte_fallback"`
	IgnoreMerges            bool             `json:"ignore_merges"`
	Vocab                   map[string]int32 `json:"-"` // parsed by parseModelJSON
}

// Load reads a Hugging Face tokenizer.json file.
func Load(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer %s: %w", path, err)
	}
	return t, nil
}

// LoadDir reads dir/tokenizer.json and, when present,
// dir/tokenizer_config.json for the eos, bos and pad tokens.
func LoadDir(dir string) (*Tokenizer, error) {
	t, err := Load(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "tokenizer_config.json")
	data, err := os.ReadFile(cfgPath)
	if os.IsNotExist(err) {
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load tokenizer config: %w", err)
	}
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("load tokenizer config %s: %w", cfgPath, err)
	}
	for key, dst := range map[string]*string{"eos_token": &t.eosToken, "bos_token": &t.bosToken, "pad_token": &t.padToken} {
		s, err := configToken(cfg[key])
		if err != nil {
			return nil, fmt.Errorf("load tokenizer config %s: %s: %w", cfgPath, key, err)
		}
		if s != "" {
			if _, ok := t.TokenID(s); !ok {
				return nil, fmt.Errorf("load tokenizer config %s: %s %q is not in the vocabulary", cfgPath, key, s)
			}
		}
		*dst = s
	}
	return t, nil
}

// configToken reads a special token of tokenizer_config.json: a string, an
// AddedToken object with "content", or null.
func configToken(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var obj struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return "", err
	}
	return obj.Content, nil
}

// Parse builds a tokenizer from the contents of a tokenizer.json file.
func Parse(data []byte) (*Tokenizer, error) {
	top, err := splitTopLevel(data)
	if err != nil {
		return nil, err
	}
	f := tokenizerFile{
		Normalizer:    top["normalizer"],
		PreTokenizer:  top["pre_tokenizer"],
		PostProcessor: top["post_processor"],
		Decoder:       top["decoder"],
	}
	if raw := top["added_tokens"]; !isNull(raw) {
		if err := json.Unmarshal(raw, &f.AddedTokens); err != nil {
			return nil, fmt.Errorf("added_tokens: %w", err)
		}
	}
	if _, ok := top["model"]; !ok {
		return nil, fmt.Errorf("no \"model\"")
	}
	mf, merges, err := parseModelJSON(top["model"])
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if mf.Type != "" && mf.Type != "BPE" {
		return nil, fmt.Errorf("model type %q is not supported (only BPE)", mf.Type)
	}
	if mf.Type == "" && mf.Vocab == nil {
		return nil, fmt.Errorf("model has no type and no vocab")
	}
	if mf.Dropout != nil && *mf.Dropout != 0 {
		// Dropout makes encoding random: refuse it rather than differ.
		return nil, fmt.Errorf("BPE dropout %v is not supported", *mf.Dropout)
	}
	deref := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	model, err := newBPE(mf.Vocab, merges, deref(mf.UnkToken), mf.FuseUnk, mf.ByteFallback, mf.IgnoreMerges,
		deref(mf.ContinuingSubwordPrefix), deref(mf.EndOfWordSuffix))
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	t := &Tokenizer{model: model, special: map[int32]bool{}}
	if f.AddedTokens, err = assignAddedIDs(f.AddedTokens, mf.Vocab); err != nil {
		return nil, err
	}

	// id -> token over the model vocabulary and the added tokens.
	maxID := int32(-1)
	for _, id := range mf.Vocab {
		if id < 0 {
			return nil, fmt.Errorf("model vocab has negative id %d", id)
		}
		maxID = max(maxID, id)
	}
	for _, a := range f.AddedTokens {
		if a.ID < 0 {
			return nil, fmt.Errorf("added token %q has negative id %d", a.Content, a.ID)
		}
		maxID = max(maxID, a.ID)
	}
	t.idToToken = make([]string, maxID+1)
	t.known = make([]bool, maxID+1)
	t.tokenToID = make(map[string]int32, len(mf.Vocab)+len(f.AddedTokens))
	for tok, id := range mf.Vocab {
		t.idToToken[id] = tok
		t.known[id] = true
		t.tokenToID[tok] = id
	}

	if t.normalize, err = parseNormalizer(f.Normalizer); err != nil {
		return nil, err
	}
	var rawToks, normToks []addedToken
	var rawPats, normPats []string
	for _, a := range f.AddedTokens {
		// Hugging Face decodes a normalized added token as its normalized
		// content, and finds its id by the original content.
		t.idToToken[a.ID] = a.Content
		if a.Normalized && t.normalize != nil {
			t.idToToken[a.ID] = t.normalize(a.Content)
		}
		t.known[a.ID] = true
		t.tokenToID[a.Content] = a.ID
		if a.Special {
			t.special[a.ID] = true
		}
		if a.Normalized && t.normalize != nil {
			normToks = append(normToks, a)
			normPats = append(normPats, t.normalize(a.Content))
		} else if a.Normalized {
			normToks = append(normToks, a)
			normPats = append(normPats, a.Content)
		} else {
			rawToks = append(rawToks, a)
			rawPats = append(rawPats, a.Content)
		}
	}
	t.rawAdded = newAddedMatcher(rawToks, rawPats)
	t.normAdded = newAddedMatcher(normToks, normPats)

	if t.pre, err = parsePreTokenizer(f.PreTokenizer); err != nil {
		return nil, err
	}
	if n := len(t.pre); n > 0 {
		if bl, ok := t.pre[n-1].(*byteLevelStep); ok {
			bl.mapLater = true
			t.byteLevelIn = true
		}
	}
	if t.post, err = parsePostProcessor(f.PostProcessor, t); err != nil {
		return nil, err
	}
	if t.decoder, err = parseDecoder(f.Decoder); err != nil {
		return nil, err
	}
	return t, nil
}

// assignAddedIDs gives the added tokens the ids Hugging Face gives them
// when it loads tokenizer.json, and checks them against the "id" fields:
// Hugging Face adds the tokens in order, each taking its content's id in
// the model vocabulary, or its earlier id when the content was already
// added (the later entry's options win), or else the next free id after
// the model vocabulary and the tokens added so far; empty tokens are
// ignored. It only warns when that differs from the file's "id", and the
// tokens then silently get other ids than the file says, so a mismatch is
// an error here.
func assignAddedIDs(toks []addedToken, vocab map[string]int32) ([]addedToken, error) {
	vocabSize := int32(len(vocab))
	index := map[string]int{}
	out := make([]addedToken, 0, len(toks))
	maxAdded := int32(-1)
	for i, a := range toks {
		if a.Content == "" {
			continue
		}
		declared := a.ID
		if k, ok := index[a.Content]; ok {
			a.ID = out[k].ID
			out[k] = a
		} else {
			if id, ok := vocab[a.Content]; ok {
				a.ID = id
			} else {
				a.ID = vocabSize
				if maxAdded >= 0 && (maxAdded >= vocabSize || vocabSize == 0) {
					a.ID = maxAdded + 1
				}
			}
			maxAdded = max(maxAdded, a.ID)
			index[a.Content] = len(out)
			out = append(out, a)
		}
		if a.ID != declared {
			return nil, fmt.Errorf("added_tokens[%d] %q has id %d, but Hugging Face tokenizers gives it id %d on load (added tokens take their vocabulary id, else the next id after the vocabulary and the earlier added tokens)",
				i, a.Content, declared, a.ID)
		}
	}
	return out, nil
}

// cutSpace splits a merge line "a b" at its single space.
func cutSpace(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			a, b := s[:i], s[i+1:]
			for j := 0; j < len(b); j++ {
				if b[j] == ' ' {
					return "", "", false
				}
			}
			return a, b, true
		}
	}
	return "", "", false
}

// parseDecoder accepts ByteLevel (alone or as the only member of a
// Sequence) or no decoder.
func parseDecoder(raw json.RawMessage) (decoderKind, error) {
	if isNull(raw) {
		return decoderNone, nil
	}
	var h struct {
		Type     string            `json:"type"`
		Decoders []json.RawMessage `json:"decoders"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return 0, fmt.Errorf("decoder: %w", err)
	}
	switch h.Type {
	case "ByteLevel":
		return decoderByteLevel, nil
	case "Sequence":
		if len(h.Decoders) == 1 {
			return parseDecoder(h.Decoders[0])
		}
		var types []string
		for _, d := range h.Decoders {
			var x struct {
				Type string `json:"type"`
			}
			_ = json.Unmarshal(d, &x)
			types = append(types, x.Type)
		}
		return 0, fmt.Errorf("decoder Sequence %v is not supported (only ByteLevel)", types)
	}
	return 0, fmt.Errorf("decoder type %q is not supported (only ByteLevel)", h.Type)
}

// Encode encodes text without adding the post-processor's special tokens.
// Added tokens written in the text (e.g. "<|im_start|>") are matched whole.
func (t *Tokenizer) Encode(text string) []int32 {
	return t.AppendEncode(nil, text)
}

// AppendEncode appends the encoding of text (as Encode) to dst.
func (t *Tokenizer) AppendEncode(dst []int32, text string) []int32 {
	text = sanitizeUTF8(text)
	if text == "" {
		return dst
	}
	if dst == nil {
		dst = make([]int32, 0, len(text)/3+8)
	}
	e := encoderPool.Get().(*encoder)
	e.t, e.ids = t, dst
	t.rawAdded.split(text, e.rawPiece)
	ids := e.ids
	// Keep the scratch buffers (unless huge) for the next call.
	e.t, e.ids = nil, nil
	if cap(e.pieces) > 1<<16 || cap(e.scratch) > 1<<16 {
		e.pieces, e.next, e.scratch = nil, nil, nil
	}
	clear(e.pieces[:cap(e.pieces)])
	clear(e.next[:cap(e.next)])
	encoderPool.Put(e)
	return ids
}

// encoderPool recycles encoders' scratch buffers between calls.
var encoderPool = sync.Pool{New: func() any { return new(encoder) }}

// encoder holds one Encode call's output and scratch buffers.
type encoder struct {
	t       *Tokenizer
	ids     []int32
	pieces  []string
	next    []string
	scratch [][2]int
}

func (e *encoder) rawPiece(s string, id int32) {
	if id >= 0 {
		e.ids = append(e.ids, id)
		return
	}
	if e.t.normalize != nil {
		s = e.t.normalize(s)
	}
	if e.t.normAdded.empty() {
		e.normPiece(s, -1)
		return
	}
	e.t.normAdded.split(s, e.normPiece)
}

func (e *encoder) normPiece(s string, id int32) {
	if id >= 0 {
		e.ids = append(e.ids, id)
		return
	}
	if s == "" {
		return
	}
	e.pieces = append(e.pieces[:0], s)
	for _, st := range e.t.pre {
		e.next = e.next[:0]
		for _, p := range e.pieces {
			e.next = st.apply(p, e.next, &e.scratch)
		}
		e.pieces, e.next = e.next, e.pieces
	}
	m := e.t.model
	for _, p := range e.pieces {
		if e.t.byteLevelIn {
			e.ids = m.appendByteLevel(e.ids, p)
		} else {
			e.ids = m.appendWord(e.ids, p)
		}
	}
}

// EncodeSpecial encodes text and adds the post-processor's special tokens
// (e.g. a BOS token for Llama 3; nothing for Qwen, whose post-processor is
// ByteLevel).
func (t *Tokenizer) EncodeSpecial(text string) []int32 {
	ids := t.Encode(text)
	for _, p := range t.post {
		ids = p(ids)
	}
	return ids
}

// EncodeBatch encodes texts in parallel (as Encode), one result per text.
func (t *Tokenizer) EncodeBatch(texts []string) [][]int32 {
	out := make([][]int32, len(texts))
	workers := min(runtime.GOMAXPROCS(0), len(texts))
	if workers <= 1 {
		for i, s := range texts {
			out[i] = t.Encode(s)
		}
		return out
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	const chunk = 16
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				lo := next
				next += chunk
				mu.Unlock()
				if lo >= len(texts) {
					return
				}
				for i := lo; i < min(lo+chunk, len(texts)); i++ {
					out[i] = t.Encode(texts[i])
				}
			}
		}()
	}
	wg.Wait()
	return out
}

// TokenID returns the id of a token string (an added token such as
// "<|im_end|>" or a vocabulary entry in its byte-level form).
func (t *Tokenizer) TokenID(tok string) (int32, bool) {
	id, ok := t.tokenToID[tok]
	return id, ok
}

// Token returns the string of an id (its byte-level form for vocabulary
// entries), or false when the id is unknown.
func (t *Tokenizer) Token(id int32) (string, bool) {
	if id < 0 || int(id) >= len(t.idToToken) || !t.known[id] {
		return "", false
	}
	return t.idToToken[id], true
}

// VocabSize is the number of ids the tokenizer can produce: the largest id
// (over the vocabulary and the added tokens) plus one. For Qwen3 this is
// 151669, smaller than the model's padded embedding (151936).
func (t *Tokenizer) VocabSize() int { return len(t.idToToken) }

// IsSpecial reports whether id is an added token marked special.
func (t *Tokenizer) IsSpecial(id int32) bool { return t.special[id] }

// EOS returns tokenizer_config.json's eos_token and its id (LoadDir only).
func (t *Tokenizer) EOS() (string, int32, bool) { return t.configTok(t.eosToken) }

// BOS returns tokenizer_config.json's bos_token and its id (LoadDir only).
func (t *Tokenizer) BOS() (string, int32, bool) { return t.configTok(t.bosToken) }

// Pad returns tokenizer_config.json's pad_token and its id (LoadDir only).
func (t *Tokenizer) Pad() (string, int32, bool) { return t.configTok(t.padToken) }

func (t *Tokenizer) configTok(s string) (string, int32, bool) {
	if s == "" {
		return "", -1, false
	}
	id, ok := t.tokenToID[s]
	return s, id, ok
}
