package model

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"sdzero/kernels"
)

// TimingBackend wraps a Backend and accumulates the wall time and call
// count of every op by name, to show where a step's time goes. With
// SyncEach it calls Sync after every op so that asynchronous (GPU) backends
// are timed per op too. Allocation and Sync are passed through untimed
// (SumSquares, which waits, is timed).
type TimingBackend struct {
	kernels.Backend
	SyncEach bool

	mu     sync.Mutex
	stats  map[string]*OpStat
	phase  string
	phases map[string]map[string]*OpStat
}

// OpStat is the accumulated time of one op.
type OpStat struct {
	Op    string
	Class string
	Calls int
	Time  time.Duration
}

// NewTimingBackend wraps be.
func NewTimingBackend(be kernels.Backend, syncEach bool) *TimingBackend {
	return &TimingBackend{Backend: be, SyncEach: syncEach, stats: map[string]*OpStat{}, phases: map[string]map[string]*OpStat{}}
}

// PrefillRows forwards the wrapped backend's (kernels.PrefillRows; 1
// when it has none), so that timing a generation does not change it.
func (tb *TimingBackend) PrefillRows() int {
	if pr, ok := tb.Backend.(kernels.PrefillRows); ok {
		return pr.PrefillRows()
	}
	return 1
}

// SetPhase makes the ops that follow count toward phase p ("" for none)
// as well as toward the totals, and returns the previous phase. Generate
// marks its prefills "prefill" and its decode steps "decode", so that a
// table of decode steps is read off as it ran (not as a difference with
// other calls, whose page faults and caches differ).
func (tb *TimingBackend) SetPhase(p string) string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	old := tb.phase
	tb.phase = p
	return old
}

// PhaseStats returns the per-op totals of phase p since the last Reset,
// longest first.
func (tb *TimingBackend) PhaseStats(p string) []OpStat {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return sortedStats(tb.phases[p])
}

// record adds one call of d to op in m.
func record(m map[string]*OpStat, op, class string, d time.Duration) {
	s := m[op]
	if s == nil {
		s = &OpStat{Op: op, Class: class}
		m[op] = s
	}
	s.Calls++
	s.Time += d
}

func (tb *TimingBackend) done(op, class string, start time.Time) {
	if tb.SyncEach {
		tb.Backend.Sync()
	}
	d := time.Since(start)
	tb.mu.Lock()
	record(tb.stats, op, class, d)
	if tb.phase != "" {
		m := tb.phases[tb.phase]
		if m == nil {
			m = map[string]*OpStat{}
			tb.phases[tb.phase] = m
		}
		record(m, op, class, d)
	}
	tb.mu.Unlock()
}

// Reset clears the accumulated times.
func (tb *TimingBackend) Reset() {
	tb.mu.Lock()
	tb.stats = map[string]*OpStat{}
	tb.phases = map[string]map[string]*OpStat{}
	tb.mu.Unlock()
}

// Stats returns the per-op totals, longest first.
func (tb *TimingBackend) Stats() []OpStat {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return sortedStats(tb.stats)
}

// sortedStats returns the values of m, longest first.
func sortedStats(m map[string]*OpStat) []OpStat {
	out := make([]OpStat, 0, len(m))
	for _, s := range m {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Time > out[j].Time || out[i].Time == out[j].Time && out[i].Op < out[j].Op
	})
	return out
}

// ByClass sums the per-op totals by class (matmul, attention, loss, adamw,
// norm, rope, embedding, elementwise, transfer, sample, reduce).
func (tb *TimingBackend) ByClass() map[string]time.Duration {
	m := map[string]time.Duration{}
	for _, s := range tb.Stats() {
		m[s.Class] += s.Time
	}
	return m
}

// Report writes a table of op times divided by steps.
func (tb *TimingBackend) Report(w io.Writer, steps int) {
	stats := tb.Stats()
	var total time.Duration
	for _, s := range stats {
		total += s.Time
	}
	steps = max(steps, 1)
	fmt.Fprintf(w, "%-20s %-12s %8s %12s %7s\n", "op", "class", "calls", "ms/step", "share")
	for _, s := range stats {
		fmt.Fprintf(w, "%-20s %-12s %8d %12.3f %6.1f%%\n", s.Op, s.Class, s.Calls/steps,
			float64(s.Time.Microseconds())/1e3/float64(steps), 100*float64(s.Time)/float64(max(total, 1)))
	}
	fmt.Fprintf(w, "%-20s %-12s %8s %12.3f\n", "total", "", "", float64(total.Microseconds())/1e3/float64(steps))
}

// SumSquares is timed (it waits for queued work).
func (tb *TimingBackend) SumSquares(x kernels.Tensor, n int) float64 {
	defer tb.done("SumSquares", "reduce", time.Now())
	return tb.Backend.SumSquares(x, n)
}

// Upload is timed.
func (tb *TimingBackend) Upload(dst kernels.Tensor, src []float32) {
	defer tb.done("Upload", "transfer", time.Now())
	tb.Backend.Upload(dst, src)
}

// Download is timed.
func (tb *TimingBackend) Download(dst []float32, src kernels.Tensor) {
	defer tb.done("Download", "transfer", time.Now())
	tb.Backend.Download(dst, src)
}

// UploadInt32 is timed.
func (tb *TimingBackend) UploadInt32(dst kernels.Tensor, src []int32) {
	defer tb.done("UploadInt32", "transfer", time.Now())
	tb.Backend.UploadInt32(dst, src)
}

// DownloadInt32 is timed.
func (tb *TimingBackend) DownloadInt32(dst []int32, src kernels.Tensor) {
	defer tb.done("DownloadInt32", "transfer", time.Now())
	tb.Backend.DownloadInt32(dst, src)
}

// UploadRaw is timed.
func (tb *TimingBackend) UploadRaw(dst kernels.Tensor, src []byte) {
	defer tb.done("UploadRaw", "transfer", time.Now())
	tb.Backend.UploadRaw(dst, src)
}

// DownloadRaw is timed.
func (tb *TimingBackend) DownloadRaw(dst []byte, src kernels.Tensor) {
	defer tb.done("DownloadRaw", "transfer", time.Now())
	tb.Backend.DownloadRaw(dst, src)
}

// Copy is timed.
func (tb *TimingBackend) Copy(dst, src kernels.Tensor) {
	defer tb.done("Copy", "elementwise", time.Now())
	tb.Backend.Copy(dst, src)
}

// Convert is timed.
func (tb *TimingBackend) Convert(dst, src kernels.Tensor) {
	defer tb.done("Convert", "elementwise", time.Now())
	tb.Backend.Convert(dst, src)
}

// Fill is timed.
func (tb *TimingBackend) Fill(t kernels.Tensor, v float32) {
	defer tb.done("Fill", "elementwise", time.Now())
	tb.Backend.Fill(t, v)
}

// Scale is timed.
func (tb *TimingBackend) Scale(x kernels.Tensor, s float32, n int) {
	defer tb.done("Scale", "elementwise", time.Now())
	tb.Backend.Scale(x, s, n)
}

// AXPY is timed.
func (tb *TimingBackend) AXPY(y, x kernels.Tensor, alpha float32, n int) {
	defer tb.done("AXPY", "elementwise", time.Now())
	tb.Backend.AXPY(y, x, alpha, n)
}

// Add is timed.
func (tb *TimingBackend) Add(out, a, b kernels.Tensor, n int) {
	defer tb.done("Add", "elementwise", time.Now())
	tb.Backend.Add(out, a, b, n)
}

// MatMul is timed.
func (tb *TimingBackend) MatMul(c, a, b kernels.Tensor, m, n, k int, transA, transB bool, alpha, beta float32) {
	defer tb.done("MatMul", "matmul", time.Now())
	tb.Backend.MatMul(c, a, b, m, n, k, transA, transB, alpha, beta)
}

// MatMulBatched is timed.
func (tb *TimingBackend) MatMulBatched(c, a, b kernels.Tensor, batch, m, n, k int, transA, transB bool, alpha, beta float32, strideA, strideB, strideC int) {
	defer tb.done("MatMulBatched", "matmul", time.Now())
	tb.Backend.MatMulBatched(c, a, b, batch, m, n, k, transA, transB, alpha, beta, strideA, strideB, strideC)
}

// AddBias is timed.
func (tb *TimingBackend) AddBias(y, bias kernels.Tensor, rows, dim int) {
	defer tb.done("AddBias", "elementwise", time.Now())
	tb.Backend.AddBias(y, bias, rows, dim)
}

// BiasBackward is timed.
func (tb *TimingBackend) BiasBackward(dbias, dy kernels.Tensor, rows, dim int) {
	defer tb.done("BiasBackward", "elementwise", time.Now())
	tb.Backend.BiasBackward(dbias, dy, rows, dim)
}

// Embedding is timed.
func (tb *TimingBackend) Embedding(out, table, ids kernels.Tensor, n, dim int) {
	defer tb.done("Embedding", "embedding", time.Now())
	tb.Backend.Embedding(out, table, ids, n, dim)
}

// EmbeddingBackward is timed.
func (tb *TimingBackend) EmbeddingBackward(dtable, dout, ids kernels.Tensor, n, dim int) {
	defer tb.done("EmbeddingBackward", "embedding", time.Now())
	tb.Backend.EmbeddingBackward(dtable, dout, ids, n, dim)
}

// GatherRows is timed.
func (tb *TimingBackend) GatherRows(dst, src, idx kernels.Tensor, n, dim int) {
	defer tb.done("GatherRows", "embedding", time.Now())
	tb.Backend.GatherRows(dst, src, idx, n, dim)
}

// RMSNorm is timed.
func (tb *TimingBackend) RMSNorm(out, rstd, x, w kernels.Tensor, rows, dim int, eps float32) {
	defer tb.done("RMSNorm", "norm", time.Now())
	tb.Backend.RMSNorm(out, rstd, x, w, rows, dim, eps)
}

// RMSNormBackward is timed.
func (tb *TimingBackend) RMSNormBackward(dx, dw, dout, x, w, rstd kernels.Tensor, rows, dim int) {
	defer tb.done("RMSNormBackward", "norm", time.Now())
	tb.Backend.RMSNormBackward(dx, dw, dout, x, w, rstd, rows, dim)
}

// RoPE is timed.
func (tb *TimingBackend) RoPE(x, pos kernels.Tensor, tokens, heads, headDim int, theta float32, inverse bool) {
	defer tb.done("RoPE", "rope", time.Now())
	tb.Backend.RoPE(x, pos, tokens, heads, headDim, theta, inverse)
}

// RoPEFreqs times the op.
func (tb *TimingBackend) RoPEFreqs(x, pos, invFreq kernels.Tensor, tokens, heads, headDim int, inverse bool) {
	defer tb.done("RoPE", "rope", time.Now())
	tb.Backend.RoPEFreqs(x, pos, invFreq, tokens, heads, headDim, inverse)
}

// Attention is timed.
func (tb *TimingBackend) Attention(out, lse, q, k, v, lens kernels.Tensor, b, t, hq, hkv, d int, scale float32, window int) {
	defer tb.done("Attention", "attention", time.Now())
	tb.Backend.Attention(out, lse, q, k, v, lens, b, t, hq, hkv, d, scale, window)
}

// AttentionBackward is timed.
func (tb *TimingBackend) AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, lens kernels.Tensor, b, t, hq, hkv, d int, scale float32, window int) {
	defer tb.done("AttentionBackward", "attention", time.Now())
	tb.Backend.AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, lens, b, t, hq, hkv, d, scale, window)
}

// AttentionDecode is timed.
func (tb *TimingBackend) AttentionDecode(out, q, kc, vc, lens kernels.Tensor, b, tmax, hq, hkv, d int, scale float32, window int) {
	defer tb.done("AttentionDecode", "attention", time.Now())
	tb.Backend.AttentionDecode(out, q, kc, vc, lens, b, tmax, hq, hkv, d, scale, window)
}

// CacheWrite is timed.
func (tb *TimingBackend) CacheWrite(cache, x, start kernels.Tensor, b, t, tmax, width int) {
	defer tb.done("CacheWrite", "attention", time.Now())
	tb.Backend.CacheWrite(cache, x, start, b, t, tmax, width)
}

// SwiGLU is timed.
func (tb *TimingBackend) SwiGLU(out, gate, up kernels.Tensor, n int) {
	defer tb.done("SwiGLU", "elementwise", time.Now())
	tb.Backend.SwiGLU(out, gate, up, n)
}

// SwiGLUBackward is timed.
func (tb *TimingBackend) SwiGLUBackward(dgate, dup, dout, gate, up kernels.Tensor, n int) {
	defer tb.done("SwiGLUBackward", "elementwise", time.Now())
	tb.Backend.SwiGLUBackward(dgate, dup, dout, gate, up, n)
}

// CrossEntropy is timed.
func (tb *TimingBackend) CrossEntropy(loss, dlogits, logits, targets, w kernels.Tensor, rows, vocab int, gscale float32) {
	defer tb.done("CrossEntropy", "loss", time.Now())
	tb.Backend.CrossEntropy(loss, dlogits, logits, targets, w, rows, vocab, gscale)
}

// LogProbs is timed.
func (tb *TimingBackend) LogProbs(out, logits, targets kernels.Tensor, rows, vocab int) {
	defer tb.done("LogProbs", "loss", time.Now())
	tb.Backend.LogProbs(out, logits, targets, rows, vocab)
}

// Distill is timed.
func (tb *TimingBackend) Distill(loss, dstudent, s, t, w kernels.Tensor, rows, vocab int, p kernels.DistillParams, gscale float32) {
	defer tb.done("Distill", "loss", time.Now())
	tb.Backend.Distill(loss, dstudent, s, t, w, rows, vocab, p, gscale)
}

// Sample is timed.
func (tb *TimingBackend) Sample(out, logits, u kernels.Tensor, rows, vocab int, temp float32, topK int, topP float32) {
	defer tb.done("Sample", "sample", time.Now())
	tb.Backend.Sample(out, logits, u, rows, vocab, temp, topK, topP)
}

// AdamW is timed.
func (tb *TimingBackend) AdamW(p, g, m, v kernels.Tensor, n int, a kernels.AdamWParams) {
	defer tb.done("AdamW", "adamw", time.Now())
	tb.Backend.AdamW(p, g, m, v, n, a)
}

// AdamWBF16 is timed (kernels.FusedAdamW); over a backend without the
// fused pass it runs AdamW and Convert, which is what the pass replaces.
func (tb *TimingBackend) AdamWBF16(p, g, m, v, low kernels.Tensor, n int, a kernels.AdamWParams) {
	defer tb.done("AdamWBF16", "adamw", time.Now())
	if f, ok := tb.Backend.(kernels.FusedAdamW); ok {
		f.AdamWBF16(p, g, m, v, low, n, a)
		return
	}
	tb.Backend.AdamW(p, g, m, v, n, a)
	tb.Backend.Convert(low, p)
}

var _ kernels.Backend = (*TimingBackend)(nil)
