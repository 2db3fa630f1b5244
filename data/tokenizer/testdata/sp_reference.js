// Writes sp_reference.json.gz: SentencePiece-style tokenizers (the layouts
// of Llama 2, Mistral and Gemma tokenizer.json files: Metaspace, Prepend and
// Replace normalizers, byte-fallback BPE, ByteFallback/Fuse/Strip/Replace
// decoders) with a small BPE vocabulary trained here on a fixed text, and
// Hugging Face tokenizers' encodings and decodings of a corpus under each,
// which TestSentencePieceReference compares against. Needs the official Node
// bindings of the same tokenizers version as the fixtures:
//   npm install tokenizers@0.23.2
//   NODE_PATH=<dir>/node_modules node testdata/sp_reference.js testdata/sp_reference.json.gz
const {Tokenizer} = require('tokenizers');
const fs = require('fs');

const trainText = `
The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs away.
Hello world! Hello there, how are you today? I'm fine, thanks. We'll see what they'd say.
Large language models are trained on text. A tokenizer splits the text into tokens,
and the model predicts the next token. Training uses gradients and an optimizer.
def main():
    for i in range(10):
        print(i, i * i)
    return 0
if __name__ == "__main__":
    main()
La vie est belle. Ça va très bien, merci. Où est la gare? Les élèves étudient.
Die Straße ist lang. Grüße aus München. Über alles, schön und gemütlich.
数学很有趣。我们学习语言模型。你好，世界！
The answer is 42. Compute 3 + 4 = 7, then 12 * 12 = 144. In 2024 there were 366 days.
Question: what is the capital of France? Answer: Paris. Question: what is 2 + 2? Answer: 4.
`;

// A small BPE trained SentencePiece-style: words are "▁" + word, pairs are
// merged by frequency (ties by the pair's text), for a fixed number of merges.
function train(text, nMerges) {
  const norm = text.replace(/ /g, '\u2581').split('\n').filter((l) => l.length > 0).map((l) => '\u2581' + l);
  const words = new Map();
  for (const line of norm) {
    for (const w of line.split(/(?=\u2581)/)) words.set(w, (words.get(w) || 0) + 1);
  }
  const charCount = new Map();
  for (const [w, c] of words) for (const ch of w) charCount.set(ch, (charCount.get(ch) || 0) + c);
  // Characters seen once stay out of the vocabulary: they take byte fallback.
  const chars = [...charCount].filter(([, c]) => c >= 2).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([ch]) => ch);
  const vocab = {'<unk>': 0, '<s>': 1, '</s>': 2};
  for (let b = 0; b < 256; b++) vocab['<0x' + b.toString(16).toUpperCase().padStart(2, '0') + '>'] = 3 + b;
  for (const ch of chars) if (!(ch in vocab)) vocab[ch] = Object.keys(vocab).length;
  let segs = [...words].map(([w, c]) => [[...w].filter((ch) => ch in vocab), c]);
  const merges = [];
  for (let m = 0; m < nMerges; m++) {
    const pairs = new Map();
    for (const [s, c] of segs) for (let i = 0; i + 1 < s.length; i++) {
      const k = s[i] + '\u0000' + s[i + 1];
      pairs.set(k, (pairs.get(k) || 0) + c);
    }
    let best = null, bestC = 1;
    for (const [k, c] of pairs) if (c > bestC || (c === bestC && best !== null && k < best)) { best = k; bestC = c; }
    if (best === null) break;
    const [a, b] = best.split('\u0000');
    merges.push([a, b]);
    if (!((a + b) in vocab)) vocab[a + b] = Object.keys(vocab).length;
    segs = segs.map(([s, c]) => {
      const out = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) { out.push(a + b); i++; } else out.push(s[i]);
      }
      return [out, c];
    });
  }
  return {vocab, merges};
}

const {vocab, merges} = train(trainText, 400);
const V = Object.keys(vocab).length;
const added = (id, content, special, o = {}) => ({id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special, ...o});
const specials = [added(0, '<unk>', true), added(1, '<s>', true), added(2, '</s>', true)];
const bpe = (o = {}) => ({type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null,
  fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges, ...o});
const bosTemplate = {
  type: 'TemplateProcessing',
  single: [{SpecialToken: {id: '<s>', type_id: 0}}, {Sequence: {id: 'A', type_id: 0}}],
  pair: [{SpecialToken: {id: '<s>', type_id: 0}}, {Sequence: {id: 'A', type_id: 0}}, {SpecialToken: {id: '<s>', type_id: 1}}, {Sequence: {id: 'B', type_id: 1}}],
  special_tokens: {'<s>': {id: '<s>', ids: [1], tokens: ['<s>']}},
};
const replaceSpace = {type: 'Replace', pattern: {String: ' '}, content: '\u2581'};
const llamaDecoder = {type: 'Sequence', decoders: [
  {type: 'Replace', pattern: {String: '\u2581'}, content: ' '}, {type: 'ByteFallback'}, {type: 'Fuse'}, {type: 'Strip', content: ' ', start: 1, stop: 0}]};
const metaspace = (scheme, split) => ({type: 'Metaspace', replacement: '\u2581', prepend_scheme: scheme, split});
const extraAdded = [
  added(V, '<start_of_turn>', true), added(V + 1, '<end_of_turn>', true),
  added(V + 2, '[INST]', true, {lstrip: true, rstrip: true}),
  added(V + 3, 'lazy', false, {normalized: true}),
];
const file = (o) => ({version: '1.0', truncation: null, padding: null, added_tokens: specials, normalizer: null, pre_tokenizer: null,
  post_processor: null, decoder: null, model: bpe(), ...o});

const tokenizers = {
  // Llama 2 / Mistral 7B v0.1 (legacy converter): normalizers do the work.
  llama2: file({normalizer: {type: 'Sequence', normalizers: [{type: 'Prepend', prepend: '\u2581'}, replaceSpace]},
    post_processor: bosTemplate, decoder: llamaDecoder, added_tokens: [...specials, ...extraAdded]}),
  // Mistral v0.3 / Llama converted with legacy=false: Metaspace first, no split.
  mistral: file({pre_tokenizer: metaspace('first', false), post_processor: bosTemplate,
    decoder: {type: 'Sequence', decoders: [metaspace('first', false), {type: 'ByteFallback'}, {type: 'Fuse'}]},
    added_tokens: [...specials, ...extraAdded]}),
  // Older Metaspace files: add_prefix_space (no prepend_scheme), split.
  metaspace_legacy: file({pre_tokenizer: {type: 'Metaspace', replacement: '\u2581', add_prefix_space: true},
    decoder: {type: 'Metaspace', replacement: '\u2581', add_prefix_space: true}, model: bpe({fuse_unk: false})}),
  metaspace_always_split: file({pre_tokenizer: metaspace('always', true), decoder: metaspace('always', true),
    added_tokens: [...specials, ...extraAdded]}),
  metaspace_never: file({pre_tokenizer: metaspace('never', true),
    decoder: {type: 'Sequence', decoders: [metaspace('never', true), {type: 'ByteFallback'}, {type: 'Fuse'}, {type: 'Strip', content: ' ', start: 2, stop: 0}]},
    model: bpe({ignore_merges: true})}),
  // Gemma: spaces replaced, nothing prepended.
  gemma: file({normalizer: replaceSpace, post_processor: bosTemplate,
    decoder: {type: 'Sequence', decoders: [{type: 'Replace', pattern: {String: '\u2581'}, content: ' '}, {type: 'ByteFallback'}, {type: 'Fuse'}]},
    added_tokens: [...specials, ...extraAdded]}),
  // Regex Replace normalizer and decoder, Prepend inside a nested Sequence, no byte fallback.
  replace_regex: file({normalizer: {type: 'Sequence', normalizers: [{type: 'Replace', pattern: {Regex: '\\s+'}, content: ' '},
    {type: 'Sequence', normalizers: [{type: 'Prepend', prepend: '\u2581'}, replaceSpace]}]},
    decoder: {type: 'Sequence', decoders: [{type: 'Replace', pattern: {Regex: '\u2581+'}, content: ' '}, {type: 'Fuse'}, {type: 'Strip', content: ' ', start: 1, stop: 0}]},
    model: bpe({byte_fallback: false})}),
};

const corpus = [
  '', ' ', '  ', '   ', 'Hello', 'Hello world', ' Hello world', '  Hello  world  ', 'Hello\nworld', '\nHello', 'Hello\n',
  '\n\n\n', ' \n ', 'a\tb', 'tab\there', 'The quick brown fox jumps over the lazy dog.', 'the lazy dog is lazy',
  "I'm fine, thanks. We'll see what they'd say.", 'def main():\n    return 0\n', '    print(i)', 'x = 12 * 12 = 144',
  'La vie est très belle, Ça va?', 'Grüße aus München', '数学很有趣。你好，世界！', '日本語のテキスト', 'Привет мир',
  '🙂', 'ok 👍🏽 done', '👨\u200d👩\u200d👧', '🇫🇷 France', '\u0000', 'zero\u0000byte', '\u007f\u0001', '\ufffd', 'é vs e\u0301',
  '\u00a0nbsp\u00a0', 'x\u3000y', 'ſ ß ẞ', '▁', '▁▁x', 'a▁b', '▁ ▁', ' ▁', 'Ω≈ç√∫', '𝟙𝟚𝟛', '𐍈', 'مرحبا', 'नमस्ते',
  '<s>', '</s>', '<unk>', '<s>Hello', 'Hello</s>', '<s> Hello</s>', 'x<s>y', '<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n',
  '  [INST]  What?  [/INST]', '[INST]x', 'a [INST] b', 'lazy', ' lazy', 'the lazy', 'lazylazy', 'Lazy LAZY lazy.',
  'Question: what is 2 + 2? Answer: 4.', 'A'.repeat(40), ' '.repeat(20) + 'x', 'ab'.repeat(150), 'Hello '.repeat(60),
];
let seed = 7;
function rnd() { // mulberry32
  seed |= 0; seed = seed + 0x6D2B79F5 | 0;
  let t = Math.imul(seed ^ seed >>> 15, 1 | seed);
  t = t + Math.imul(t ^ t >>> 7, 61 | t) ^ t;
  return ((t ^ t >>> 14) >>> 0) / 4294967296;
}
const fragments = ['Hello', 'world', ' ', '  ', '\n', '\t', 'the', 'lazy', 'dog', '.', ',', '!', '?', 'é', 'ß', '你好', '🙂', '👍🏽',
  '\u2581', '<s>', '</s>', '<start_of_turn>', '[INST]', '42', '3.14', 'x', 'Q', '\u0000', '\ufffd', 'ǅ', '∑', 'ü', '\u00a0', '€'];
for (let i = 0; i < 300; i++) {
  let s = '';
  const n = Math.floor(rnd() * 16);
  for (let k = 0; k < n; k++) s += fragments[Math.floor(rnd() * fragments.length)];
  corpus.push(s);
}
// Random code points, for byte fallback of characters outside the vocabulary.
for (let i = 0; i < 60; i++) {
  let s = '';
  const n = 1 + Math.floor(rnd() * 6);
  for (let k = 0; k < n; k++) {
    let cp = Math.floor(rnd() * 0x2FFFF);
    if (cp >= 0xD800 && cp < 0xE000) cp = 0x41;
    s += String.fromCodePoint(cp) + (rnd() < 0.3 ? ' ' : '');
  }
  corpus.push(s);
}

const b = (x) => 3 + x; // the id of byte token <0xNN>
const id = (t) => vocab[t];
const decodeCases = [
  [b(0x41)], [b(0xE2), b(0x82), b(0xAC)], [b(0xE2), b(0x82)], [b(0xFF)], [b(0x80), b(0x41)], [b(0x41), b(0xE2)],
  [b(0xF0), b(0x9F), b(0x99), b(0x82)], [b(0xF0), b(0x9F), b(0x99)], [b(0xC3), b(0xA9), b(0xC3)], [b(0xED), b(0xA0), b(0x80)],
  [b(0xC0), b(0x80)], [id('\u2581'), b(0xE2), b(0x82), b(0xAC), id('\u2581')], [id('\u2581the'), b(0xFF), id('\u2581lazy')],
  [1, id('\u2581the'), 2], [0, 0, id('\u2581the')], [id('\u2581'), id('\u2581')], [id('\u2581')], [], [1],
  [id('\u2581the'), id('\u2581'), id('\u2581'), id('\u2581dog')], [V, id('\u2581the'), V + 1, V + 2, b(0x0A)],
  [b(0x20), id('\u2581the'), b(0x20)], [999999, id('\u2581the')],
].map((ids) => ids.filter((x) => x !== undefined));

(async () => {
  const out = {tokenizers_version: require('tokenizers/package.json').version, corpus, decode_cases: decodeCases, tokenizers: {}, results: {}};
  for (const [name, j] of Object.entries(tokenizers)) {
    const tok = Tokenizer.fromString(JSON.stringify(j));
    const res = {ids: [], special_ids: [], decoded: [], decode_cases: [], decode_cases_skip: []};
    for (const s of corpus) {
      const ids = Array.from((await tok.encode(s, null, {addSpecialTokens: false})).getIds());
      const sids = Array.from((await tok.encode(s, null, {addSpecialTokens: true})).getIds());
      res.ids.push(ids.join(' '));
      res.special_ids.push(sids.join(' '));
      res.decoded.push(await tok.decode(ids, false));
    }
    for (const ids of decodeCases) {
      res.decode_cases.push(await tok.decode(ids, false));
      res.decode_cases_skip.push(await tok.decode(ids, true));
    }
    out.tokenizers[name] = j;
    out.results[name] = res;
    console.error(name, 'done');
  }
  fs.writeFileSync(process.argv[2], require('zlib').gzipSync(JSON.stringify(out), {level: 9}));
})();
