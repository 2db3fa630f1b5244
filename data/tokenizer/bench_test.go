package tokenizer

import (
	"compress/gzip"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mixedText is about n bytes of the golden strings, shuffled, one per line.
func mixedText(b *testing.B, n int) string {
	g := loadGolden(b)
	r := rand.New(rand.NewPCG(3, 4))
	var sb strings.Builder
	for sb.Len() < n {
		sb.WriteString(g.Encodings[r.IntN(len(g.Encodings))].Text)
		sb.WriteByte('\n')
	}
	return sb.String()
}

// variedText is about n bytes of random fragments, so that most words miss
// the BPE cache.
func variedText(n int) string {
	r := rand.New(rand.NewPCG(5, 6))
	var sb strings.Builder
	for sb.Len() < n {
		sb.WriteString(randomText(r))
		sb.WriteByte(' ')
	}
	return sb.String()
}

func benchEncode(b *testing.B, text string) {
	tok := qwen3(b)
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tok.Encode(text)
	}
}

// BenchmarkEncodeMixed encodes 1 MB of the golden strings on one goroutine
// (what Hugging Face did at 0.94 MB/s on one thread).
func BenchmarkEncodeMixed(b *testing.B) { benchEncode(b, mixedText(b, 1<<20)) }

// BenchmarkEncodeVaried encodes 1 MB of random fragments (low cache reuse).
func BenchmarkEncodeVaried(b *testing.B) { benchEncode(b, variedText(1<<20)) }

// BenchmarkEncodeBatch encodes 1 MB of mixed text as 1024 documents with
// EncodeBatch on all cores.
func BenchmarkEncodeBatch(b *testing.B) {
	tok := qwen3(b)
	text := mixedText(b, 1<<20)
	docs := make([]string, 0, 1024)
	step := len(text) / 1024
	for i := 0; i+step <= len(text); i += step {
		docs = append(docs, text[i:i+step])
	}
	b.SetBytes(int64(step * len(docs)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tok.EncodeBatch(docs)
	}
}

// BenchmarkPretokenize compares the Qwen2 scanner with regexp2 on 1 MB.
func BenchmarkPretokenize(b *testing.B) {
	text := variedText(1 << 20)
	ref, err := newRegexp2Finder(qwen2Pattern)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		f    finder
	}{{"scanner", llamaScanner{maxDigits: 1}}, {"regexp2", ref}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			var dst [][2]int
			for i := 0; i < b.N; i++ {
				dst, _ = c.f.findAll(text, dst[:0])
			}
		})
	}
}

// BenchmarkLoad measures loading the 11 MB Qwen3 tokenizer.json.
func BenchmarkLoad(b *testing.B) {
	dir := fixturesDir(b) + "/qwen3-tokenizer"
	qwen3(b)
	for i := 0; i < b.N; i++ {
		if _, err := LoadDir(dir); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamDecodeSentencePiece streams 2000 ids through the Llama 2
// decoder chain (Replace, ByteFallback, Fuse, Strip), which the
// StreamDecoder decodes again in full at every id (the chain's first-token
// and byte-run rules depend on what came before): the cost per id grows
// with the stream.
func BenchmarkStreamDecodeSentencePiece(b *testing.B) {
	f, err := os.Open(filepath.Join("testdata", "sp_reference.json.gz"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	var ref spReference
	if err := json.NewDecoder(zr).Decode(&ref); err != nil {
		b.Fatal(err)
	}
	tok, err := Parse(ref.Tokenizers["llama2"])
	if err != nil {
		b.Fatal(err)
	}
	var ids []int32
	for i := 0; len(ids) < 2000; i++ {
		ids = append(ids, tok.Encode(ref.Corpus[i%len(ref.Corpus)])...)
	}
	ids = ids[:2000]
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := tok.NewStreamDecoder()
		for _, id := range ids {
			d.Next(id)
		}
		d.Flush()
	}
}
