package train

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sdzero/data/verify"
	"sdzero/kernels"
	"sdzero/kernels/comm"
	"sdzero/kernels/comm/mpi"
	"sdzero/kernels/cpu"
	"sdzero/model/mptest"
)

// Multi-rank runs: the test binary starts itself under mpirun as the
// ranks of a run (TestDistWorker), as kernels/comm/mpi's tests do.

// distWorkerEnv carries a distJob (JSON) to the ranks.
const distWorkerEnv = "SDZERO_DIST_TEST_JOB"

// distDeathBound is how long a 2-rank run whose rank 1 is killed may take
// to end. mpirun notices the death at once and kills the other rank;
// measured about 1 s here (TestDistRankDeath logs it). The bound only turns
// a hang into a failure.
const distDeathBound = 60 * time.Second

// Bounds between a 1-rank and a 2-rank run of the same global batch (3-4
// steps at lr 1e-3). The ranks' gradients are summed by the reduce-scatter
// instead of accumulated by the backward pass, and the squared gradient
// norm is summed shard by shard, so gradients and clip factors differ by
// float32 rounding, and AdamW (whose first steps move each weight by about
// lr whatever the gradient's size) turns that into weight differences far
// below lr. Measured (TestDistMatchesSingle logs them): final weights
// within 2.2e-8 (sft), 1.6e-7 (distill), 1.2e-7 (grpo); per-step losses
// within a relative 1.4e-9, 2.4e-7 and 8.4e-7.
const (
	distWeightTol = 1e-6 // max |w1 - w2|
	distLossTol   = 1e-5 // max |l1 - l2| / |l1|
)

// distJob is what one rank of a test run does.
type distJob struct {
	Phase, Model, Data, Out string
	// Resume continues Out instead of starting it.
	Resume bool
	// StopAfter, if set, cancels rank 1's context after that step (as a
	// SIGTERM to that rank would); DieAfter SIGKILLs rank 1 after it.
	StopAfter, DieAfter int
	CheckpointEvery     int
	// FailShardAt makes rank 1 fail to write its optimizer shard of the
	// checkpoint after that step.
	FailShardAt int
	// BF16 runs in precision bf16 on the CPU backend with BF16 matmuls
	// (mptest.BF16CPU).
	BF16 bool
	// WholeMasters keeps the F32 masters whole on every rank of a bf16 run
	// (Options.wholeMasters); EMA, for sdft, is sdft.ema_rate.
	WholeMasters bool
	EMA          float64
}

// distBackend is the backend of a rank or of the single-process reference.
func distBackend(j distJob) kernels.Backend {
	if j.BF16 {
		return mptest.BF16CPU(1)
	}
	return cpu.New(1)
}

// distOutcome is what a rank reports (RUN/rank-R.json).
type distOutcome struct {
	Rank, Size     int
	Steps          int
	Interrupted    bool
	OptimizerBytes int64
	MasterBytes    int64
	Err            string
}

// needMPIRun skips unless mpirun and libmpi.so.40 are present (fails under
// SDZERO_REQUIRE_MPI=1, as CI sets once it installs Open MPI).
func needMPIRun(t *testing.T) string {
	t.Helper()
	missing := t.Skipf
	if os.Getenv("SDZERO_REQUIRE_MPI") == "1" {
		missing = t.Fatalf
	}
	bin, err := exec.LookPath("mpirun")
	if err != nil {
		missing("mpirun not on PATH: install Debian's openmpi-bin (apt-get install openmpi-bin) for the multi-rank tests")
	}
	if s := mpi.Find(""); s.Path == "" {
		missing("no %s: install Debian's openmpi-bin (apt-get install openmpi-bin) for the multi-rank tests; %s", mpi.Soname, s.Describe())
	}
	return bin
}

// distConfig is the config every rank and the single-process reference
// use: a global batch of 4 prompts (2 per rank), one CPU thread per rank.
func distConfig(t *testing.T, j distJob) *Config {
	c := tinyRunConfig(t, j.Phase, j.Model, j.Data, j.Out)
	c.Threads = 1
	c.Train.BatchSize = 4
	c.Train.MicroBatch = 2
	c.Train.Steps = 4
	c.Train.CheckpointEvery = j.CheckpointEvery
	c.Rollout.GenBatch = 3 // chunks that straddle the ranks' shares
	c.Distill.ReadinessProblems = 4
	c.Distill.ReadinessSamples = 2
	c.GRPO.DAPODynamicSampling = true
	// More logged samples than rank 0's share holds: rank 0 must gather.
	c.Log.RolloutsEvery = 2
	c.Log.RolloutsSamples = 6
	c.Collect.Revise = "both"
	c.Collect.Target = 3 // reached within the run: cut in global order
	if j.Phase == PhaseSFT {
		c.Train.Steps = 3
	}
	if j.BF16 {
		c.Precision = "bf16"
	}
	if j.Phase == PhaseSDFT {
		c.SDFT.EMARate = j.EMA
	}
	return c
}

// distReward is the tests' verifier: deterministic in the text, so that
// rewards vary between samples (GRPO has advantages to learn from).
func distReward(p *Problem, text string) verify.Result {
	return verify.Result{Reward: float64(len(text) % 2)}
}

// distRolloutLog records every verified sample with its step, for comparing
// runs' rollouts as multisets per step.
type distRolloutLog struct {
	mu   sync.Mutex
	step int
	rows []string
}

func (l *distRolloutLog) options(o *Options) {
	o.beforeGenerate = func(step int) { l.mu.Lock(); l.step = step; l.mu.Unlock() }
	o.reward = func(p *Problem, text string) verify.Result {
		l.mu.Lock()
		l.rows = append(l.rows, fmt.Sprintf("%d\t%s\t%q", l.step, p.ID, text))
		l.mu.Unlock()
		return distReward(p, text)
	}
}

func (l *distRolloutLog) write(path string) error {
	return os.WriteFile(path, []byte(strings.Join(l.rows, "\n")+"\n"), 0o644)
}

// TestDistWorker is one rank of a run that a test below starts under
// mpirun.
func TestDistWorker(t *testing.T) {
	spec := os.Getenv(distWorkerEnv)
	if spec == "" {
		t.Skip("runs only as a rank under mpirun (TestDistMatchesSingle and the other TestDist tests start it)")
	}
	var j distJob
	if err := json.Unmarshal([]byte(spec), &j); err != nil {
		t.Fatal(err)
	}
	be := distBackend(j)
	c, _, err := comm.FromEnvironment(os.Getenv, be, comm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rank := c.Rank()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log distRolloutLog
	opt := Options{Backend: be, Comm: c, wholeMasters: j.WholeMasters}
	log.options(&opt)
	opt.OnStep = func(step int, m Metrics) {
		if rank == 1 && step == j.StopAfter {
			cancel()
		}
		if rank == 1 && step == j.DieAfter {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Minute)
		}
	}
	step := 0
	opt.failSave = func(stage string) error {
		// The checkpoint after step k is saved before OnStep(k).
		if stage == "shard" && j.FailShardAt > 0 && step == j.FailShardAt-1 {
			return errors.New("injected shard failure")
		}
		return nil
	}
	onStep := opt.OnStep
	opt.OnStep = func(s int, m Metrics) { step = s; onStep(s, m) }
	var res *Result
	if j.Resume {
		res, err = Resume(ctx, j.Out, opt)
	} else {
		res, err = Run(ctx, distConfig(t, j), opt)
	}
	out := distOutcome{Rank: rank, Size: c.Size()}
	if err != nil {
		out.Err = err.Error()
	} else {
		out.Steps, out.Interrupted, out.OptimizerBytes, out.MasterBytes = res.Steps, res.Interrupted, res.OptimizerBytes, res.MasterBytes
	}
	js, _ := json.Marshal(out)
	if werr := os.WriteFile(filepath.Join(j.Out, fmt.Sprintf("rank-%d.json", rank)), js, 0o644); werr != nil {
		t.Fatal(werr)
	}
	suffix := ""
	if j.Resume {
		suffix = "-resumed"
	}
	if werr := log.write(filepath.Join(j.Out, fmt.Sprintf("rollouts-rank-%d%s.txt", rank, suffix))); werr != nil {
		t.Fatal(werr)
	}
	if err != nil {
		t.Fatalf("rank %d: %v", rank, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// mpirunJob runs job on np ranks and returns the ranks' outcomes.
func mpirunJob(t *testing.T, np int, j distJob) ([]distOutcome, string, error) {
	t.Helper()
	bin := needMPIRun(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := json.Marshal(j)
	ctx, cancel := context.WithTimeout(context.Background(), distDeathBound)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--allow-run-as-root", "--oversubscribe", "-np", strconv.Itoa(np),
		self, "-test.run=^TestDistWorker$", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), distWorkerEnv+"="+string(spec),
		"OMPI_MCA_btl_vader_single_copy_mechanism=none")
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("mpirun -np %d did not end within %v:\n%s", np, distDeathBound, buf.String())
	}
	var outs []distOutcome
	for r := 0; r < np; r++ {
		var o distOutcome
		if js, rerr := os.ReadFile(filepath.Join(j.Out, fmt.Sprintf("rank-%d.json", r))); rerr == nil && json.Unmarshal(js, &o) == nil {
			outs = append(outs, o)
		}
	}
	return outs, buf.String(), err
}

// runOneAndTwoRanks runs job one in this process and, with its output
// under a sibling "two" directory, under mpirun -np 2; it fails the test
// unless both ranks finish without error after as many steps as the single
// process, and returns the 2-rank job, the single result and the ranks'
// outcomes.
func runOneAndTwoRanks(t *testing.T, one distJob) (distJob, *Result, []distOutcome) {
	t.Helper()
	two := one
	two.Out = filepath.Join(t.TempDir(), "two")
	ref := runSingle(t, one)
	outs, log, err := mpirunJob(t, 2, two)
	if err != nil || len(outs) != 2 {
		t.Fatalf("mpirun -np 2: %v\n%s", err, log)
	}
	for _, o := range outs {
		if o.Err != "" || o.Steps != ref.Steps {
			t.Fatalf("rank %d: %d steps (want %d), error %q", o.Rank, o.Steps, ref.Steps, o.Err)
		}
	}
	return two, ref, outs
}

// runSingle is the single-process reference run of job (no Comm).
func runSingle(t *testing.T, j distJob) *Result {
	t.Helper()
	var log distRolloutLog
	opt := Options{Backend: distBackend(j)}
	log.options(&opt)
	res, err := Run(context.Background(), distConfig(t, j), opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := log.write(filepath.Join(j.Out, "rollouts-rank-0.txt")); err != nil {
		t.Fatal(err)
	}
	return res
}

// stepRollouts reads a run's rollout logs (all ranks; suffix "" or
// "-resumed") as sorted rows per step.
func stepRollouts(t *testing.T, dir, suffix string) map[int][]string {
	t.Helper()
	out := map[int][]string{}
	files, _ := filepath.Glob(filepath.Join(dir, "rollouts-rank-*"+suffix+".txt"))
	for _, f := range files {
		if suffix == "" && strings.HasSuffix(f, "-resumed.txt") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if line == "" {
				continue
			}
			step, _ := strconv.Atoi(strings.SplitN(line, "\t", 2)[0])
			if step == 0 {
				continue // distill's start check (rank 0 alone: startCheckRows)
			}
			out[step] = append(out[step], line)
		}
	}
	for _, rows := range out {
		sort.Strings(rows)
	}
	return out
}

// metricsOf reads one key per step of RUN/metrics.jsonl.
func metricsOf(t *testing.T, dir, key string) []float64 {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, metricsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		v, _ := rec[key].(float64)
		out = append(out, v)
	}
	return out
}

// maxAbsDiff is max |a-b| over two weight vectors (float32 bits).
func maxAbsDiff(t *testing.T, a, b []uint32) float64 {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d vs %d parameters", len(a), len(b))
	}
	d := 0.0
	for i := range a {
		x, y := float64(math.Float32frombits(a[i])), float64(math.Float32frombits(b[i]))
		d = max(d, math.Abs(x-y))
	}
	return d
}

// TestDistMatchesSingle: a 2-rank run and a single-process run with the
// same global batch (one thread per rank) draw the same rollouts and reach
// the same losses and final weights within float32 rounding
// (distLossTol, distWeightTol), and for distill and grpo the same samples
// at every step. The 2-rank run's optimizer state is half the single
// process's (ZeRO-1).
func TestDistMatchesSingle(t *testing.T) {
	needMPIRun(t)
	mdl := tinyModelDir(t, 21)
	data := tinyMathData(t, 8)
	for _, phase := range []string{PhaseSFT, PhaseDistill, PhaseGRPO} {
		t.Run(phase, func(t *testing.T) {
			one := distJob{Phase: phase, Model: mdl, Data: data, Out: filepath.Join(t.TempDir(), "one")}
			two, ref, outs := runOneAndTwoRanks(t, one)
			for _, o := range outs {
				// ZeRO-1: each rank keeps half of the moments (the tiny
				// model's parameter count is even, so no tail).
				if 2*o.OptimizerBytes != ref.OptimizerBytes {
					t.Errorf("rank %d: optimizer state %d bytes, want half of the single process's %d", o.Rank, o.OptimizerBytes, ref.OptimizerBytes)
				}
			}
			if phase != PhaseSFT {
				r1, r2 := stepRollouts(t, one.Out, ""), stepRollouts(t, two.Out, "")
				if len(r1) == 0 || !reflect.DeepEqual(r1, r2) {
					t.Errorf("the 2-rank run drew other rollouts than the single process:\n1 rank:  %v\n2 ranks: %v", r1, r2)
				}
			}
			if phase == PhaseGRPO {
				// DAPO's global keep/redraw decision must have been taken.
				d1, d2 := metricsOf(t, one.Out, "dyn_dropped_groups"), metricsOf(t, two.Out, "dyn_dropped_groups")
				if sum := func(v []float64) (s float64) {
					for _, x := range v {
						s += x
					}
					return s
				}; sum(d1) == 0 || !reflect.DeepEqual(d1, d2) {
					t.Errorf("dropped flat groups per step: %v (1 rank), %v (2 ranks); want the same, not all 0", d1, d2)
				}
			}
			compareRolloutsLog(t, one.Out, two.Out)
			if phase == PhaseDistill {
				// The start check runs once, on rank 0, as the single
				// process runs it; its figures reach the first record.
				s1, s2 := startCheckRows(t, one.Out, 0), startCheckRows(t, two.Out, 0)
				if len(s1) == 0 || !reflect.DeepEqual(s1, s2) || len(startCheckRows(t, two.Out, 1)) != 0 {
					t.Errorf("start check samples: %d (1 rank), %d on rank 0 and %d on rank 1 (want the single process's on rank 0 only)",
						len(s1), len(s2), len(startCheckRows(t, two.Out, 1)))
				}
				if a, b := metricsOf(t, one.Out, "readiness_accuracy"), metricsOf(t, two.Out, "readiness_accuracy"); !reflect.DeepEqual(a, b) {
					t.Errorf("readiness_accuracy per record: %v (1 rank), %v (2 ranks)", a, b)
				}
			}
			l1, l2 := metricsOf(t, one.Out, "loss"), metricsOf(t, two.Out, "loss")
			if len(l1) != ref.Steps || len(l2) != len(l1) {
				t.Fatalf("losses: %v vs %v", l1, l2)
			}
			dl := 0.0
			for i := range l1 {
				dl = max(dl, math.Abs(l1[i]-l2[i])/(math.Abs(l1[i])+1e-6))
			}
			dw := maxAbsDiff(t, readParams(t, filepath.Join(one.Out, finalSubdir)), readParams(t, filepath.Join(two.Out, finalSubdir)))
			t.Logf("%s: losses %v (1 rank) vs %v (2 ranks): max relative difference %.3g; final weights: max difference %.3g", phase, l1, l2, dl, dw)
			if dl > distLossTol || dw > distWeightTol {
				t.Errorf("2 ranks differ from 1: losses by %.3g (bound %g), weights by %.3g (bound %g)", dl, distLossTol, dw, distWeightTol)
			}
		})
	}
}

// TestDistResume: a 2-rank distill run stopped after step 2 by rank 1
// alone (its context cancelled, as a SIGTERM to that process does) stops
// on both ranks with a checkpoint; resumed under 2 ranks it ends
// bit-identical to an uninterrupted 2-rank run. A single process and 3
// ranks reshard its optimizer state and end within float32 rounding of
// that run.
func TestDistResume(t *testing.T) {
	needMPIRun(t)
	mdl := tinyModelDir(t, 22)
	data := tinyMathData(t, 8)
	full := distJob{Phase: PhaseDistill, Model: mdl, Data: data, Out: filepath.Join(t.TempDir(), "full"), CheckpointEvery: 2}
	if outs, log, err := mpirunJob(t, 2, full); err != nil || len(outs) != 2 || outs[0].Err != "" {
		t.Fatalf("uninterrupted run: %v %+v\n%s", err, outs, log)
	}
	cut := full
	cut.Out, cut.StopAfter = filepath.Join(t.TempDir(), "cut"), 2
	outs, log, err := mpirunJob(t, 2, cut)
	if err != nil || len(outs) != 2 {
		t.Fatalf("stopped run: %v\n%s", err, log)
	}
	for _, o := range outs {
		if !o.Interrupted || o.Steps != 2 || o.Err != "" {
			t.Fatalf("rank %d after rank 1's stop request: interrupted %v at step %d, error %q (want a stop at step 2 on every rank)", o.Rank, o.Interrupted, o.Steps, o.Err)
		}
	}
	ckpt := filepath.Join(cut.Out, checkpointsDir, checkpointName(2))
	for r := 0; r < 2; r++ {
		if _, err := os.Stat(filepath.Join(ckpt, optimShardName(r, 2))); err != nil {
			t.Errorf("checkpoint lacks rank %d's optimizer shard: %v", r, err)
		}
	}

	// Other world sizes reshard the optimizer state (on copies of the
	// stopped run): a single process and 3 ranks end within float32
	// rounding of the uninterrupted 2-rank run.
	one := filepath.Join(t.TempDir(), "one")
	copyTree(t, cut.Out, one)
	if r, err := Resume(context.Background(), one, Options{Backend: cpu.New(1), reward: distReward}); err != nil || r.Steps != 4 {
		t.Fatalf("single-process resume of the 2-rank checkpoint: %v", err)
	}
	three := cut
	three.Out, three.Resume, three.StopAfter = filepath.Join(t.TempDir(), "three"), true, 0
	copyTree(t, cut.Out, three.Out)
	if outs, log, err := mpirunJob(t, 3, three); err != nil || len(outs) != 3 || outs[0].Err != "" || outs[0].Steps != 4 {
		t.Fatalf("3-rank resume of the 2-rank checkpoint: %v %+v\n%s", err, outs, log)
	}
	want := readParams(t, filepath.Join(full.Out, finalSubdir))
	for _, dir := range []string{one, three.Out} {
		if d := maxAbsDiff(t, want, readParams(t, filepath.Join(dir, finalSubdir))); d > distWeightTol {
			t.Errorf("%s: resharded resume ends %.3g from the uninterrupted 2-rank run (bound %g)", filepath.Base(dir), d, distWeightTol)
		} else {
			t.Logf("%s: resharded resume ends within %.3g of the uninterrupted 2-rank run", filepath.Base(dir), d)
		}
	}

	res := cut
	res.Resume, res.StopAfter = true, 0
	outs, log, err = mpirunJob(t, 2, res)
	if err != nil || len(outs) != 2 || outs[0].Err != "" || outs[0].Steps != 4 {
		t.Fatalf("resumed run: %v %+v\n%s", err, outs, log)
	}
	if a, b := readParams(t, filepath.Join(full.Out, finalSubdir)), readParams(t, filepath.Join(cut.Out, finalSubdir)); !reflect.DeepEqual(a, b) {
		t.Errorf("resumed 2-rank run differs from the uninterrupted one (max relative difference %.3g)", maxAbsDiff(t, a, b))
	}
	if a, b := metricsOf(t, full.Out, "loss"), metricsOf(t, cut.Out, "loss"); !reflect.DeepEqual(a, b) {
		t.Errorf("losses: uninterrupted %v, stopped and resumed %v", a, b)
	}
}

// TestDistRankDeath: when rank 1 of a 2-rank run is killed (SIGKILL after
// step 1), the run ends within distDeathBound with an error naming rank 1.
func TestDistRankDeath(t *testing.T) {
	needMPIRun(t)
	j := distJob{Phase: PhaseSFT, Model: tinyModelDir(t, 23), Data: tinyMathData(t, 8), Out: filepath.Join(t.TempDir(), "run"), DieAfter: 1}
	start := time.Now()
	_, log, err := mpirunJob(t, 2, j)
	took := time.Since(start)
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("mpirun: want a non-zero exit after rank 1 died, got %v\n%s", err, log)
	}
	if !regexp.MustCompile(`process rank 1 with PID \d+ on\s+node \S+ exited\s+on\s+signal\s+9`).MatchString(log) {
		t.Errorf("output does not name rank 1:\n%s", log)
	}
	t.Logf("the run ended %v after its start (mpirun exit %d)", took.Round(time.Millisecond), exit.ExitCode())
}

// copyTree copies the run directory src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(to, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// startCheckRows are the step-0 rows (the distill start check's samples)
// of one rank's rollout log.
func startCheckRows(t *testing.T, dir string, rank int) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("rollouts-rank-%d.txt", rank)))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "0\t") {
			out = append(out, line)
		}
	}
	sort.Strings(out) // verified by concurrent workers
	return out
}

// compareRolloutsLog checks that two runs' RUN/rollouts.jsonl hold the
// same records; the per-token KL summaries, which follow the weights,
// agree within distLossTol (relative), the rest exactly.
func compareRolloutsLog(t *testing.T, one, two string) {
	t.Helper()
	read := func(dir string) []RolloutRecord {
		data, err := os.ReadFile(filepath.Join(dir, rolloutsFile))
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			t.Fatal(err)
		}
		var out []RolloutRecord
		for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			var r RolloutRecord
			if err := json.Unmarshal(line, &r); err != nil {
				t.Fatalf("%s: %v", dir, err)
			}
			out = append(out, r)
		}
		return out
	}
	a, b := read(one), read(two)
	if len(a) != len(b) {
		t.Fatalf("rollouts.jsonl: %d records (1 rank), %d (2 ranks)", len(a), len(b))
	}
	for i := range a {
		ka, kb := a[i].KL, b[i].KL
		a[i].KL, b[i].KL = nil, nil
		if !reflect.DeepEqual(a[i], b[i]) || (ka == nil) != (kb == nil) {
			t.Errorf("rollouts.jsonl record %d: %+v (1 rank), %+v (2 ranks)", i, a[i], b[i])
			continue
		}
		if ka != nil && (math.Abs(ka.Mean-kb.Mean) > distLossTol*(math.Abs(ka.Mean)+1e-6) || ka.Tokens != kb.Tokens) {
			t.Errorf("rollouts.jsonl record %d: KL %+v (1 rank), %+v (2 ranks)", i, *ka, *kb)
		}
	}
}

// TestDistCollectPhases: rft and srt-collect on 2 ranks draw the same
// rollouts as a single process with the same global batch, keep the same
// data (srt-collect's output byte for byte, under its target and
// de-duplication in global order) and, for rft, reach the same losses
// and final weights within float32 rounding.
func TestDistCollectPhases(t *testing.T) {
	needMPIRun(t)
	mdl := tinyModelDir(t, 25)
	data := tinyMathData(t, 8)
	for _, phase := range []string{PhaseRFT, PhaseSRTCollect} {
		t.Run(phase, func(t *testing.T) {
			one := distJob{Phase: phase, Model: mdl, Data: data, Out: filepath.Join(t.TempDir(), "one")}
			two, ref, _ := runOneAndTwoRanks(t, one)
			if r1, r2 := stepRollouts(t, one.Out, ""), stepRollouts(t, two.Out, ""); len(r1) == 0 || !reflect.DeepEqual(r1, r2) {
				t.Errorf("the 2-rank run drew other rollouts than the single process:\n1 rank:  %v\n2 ranks: %v", r1, r2)
			}
			compareRolloutsLog(t, one.Out, two.Out)
			if phase == PhaseSRTCollect {
				d1, err1 := os.ReadFile(filepath.Join(one.Out, "srt_data.jsonl"))
				d2, err2 := os.ReadFile(filepath.Join(two.Out, "srt_data.jsonl"))
				if err1 != nil || err2 != nil || len(d1) == 0 || !bytes.Equal(d1, d2) {
					t.Errorf("srt_data.jsonl: %d bytes (1 rank, %v), %d bytes (2 ranks, %v); want the same, not empty", len(d1), err1, len(d2), err2)
				}
				for _, key := range []string{"kept", "kept_total", "revisions", "revision_acc", "attempt_acc", "clean_rejected"} {
					if a, b := metricsOf(t, one.Out, key), metricsOf(t, two.Out, key); !reflect.DeepEqual(a, b) {
						t.Errorf("%s per step: %v (1 rank), %v (2 ranks)", key, a, b)
					}
				}
				t.Logf("srt-collect: %d steps, kept per step %v, %d bytes of tuples", ref.Steps, metricsOf(t, one.Out, "kept"), len(d1))
				return
			}
			if a, b := metricsOf(t, one.Out, "kept"), metricsOf(t, two.Out, "kept"); !reflect.DeepEqual(a, b) {
				t.Errorf("kept per step: %v (1 rank), %v (2 ranks)", a, b)
			}
			l1, l2 := metricsOf(t, one.Out, "loss"), metricsOf(t, two.Out, "loss")
			if len(l1) != ref.Steps || len(l2) != len(l1) {
				t.Fatalf("losses: %v vs %v", l1, l2)
			}
			dl := 0.0
			for i := range l1 {
				dl = max(dl, math.Abs(l1[i]-l2[i])/(math.Abs(l1[i])+1e-6))
			}
			dw := maxAbsDiff(t, readParams(t, filepath.Join(one.Out, finalSubdir)), readParams(t, filepath.Join(two.Out, finalSubdir)))
			t.Logf("rft: kept %v; losses %v (1 rank) vs %v (2 ranks): max relative difference %.3g; final weights: max difference %.3g",
				metricsOf(t, one.Out, "kept"), l1, l2, dl, dw)
			if dl > distLossTol || dw > distWeightTol {
				t.Errorf("2 ranks differ from 1: losses by %.3g (bound %g), weights by %.3g (bound %g)", dl, distLossTol, dw, distWeightTol)
			}
		})
	}
}

// TestDistCheckpointAtomic: when rank 1 cannot write its optimizer shard
// of step 2's checkpoint, no rank commits it: the run ends with errors
// (rank 1's naming the failure, rank 0's saying another rank failed), the
// previous checkpoint stays the latest and no temp directory is left.
func TestDistCheckpointAtomic(t *testing.T) {
	needMPIRun(t)
	j := distJob{Phase: PhaseSFT, Model: tinyModelDir(t, 24), Data: tinyMathData(t, 8), Out: filepath.Join(t.TempDir(), "run"), CheckpointEvery: 1, FailShardAt: 2}
	outs, log, err := mpirunJob(t, 2, j)
	if err == nil || len(outs) == 0 {
		t.Fatalf("mpirun: want a failed run, got %v, %+v\n%s", err, outs, log)
	}
	for _, o := range outs {
		want := "another rank failed"
		if o.Rank == 1 {
			want = "injected shard failure"
		}
		if !strings.Contains(o.Err, "step-000002") || !strings.Contains(o.Err, "write the optimizer shards") || !strings.Contains(o.Err, want) {
			t.Errorf("rank %d: error %q, want one about step-000002's shards saying %q", o.Rank, o.Err, want)
		}
	}
	root := filepath.Join(j.Out, checkpointsDir)
	if dir, err := latestCheckpoint(j.Out); err != nil || filepath.Base(dir) != checkpointName(1) {
		t.Errorf("latest checkpoint %q, %v; want step 1's", dir, err)
	}
	ents, _ := os.ReadDir(root)
	for _, e := range ents {
		if n := e.Name(); n != latestFile && n != checkpointName(1) {
			t.Errorf("left in %s: %s", root, n)
		}
	}
}
