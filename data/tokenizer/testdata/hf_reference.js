// Writes hf_reference.json.gz: Hugging Face tokenizers' encodings of a
// deterministic corpus under the Qwen3 tokenizer and variants of it (other
// normalizers, pre-tokenizers, added tokens, post-processors), which
// TestHFReference compares against. Needs the official Node bindings of the
// same tokenizers version as the fixtures:
//   npm install tokenizers@0.23.2
//   NODE_PATH=<dir>/node_modules node testdata/hf_reference.js <fixtures>/qwen3-tokenizer/tokenizer.json testdata/hf_reference.json.gz
const {Tokenizer} = require('tokenizers');
const fs = require('fs');

let seed = 12345;
function rnd() { // mulberry32
  seed |= 0; seed = seed + 0x6D2B79F5 | 0;
  let t = Math.imul(seed ^ seed >>> 15, 1 | seed);
  t = t + Math.imul(t ^ t >>> 7, 61 | t) ^ t;
  return ((t ^ t >>> 14) >>> 0) / 4294967296;
}
const pick = (a) => a[Math.floor(rnd() * a.length)];

const fragments = [
  'a', 'Z', 'x', 'hello', 'World', 's', 't', 're', 'RE', 'll', 'LL', 've', 'm', 'M', 'd', 'D',
  "'", "'s", "'S", "'t", "'T", "'re", "'Re", "'rE", "'ve", "'VE", "'m", "'ll", "'lL", "'d", "'x", "''", "'1", "'ſ", "'K",
  '0', '7', '42', '12345', '3.14', '٣', '²', '½', 'Ⅻ', '𝟙', '1️⃣',
  ' ', '  ', '   ', '\t', '\n', '\r', '\r\n', '\n\n', ' \n', '\n ', '\t\n\t', '\v', '\f', '\x00', '\x1c',
  '\u00a0', '\u2003', '\u3000', '\u2028', '\u2029', '\u0085', '\u1680', '\u200b', '\ufeff',
  '.', ',', '!', '?', '-', '+', '=', '(', ')', '{', '}', '$', '\\', '^', '_', '"', '`', '@', '#', '*', '/', '...', '—', '«', '»', '“', '”',
  'é', 'ß', 'Ω', 'Привет', '你好', '世界', '。', '，', '：', '日本語', 'カタカナ', '한국어', 'ı', 'İ', 'K', 'ſ', 'ﬁ', 'Å', 'Å',
  'e\u0301', '\u0301', '\u200d', '\ufe0f', '🙂', '👍🏽', '👨\u200d👩\u200d👧', '🇫🇷', '\ufffd', '\x01', '\x7f',
  'नमस्ते', 'ภาษาไทย', 'مرحبا', 'שלום', 'Ελληνικά', 'ǅ', 'ǈ', 'ﬀ', '①', '™', '°C',
  '<|im_start|>', '<|im_end|>', '<think>', '</think>', '<|endoftext|>', '<tool_call>', '<|im_start', '\\boxed{', 'x_{i}^{2}',
  '[L]', '[R]', 'ony', 'Anthony', 'ﬁx', 'fix',
];

function randomText() {
  const n = Math.floor(rnd() * 24);
  let s = '';
  for (let i = 0; i < n; i++) s += pick(fragments);
  return s;
}

// Random code points from assorted blocks (no surrogates, no unassigned
// ranges that differ between Unicode versions).
const ranges = [[0x20, 0x7e], [0x09, 0x0d], [0xa0, 0x24f], [0x300, 0x36f], [0x370, 0x3ff], [0x400, 0x4ff],
  [0x590, 0x5ff], [0x600, 0x6ff], [0x900, 0x97f], [0xe00, 0xe5b], [0x1100, 0x11ff], [0x2000, 0x206f],
  [0x2070, 0x209c], [0x20a0, 0x20c0], [0x2100, 0x214f], [0x2150, 0x218b], [0x2190, 0x23ff], [0x2460, 0x24ff],
  [0x3000, 0x303f], [0x3040, 0x30ff], [0x4e00, 0x9fff], [0xac00, 0xd7a3], [0xff00, 0xffef],
  [0x1f300, 0x1f64f], [0x1f680, 0x1f6ff], [0x1d400, 0x1d7ff]];
function randomCodePoints() {
  const n = Math.floor(rnd() * 16);
  let s = '';
  for (let i = 0; i < n; i++) {
    const [lo, hi] = pick(ranges);
    s += String.fromCodePoint(lo + Math.floor(rnd() * (hi - lo + 1)));
  }
  return s;
}

const handmade = [
  '', ' ', '  ', '\n', '\r\n', ' \r\n ', 'a  b', 'a \n b', '  \n\n  x', '\t\tx', 'x\t\t', 'x   ', '   ',
  ' \t \n \t ', '\n\n\n', 'a\r\r\nb', 'a\u00a0b', "'s's's", "'S'T'RE'VE'M'LL'D", "don't I'm we'll they'd've",
  "DON'T I'M WE'LL", "x'ſ", "x'ſt", "'K", 'ſs', '123456789', '1 2  3', ' 1', 'a1b2', '..\r\n', '?\n', '?\n\nx', ' ?\n x',
  '🙂🙂 🙂', '$x_{i}$', 'e\u0301\u0301', 'Ünïcödé NFC: é vs é', ' '.repeat(100), '1'.repeat(50), 'a'.repeat(300),
  'x'.repeat(257), 'ab'.repeat(200), '\n'.repeat(40), '<|im_start|><|im_end|>', '<|im_start|>user<|im_end|>\n',
  'x<think>y<|im_end', '<<|im_start|>>', '<|im_start|>assistant\n<think>\n\n</think>\n\n',
  'a [L] b', 'a   [L]', '[R]   b', 'x ony y', 'Anthony ony.', 'ony', '_ony_', 'éony', 'ﬁx fix ﬁ x', 'ﬀ ff',
  'the-final--countdown', 'Hello there\nHello there', 'Hello there       dear',
  'def f(a):\n    return a*2\n\nprint(f(21))\n', 'if (x) {\n\treturn y;\r\n}\n\n\n// done  ',
  'The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX!',
  '数学：已知 $f(x)=x^2+1$，求 $f(3)$。答案是 \\boxed{10}。',
  'Привет, мир! Как дела? — Хорошо…', 'नमस्ते दुनिया', 'مرحبا بالعالم ١٢٣', 'こんにちは、世界！カタカナ123',
];

function longDoc() {
  let s = '';
  const n = 50 + Math.floor(rnd() * 100);
  for (let i = 0; i < n; i++) s += (rnd() < 0.5 ? randomText() : handmade[Math.floor(rnd() * handmade.length)]) + pick([' ', '\n', '', '  ', '\n\n']);
  return s;
}

const corpus = [...handmade];
for (let i = 0; i < 500; i++) corpus.push(randomText());
for (let i = 0; i < 150; i++) corpus.push(randomCodePoints());
for (let i = 0; i < 12; i++) corpus.push(longDoc());

const llama3Regex = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const byteLevel = (prefix, regex) => ({type: 'ByteLevel', add_prefix_space: prefix, trim_offsets: false, use_regex: regex});
const seqBL = (...steps) => ({type: 'Sequence', pretokenizers: [...steps, byteLevel(false, false)]});
const split = (pattern, behavior, invert) => ({type: 'Split', pattern, behavior, invert});
const extraAdded = [
  {content: '[L]', single_word: false, lstrip: true, rstrip: false, normalized: false, special: false},
  {content: '[R]', single_word: false, lstrip: false, rstrip: true, normalized: false, special: false},
  {content: 'ony', single_word: true, lstrip: false, rstrip: false, normalized: false, special: false},
  {content: 'ﬁx', single_word: false, lstrip: false, rstrip: false, normalized: true, special: false},
  {content: '<|im_start|>assistant', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true},
];

const variants = {
  qwen3: {},
  gpt2: {normalizer: null, pre_tokenizer: byteLevel(false, true)},
  gpt2_prefix_space: {normalizer: null, pre_tokenizer: byteLevel(true, true)},
  llama3: {
    normalizer: null,
    pre_tokenizer: seqBL(split({Regex: llama3Regex}, 'Isolated', false)),
    model: {ignore_merges: true},
    post_processor: {type: 'Sequence', processors: [byteLevel(true, false), {
      type: 'TemplateProcessing',
      single: [{SpecialToken: {id: '<|endoftext|>', type_id: 0}}, {Sequence: {id: 'A', type_id: 0}}],
      pair: [{SpecialToken: {id: '<|endoftext|>', type_id: 0}}, {Sequence: {id: 'A', type_id: 0}}, {SpecialToken: {id: '<|endoftext|>', type_id: 1}}, {Sequence: {id: 'B', type_id: 1}}],
      special_tokens: {'<|endoftext|>': {id: '<|endoftext|>', ids: [151643], tokens: ['<|endoftext|>']}},
    }]},
  },
  splits_merged: {pre_tokenizer: seqBL(
    {type: 'Digits', individual_digits: false},
    split({String: ' '}, 'MergedWithNext', false),
    split({Regex: '[aeiou]'}, 'MergedWithPrevious', false))},
  splits_invert: {pre_tokenizer: seqBL(
    split({Regex: '\\p{L}+'}, 'Contiguous', true),
    split({Regex: '\\s+'}, 'Removed', false),
    {type: 'Digits', individual_digits: true})},
  added_nfkc: {normalizer: {type: 'Sequence', normalizers: [{type: 'NFKC'}]}, added_extra: extraAdded},
  nfd: {normalizer: {type: 'NFD'}},
};

const base = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
(async () => {
  const out = {tokenizers_version: require('tokenizers/package.json').version, corpus, variants: {}};
  for (const [name, v] of Object.entries(variants)) {
    const j = JSON.parse(JSON.stringify(base));
    for (const [k, val] of Object.entries(v)) {
      if (k === 'model') Object.assign(j.model, val);
      else if (k === 'added_extra') {
        // The ids Hugging Face assigns on load ("ony" is in the vocabulary).
        const ids = [151669, 151670, 3549, 151671, 151672];
        val.forEach((a, i) => j.added_tokens.push({id: ids[i], ...a}));
      } else j[k] = val;
    }
    const tok = Tokenizer.fromString(JSON.stringify(j));
    const res = {overrides: v, ids: [], special_ids: [], decoded: []};
    for (const s of corpus) {
      const e = await tok.encode(s, null, {addSpecialTokens: false});
      const ids = Array.from(e.getIds());
      const es = await tok.encode(s, null, {addSpecialTokens: true});
      const sids = Array.from(es.getIds());
      res.ids.push(ids.join(' '));
      res.special_ids.push(JSON.stringify(sids) === JSON.stringify(ids) ? null : sids.join(' '));
      const dec = await tok.decode(ids, false);
      res.decoded.push(dec === s ? null : dec);
    }
    out.variants[name] = res;
    console.error(name, 'done');
  }
  fs.writeFileSync(process.argv[3], require('zlib').gzipSync(JSON.stringify(out), {level: 9}));
})();
