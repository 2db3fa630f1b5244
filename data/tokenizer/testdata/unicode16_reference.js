// Writes unicode16_reference.json.gz: how Hugging Face tokenizers splits text
// with characters assigned in Unicode 15.1 and 16.0 (Go's unicode package
// is 15.0): the pieces of the GPT-2, Llama 3 and Qwen2 regexes and Digits,
// the ids of a single_word added token beside such letters, and, given the
// Qwen3 fixture, the Qwen3 ids. TestUnicode16Reference compares against it.
//   npm install tokenizers@0.23.2
//   NODE_PATH=<dir>/node_modules node testdata/unicode16_reference.js testdata/unicode16_reference.json.gz [<fixtures>/qwen3-tokenizer/tokenizer.json]
const {Tokenizer} = require('tokenizers');
const fs = require('fs');

// Blocks new in 15.1 and 16.0 (some of their code points are unassigned).
const newRanges = [
  [0x10D40, 0x10D8F], // Garay
  [0x11BC0, 0x11BFF], // Sunuwar
  [0x11380, 0x113FF], // Tulu-Tigalari
  [0x16D40, 0x16D7F], // Kirat Rai
  [0x16100, 0x1613F], // Gurung Khema
  [0x1E5D0, 0x1E5FF], // Ol Onal
  [0x105C0, 0x105FF], // Todhri
  [0x116D0, 0x116FF], // Myanmar Extended-C (digits)
  [0x1CC00, 0x1CEBF], // Symbols for Legacy Computing Supplement
  [0x13460, 0x143FF], // Egyptian Hieroglyphs Extended-A
  [0x2EBF0, 0x2EE5D], // CJK Extension I (15.1)
  [0xA7CB, 0xA7DC], [0x1C89, 0x1C8A], [0x0897, 0x0897], [0x1B4E, 0x1B4F], [0x1DF25, 0x1DF2A], [0x10EC2, 0x10EC4],
];
let seed = 16;
function rnd() { // mulberry32
  seed |= 0; seed = seed + 0x6D2B79F5 | 0;
  let t = Math.imul(seed ^ seed >>> 15, 1 | seed);
  t = t + Math.imul(t ^ t >>> 7, 61 | t) ^ t;
  return ((t ^ t >>> 14) >>> 0) / 4294967296;
}
const pick = (a) => a[Math.floor(rnd() * a.length)];
const newChar = () => { const [lo, hi] = pick(newRanges); return String.fromCodePoint(lo + Math.floor(rnd() * (hi - lo + 1))); };
const others = ['a', 'Z', ' ', '  ', '\n', '1', '23', '.', "'s", "'", '!', '-', 'ony', ' ony', '\t', 'é', '你'];
const corpus = [
  '\u{10D50}\u{10D51}', 'a\u{10D50}\u{10D51}b', '1\u{10D40}\u{10D41}2', 'x \u{11BC0}\u{11BC1}', 'q\u{1CC00}\u{1CC01}',
  'z\u{11380}\u{11381}', 'a\u{A7CB}b', '\u{16D70}\u{16D71}\u{16D72}\u{16D73}', '\u{1CCF0}\u{1CCF1}\u{1CCF2}\u{1CCF3}',
  ' \u{2EBF0}\u{2EBF1}', "\u{10D70}'s \u{10D71}'T", '\u{10D50}ony', 'ony\u{10D50}', ' ony \u{1CC00}', '\u{1CC00}ony',
];
for (let i = 0; i < 400; i++) {
  let s = '';
  const n = 1 + Math.floor(rnd() * 10);
  for (let k = 0; k < n; k++) s += rnd() < 0.6 ? newChar() : pick(others);
  corpus.push(s);
}

const qwen2Regex = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const llama3Regex = qwen2Regex.replace('\\p{N}|', '\\p{N}{1,3}|');
const bl = (prefix, regex) => ({type: 'ByteLevel', add_prefix_space: prefix, trim_offsets: false, use_regex: regex});
const pretokenizers = {
  qwen2: {type: 'Sequence', pretokenizers: [{type: 'Split', pattern: {Regex: qwen2Regex}, behavior: 'Isolated', invert: false}, bl(false, false)]},
  llama3: {type: 'Sequence', pretokenizers: [{type: 'Split', pattern: {Regex: llama3Regex}, behavior: 'Isolated', invert: false}, bl(false, false)]},
  gpt2: bl(false, true),
  digits: {type: 'Sequence', pretokenizers: [{type: 'Digits', individual_digits: false}, bl(false, false)]},
};
// The byte-level alphabet (GPT-2's bytes_to_unicode) as a vocabulary.
const vocab = {};
let n = 0;
for (let b = 0; b < 256; b++) {
  const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  vocab[String.fromCodePoint(printable ? b : 256 + n++)] = b;
}
const tiny = (pre) => ({version: '1.0', truncation: null, padding: null,
  added_tokens: [{id: 256, content: 'ony', single_word: true, lstrip: false, rstrip: false, normalized: false, special: false}],
  normalizer: null, pre_tokenizer: pre, post_processor: null, decoder: bl(false, true),
  model: {type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
    fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: []}});

(async () => {
  const out = {tokenizers_version: require('tokenizers/package.json').version, corpus, pretokenizers: {}, tiny_ids: [], qwen3_ids: null};
  for (const [name, pre] of Object.entries(pretokenizers)) {
    const tok = Tokenizer.fromString(JSON.stringify(tiny(pre)));
    const pt = tok.getPreTokenizer();
    out.pretokenizers[name] = {tokenizer: tiny(pre), pieces: corpus.map((s) => pt.preTokenizeString(s).map((x) => x[0]))};
  }
  const tok = Tokenizer.fromString(JSON.stringify(tiny(pretokenizers.qwen2)));
  for (const s of corpus) out.tiny_ids.push(Array.from((await tok.encode(s, null, {addSpecialTokens: false})).getIds()).join(' '));
  if (process.argv[3]) {
    const q = Tokenizer.fromFile(process.argv[3]);
    out.qwen3_ids = [];
    for (const s of corpus) out.qwen3_ids.push(Array.from((await q.encode(s, null, {addSpecialTokens: false})).getIds()).join(' '));
  }
  fs.writeFileSync(process.argv[2], require('zlib').gzipSync(JSON.stringify(out), {level: 9}));
})();
