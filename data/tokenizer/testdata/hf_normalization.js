// Writes hf_normalization.json.gz: the characters that Hugging Face
// tokenizers' Unicode normalization (tables older than Go's: about Unicode
// 12) does not know, where a newer table (node's ICU) gives them a
// decomposition, a canonical combining class or a composition, and the
// NFC/NFD/NFKC/NFKD that Hugging Face gives of a corpus built around them.
// gen16 turns the characters into hfnorm.go; TestHFNormalization checks the
// corpus.
//   npm install tokenizers@0.23.2
//   NODE_PATH=<dir>/node_modules node testdata/hf_normalization.js testdata/hf_normalization.json.gz
const {Tokenizer} = require('tokenizers');
const fs = require('fs');
const forms = ['NFC', 'NFD', 'NFKC', 'NFKD'];
const norms = {};
for (const form of forms) {
  const j = {version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: {type: form}, pre_tokenizer: null,
    post_processor: null, decoder: null, model: {type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null,
      end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab: {a: 0}, merges: []}};
  norms[form] = Tokenizer.fromString(JSON.stringify(j)).getNormalizer();
}
const frozen = new Set();
for (let cp = 0x80; cp <= 0x10FFFF; cp++) {
  if (cp >= 0xD800 && cp < 0xE000) continue;
  const c = String.fromCodePoint(cp);
  for (const form of forms) {
    if (norms[form].normalizeString(c) !== c.normalize(form)) {
      frozen.add(cp);
      // A composite Hugging Face cannot decompose cannot be composed either:
      // freezing its first part (a starter of the same new script, for
      // every such composite) keeps the parts apart.
      if (form === 'NFD') frozen.add([...c.normalize('NFD')][0].codePointAt(0));
    }
  }
  // Combining classes: a mark Hugging Face does not know is not reordered.
  for (const t of ['a' + c + '\u0334', 'a\u0301' + c]) {
    if (norms.NFD.normalizeString(t) !== t.normalize('NFD')) frozen.add(cp);
  }
}
const list = [...frozen].sort((a, b) => a - b);
let seed = 12;
function rnd() { // mulberry32
  seed |= 0; seed = seed + 0x6D2B79F5 | 0;
  let t = Math.imul(seed ^ seed >>> 15, 1 | seed);
  t = t + Math.imul(t ^ t >>> 7, 61 | t) ^ t;
  return ((t ^ t >>> 14) >>> 0) / 4294967296;
}
const pick = (a) => a[Math.floor(rnd() * a.length)];
const others = ['a', 'e', '\u0301', '\u0316', '\u0334', '\u0323', 'A\u030A', '\u212B', 'ﬁ', '①', '\u1100\u1161', '\uAC00\u11A8', ' ', 'x',
  '\u{11935}', '\u{11930}', '\u0898', '\u05B0', 'ς', '\u0344', '\u0F73', '\u0958'];
const corpus = ['\u{11935}\u{11930}', 'a\u0898\u0316', '\u32FF', 'x\uA7F2y', '\u{11938}', 'e\u0301\u{11930}\u0301'];
for (let i = 0; i < 600; i++) {
  let s = '';
  const n = 1 + Math.floor(rnd() * 8);
  for (let k = 0; k < n; k++) s += rnd() < 0.5 ? String.fromCodePoint(pick(list)) : pick(others);
  corpus.push(s);
}
const results = {};
for (const form of forms) results[form] = corpus.map((s) => norms[form].normalizeString(s));
fs.writeFileSync(process.argv[2], require('zlib').gzipSync(JSON.stringify({
  tokenizers_version: require('tokenizers/package.json').version, frozen: list, corpus, results}), {level: 9}));
console.error(list.length, 'characters');
