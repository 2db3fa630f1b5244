package train

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"sdzero/kernels"
	"sdzero/kernels/cuda"
	"sdzero/model"
)

// MaxPromptBytesPerToken bounds the bytes of a prompt per token of its
// budget before it is tokenized: byte-level BPE tokens average about 4
// bytes of text, so a question longer than this many bytes per allowed
// token cannot fit, and is skipped (counted) without spending seconds or
// gigabytes tokenizing it.
const MaxPromptBytesPerToken = 32

// PromptTooLong reports whether text is certain to exceed a budget of
// tokens by its length alone (see MaxPromptBytesPerToken).
func PromptTooLong(text string, budget int) bool {
	return int64(len(text)) > int64(budget)*MaxPromptBytesPerToken
}

// MemoryAvailable returns the bytes backend be can still allocate and what
// they are: a CUDA device's free memory plus its allocator's cache, or for
// the CPU backend the host's available memory (MemAvailable, capped by a
// cgroup v2 limit). ok is false when it cannot be told.
func MemoryAvailable(be kernels.Backend) (bytes int64, what string, ok bool) {
	if cb, isCUDA := be.(*cuda.Backend); isCUDA {
		st := cb.MemoryStats()
		if st.TotalDeviceBytes <= 0 {
			return 0, "", false
		}
		return st.FreeDeviceBytes + st.CachedBytes, fmt.Sprintf("free on the GPU (of %s)", byteSize(st.TotalDeviceBytes)), true
	}
	if be.Name() != "cpu" {
		return 0, "", false
	}
	return hostMemoryAvailable()
}

// hostMemoryAvailable reads MemAvailable from /proc/meminfo and lowers it
// to the room left under the cgroup v2 memory limit, if any.
func hostMemoryAvailable() (int64, string, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, "", false
	}
	defer f.Close()
	avail := int64(-1)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemAvailable:" {
			if kb, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
				avail = kb << 10
			}
		}
	}
	if avail < 0 {
		return 0, "", false
	}
	what := "available host memory"
	limit, err1 := os.ReadFile("/sys/fs/cgroup/memory.max")
	cur, err2 := os.ReadFile("/sys/fs/cgroup/memory.current")
	if err1 == nil && err2 == nil {
		l, e1 := strconv.ParseInt(strings.TrimSpace(string(limit)), 10, 64)
		c, e2 := strconv.ParseInt(strings.TrimSpace(string(cur)), 10, 64)
		if e1 == nil && e2 == nil && l-c < avail {
			avail, what = max(l-c, 0), "available under the cgroup memory limit"
		}
	}
	return avail, what, true
}

// PlanTotal sums a memory plan, saturating at math.MaxInt64 instead of
// overflowing.
func PlanTotal(plan []model.MemoryItem) int64 {
	var total int64
	for _, it := range plan {
		if it.Bytes > math.MaxInt64-total {
			return math.MaxInt64
		}
		total += it.Bytes
	}
	return total
}

// CheckMemoryPlan refuses to go on when plan (an estimate of what is about
// to be allocated on be) exceeds the memory be has available, with the plan
// in the error. hint says which knobs lower it. Unknown availability
// passes.
func CheckMemoryPlan(what string, plan []model.MemoryItem, be kernels.Backend, hint string) error {
	total := PlanTotal(plan)
	avail, where, ok := MemoryAvailable(be)
	if !ok || total <= avail {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s needs about %s but only %s is %s; the plan:\n", what, byteSize(total), byteSize(avail), where)
	for _, it := range plan {
		fmt.Fprintf(&b, "  %-40s %12s\n", it.Name, byteSize(it.Bytes))
	}
	fmt.Fprintf(&b, "  %-40s %12s", "total", byteSize(total))
	if hint != "" {
		fmt.Fprintf(&b, "\n%s", hint)
	}
	return fmt.Errorf("%s", b.String())
}

// MemoryPlan estimates the memory of the run on be from the model's
// config.json: the student's training plan (parameters, gradients, AdamW,
// activations at train.micro_batch x train.max_seq_len), the generation
// KV cache and activations of rollout.gen_batch rows, and the teacher or
// reference model where the phase keeps one (BF16-only where
// TeacherBF16Only: 2 bytes a matmul parameter). It is a lower bound (scratch
// and small buffers are left out).
func (c *Config) MemoryPlan(be kernels.Backend) ([]model.MemoryItem, error) {
	mc, err := model.LoadConfig(filepath.Join(c.Model, "config.json"))
	if err != nil {
		return nil, err
	}
	prec, err := c.ModelPrecision(be)
	if err != nil {
		return nil, err
	}
	t, r := c.Train, c.Rollout
	plan, err := model.TrainingMemoryPlan(mc, t.MicroBatch, t.MaxSeqLen, prec, t.Recompute)
	if err != nil {
		return nil, err
	}
	for i := range plan {
		plan[i].Name = "student " + plan[i].Name
	}
	generates := c.Phase != PhaseSFT && c.Phase != PhaseSRT
	if generates {
		rows := min(r.GenBatch, max(t.BatchSize*max(r.N, 1), 1))
		plan = append(plan, model.MemoryItem{Name: fmt.Sprintf("generation KV cache (%d x %d)", rows, t.MaxSeqLen),
			Bytes: model.KVCacheBytes(mc, rows, t.MaxSeqLen, prec)})
		acts, err := model.InferenceMemory(mc, rows, t.MaxSeqLen-r.MaxNewTokens, prec)
		if err != nil {
			return nil, err
		}
		plan = append(plan, model.MemoryItem{Name: "generation prefill activations", Bytes: acts})
	}
	frozen := func(who string) ([]model.MemoryItem, error) {
		items, err := model.FrozenParamMemory(mc, prec, c.TeacherBF16Only(prec))
		for i := range items {
			items[i].Name = who + " " + items[i].Name
		}
		return items, err
	}
	switch c.Phase {
	case PhaseDistill, PhaseSDFT:
		tl := c.Distill.TeacherMaxLen
		if tl == 0 || c.Phase == PhaseSDFT {
			tl = 2 * t.MaxSeqLen
		}
		acts, err := model.InferenceMemory(mc, t.MicroBatch, tl, prec)
		if err != nil {
			return nil, err
		}
		tp, err := frozen("teacher")
		if err != nil {
			return nil, err
		}
		plan = append(append(plan, tp...),
			model.MemoryItem{Name: fmt.Sprintf("teacher activations (%d x %d)", t.MicroBatch, tl), Bytes: acts})
	case PhaseGRPO:
		if c.GRPO.KLCoef > 0 {
			rp, err := frozen("reference")
			if err != nil {
				return nil, err
			}
			plan = append(plan, rp...)
		}
	}
	return plan, nil
}

// CheckMemory refuses a run whose MemoryPlan does not fit in the memory be
// has available, before anything is allocated, with the plan in the error.
// A plan that cannot be made (a missing or bad config.json) passes: loading
// the model reports that with its own error.
func (c *Config) CheckMemory(be kernels.Backend) error {
	plan, err := c.MemoryPlan(be)
	if err != nil {
		return nil
	}
	return CheckMemoryPlan(fmt.Sprintf("phase %s (train.micro_batch %d x train.max_seq_len %d)", c.Phase, c.Train.MicroBatch, c.Train.MaxSeqLen),
		plan, be, "lower train.micro_batch, train.max_seq_len or rollout.gen_batch, or set train.recompute: true")
}

// byteSize formats a byte count as KiB/MiB/GiB/TiB (never negative).
func byteSize(n int64) string {
	if n < 0 {
		return "(overflow)"
	}
	const ki = 1024.0
	x := float64(n)
	switch {
	case x >= ki*ki*ki*ki:
		return fmt.Sprintf("%.2f TiB", x/(ki*ki*ki*ki))
	case x >= ki*ki*ki:
		return fmt.Sprintf("%.2f GiB", x/(ki*ki*ki))
	case x >= ki*ki:
		return fmt.Sprintf("%.2f MiB", x/(ki*ki))
	case x >= ki:
		return fmt.Sprintf("%.1f KiB", x/ki)
	}
	return fmt.Sprintf("%d B", n)
}
