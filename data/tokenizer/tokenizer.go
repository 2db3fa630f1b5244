// Package tokenizer loads Hugging Face tokenizer.json files and encodes and
// decodes text with exact parity with the Rust `tokenizers` library for
// byte-level BPE tokenizers (Qwen2/Qwen3, Llama 3, GPT-2 style) and
// SentencePiece-style byte-fallback BPE ones (Llama 2, Mistral, Gemma).
//
// Supported components: the BPE model (merges as "a b" strings or
// ["a","b"] pairs, ignore_merges, byte_fallback with <0xNN> tokens,
// unk_token/fuse_unk, continuing_subword_prefix, end_of_word_suffix); added
// tokens with lstrip/rstrip/single_word/normalized; the NFC/NFD/NFKC/NFKD,
// Prepend, Replace and Sequence normalizers; the Split (all behaviours,
// invert), ByteLevel, Digits, Metaspace (prepend_scheme always/first/never,
// split, the legacy add_prefix_space) and Sequence pre-tokenizers; the
// ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace and Sequence
// decoders; the ByteLevel, TemplateProcessing, RobertaProcessing,
// BertProcessing and Sequence post-processors. Any other component (the
// Unigram and WordPiece models among them) is a load error naming it.
//
// Regexes follow Hugging Face's Oniguruma semantics with Unicode 16.0
// (unicode16.go, generated from the Unicode data by internal/gen16; Go's
// unicode package is 15.0). The GPT-2, Llama 3 and Qwen2/Qwen3 patterns have
// hand-written scanners, tested identical to github.com/dlclark/regexp2 (a
// backtracking engine close to Oniguruma) on random and adversarial text
// (except that the scanners case-fold (?i) as Oniguruma does, so "'ſ"
// (U+017F) is a contraction, which regexp2 misses); any other pattern runs
// on regexp2, with its \p{..}, \d and \w rewritten to Oniguruma's Unicode 16.0
// sets (unicode16_regex.go; scripts such as \p{Han} and \b keep regexp2's
// Unicode 15.0 meaning) and a match timeout.
//
// Hostile files are bounded on load (limits.go): Sequence nesting, the
// number of components, and how much the normalizers and pre-tokenizers
// (and, separately, the decoders) can grow text; a regex that backtracks
// past its timeout makes EncodeChecked fail, naming the component.
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
// Hugging Face's Unicode normalization tables are older than Go's (about
// Unicode 10): the characters they lack (hfnorm.go, probed from Hugging Face
// by testdata/hf_normalization.js) are left unnormalized as it does.
//
// Known difference: Metaspace's prepend_scheme "first" is judged by the
// piece's position in the text, which differs from Hugging Face's original
// offsets only when a normalizer deletes the text's first characters and a
// Split runs before Metaspace.
//
// Parity is tested against Hugging Face tokenizers 0.23.2 on the fixture's
// golden strings, on testdata/hf_reference.json.gz (about 700 strings under
// the Qwen3 tokenizer and seven variants of its components),
// testdata/sp_reference.json.gz (Llama 2, Mistral and Gemma layouts),
// testdata/unicode16_reference.json.gz and testdata/oniguruma_sets.json.gz
// (Unicode 16.0 characters) and testdata/hf_normalization.json.gz; and,
// where node and the npm packages are installed, live on regenerated
// references and on real tokenizer.json files (live_test.go).
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
	decoders    []decodeStep
	// byteLevelOnly: the decoder is ByteLevel alone, decoded by a fast path.
	byteLevelOnly bool

	// From tokenizer_config.json (LoadDir), empty when absent.
	eosToken, bosToken, padToken string
}

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

	growth := 1.0
	if t.normalize, err = parseNormalizer(f.Normalizer, &budget{part: "normalizer", growth: &growth}, 0, "normalizer"); err != nil {
		return nil, err
	}
	normalize := func(i int, s string) (string, error) {
		n, err := t.normalize(s)
		if err != nil {
			return "", fmt.Errorf("added_tokens[%d] %q: %w", i, s, err)
		}
		return n, nil
	}
	var rawToks, normToks []addedToken
	var rawPats, normPats []string
	for i, a := range f.AddedTokens {
		// Hugging Face decodes a normalized added token as its normalized
		// content, and finds its id by the original content.
		t.idToToken[a.ID] = a.Content
		normContent := a.Content
		if a.Normalized && t.normalize != nil {
			if normContent, err = normalize(i, a.Content); err != nil {
				return nil, err
			}
			t.idToToken[a.ID] = normContent
		}
		t.known[a.ID] = true
		t.tokenToID[a.Content] = a.ID
		if a.Special {
			t.special[a.ID] = true
		}
		if a.Normalized {
			normToks = append(normToks, a)
			normPats = append(normPats, normContent)
		} else {
			rawToks = append(rawToks, a)
			rawPats = append(rawPats, a.Content)
		}
	}
	t.rawAdded = newAddedMatcher(rawToks, rawPats)
	t.normAdded = newAddedMatcher(normToks, normPats)

	if t.pre, err = parsePreTokenizer(f.PreTokenizer, &budget{part: "pre_tokenizer", growth: &growth}, 0, "pre_tokenizer"); err != nil {
		return nil, err
	}
	if n := len(t.pre); n > 0 {
		if bl, ok := t.pre[n-1].(*byteLevelStep); ok {
			bl.mapLater = true
			t.byteLevelIn = true
		}
	}
	if t.post, err = parsePostProcessor(f.PostProcessor, t, &budget{part: "post_processor"}, 0); err != nil {
		return nil, err
	}
	decGrowth := 1.0
	if t.decoders, err = parseDecoder(f.Decoder, &budget{part: "decoder", growth: &decGrowth}, 0, "decoder"); err != nil {
		return nil, err
	}
	if len(t.decoders) == 1 {
		_, t.byteLevelOnly = t.decoders[0].(byteLevelDecoder)
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

// Encode encodes text without adding the post-processor's special tokens.
// Added tokens written in the text (e.g. "<|im_start|>") are matched whole.
// It returns nil when a component fails, which only a Split or Replace
// regex without a hand-written scanner can do, by exceeding its match
// timeout (a hostile tokenizer.json); EncodeChecked reports why.
func (t *Tokenizer) Encode(text string) []int32 {
	ids, err := t.appendEncode(nil, text)
	if err != nil {
		return nil
	}
	return ids
}

// EncodeChecked is Encode, with the error of a failing component (naming
// it, e.g. `pre_tokenizer Sequence[0] Split: regex "(a+)+b" ...: match
// timeout`).
func (t *Tokenizer) EncodeChecked(text string) ([]int32, error) {
	return t.appendEncode(nil, text)
}

// AppendEncode appends the encoding of text (as Encode) to dst; on a
// failing component it returns dst unchanged.
func (t *Tokenizer) AppendEncode(dst []int32, text string) []int32 {
	ids, err := t.appendEncode(dst, text)
	if err != nil {
		return dst
	}
	return ids
}

func (t *Tokenizer) appendEncode(dst []int32, text string) ([]int32, error) {
	text = sanitizeUTF8(text)
	if text == "" {
		return dst, nil
	}
	n0 := len(dst)
	if dst == nil {
		dst = make([]int32, 0, len(text)/3+8)
	}
	e := encoderPool.Get().(*encoder)
	e.t, e.ids, e.err, e.atStart = t, dst, nil, true
	t.rawAdded.split(text, e.rawPiece)
	ids, err := e.ids, e.err
	// Keep the scratch buffers (unless huge) for the next call.
	e.t, e.ids, e.err = nil, nil, nil
	if cap(e.pieces) > 1<<16 || cap(e.scratch) > 1<<16 {
		e.pieces, e.next, e.scratch = nil, nil, nil
	}
	clear(e.pieces[:cap(e.pieces)])
	clear(e.next[:cap(e.next)])
	encoderPool.Put(e)
	if err != nil {
		return ids[:n0], fmt.Errorf("encode: %w", err)
	}
	return ids, nil
}

// encoderPool recycles encoders' scratch buffers between calls.
var encoderPool = sync.Pool{New: func() any { return new(encoder) }}

// encoder holds one Encode call's output and scratch buffers.
type encoder struct {
	t       *Tokenizer
	ids     []int32
	err     error // the first failure; the rest of the text is skipped
	atStart bool  // the next piece begins the text (original offset 0)
	pieces  []string
	next    []string
	scratch [][2]int
}

func (e *encoder) rawPiece(s string, id int32) {
	atStart := e.atStart
	e.atStart = false
	if e.err != nil {
		return
	}
	if id >= 0 {
		e.ids = append(e.ids, id)
		return
	}
	if e.t.normalize != nil {
		if s, e.err = e.t.normalize(s); e.err != nil {
			return
		}
	}
	if e.t.normAdded.empty() {
		e.normPiece(s, -1, atStart)
		return
	}
	first := true
	e.t.normAdded.split(s, func(p string, id int32) {
		e.normPiece(p, id, atStart && first)
		first = false
	})
}

func (e *encoder) normPiece(s string, id int32, atStart bool) {
	if e.err != nil {
		return
	}
	if id >= 0 {
		e.ids = append(e.ids, id)
		return
	}
	if s == "" {
		return
	}
	if e.preTokenize(s, atStart) != nil {
		return
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

// preTokenize runs the pre-tokenizers on s, leaving the pieces in e.pieces.
func (e *encoder) preTokenize(s string, atStart bool) error {
	e.pieces = append(e.pieces[:0], s)
	for _, st := range e.t.pre {
		e.next = e.next[:0]
		firstAtStart := atStart
		for i, p := range e.pieces {
			n := len(e.next)
			var keeps bool
			e.next, keeps, e.err = st.apply(p, atStart && i == 0, e.next, &e.scratch)
			if e.err != nil {
				return e.err
			}
			if i == 0 {
				// Later pieces never begin the text; the first output
				// piece does when it came from the first input piece's start.
				firstAtStart = atStart && keeps && len(e.next) > n
			}
		}
		atStart = firstAtStart
		e.pieces, e.next = e.next, e.pieces
	}
	return nil
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
