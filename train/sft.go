package train

import "fmt"

// buildSFT makes prompt + solution + end sequences from the problems. SFT
// generates nothing, so a demonstration is checked only against
// train.max_seq_len (never rollout.max_new_tokens); what does not fit is
// counted in t.dropped and reported.
func (t *trainer) buildSFT() error {
	skipped := 0
	for _, i := range t.usable {
		if PromptTooLong(t.probs[i].Solution, t.cfg.Train.MaxSeqLen) {
			skipped++ // cannot fit; not worth tokenizing megabytes
			continue
		}
		resp := t.p.Tok.Encode(t.probs[i].Solution)
		s := demoSeq(t.prompts[i], resp, nil, t.p.End)
		if len(s.IDs) > t.cfg.Train.MaxSeqLen {
			skipped++
			continue
		}
		t.seqs = append(t.seqs, s)
	}
	t.drop(DropDemoTooLong, skipped, len(t.usable),
		fmt.Sprintf("demonstrations (prompt + solution + end) longer than train.max_seq_len = %d tokens", t.cfg.Train.MaxSeqLen))
	if len(t.seqs) == 0 {
		return fmt.Errorf("sft: no demonstrations fit train.max_seq_len %d (data %s)", t.cfg.Train.MaxSeqLen, t.cfg.Data.Train)
	}
	return nil
}
