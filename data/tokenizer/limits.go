package tokenizer

import (
	"fmt"
	"time"
)

// Bounds on what a tokenizer.json may ask of the pipeline. A hostile file
// otherwise exhausts memory (30 chained ByteLevel pre-tokenizers double the
// text 30 times) or time (a Split regex with catastrophic backtracking).
// Real tokenizers are far inside them: Qwen3 grows text at most 6x (NFC 3x,
// then the byte-level mapping 2x), Llama 2 12x, nesting is at most 2 deep.
const (
	// maxNesting is the deepest Sequence nesting of normalizers,
	// pre-tokenizers, decoders and post-processors.
	maxNesting = 8
	// maxComponents is the most components in each of those four parts.
	maxComponents = 64
	// maxGrowth bounds how many bytes the normalizers and pre-tokenizers
	// together may make of one input byte, worst case, and the decoders of
	// one byte of token text.
	maxGrowth = 256
	// regexTimeout bounds one regexp2 match (Split and Replace patterns
	// without a hand-written scanner).
	regexTimeout = time.Second
)

// budget tracks one part of the pipeline (normalizer, pre-tokenizer,
// decoder or post-processor) while it is parsed: the nesting depth, the
// number of components and, for the parts that rewrite the input text, how
// much a byte can grow.
type budget struct {
	part       string // "normalizer", "pre_tokenizer", ...
	components int
	// growth is shared by the normalizer and the pre-tokenizer budgets:
	// both rewrite the text before the model sees it. The decoder has its
	// own; the post-processor none (it only adds ids).
	growth *float64
}

// enter checks that a component at the given depth may be added, where
// names it for the error.
func (b *budget) enter(depth int, where string) error {
	if depth > maxNesting {
		return fmt.Errorf("%s: Sequences nested %d deep (limit %d)", where, depth, maxNesting)
	}
	b.components++
	if b.components > maxComponents {
		return fmt.Errorf("%s: more than %d components in the %s", where, maxComponents, b.part)
	}
	return nil
}

// grow records that the component where can make factor bytes of each
// byte it is given, and refuses when the pipeline as a whole would exceed
// maxGrowth.
func (b *budget) grow(where string, factor float64) error {
	if b.growth == nil {
		return nil
	}
	g := *b.growth * factor
	if g > maxGrowth {
		return fmt.Errorf("%s: the %s up to here can make %.0f bytes of one byte (this component %.0fx; limit %dx)",
			where, b.growthOf(), g, factor, maxGrowth)
	}
	*b.growth = g
	return nil
}

func (b *budget) growthOf() string {
	if b.part == "decoder" {
		return "decoders"
	}
	return "normalizers and pre-tokenizers"
}
