// Writes oniguruma_sets.json.gz: for each pattern below, the code points
// that Hugging Face tokenizers' regex engine (Oniguruma) matches, as
// [first, last] ranges, probed over every code point (about a minute).
// TestOnigurumaSets checks the scanners' tables and the regexp2 rewriting
// against it.
//   npm install tokenizers@0.23.2
//   NODE_PATH=<dir>/node_modules node testdata/oniguruma_sets.js testdata/oniguruma_sets.json.gz
const {Tokenizer} = require('tokenizers');
const pats = ['\\w', '\\W', '\\d', '\\D', '\\s', '\\p{L}', '\\P{L}', '\\p{N}', '\\p{P}', '\\p{S}', '\\p{M}', '\\p{Z}',
  '\\p{Lu}', '\\p{Ll}', '\\p{Lt}', '\\p{Lm}', '\\p{Lo}', '\\p{Mn}', '\\p{Mc}', '\\p{Me}', '\\p{Nd}', '\\p{Nl}', '\\p{No}',
  '\\p{Pc}', '\\p{Pd}', '\\p{Ps}', '\\p{Pe}', '\\p{Pi}', '\\p{Pf}', '\\p{Po}', '\\p{Sm}', '\\p{Sc}', '\\p{Sk}', '\\p{So}',
  '\\p{Zs}', '\\p{Zl}', '\\p{Zp}', '\\p{Cf}', '\\p{Co}', '\\p{Cn}', '\\p{^Nd}', '[^\\s\\p{L}\\p{N}]', '[\\w\\p{P}]', '[^\\W\\d]'];
const out = {};
for (const p of pats) {
  const j = {version:'1.0',truncation:null,padding:null,added_tokens:[],normalizer:null,
    pre_tokenizer:{type:'Split',pattern:{Regex:p},behavior:'Removed',invert:false},post_processor:null,decoder:null,
    model:{type:'BPE',dropout:null,unk_token:null,continuing_subword_prefix:null,end_of_word_suffix:null,fuse_unk:false,byte_fallback:false,ignore_merges:false,vocab:{a:0},merges:[]}};
  let pt;
  try { pt = Tokenizer.fromString(JSON.stringify(j)).getPreTokenizer(); } catch (e) { out[p] = 'error: ' + e.message; continue; }
  const ranges = [];
  let start = -1, prev = -2;
  for (let base = 0; base <= 0x10FFFF; base += 4096) {
    const cps = [];
    for (let cp = base; cp < Math.min(base + 4096, 0x110000); cp++) if (!(cp >= 0xD800 && cp < 0xE000)) cps.push(cp);
    // Removed drops the matches: the pieces' offsets (in characters) cover
    // exactly the characters the pattern does not match.
    const kept = new Uint8Array(cps.length);
    for (const [, [a, b]] of pt.preTokenizeString(cps.map((c) => String.fromCodePoint(c)).join(''))) kept.fill(1, a, b);
    cps.forEach((cp, i) => {
      if (!kept[i]) { if (cp !== prev + 1) { if (start >= 0) ranges.push([start, prev]); start = cp; } prev = cp; }
    });
  }
  if (start >= 0) ranges.push([start, prev]);
  out[p] = ranges;
  console.error(p, ranges.length);
}
require('fs').writeFileSync(process.argv[2], require('zlib').gzipSync(JSON.stringify({tokenizers_version: require('tokenizers/package.json').version, sets: out}), {level: 9}));
