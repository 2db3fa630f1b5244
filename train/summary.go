package train

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"
)

// summaryFile is the run's closing report, rewritten at the end of every
// session (finished, interrupted or failed once the run directory exists).
const summaryFile = "summary.json"

// RunHeader says what a run runs on and with: it is printed as the first
// line of a run and recorded in summary.json.
type RunHeader struct {
	// Device is the backend's name ("cpu", "cuda"); DeviceNote says how
	// it was chosen (Options.DeviceNote: for device auto, why).
	Device     string `json:"device"`
	DeviceNote string `json:"device_note,omitempty"`
	// Threads is the CPU backend's worker count and Kernel its matmul
	// micro-kernel ("amx", "avx512", "go", ...); empty for other backends.
	Threads   int    `json:"threads,omitempty"`
	Kernel    string `json:"kernel,omitempty"`
	Precision string `json:"precision"`
	// Model is the starting model directory, Arch its Hugging Face
	// architecture and Params its parameter count.
	Model  string `json:"model"`
	Arch   string `json:"architecture"`
	Params int64  `json:"parameters"`
	RunDir string `json:"run_dir"`
}

// Line is the header as one line of text.
func (h RunHeader) Line(phase string) string {
	dev := h.Device
	if h.DeviceNote != "" {
		dev += " (" + h.DeviceNote + ")"
	}
	if h.Kernel != "" {
		dev += ", " + h.Kernel + " kernels"
	}
	if h.Threads > 0 {
		dev += fmt.Sprintf(", %d threads", h.Threads)
	}
	return fmt.Sprintf("sdzero %s: device %s, precision %s; model %s (%s, %s parameters); run %s",
		phase, dev, h.Precision, h.Model, h.Arch, humanCount(h.Params), h.RunDir)
}

// humanCount writes a parameter count as 596.0M or 1.72B.
func humanCount(n int64) string {
	x := float64(n)
	switch {
	case x >= 1e9:
		return fmt.Sprintf("%.2fB", x/1e9)
	case x >= 1e6:
		return fmt.Sprintf("%.1fM", x/1e6)
	case x >= 1e3:
		return fmt.Sprintf("%.1fK", x/1e3)
	}
	return fmt.Sprint(n)
}

// runHeader describes the trainer's backend, precision and model.
func (t *trainer) runHeader() RunHeader {
	h := RunHeader{Device: t.be.Name(), DeviceNote: t.opt.DeviceNote, Model: t.cfg.Model, RunDir: t.runDir}
	if th, ok := t.be.(interface{ Threads() int }); ok {
		h.Threads = th.Threads()
	}
	if k, ok := t.be.(interface{ Kernel() string }); ok {
		h.Kernel = k.Kernel()
	}
	if t.m != nil {
		h.Precision = t.m.Precision().String()
		h.Arch = t.m.Cfg.HFArchitecture()
		h.Params = int64(t.m.LayoutLen())
	}
	return h
}

// Exit reasons of summary.json.
const (
	ExitFinished    = "finished"
	ExitStopped     = "stopped early"
	ExitInterrupted = "interrupted"
	ExitFailed      = "failed"
)

// RunSummary is RUN/summary.json: what a run did, how it ended and where
// its files are, for people and scripts that do not want to parse
// metrics.jsonl. A resumed run appends a session and updates the rest.
type RunSummary struct {
	Phase string `json:"phase"`
	// Exit is one of the Exit constants; Error the error that ended a
	// failed session; Resume the command that continues an unfinished
	// run.
	Exit   string `json:"exit"`
	Error  string `json:"error,omitempty"`
	Resume string `json:"resume,omitempty"`
	// Steps completed of TotalSteps planned.
	Steps      int `json:"steps"`
	TotalSteps int `json:"total_steps"`
	// SamplesGenerated and GenTokens count every response the run
	// generated, and their tokens (all sessions).
	SamplesGenerated int64 `json:"samples_generated"`
	GenTokens        int64 `json:"generated_tokens"`
	NonFiniteSkipped int   `json:"nonfinite_skipped,omitempty"`
	// WallSeconds is the time spent in all sessions.
	WallSeconds float64 `json:"wall_seconds"`
	// FinalMetrics is the last line of metrics.jsonl; Eval every held-out
	// evaluation of the run (eval.data).
	FinalMetrics map[string]any `json:"final_metrics,omitempty"`
	Eval         []EvalPoint    `json:"eval,omitempty"`
	// Setup is the header of the last session.
	Setup    RunHeader    `json:"setup"`
	Paths    SummaryPaths `json:"paths"`
	Sessions []RunSession `json:"sessions"`
	// Version is the sdzero build (Options.Version).
	Version string `json:"sdzero_version,omitempty"`
}

// EvalPoint is one held-out evaluation during training.
type EvalPoint struct {
	Step        int     `json:"step"`
	Accuracy    float64 `json:"accuracy"`
	ResponseLen float64 `json:"response_len,omitempty"`
}

// SummaryPaths are the run's files (empty when not written).
type SummaryPaths struct {
	RunDir     string `json:"run_dir"`
	Config     string `json:"config"`
	Metrics    string `json:"metrics"`
	Rollouts   string `json:"rollouts,omitempty"`
	FinalModel string `json:"final_model,omitempty"`
	Checkpoint string `json:"checkpoint,omitempty"`
	Data       string `json:"data,omitempty"`
}

// RunSession is one start or resume of the run.
type RunSession struct {
	Started     time.Time `json:"started"`
	Ended       time.Time `json:"ended"`
	WallSeconds float64   `json:"wall_seconds"`
	FromStep    int       `json:"from_step"`
	ToStep      int       `json:"to_step"`
	Exit        string    `json:"exit"`
	Device      string    `json:"device"`
}

// finish writes summary.json for the session that loop ended with res and
// err, and returns them. A summary that cannot be written is a warning:
// the run's state is in its checkpoint, whatever happens to the report.
func (t *trainer) finish(res *Result, err error) (*Result, error) {
	if res == nil || !t.lead() {
		return res, err // rank 0 owns the run directory
	}
	s := t.summarize(res, err, time.Now())
	if werr := writeSummary(filepath.Join(t.runDir, summaryFile), s); werr != nil {
		t.prog0().logf("warning: %v", werr)
	}
	return res, err
}

// summarize builds the summary of the run after this session, over the
// sessions recorded in an existing summary.json.
func (t *trainer) summarize(res *Result, err error, now time.Time) *RunSummary {
	s := &RunSummary{}
	if old, rerr := ReadSummary(filepath.Join(t.runDir, summaryFile)); rerr == nil && old.Phase == t.cfg.Phase {
		s.Sessions = old.Sessions
	}
	// A resume redoes the steps after its checkpoint: sessions that ended
	// later than that are cut to it.
	for i := range s.Sessions {
		s.Sessions[i].ToStep = min(s.Sessions[i].ToStep, t.first)
	}
	s.Phase = t.cfg.Phase
	s.Steps, s.TotalSteps = res.Steps, res.TotalSteps
	s.SamplesGenerated, s.GenTokens = res.SamplesGenerated, res.GenTokens
	s.NonFiniteSkipped = res.NonFiniteSkipped
	switch {
	case err != nil:
		s.Exit, s.Error = ExitFailed, err.Error()
	case res.Interrupted:
		s.Exit = ExitInterrupted
	case t.done && res.Steps < t.st.PlannedSteps:
		s.Exit = ExitStopped
	default:
		s.Exit = ExitFinished
	}
	if s.Exit == ExitInterrupted || (s.Exit == ExitFailed && res.Checkpoint != "") {
		s.Resume = "sdzero train --resume " + t.runDir
	}
	s.Setup = t.runHeader()
	s.Version = t.opt.Version
	s.Sessions = append(s.Sessions, RunSession{Started: t.started, Ended: now, WallSeconds: now.Sub(t.started).Seconds(),
		FromStep: t.first, ToStep: res.Steps, Exit: s.Exit, Device: s.Setup.Device})
	for _, ss := range s.Sessions {
		s.WallSeconds += ss.WallSeconds
	}
	s.Paths = SummaryPaths{RunDir: t.runDir, Config: filepath.Join(t.runDir, configFile),
		Metrics: filepath.Join(t.runDir, metricsFile), FinalModel: res.FinalModel, Checkpoint: res.Checkpoint, Data: res.DataPath}
	if t.rlog != nil {
		s.Paths.Rollouts = t.rlog.path
	}
	s.FinalMetrics, s.Eval = readMetricsSummary(s.Paths.Metrics)
	return s
}

// readMetricsSummary returns the last record of a metrics.jsonl and its
// evaluation points; a missing or unreadable file gives neither.
func readMetricsSummary(path string) (map[string]any, []EvalPoint) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil
	}
	defer f.Close()
	var last map[string]any
	var evals []EvalPoint
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			continue
		}
		last = rec
		acc, ok := rec["eval_accuracy"].(float64)
		if !ok {
			continue
		}
		p := EvalPoint{Accuracy: acc}
		if st, ok := rec["step"].(float64); ok {
			p.Step = int(st)
		}
		if l, ok := rec["eval_response_len"].(float64); ok {
			p.ResponseLen = l
		}
		evals = append(evals, p)
	}
	return last, evals
}

// ReadSummary reads a run's summary.json.
func ReadSummary(path string) (*RunSummary, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := &RunSummary{}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

func writeSummary(path string, s *RunSummary) error {
	if math.IsNaN(s.WallSeconds) {
		return errors.New("summary: NaN wall time")
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("summary %s: %w", path, err)
	}
	return writeFileAtomic(path, append(b, '\n'))
}
