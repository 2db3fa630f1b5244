package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
)

// rolloutsFile is the run's sample log (log.rollouts_every).
const rolloutsFile = "rollouts.jsonl"

// RolloutRecord is one line of RUN/rollouts.jsonl: a sample the student
// generated during a training step, with its reward.
type RolloutRecord struct {
	Step  int    `json:"step"`
	Phase string `json:"phase"`
	// Problem is the problem's id; Prompt the rendered prompt text (chat
	// template, system prompt and suffix included) the student saw.
	Problem string `json:"problem"`
	Prompt  string `json:"prompt"`
	// Response is the decoded response without its stop token; Tokens
	// counts its tokens (stop included) and Stopped says whether it ended
	// with a stop token (false: it hit rollout.max_new_tokens).
	Response string `json:"response"`
	Tokens   int    `json:"response_tokens"`
	Stopped  bool   `json:"stopped"`
	// Reward, Reason (why it is 0) and Extracted (the answer judged) are
	// the verifier's result.
	Reward    float64 `json:"reward"`
	Reason    string  `json:"reason,omitempty"`
	Extracted string  `json:"extracted,omitempty"`
	// KL summarises the per-token divergence to the teacher on this
	// response (distill, sdft); nil for other phases or a sample the
	// step could not distil (over the teacher's budget).
	KL *TokenKLSummary `json:"kl,omitempty"`

	resp []int32 // the response ids, to name the token at KL.MaxPos
	call int     // the step's rollout call it came from (1 = the first)
}

// TokenKLSummary is the per-token divergence of one distilled response:
// its mean and maximum over the response tokens, the position of the
// maximum (0 = the first response token) and that token's text.
type TokenKLSummary struct {
	Mean     float64 `json:"mean"`
	Max      float64 `json:"max"`
	MaxPos   int     `json:"max_pos"`
	MaxToken string  `json:"max_token"`
	Tokens   int     `json:"tokens"`
}

// rolloutLog collects a few samples of every logged step and appends them
// to RUN/rollouts.jsonl when the step is done. Records of a step that is
// undone (an interruption at a rollout-batch boundary) are dropped: the
// next step with that number starts them afresh.
type rolloutLog struct {
	path string
	f    *os.File
	// share marks the log of a rank other than 0, which has no file: it
	// collects its samples for rank 0 to gather (dist.go).
	share      bool
	every, per int
	phase      string
	dec        func([]int32) string

	step    int              // the step the pending records belong to
	pending []*RolloutRecord // at most per
	calls   int              // rollout calls seen in step
	bySamp  map[int]*RolloutRecord
	kl      map[int]*klAcc // by sample index of the step's first rollout
}

type klAcc struct {
	sum, max float64
	n, arg   int
}

// openRolloutLog opens RUN/rollouts.jsonl for appending; nil (logging
// off) when every is 0. resumeStep >= 0 drops the records of steps after
// it (a resume redoes them); -1 starts an empty file.
func openRolloutLog(runDir, phase string, every, per int, dec func([]int32) string, resumeStep int) (*rolloutLog, error) {
	if every <= 0 {
		return nil, nil
	}
	path := filepath.Join(runDir, rolloutsFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("rollouts log: %w", err)
	}
	keep := int64(0)
	if resumeStep >= 0 {
		if keep, err = rolloutsPrefix(f, resumeStep); err != nil {
			f.Close()
			return nil, fmt.Errorf("rollouts log %s: %w", path, err)
		}
	}
	if err := f.Truncate(keep); err == nil {
		_, err = f.Seek(keep, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("rollouts log %s: %w", path, err)
	}
	return &rolloutLog{path: path, f: f, every: every, per: per, phase: phase, dec: dec, step: -1}, nil
}

// rolloutsPrefix is the byte length of the leading lines of r whose step
// is at most step (lines are appended in step order); a line that does
// not parse (a torn last write) ends the prefix.
func rolloutsPrefix(r io.Reader, step int) (int64, error) {
	br := bufio.NewReader(r)
	var n int64
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			var rec struct {
				Step *int `json:"step"`
			}
			if json.Unmarshal(bytes.TrimSpace(line), &rec) != nil || rec.Step == nil || *rec.Step > step {
				return n, nil
			}
			n += int64(len(line))
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// logs reports whether step's samples are logged: the first step and
// every log.rollouts_every-th.
func (l *rolloutLog) logs(step int) bool {
	return l != nil && (l.f != nil || l.share) && (step == 1 || step%l.every == 0)
}

// observe records the first samples of a rollout call made during step
// (until per are held); prompts are the ids the samples' Index refers to.
func (l *rolloutLog) observe(step int, probs []*Problem, prompts [][]int32, samples []Sample) {
	if !l.logs(step) {
		return
	}
	if l.step != step {
		l.step, l.pending, l.calls = step, nil, 0
		l.bySamp, l.kl = map[int]*RolloutRecord{}, map[int]*klAcc{}
	}
	l.calls++
	for k := range samples {
		if len(l.pending) >= l.per {
			break
		}
		s := &samples[k]
		rec := &RolloutRecord{Step: step, Phase: l.phase, Prompt: l.dec(prompts[s.Index]), Response: s.Text,
			Tokens: len(s.Response), Stopped: s.Stopped, Reward: s.Reward, Extracted: s.Verdict.Extracted, resp: s.Response, call: l.calls}
		if s.Reward < 1 {
			rec.Reason = s.Verdict.Reason
		}
		if s.Index < len(probs) && probs[s.Index] != nil {
			rec.Problem = probs[s.Index].ID
		}
		l.pending = append(l.pending, rec)
		if l.calls == 1 {
			l.bySamp[k] = rec
		}
	}
}

// tokenKL adds the divergence of the next response token of sample i of
// the step's first rollout (distill and sdft visit tokens in order).
func (l *rolloutLog) tokenKL(i int, d float64) {
	if l == nil || l.bySamp == nil || l.bySamp[i] == nil {
		return
	}
	a := l.kl[i]
	if a == nil {
		a = &klAcc{max: math.Inf(-1)}
		l.kl[i] = a
	}
	if d > a.max {
		a.max, a.arg = d, a.n
	}
	a.sum += d
	a.n++
}

// flush appends the pending records of step (if it was logged). A write
// error turns the log off with a warning: it is for reading, and must not
// stop a run.
func (l *rolloutLog) flush(step int, warn func(format string, a ...any)) {
	if !l.logs(step) || l.step != step {
		return
	}
	l.write(step, l.finish(step), warn)
}

// finish returns the pending records of step with their KL summaries and
// clears them (nil when step was not logged or saw no rollout).
func (l *rolloutLog) finish(step int) []*RolloutRecord {
	if !l.logs(step) || l.step != step {
		return nil
	}
	for _, rec := range l.pending {
		for i, r := range l.bySamp {
			if r == rec && l.kl[i] != nil && l.kl[i].n > 0 {
				a := l.kl[i]
				rec.KL = &TokenKLSummary{Mean: a.sum / float64(a.n), Max: a.max, MaxPos: a.arg, Tokens: a.n}
				if a.arg < len(rec.resp) {
					rec.KL.MaxToken = l.dec(rec.resp[a.arg : a.arg+1])
				}
			}
		}
	}
	recs := l.pending
	l.step, l.pending, l.bySamp, l.kl = -1, nil, nil, nil
	return recs
}

// write appends recs to the file (nothing once the file is off).
func (l *rolloutLog) write(step int, recs []*RolloutRecord, warn func(format string, a ...any)) {
	if l == nil || l.f == nil || len(recs) == 0 {
		return
	}
	var lines [][]byte
	for k, rec := range recs {
		line, err := encodeRecord(rec)
		if err != nil {
			warn("warning: rollouts log: sample %d of step %d: %v", k, step, err)
			continue
		}
		lines = append(lines, line)
	}
	l.writeLines(lines, warn)
}

// encodeRecord is rec's line of the file (newline included).
func encodeRecord(rec *RolloutRecord) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(rec)
	return buf.Bytes(), err
}

// writeLines appends encoded records to the file (nothing once it is off).
func (l *rolloutLog) writeLines(lines [][]byte, warn func(format string, a ...any)) {
	if l == nil || l.f == nil || len(lines) == 0 {
		return
	}
	if _, err := l.f.Write(bytes.Join(lines, nil)); err != nil {
		warn("warning: rollouts log %s: %v; sample logging is off for the rest of the run", l.path, err)
		l.f.Close()
		l.f = nil
	}
}

func (l *rolloutLog) close() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
