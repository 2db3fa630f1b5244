// Package explain shows, token by token, how SD-Zero's teacher (the
// reviser, told the response's reward) would move the student on one
// response: the per-token divergence the distillation loss uses, the
// paper's token KL reward log p_student(y_t | x, y<t) - log p_teacher(y_t |
// x, y, P_r, y<t), and both models' top alternatives at each position. It
// writes the result as JSON, a self-contained HTML heatmap and a PNG.
//
// The teacher's context is exactly the trainer's: the prompt, the response
// without its stop token, "\n\n" + P_r + "\n\n", then the response again,
// teacher-forced (train.Prompter.ReviserInput). Probabilities are computed
// in float64 on the host from the models' float32 logits.
package explain

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"sdzero/model"
)

// Options select the divergence reported as KL (the trainer's distill
// settings: see train.DistillConfig) and how many alternatives to keep.
type Options struct {
	// Divergence is "mixed", "reverse" or "forward".
	Divergence string
	// TopK restricts both distributions to the teacher's TopK ids for
	// "mixed" (0: full vocabulary).
	TopK int
	// ForwardWeight mixes forward KL(teacher||student) into "mixed".
	ForwardWeight float64
	// Temperature divides both sets of logits.
	Temperature float64
	// Alternatives is how many top tokens of each model to keep (default 5).
	Alternatives int
}

// Alt is one alternative token at a position.
type Alt struct {
	ID   int32   `json:"id"`
	Text string  `json:"text"`
	Prob float64 `json:"prob"`
}

// Token is the analysis of one response position.
type Token struct {
	Index int    `json:"index"`
	ID    int32  `json:"id"`
	Text  string `json:"text"`
	// Stop marks a stop token (the end of the turn): its KL is reported
	// apart, because a teacher that wants to continue past it puts much
	// of the mass there without saying anything about the content.
	Stop bool `json:"stop,omitempty"`
	// StudentLogProb and TeacherLogProb are the two models' log-probs of
	// the sampled token (at the divergence's temperature).
	StudentLogProb float64 `json:"student_logprob"`
	TeacherLogProb float64 `json:"teacher_logprob"`
	// TokenReward is StudentLogProb - TeacherLogProb (the paper's token KL
	// reward; positive where the teacher likes the token less).
	TokenReward float64 `json:"token_reward"`
	// KL is the trainer's divergence at this position; ForwardKL and
	// ReverseKL are the full-vocabulary KL(teacher||student) and
	// KL(student||teacher).
	KL        float64 `json:"kl"`
	ForwardKL float64 `json:"forward_kl"`
	ReverseKL float64 `json:"reverse_kl"`
	// StudentTop and TeacherTop are each model's most likely tokens.
	StudentTop []Alt `json:"student_top"`
	TeacherTop []Alt `json:"teacher_top"`
	// ProbeID is Input.Probe's id at this position (-1: none) and
	// StudentProbeProb, TeacherProbeProb the two models' probabilities of
	// it.
	ProbeID          int32   `json:"probe_id"`
	StudentProbeProb float64 `json:"student_probe_prob,omitempty"`
	TeacherProbeProb float64 `json:"teacher_probe_prob,omitempty"`
}

// Report is the analysis of one response.
type Report struct {
	Student  string `json:"student"`
	Teacher  string `json:"teacher"`
	Prompt   string `json:"prompt"`
	Response string `json:"response"`
	// Correct is the reward the teacher was told; Revision is P_r.
	Correct  bool    `json:"correct"`
	Revision string  `json:"revision_phrase"`
	Reason   string  `json:"reward_reason,omitempty"`
	Options  Options `json:"options"`
	Tokens   []Token `json:"tokens"`
	// TotalKL is the sum of KL over the response; StopKLShare is the part
	// on stop tokens; MaxKLIndex is the position with the largest KL and
	// MaxKLShare its share of TotalKL; UniformShare is 1/len(Tokens), what
	// a share would be if the KL were spread evenly.
	TotalKL      float64 `json:"total_kl"`
	StopKLShare  float64 `json:"stop_kl_share"`
	MaxKLIndex   int     `json:"max_kl_index"`
	MaxKLShare   float64 `json:"max_kl_share"`
	UniformShare float64 `json:"uniform_share"`
	// MeanTokenReward is the mean TokenReward over non-stop tokens.
	MeanTokenReward float64 `json:"mean_token_reward"`
}

// Input is one response to explain, all as token ids.
type Input struct {
	// StudentIDs is prompt + response; TeacherIDs is the reviser context
	// + response. Response is the sampled response (the last
	// len(Response) ids of both).
	StudentIDs, TeacherIDs, Response []int32
	// Stop are the ids that end a turn.
	Stop []int32
	// Decode renders ids as text (for token and alternative labels).
	Decode func(ids []int32) string
	// Probe, when set, asks for both models' probabilities of a given id
	// at given response positions (e.g. the correct token at the first
	// error): Token.Probe* are filled there.
	Probe map[int]int32
}

// Explain runs both models over their contexts and analyses every response
// position.
func Explain(student, teacher *model.Model, in Input, opt Options) (*Report, error) {
	n := len(in.Response)
	if n == 0 {
		return nil, errors.New("explain: empty response")
	}
	if len(in.StudentIDs) <= n || len(in.TeacherIDs) <= n {
		return nil, fmt.Errorf("explain: contexts (%d, %d ids) must be longer than the response (%d)", len(in.StudentIDs), len(in.TeacherIDs), n)
	}
	for i, id := range in.Response {
		if in.StudentIDs[len(in.StudentIDs)-n+i] != id || in.TeacherIDs[len(in.TeacherIDs)-n+i] != id {
			return nil, fmt.Errorf("explain: response id %d at position %d is not the end of both contexts", id, i)
		}
	}
	if student.Cfg.VocabSize != teacher.Cfg.VocabSize {
		return nil, fmt.Errorf("explain: student vocabulary %d != teacher vocabulary %d", student.Cfg.VocabSize, teacher.Cfg.VocabSize)
	}
	if err := checkOptions(&opt); err != nil {
		return nil, err
	}
	sl, err := positionLogits(student, in.StudentIDs, n)
	if err != nil {
		return nil, fmt.Errorf("explain: student: %w", err)
	}
	tl, err := positionLogits(teacher, in.TeacherIDs, n)
	if err != nil {
		return nil, fmt.Errorf("explain: teacher: %w", err)
	}
	rep := &Report{Options: opt, Tokens: make([]Token, n), MaxKLIndex: -1, UniformShare: 1 / float64(n)}
	var rewardSum float64
	var rewardN int
	for i, id := range in.Response {
		probe := int32(-1)
		if pid, ok := in.Probe[i]; ok {
			probe = pid
		}
		tk, err := analyse(sl[i], tl[i], id, probe, opt)
		if err != nil {
			return nil, fmt.Errorf("explain: position %d: %w", i, err)
		}
		tk.Index, tk.ID = i, id
		tk.Stop = isStop(id, in.Stop)
		if in.Decode != nil {
			tk.Text = in.Decode([]int32{id})
			for j := range tk.StudentTop {
				tk.StudentTop[j].Text = in.Decode([]int32{tk.StudentTop[j].ID})
			}
			for j := range tk.TeacherTop {
				tk.TeacherTop[j].Text = in.Decode([]int32{tk.TeacherTop[j].ID})
			}
		}
		rep.Tokens[i] = tk
		rep.TotalKL += tk.KL
		if tk.Stop {
			rep.StopKLShare += tk.KL
		} else {
			rewardSum += tk.TokenReward
			rewardN++
		}
		if rep.MaxKLIndex < 0 || tk.KL > rep.Tokens[rep.MaxKLIndex].KL {
			rep.MaxKLIndex = i
		}
	}
	if rep.TotalKL > 0 {
		rep.StopKLShare /= rep.TotalKL
		rep.MaxKLShare = rep.Tokens[rep.MaxKLIndex].KL / rep.TotalKL
	} else {
		rep.StopKLShare = 0
	}
	if rewardN > 0 {
		rep.MeanTokenReward = rewardSum / float64(rewardN)
	}
	return rep, nil
}

func isStop(id int32, stop []int32) bool {
	for _, s := range stop {
		if s == id {
			return true
		}
	}
	return false
}

func checkOptions(opt *Options) error {
	switch opt.Divergence {
	case "":
		opt.Divergence = "mixed"
	case "mixed", "reverse", "forward":
	default:
		return fmt.Errorf("explain: divergence %q (want mixed, reverse or forward)", opt.Divergence)
	}
	if opt.Temperature == 0 {
		opt.Temperature = 1
	}
	if !(opt.Temperature > 0) || math.IsInf(opt.Temperature, 0) {
		return fmt.Errorf("explain: temperature %v must be a positive finite number", opt.Temperature)
	}
	if !(opt.ForwardWeight >= 0 && opt.ForwardWeight <= 1) {
		return fmt.Errorf("explain: forward weight %v must be in [0, 1]", opt.ForwardWeight)
	}
	if opt.TopK < 0 {
		return fmt.Errorf("explain: top_k %d must be >= 0", opt.TopK)
	}
	if opt.Alternatives <= 0 {
		opt.Alternatives = 5
	}
	return nil
}

// positionLogits returns the logits that predict the last n ids of ids.
func positionLogits(m *model.Model, ids []int32, n int) ([][]float32, error) {
	a, err := m.NewInferActs(1, len(ids))
	if err != nil {
		return nil, err
	}
	defer a.Free()
	if err := m.Forward(a, ids, []int{len(ids)}); err != nil {
		return nil, err
	}
	V := m.Cfg.VocabSize
	out := make([][]float32, n)
	first := len(ids) - n - 1 // logits at position p predict token p+1
	for i := range out {
		out[i] = make([]float32, V)
		m.BE.Download(out[i], a.Logits().View((first+i)*V, V))
	}
	if err := m.BE.Sync(); err != nil {
		return nil, err
	}
	return out, nil
}

// logSoftmax returns log softmax(x/temp) in float64, or an error naming a
// non-finite logit.
func logSoftmax(x []float32, temp float64) ([]float64, error) {
	out := make([]float64, len(x))
	mx := math.Inf(-1)
	for i, v := range x {
		f := float64(v) / temp
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("logit %d is %v", i, v)
		}
		out[i] = f
		mx = math.Max(mx, f)
	}
	var sum float64
	for _, f := range out {
		sum += math.Exp(f - mx)
	}
	lse := mx + math.Log(sum)
	for i := range out {
		out[i] -= lse
	}
	return out, nil
}

// kl is KL(a||b) over ids (nil: all) of log-distributions renormalised
// over those ids.
func kl(la, lb []float64, ids []int) float64 {
	if ids == nil {
		var d float64
		for i, a := range la {
			p := math.Exp(a)
			if p > 0 {
				d += p * (a - lb[i])
			}
		}
		return math.Max(d, 0)
	}
	za, zb := logSumExp(la, ids), logSumExp(lb, ids)
	var d float64
	for _, i := range ids {
		a, b := la[i]-za, lb[i]-zb
		d += math.Exp(a) * (a - b)
	}
	return math.Max(d, 0)
}

func logSumExp(l []float64, ids []int) float64 {
	mx := math.Inf(-1)
	for _, i := range ids {
		mx = math.Max(mx, l[i])
	}
	var s float64
	for _, i := range ids {
		s += math.Exp(l[i] - mx)
	}
	return mx + math.Log(s)
}

// topIDs returns the k ids with the largest values, largest first (ties:
// lower id first), in one pass keeping a sorted list of k.
func topIDs(l []float64, k int) []int {
	k = min(k, len(l))
	top := make([]int, 0, k)
	better := func(i, j int) bool { return l[i] > l[j] || l[i] == l[j] && i < j }
	for i := range l {
		if len(top) == k && !better(i, top[k-1]) {
			continue
		}
		pos := sort.Search(len(top), func(p int) bool { return better(i, top[p]) })
		if len(top) < k {
			top = append(top, 0)
		}
		copy(top[pos+1:], top[pos:len(top)-1])
		top[pos] = i
	}
	return top
}

// analyse computes one position's figures from the student's and teacher's
// logits, as the trainer's divergence defines them (kernels.DistillParams:
// D = w*KL(teacher||student) + (1-w)*KL(student||teacher)).
func analyse(s, t []float32, id, probe int32, opt Options) (Token, error) {
	ls, err := logSoftmax(s, opt.Temperature)
	if err != nil {
		return Token{}, fmt.Errorf("student %w", err)
	}
	lt, err := logSoftmax(t, opt.Temperature)
	if err != nil {
		return Token{}, fmt.Errorf("teacher %w", err)
	}
	if int(id) < 0 || int(id) >= len(ls) {
		return Token{}, fmt.Errorf("token id %d outside the vocabulary (%d)", id, len(ls))
	}
	tk := Token{
		StudentLogProb: ls[id], TeacherLogProb: lt[id],
		ForwardKL: kl(lt, ls, nil), ReverseKL: kl(ls, lt, nil),
	}
	tk.TokenReward = tk.StudentLogProb - tk.TeacherLogProb
	tk.ProbeID = probe
	if probe >= 0 {
		if int(probe) >= len(ls) {
			return Token{}, fmt.Errorf("probe id %d outside the vocabulary (%d)", probe, len(ls))
		}
		tk.StudentProbeProb, tk.TeacherProbeProb = math.Exp(ls[probe]), math.Exp(lt[probe])
	}
	switch opt.Divergence {
	case "forward":
		tk.KL = tk.ForwardKL
	case "reverse":
		tk.KL = tk.ReverseKL
	default:
		var ids []int
		if opt.TopK > 0 && opt.TopK < len(lt) {
			ids = topIDs(lt, opt.TopK)
		}
		tk.KL = opt.ForwardWeight*kl(lt, ls, ids) + (1-opt.ForwardWeight)*kl(ls, lt, ids)
	}
	for _, i := range topIDs(ls, opt.Alternatives) {
		tk.StudentTop = append(tk.StudentTop, Alt{ID: int32(i), Prob: math.Exp(ls[i])})
	}
	for _, i := range topIDs(lt, opt.Alternatives) {
		tk.TeacherTop = append(tk.TeacherTop, Alt{ID: int32(i), Prob: math.Exp(lt[i])})
	}
	return tk, nil
}
