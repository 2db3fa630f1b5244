package train

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// SRTTuple is one record of the srt-collect JSONL: a problem, an attempt
// y_init with its reward, the reviser delimiter and a verified-correct
// revision y_rev, all as token ids (exact) and text (inspection).
type SRTTuple struct {
	ID         string  `json:"id"`
	Question   string  `json:"question"`
	Answer     string  `json:"answer,omitempty"`
	PromptIDs  []int32 `json:"prompt_ids"`
	InitIDs    []int32 `json:"init_ids"`
	InitText   string  `json:"init_text"`
	InitReward float64 `json:"init_reward"`
	// RevisionPrompt is P_r; DelimIDs are ids("\n\n" + P_r + "\n\n").
	RevisionPrompt string  `json:"revision_prompt"`
	DelimIDs       []int32 `json:"delim_ids"`
	RevIDs         []int32 `json:"rev_ids"`
	RevText        string  `json:"rev_text"`
}

// ReadSRTTuples reads a srt-collect JSONL file; a bad line is an error
// naming the file and line.
func ReadSRTTuples(path string) ([]SRTTuple, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("srt data: %w", err)
	}
	defer f.Close()
	var out []SRTTuple
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	line := 0
	for sc.Scan() {
		line++
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var tu SRTTuple
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&tu); err != nil {
			return nil, fmt.Errorf("srt data %s:%d: %w", path, line, err)
		}
		if len(tu.PromptIDs) == 0 || len(tu.RevIDs) == 0 {
			return nil, fmt.Errorf("srt data %s:%d: empty prompt_ids or rev_ids", path, line)
		}
		out = append(out, tu)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("srt data %s:%d: %w", path, line+1, err)
	}
	return out, nil
}

// SRTSequence builds the SRT training sequence chat(x) + y_init' + delim +
// y_rev (+ end when y_rev lacks a stop id) with its masks: revision loss on
// y_rev+EOS when rev, generation loss on the whole assistant turn when gen
// == "turn" or on y_rev+EOS when gen == "revision".
func SRTSequence(tu SRTTuple, stop []int32, end int32, rev bool, gen string) (ids []int32, revMask, genMask []bool) {
	yp := StripStop(tu.InitIDs, stop)
	ids = append(append(append([]int32{}, tu.PromptIDs...), yp...), tu.DelimIDs...)
	revStart := len(ids)
	ids = append(ids, tu.RevIDs...)
	if !isStop(ids[len(ids)-1], stop) {
		ids = append(ids, end)
	}
	revMask = make([]bool, len(ids))
	genMask = make([]bool, len(ids))
	for j := len(tu.PromptIDs); j < len(ids); j++ {
		revMask[j] = rev && j >= revStart
		genMask[j] = gen == "turn" || (gen == "revision" && j >= revStart)
	}
	return ids, revMask, genMask
}

func (t *trainer) buildSRT() error {
	tus, err := ReadSRTTuples(t.cfg.SRT.Data)
	if err != nil {
		return err
	}
	seqs, skipped := srtSeqs(tus, t.cfg.SRT, t.p.Stop, t.p.End, t.cfg.Train.MaxSeqLen)
	t.seqs = append(t.seqs, seqs...)
	t.drop(DropTupleTooLong, skipped, len(tus),
		fmt.Sprintf("srt tuples (prompt + attempt + reviser phrase + revision + end) longer than train.max_seq_len = %d tokens", t.cfg.Train.MaxSeqLen))
	if len(t.seqs) == 0 {
		return fmt.Errorf("srt: no trainable tuples in %s (of %d)", t.cfg.SRT.Data, len(tus))
	}
	return nil
}

// tupleSelected reports whether a tuple whose attempt had reward
// initReward is one of sel's: "all", "correct-init", "wrong-init" or
// "none".
func tupleSelected(sel string, initReward float64) bool {
	switch sel {
	case "all":
		return true
	case "correct-init":
		return initReward == 1
	case "wrong-init":
		return initReward != 1
	}
	return false
}

// srtSeqs builds the SRT training sequences of tus under sc: the revision
// loss on the y_rev+EOS of the tuples sc.RevisionMask selects, the
// generation loss (sc.GenerationMask's tokens) on those
// sc.GenerationTuples selects. Tuples longer than maxLen are skipped and
// counted; tuples with no loss token are left out.
func srtSeqs(tus []SRTTuple, sc SRTConfig, stop []int32, end int32, maxLen int) (seqs []lmSeq, skipped int) {
	for _, tu := range tus {
		rev := tupleSelected(sc.RevisionMask, tu.InitReward)
		gen := sc.GenerationMask
		if !tupleSelected(sc.GenerationTuples, tu.InitReward) {
			gen = "none"
		}
		ids, rm, gm := SRTSequence(tu, stop, end, rev, gen)
		if len(ids) > maxLen {
			skipped++
			continue
		}
		mask := make([]uint8, len(ids))
		any := false
		for j := range ids {
			if rm[j] {
				mask[j] |= maskRev
			}
			if gm[j] {
				mask[j] |= maskGen
			}
			any = any || mask[j] != 0
		}
		if any {
			seqs = append(seqs, lmSeq{IDs: ids, Mask: mask})
		}
	}
	return seqs, skipped
}

// collector is srt-collect's output and counters.
type collector struct {
	path string
	f    *os.File
	seen map[[32]byte]bool
	st   collectState
}

func (c *collector) open(t *trainer, st *trainerState) error {
	c.path = t.cfg.Collect.Output
	if c.path == "" {
		c.path = filepath.Join(t.runDir, "srt_data.jsonl")
	}
	c.seen = map[[32]byte]bool{}
	flags := os.O_RDWR | os.O_CREATE
	if st == nil {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(c.path, flags, 0o644)
	if err != nil {
		return fmt.Errorf("srt-collect output: %w", err)
	}
	c.f = f
	if st != nil {
		if st.Collect == nil {
			return fmt.Errorf("checkpoint: %s lacks srt-collect state", stateFile)
		}
		c.st = *st.Collect
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if fi.Size() < c.st.OutputBytes {
			return fmt.Errorf("srt-collect output %s: %d bytes, the checkpoint recorded %d (truncated?)", c.path, fi.Size(), c.st.OutputBytes)
		}
		if err := f.Truncate(c.st.OutputBytes); err != nil {
			return err
		}
		tus, err := ReadSRTTuples(c.path)
		if err != nil {
			return err
		}
		if len(tus) != c.st.Kept {
			return fmt.Errorf("srt-collect output %s: %d tuples, the checkpoint recorded %d", c.path, len(tus), c.st.Kept)
		}
		for _, tu := range tus {
			if k, ok := dedupeKey(t.cfg.Collect.Dedupe, tu); ok {
				c.seen[k] = true
			}
		}
	}
	_, err = f.Seek(c.st.OutputBytes, io.SeekStart)
	return err
}

func (c *collector) sync() error {
	if c.f == nil {
		return nil
	}
	return c.f.Sync()
}

func tupleKey(tu SRTTuple) [32]byte {
	h := sha256.Sum256([]byte(tu.ID + "\x00" + tu.Question))
	return seqKey(toIDs(h[:]), tu.InitIDs, tu.RevIDs)
}

// dedupeKey is the de-duplication key of tu under srt_collect.dedupe
// mode: "tuple" (x, y_init, y_rev), "revision" (x, y_rev); ok is false
// for "none".
func dedupeKey(mode string, tu SRTTuple) (key [32]byte, ok bool) {
	switch mode {
	case "tuple":
		return tupleKey(tu), true
	case "revision":
		h := sha256.Sum256([]byte(tu.ID + "\x00" + tu.Question))
		return seqKey(toIDs(h[:]), tu.RevIDs), true
	}
	return key, false
}

func toIDs(b []byte) []int32 {
	out := make([]int32, len(b))
	for i, x := range b {
		out[i] = int32(x)
	}
	return out
}

// step collects one batch of problems: NInit attempts each, then NRev
// revisions per attempt that srt_collect.revise selects, in the reviser
// context; correct revisions are cleaned as configured (cleaned ones are
// verified again) and kept (deduplicated) until the target count.
func (c *collector) step(ctx context.Context, t *trainer) (Metrics, error) {
	cfg := t.cfg
	_, probs, prompts := t.batchProblems(cfg.Train.BatchSize)
	attempts, err := t.rollout(ctx, probs, prompts, cfg.Collect.NInit)
	if err != nil {
		return nil, err
	}
	m := Metrics{}
	var revIn [][]int32
	var revProbs []*Problem
	var revAtt []int // attempt index of each revision input
	var attAcc float64
	for k, a := range attempts {
		attAcc += a.Reward
		if a.Reward == 1 && cfg.Collect.Revise == "wrong" {
			continue
		}
		revIn = append(revIn, t.p.ReviserInput(prompts[a.Index], a.Response, a.Reward == 1))
		revProbs = append(revProbs, probs[a.Index])
		revAtt = append(revAtt, k)
	}
	var revs []Sample
	// The revision inputs of all ranks, in global order, are the rows of
	// one rollout: this rank's sit after those of the ranks before it.
	before, total, err := t.rowsBefore(len(revIn))
	if err != nil {
		return nil, fmt.Errorf("srt-collect revisions: %w", err)
	}
	if total > 0 {
		t.rowShare = [2]int{before, total}
		if revs, err = t.rollout(ctx, revProbs, revIn, cfg.Collect.NRev); err != nil {
			return nil, err
		}
	}
	// Correct revisions, cleaned; those the cleaning changed are verified
	// again.
	type cand struct {
		att      int
		ids      []int32
		text     string
		recheck  bool
		rejected bool
	}
	var cands []cand
	var revAcc float64
	var accBy, cntBy [2]float64
	var recheck []int
	for _, rv := range revs {
		ai := revAtt[rv.Index]
		ri := 0
		if attempts[ai].Reward == 1 {
			ri = 1
		}
		cntBy[ri]++
		accBy[ri] += rv.Reward
		revAcc += rv.Reward
		if rv.Reward != 1 {
			continue
		}
		ids, text, changed := cleanRevision(t.p, rv.Response, rv.Text, cfg.Collect)
		cands = append(cands, cand{att: ai, ids: ids, text: text, recheck: changed, rejected: len(ids) == 0})
		if changed && len(ids) > 0 {
			recheck = append(recheck, len(cands)-1)
		}
	}
	if len(recheck) > 0 {
		vp := make([]*Problem, len(recheck))
		texts := make([]string, len(recheck))
		for k, ci := range recheck {
			vp[k], texts[k] = probs[attempts[cands[ci].att].Index], cands[ci].text
		}
		for k, r := range t.ver.Verify(ctx, vp, texts) {
			cands[recheck[k]].rejected = r.Reward != 1
		}
	}
	cleaned, rejected := 0, 0
	var found []collectedTuple
	for _, cd := range cands {
		if cd.recheck {
			cleaned++
		}
		if cd.rejected {
			rejected++
			continue
		}
		a := attempts[cd.att]
		p := probs[a.Index]
		pr := t.p.RevisionText(a.Reward == 1)
		tu := SRTTuple{ID: p.ID, Question: p.Question, Answer: p.Answer, PromptIDs: prompts[a.Index],
			InitIDs: a.Response, InitText: a.Text, InitReward: a.Reward, RevisionPrompt: pr,
			DelimIDs: t.p.Delimiter(a.Reward == 1), RevIDs: cd.ids, RevText: cd.text}
		line, err := json.Marshal(tu)
		if err != nil {
			return nil, err
		}
		ct := collectedTuple{Line: line}
		if key, ok := dedupeKey(cfg.Collect.Dedupe, tu); ok {
			ct.Key = key[:]
		}
		found = append(found, ct)
	}
	kept, err := c.keep(t, found)
	if err != nil {
		return nil, err
	}
	nAtt, nRevs := len(attempts), len(revs)
	if err := t.sum(&attAcc, &revAcc, &accBy[0], &accBy[1], &cntBy[0], &cntBy[1]); err != nil {
		return nil, fmt.Errorf("srt-collect metrics: %w", err)
	}
	if err := t.sumInts(&nAtt, &nRevs, &cleaned, &rejected); err != nil {
		return nil, fmt.Errorf("srt-collect metrics: %w", err)
	}
	c.st.Attempts += nAtt
	if err := t.rolloutStatsGlobal(m, attempts); err != nil {
		return nil, err
	}
	m["attempts"] = float64(nAtt)
	m["attempt_acc"] = attAcc / float64(nAtt)
	m["revisions"] = float64(nRevs)
	m["revision_acc"] = revAcc / float64(max(1, nRevs))
	if cntBy[0] > 0 {
		m["revision_acc_r0"] = accBy[0] / cntBy[0]
	}
	if cntBy[1] > 0 {
		m["revision_acc_r1"] = accBy[1] / cntBy[1]
	}
	m["cleaned"] = float64(cleaned)
	m["clean_rejected"] = float64(rejected)
	m["kept"] = float64(kept)
	m["kept_total"] = float64(c.st.Kept)
	if cfg.Collect.Target > 0 && c.st.Kept >= cfg.Collect.Target {
		t.done = true
	}
	return m, nil
}

// collectedTuple is a verified tuple of one rank's share: its JSON line
// (as the output holds it) and its dedupe key (nil under dedupe "none").
type collectedTuple struct {
	Line []byte `json:"l"`
	Key  []byte `json:"k,omitempty"`
}

// keep appends the step's tuples of every rank, in global order, to the
// output until srt_collect.target, skipping duplicates, and returns how
// many it kept. On several ranks the tuples are gathered, rank 0 alone
// selects and writes them (it holds the output and the dedupe set) and
// tells the others the counts, so that every rank's state and metrics
// agree.
func (c *collector) keep(t *trainer, found []collectedTuple) (int, error) {
	target := t.cfg.Collect.Target
	all := [][]collectedTuple{found}
	if t.distributed() {
		var err error
		if all, err = gatherJSON(t, found); err != nil {
			return 0, fmt.Errorf("srt-collect tuples: %w", err)
		}
	}
	kept := 0
	if t.lead() {
		var buf []byte
		for _, part := range all {
			for _, ct := range part {
				if target > 0 && c.st.Kept >= target {
					continue
				}
				if ct.Key != nil {
					key := [32]byte(ct.Key)
					if c.seen[key] {
						continue
					}
					c.seen[key] = true
				}
				buf = append(append(buf, ct.Line...), '\n')
				kept++
				c.st.Kept++
			}
		}
		if len(buf) > 0 {
			n, err := c.f.Write(buf)
			c.st.OutputBytes += int64(n)
			if err != nil {
				// The other ranks wait in the next collective; the error
				// ends the run (a failing rank aborts the job).
				return 0, fmt.Errorf("srt-collect output %s: %w", c.path, err)
			}
		}
	}
	if !t.distributed() {
		return kept, nil
	}
	v := []float64{0, 0}
	if t.lead() {
		v[0], v[1] = float64(kept), float64(c.st.Kept)
	}
	if err := t.comm.AllReduceHost(v); err != nil { // rank 0's counts to every rank
		return 0, fmt.Errorf("srt-collect counts: %w", err)
	}
	kept, c.st.Kept = int(v[0]), int(v[1])
	return kept, nil
}

// SycophanticOpenings returns the openings srt_collect.strip_openings
// removes from the start of a revision (matched case-insensitively, at a
// word boundary, with ' or ’ as the apostrophe): the reviser flattering or
// apologising to a user who is not there, which SRT would otherwise teach.
func SycophanticOpenings() []string {
	return []string{
		"you're absolutely right", "you are absolutely right", "you're absolutely correct",
		"you are absolutely correct", "you're right", "you are right", "you're correct",
		"you are correct", "i apologize", "i apologise", "my apologies", "apologies",
		"i'm sorry", "i am sorry", "sorry", "great question", "good question",
		"excellent question", "great catch", "good catch", "nice catch", "thank you",
		"thanks",
	}
}

// StripOpening removes sycophantic openings (SycophanticOpenings) from the
// start of text, repeatedly, with the rest of their clause: the
// punctuation right after the phrase, or else up to the first '.', '!' or
// newline within 120 bytes; then leading white space. ok reports that
// something was removed.
func StripOpening(text string) (out string, ok bool) {
	out = text
	for {
		rest := strings.TrimLeft(out, " \t\r\n")
		n := openingLen(rest)
		if n == 0 {
			if ok {
				out = rest
			}
			return out, ok
		}
		tail := rest[n:]
		if len(tail) > 0 && strings.ContainsRune(",.!;:", rune(tail[0])) {
			tail = tail[1:]
		} else if i := strings.IndexAny(tail[:min(len(tail), 120)], ".!\n"); i >= 0 {
			tail = tail[i+1:]
		}
		out, ok = tail, true
	}
}

// openingLen is the byte length of the sycophantic opening text starts
// with (0 if none).
func openingLen(text string) int {
	low := strings.ToLower(text)
	best := 0
	for _, ph := range SycophanticOpenings() {
		for _, v := range []string{ph, strings.ReplaceAll(ph, "'", "’")} {
			if len(v) <= best || len(v) > len(text) || !strings.HasPrefix(low, v) {
				continue
			}
			// A word boundary: "sorry" but not "sorrowful".
			if r, _ := utf8.DecodeRuneInString(text[len(v):]); len(text) > len(v) && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
				continue
			}
			best = len(v)
		}
	}
	return best
}

// TrimRepeatTail cuts a degenerate repeating tail of y (its stop id, if
// any, set aside): when y ends with at least minCopies consecutive copies
// of a block of 1 to 64 tokens covering at least 16 tokens (copies
// counted back from the end; a partial copy before them belongs to the
// tail), the tail is cut to one copy (the stop id is put back). The
// shortest such block is used.
// ok reports a cut.
func TrimRepeatTail(y []int32, stop []int32, minCopies int) (out []int32, ok bool) {
	body := StripStop(y, stop)
	if minCopies < 2 {
		return y, false
	}
	n := len(body)
	for p := 1; p <= 64 && minCopies*p <= n; p++ {
		// L: the longest p-periodic suffix (a partial last copy counts).
		L := p
		for L < n && body[n-L-1] == body[n-L-1+p] {
			L++
		}
		if L/p < minCopies || L < 16 {
			continue
		}
		// Copies are counted back from the end, so that a tail that
		// stopped keeps its last block's boundary.
		out = append([]int32{}, body[:n-(L/p)*p+p]...)
		if len(body) < len(y) {
			out = append(out, y[len(y)-1])
		}
		return out, true
	}
	return y, false
}

// cleanRevision applies srt_collect's cleaning to a correct revision
// (ids y with text, the decoded y without its stop id): the repeating-tail
// trim and the opening strip. A stripped revision is re-tokenised from its
// text (with y's stop id put back). changed reports that y changed; an
// empty result means nothing is left.
func cleanRevision(p *Prompter, y []int32, text string, cc CollectConfig) (ids []int32, out string, changed bool) {
	ids, out = y, text
	if cc.TrimRepeats > 0 {
		if c, ok := TrimRepeatTail(ids, p.Stop, cc.TrimRepeats); ok {
			ids, out, changed = c, p.ResponseText(c), true
		}
	}
	if cc.StripOpenings {
		if s, ok := StripOpening(out); ok {
			stopped := len(ids) > 0 && isStop(ids[len(ids)-1], p.Stop)
			enc := p.Tok.Encode(s)
			if len(enc) == 0 {
				return nil, "", true
			}
			if stopped {
				enc = append(enc, ids[len(ids)-1])
			}
			ids, out, changed = enc, s, true
		}
	}
	return ids, out, changed
}
