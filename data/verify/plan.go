package verify

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// sampleOverheadBytes is what one sample costs beyond its budgets: the
// wrapper/supervisor process, the exec stage, the root tmpfs, page tables
// and the parent's capped output buffers (1 MiB stdout + 64 KiB stderr).
const sampleOverheadBytes = 48 << 20

// CodePlan is the worst-case memory of running code verifications in
// parallel, against the memory the machine has available. Every sample is
// bounded as a whole (see CodeOptions.MemoryBytes and DiskBytes), so
// Workers x PerSampleBytes bounds them all.
type CodePlan struct {
	// Workers is the number of concurrent samples planned for.
	Workers int
	// RunBytes is a test run's bound: MemoryBytes + DiskBytes (the work
	// tmpfs is memory) + overhead.
	RunBytes int64
	// CompileBytes is the C++ compile step's bound: CompileMemoryBytes +
	// its work tmpfs + overhead.
	CompileBytes int64
	// PerSampleBytes is the larger of the two.
	PerSampleBytes int64
	// TotalBytes is Workers x PerSampleBytes.
	TotalBytes int64
	// AvailableBytes is MemAvailable from /proc/meminfo when the plan was
	// made (0: unknown, e.g. not Linux).
	AvailableBytes int64
	// NProc and FileBytes are the per-sample process and file-size limits.
	NProc     int
	FileBytes int64
}

// PlanCode computes the plan for workers concurrent samples (<= 0 means
// runtime.NumCPU()) with opt's limits (defaults applied).
func PlanCode(workers int, opt CodeOptions) CodePlan {
	opt = opt.withDefaults()
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	p := CodePlan{
		Workers:      workers,
		RunBytes:     opt.MemoryBytes + opt.DiskBytes + sampleOverheadBytes,
		CompileBytes: opt.CompileMemoryBytes + opt.compileDiskBytes() + sampleOverheadBytes,
		NProc:        opt.NProc,
		FileBytes:    opt.FileBytes,
	}
	p.PerSampleBytes = max(p.RunBytes, p.CompileBytes)
	p.TotalBytes = int64(workers) * p.PerSampleBytes
	p.AvailableBytes = availableMemory()
	return p
}

// Fits reports whether TotalBytes is within AvailableBytes (true when the
// available memory is unknown).
func (p CodePlan) Fits() bool { return p.AvailableBytes <= 0 || p.TotalBytes <= p.AvailableBytes }

// MaxWorkers is the largest worker count whose total fits the available
// memory (Workers when it is unknown); it may be 0.
func (p CodePlan) MaxWorkers() int {
	if p.AvailableBytes <= 0 || p.PerSampleBytes <= 0 {
		return p.Workers
	}
	return int(p.AvailableBytes / p.PerSampleBytes)
}

// String is the plan as one line for the run log.
func (p CodePlan) String() string {
	avail := "unknown"
	if p.AvailableBytes > 0 {
		avail = mib(p.AvailableBytes)
	}
	verdict := "fits"
	if !p.Fits() {
		verdict = fmt.Sprintf("DOES NOT FIT (at most %d workers)", p.MaxWorkers())
	}
	return fmt.Sprintf("code sandbox plan: %d workers x %s per sample (run %s, C++ compile %s) = %s of %s available: %s; %d processes, %s files per sample",
		p.Workers, mib(p.PerSampleBytes), mib(p.RunBytes), mib(p.CompileBytes), mib(p.TotalBytes), avail, verdict, p.NProc, mib(p.FileBytes))
}

// FitCodeWorkers chooses the verifier's worker count. requested <= 0 means
// "as many as fit": runtime.NumCPU(), lowered to what fits the available
// memory (at least 1). An explicit request that does not fit is an error
// naming the plan, as is a machine where a single sample does not fit.
func FitCodeWorkers(requested int, opt CodeOptions) (CodePlan, error) {
	p := PlanCode(requested, opt)
	if requested <= 0 && !p.Fits() {
		p = PlanCode(max(1, p.MaxWorkers()), opt)
	}
	if !p.Fits() {
		return p, fmt.Errorf("verify: %s; lower verify.workers or verify.memory_mb", p)
	}
	return p, nil
}

func mib(b int64) string { return strconv.FormatInt(b>>20, 10) + " MiB" }

// availableMemory reads MemAvailable from /proc/meminfo (0 when unknown).
func availableMemory() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			fs := strings.Fields(rest)
			if len(fs) >= 1 {
				if kb, err := strconv.ParseInt(fs[0], 10, 64); err == nil {
					return kb << 10
				}
			}
		}
	}
	return 0
}
