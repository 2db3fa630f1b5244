package train

import "fmt"

// buildSFT makes prompt + solution + end sequences from the problems.
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
	if skipped > 0 {
		t.prog0().logf("sft: %d demonstrations longer than max_seq_len skipped", skipped)
	}
	if len(t.seqs) == 0 {
		return fmt.Errorf("sft: no demonstrations fit max_seq_len %d (data %s)", t.cfg.Train.MaxSeqLen, t.cfg.Data.Train)
	}
	return nil
}
