package tokenizer

import (
	"encoding/json"
	"fmt"
)

// postStep adds special tokens around a single sequence's ids.
type postStep func(ids []int32) []int32

// parsePostProcessor builds the single-sequence part of tokenizer.json's
// "post_processor" (used by EncodeSpecial).
func parsePostProcessor(raw json.RawMessage, t *Tokenizer, b *budget, depth int) ([]postStep, error) {
	if isNull(raw) {
		return nil, nil
	}
	var h struct {
		Type       string            `json:"type"`
		Processors []json.RawMessage `json:"processors"`
		Single     []json.RawMessage `json:"single"`
		Special    map[string]struct {
			IDs []int32 `json:"ids"`
		} `json:"special_tokens"`
		Cls []json.RawMessage `json:"cls"`
		Sep []json.RawMessage `json:"sep"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("post_processor: %w", err)
	}
	if err := b.enter(depth, "post_processor "+h.Type); err != nil {
		return nil, err
	}
	switch h.Type {
	case "ByteLevel":
		// Only adjusts offsets: ids are unchanged.
		return nil, nil
	case "Sequence":
		var steps []postStep
		for i, p := range h.Processors {
			s, err := parsePostProcessor(p, t, b, depth+1)
			if err != nil {
				return nil, fmt.Errorf("post_processor Sequence[%d]: %w", i, err)
			}
			steps = append(steps, s...)
		}
		return steps, nil
	case "TemplateProcessing":
		var before, after []int32
		seen := false
		for i, piece := range h.Single {
			var p struct {
				SpecialToken *struct {
					ID string `json:"id"`
				} `json:"SpecialToken"`
				Sequence *struct {
					ID string `json:"id"`
				} `json:"Sequence"`
			}
			if err := json.Unmarshal(piece, &p); err != nil {
				return nil, fmt.Errorf("post_processor TemplateProcessing single[%d]: %w", i, err)
			}
			switch {
			case p.Sequence != nil:
				if seen {
					return nil, fmt.Errorf("post_processor TemplateProcessing single: sequence appears twice")
				}
				seen = true
			case p.SpecialToken != nil:
				sp, ok := h.Special[p.SpecialToken.ID]
				if !ok {
					return nil, fmt.Errorf("post_processor TemplateProcessing: special token %q missing from special_tokens", p.SpecialToken.ID)
				}
				if seen {
					after = append(after, sp.IDs...)
				} else {
					before = append(before, sp.IDs...)
				}
			default:
				return nil, fmt.Errorf("post_processor TemplateProcessing single[%d]: unknown piece %s", i, piece)
			}
		}
		if !seen {
			return nil, fmt.Errorf("post_processor TemplateProcessing single has no $A sequence")
		}
		return []postStep{wrapStep(before, after)}, nil
	case "RobertaProcessing", "BertProcessing":
		cls, err := postTok(h.Cls)
		if err != nil {
			return nil, fmt.Errorf("post_processor %s cls: %w", h.Type, err)
		}
		sep, err := postTok(h.Sep)
		if err != nil {
			return nil, fmt.Errorf("post_processor %s sep: %w", h.Type, err)
		}
		return []postStep{wrapStep([]int32{cls}, []int32{sep})}, nil
	}
	return nil, fmt.Errorf("post_processor type %q is not supported (supported: ByteLevel, TemplateProcessing, RobertaProcessing, BertProcessing, Sequence)", h.Type)
}

// postTok reads a ["token", id] pair.
func postTok(raw []json.RawMessage) (int32, error) {
	if len(raw) != 2 {
		return 0, fmt.Errorf("want [token, id]")
	}
	var id int32
	if err := json.Unmarshal(raw[1], &id); err != nil {
		return 0, err
	}
	return id, nil
}

func wrapStep(before, after []int32) postStep {
	return func(ids []int32) []int32 {
		out := make([]int32, 0, len(before)+len(ids)+len(after))
		out = append(out, before...)
		out = append(out, ids...)
		return append(out, after...)
	}
}
