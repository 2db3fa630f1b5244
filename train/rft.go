package train

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// rftRound is the current RFT round's kept samples.
type rftRound struct {
	round    int
	perRound int
	seqs     []lmSeq
	smp      *sampler
}

func (r *rftRound) save(path string) error {
	return writeAtomic(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for _, s := range r.seqs {
			if err := enc.Encode(s); err != nil {
				return err
			}
		}
		return nil
	})
}

func (r *rftRound) restore(t *trainer, st *rftState, ckpt string) error {
	path := filepath.Join(ckpt, rftRoundFile)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("rft round: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	var seqs []lmSeq
	for {
		var s lmSeq
		if err := dec.Decode(&s); err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("rft round %s: %w", path, err)
		}
		seqs = append(seqs, s)
	}
	if len(seqs) != st.Kept {
		return fmt.Errorf("rft round %s: %d samples, trainer.json records %d", path, len(seqs), st.Kept)
	}
	r.round, r.seqs = st.Round, seqs
	r.smp = newSampler(len(seqs), t.cfg.Seed^uint64(st.Round+1)*0x9e3779b97f4a7c15)
	if len(seqs) > 0 {
		return r.smp.restore(st.Sampler, len(seqs))
	}
	return nil
}

// stepRFT is one RFT step; the first step of a round first samples K
// responses for the round's prompts and keeps the correct ones.
func (t *trainer) stepRFT(ctx context.Context) (Metrics, error) {
	cfg := t.cfg
	r := t.rft
	round := t.st.Step / r.perRound
	m := Metrics{"round": float64(round)}
	if r.round != round {
		np := len(t.usable)
		if cfg.RFT.PromptsPerRound > 0 {
			np = min(np, cfg.RFT.PromptsPerRound)
		}
		_, probs, prompts := t.batchProblems(np) // this rank's share of the round's prompts
		all, err := t.rollout(ctx, probs, prompts, cfg.RFT.K)
		if err != nil {
			return nil, err
		}
		var correct []rftSample
		for _, s := range all {
			if s.Reward == 1 {
				correct = append(correct, rftSample{Prompt: prompts[s.Index], Response: s.Response})
			}
		}
		// Every rank keeps the same round data: the correct samples of all
		// ranks, in global order, deduplicated and filtered alike.
		if correct, err = t.gatherRFT(correct); err != nil {
			return nil, fmt.Errorf("rft round %d: %w", round, err)
		}
		var seqs []lmSeq
		seen := map[[32]byte]bool{}
		for _, s := range correct {
			key := seqKey(s.Prompt, s.Response)
			if seen[key] {
				continue
			}
			seen[key] = true
			sq := demoSeq(s.Prompt, s.Response, t.p.Stop, t.p.End)
			if len(sq.IDs) <= cfg.Train.MaxSeqLen {
				seqs = append(seqs, sq)
			}
		}
		if err := t.rolloutStatsGlobal(m, all); err != nil {
			return nil, err
		}
		total := len(all)
		if err := t.sumInts(&total); err != nil {
			return nil, fmt.Errorf("rft round %d: %w", round, err)
		}
		r.round, r.seqs = round, seqs
		r.smp = newSampler(len(seqs), cfg.Seed^uint64(round+1)*0x9e3779b97f4a7c15)
		t.prog.logf("rft round %d: %d of %d samples correct and kept (deduplicated)", round, len(seqs), total)
	}
	m["kept"] = float64(len(r.seqs))
	if len(r.seqs) == 0 {
		m["skipped"] = 1
		return m, nil
	}
	batch := r.smp.next(cfg.Train.BatchSize)
	lo, hi := t.share(len(batch)) // this rank's share of the step's batch (dist.go)
	batch = batch[lo:hi]
	if err := t.supervisedOn(r.seqs, batch, false, true, m); err != nil {
		return nil, err
	}
	return m, nil
}

// rftSample is a correct RFT sample: the prompt's ids and the response.
type rftSample struct {
	Prompt   []int32 `json:"p"`
	Response []int32 `json:"r"`
}

// gatherRFT returns every rank's correct samples in rank order, which is
// the global order of the round's rollout (the ranks' prompt shares are
// contiguous); with one rank, local itself.
func (t *trainer) gatherRFT(local []rftSample) ([]rftSample, error) {
	if !t.distributed() {
		return local, nil
	}
	parts, err := gatherJSON(t, local)
	if err != nil {
		return nil, err
	}
	var out []rftSample
	for _, p := range parts {
		out = append(out, p...)
	}
	return out, nil
}
