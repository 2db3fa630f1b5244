// Encodes and decodes with Hugging Face tokenizers for TestLiveRealFiles:
//   node testdata/hf_encode.js <tokenizer.json> <in.json> <out.json>
// in.json: {"texts": [...], "decode": [[ids], ...]}; out.json: the ids of
// each text without and with special tokens, their decoding, and the
// decodings (plain and skipping special tokens) of the given id lists.
const {Tokenizer} = require('tokenizers');
const fs = require('fs');
(async () => {
  const tok = Tokenizer.fromFile(process.argv[2]);
  const input = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
  const out = {tokenizers_version: require('tokenizers/package.json').version, ids: [], special_ids: [], decoded: [], decode: [], decode_skip: []};
  for (const s of input.texts) {
    const ids = Array.from((await tok.encode(s, null, {addSpecialTokens: false})).getIds());
    out.ids.push(ids);
    out.special_ids.push(Array.from((await tok.encode(s, null, {addSpecialTokens: true})).getIds()));
    out.decoded.push(await tok.decode(ids, false));
  }
  for (const ids of input.decode) {
    out.decode.push(await tok.decode(ids, false));
    out.decode_skip.push(await tok.decode(ids, true));
  }
  fs.writeFileSync(process.argv[4], JSON.stringify(out));
})();
