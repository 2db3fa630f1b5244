// Package kernels is sdzero's compute layer: one Backend interface of
// explicit ops (in the spirit of llm.c), implemented in pure Go by
// kernels/cpu and on NVIDIA GPUs by kernels/cuda.
//
// Tensors are flat handles to memory that a backend owns. Ops take their
// dimensions explicitly, so model and trainer code never index memory
// directly: they call ops, and copy to or from the host explicitly. That is
// what lets the CUDA backend slot in without touching model or train.
//
// Errors: ops do not return errors (a GPU reports failures asynchronously
// anyway). A backend records the first failure and returns it from Sync.
// Misuse that is a programming error (sizes that do not fit the tensors,
// unsupported dtypes) panics with a message naming the op.
//
// Layouts are row-major. "Accumulates" means the op adds into its output
// (+=); every other op overwrites its outputs.
package kernels

import "fmt"

// DType is an element type of a Tensor.
type DType uint8

// The element types. Compute ops work on F32 unless said otherwise; BF16 and
// F16 are storage types that Convert, Upload and Download translate, and that
// a GPU backend may also accept as MatMul inputs. I32 holds token ids,
// positions and lengths.
const (
	F32 DType = iota
	BF16
	F16
	I32
)

// Size is the number of bytes of one element.
func (d DType) Size() int {
	switch d {
	case F32, I32:
		return 4
	case BF16, F16:
		return 2
	}
	panic(fmt.Sprintf("kernels: unknown dtype %d", d))
}

// String returns the safetensors name of the dtype ("F32", "BF16", ...).
func (d DType) String() string {
	switch d {
	case F32:
		return "F32"
	case BF16:
		return "BF16"
	case F16:
		return "F16"
	case I32:
		return "I32"
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Buffer is a backend's storage behind one allocation. Only the backend that
// allocated it knows its concrete type.
type Buffer interface {
	// Backend returns the name of the backend that owns the buffer.
	Backend() string
}

// Tensor is a flat array of N elements of one DType, starting Off elements
// into Buf. It is a small value: copying it copies the handle, not the data.
type Tensor struct {
	DType DType
	N     int
	Off   int
	Buf   Buffer
}

// View returns the sub-range [off, off+n) of t, sharing its memory.
func (t Tensor) View(off, n int) Tensor {
	if off < 0 || n < 0 || off+n > t.N {
		panic(fmt.Sprintf("kernels: view [%d,%d) out of range of %d elements", off, off+n, t.N))
	}
	return Tensor{DType: t.DType, N: n, Off: t.Off + off, Buf: t.Buf}
}

// Valid reports whether t refers to memory (the zero Tensor does not).
func (t Tensor) Valid() bool { return t.Buf != nil }

// AdamWParams are the settings of one AdamW update, with PyTorch semantics.
type AdamWParams struct {
	LR, Beta1, Beta2, Eps, WeightDecay float32
	// Step is the 1-based step number used for bias correction.
	Step int
	// GradScale multiplies every gradient before use (1 for none); global
	// norm clipping passes min(1, maxNorm/norm) here.
	GradScale float32
}

// DistillParams select a per-position divergence between the student
// distribution p = softmax(s/Temp) and the teacher distribution
// q = softmax(t/Temp).
type DistillParams struct {
	// Temp divides both sets of logits (1 for none).
	Temp float32
	// TopK > 0 restricts both distributions to the teacher's TopK largest
	// logits at that position (ties broken by lower id), each renormalised
	// over those ids. 0 means the full vocabulary.
	TopK int
	// ForwardWeight mixes the two directions:
	// D = ForwardWeight*KL(q||p) + (1-ForwardWeight)*KL(p||q).
	// 0 is pure reverse KL (student || teacher), 1 pure forward KL.
	ForwardWeight float32
}

// Backend is the set of explicit ops that sdzero's model and trainer use.
// Implementations must be safe for use by one goroutine at a time (an op may
// use many goroutines or a GPU internally).
type Backend interface {
	// Name identifies the backend ("cpu", "cuda").
	Name() string
	// Supports reports whether compute ops accept inputs of dtype d where
	// an op's doc allows a non-F32 dtype (F32 and I32 are always supported).
	Supports(d DType) bool

	// Alloc returns a zero-filled tensor of n elements.
	Alloc(d DType, n int) (Tensor, error)
	// Free releases a tensor returned by Alloc (not a view). Freeing the
	// zero Tensor is a no-op.
	Free(t Tensor)
	// Sync waits for all queued work and returns the first error any op
	// reported since the previous Sync, naming the op.
	Sync() error

	// Upload copies len(src) float32 values into dst[0:len(src)],
	// converting to dst's dtype (round to nearest even) if it is BF16/F16.
	Upload(dst Tensor, src []float32)
	// Download copies src[0:len(dst)] into dst, converting to float32.
	Download(dst []float32, src Tensor)
	// UploadInt32 copies ids into an I32 tensor.
	UploadInt32(dst Tensor, src []int32)
	// DownloadInt32 copies an I32 tensor's first len(dst) elements to dst.
	DownloadInt32(dst []int32, src Tensor)
	// UploadRaw copies raw little-endian bytes into dst (any dtype): the
	// bit-exact path for checkpoints.
	UploadRaw(dst Tensor, src []byte)
	// DownloadRaw copies len(dst) bytes of src's raw little-endian storage.
	DownloadRaw(dst []byte, src Tensor)

	// Copy copies src into dst; both have the same dtype and N.
	Copy(dst, src Tensor)
	// Convert copies src into dst converting dtypes (F32, BF16, F16;
	// round to nearest even); both have the same N.
	Convert(dst, src Tensor)
	// Fill sets every element of an F32 tensor to v.
	Fill(t Tensor, v float32)
	// Scale multiplies n elements of x by s in place.
	Scale(x Tensor, s float32, n int)
	// AXPY computes y += alpha * x over n elements.
	AXPY(y, x Tensor, alpha float32, n int)
	// Add computes out = a + b over n elements (out may alias a or b).
	Add(out, a, b Tensor, n int)
	// SumSquares returns the sum of squares of x's first n elements,
	// accumulated in float64 (NaN or Inf if any element is). It waits
	// for queued work.
	SumSquares(x Tensor, n int) float64

	// MatMul computes C = alpha*op(A)*op(B) + beta*C with op(A) [m,k],
	// op(B) [k,n] and C [m,n]. transA means A is stored [k,m]; transB
	// means B is stored [n,k]. A linear layer with PyTorch's [out,in]
	// weight W is MatMul(y, x, W, tokens, out, in, false, true, 1, 0).
	// A and B may be BF16 on backends that Support it; C is F32.
	MatMul(c, a, b Tensor, m, n, k int, transA, transB bool, alpha, beta float32)
	// MatMulBatched runs batch independent MatMuls; matrix i of each
	// operand starts at i*stride elements.
	MatMulBatched(c, a, b Tensor, batch, m, n, k int, transA, transB bool, alpha, beta float32, strideA, strideB, strideC int)
	// AddBias adds bias [dim] to every row of y [rows,dim].
	AddBias(y, bias Tensor, rows, dim int)
	// BiasBackward accumulates the column sums of dy [rows,dim] into dbias.
	BiasBackward(dbias, dy Tensor, rows, dim int)

	// Embedding gathers rows of table [vocab,dim]: out[i] = table[ids[i]]
	// for n ids (I32).
	Embedding(out, table, ids Tensor, n, dim int)
	// EmbeddingBackward accumulates dout[i] into dtable[ids[i]].
	EmbeddingBackward(dtable, dout, ids Tensor, n, dim int)
	// GatherRows copies src rows: dst[i] = src[idx[i]] for n I32 indices,
	// rows of dim elements.
	GatherRows(dst, src, idx Tensor, n, dim int)

	// RMSNorm computes out = x * rstd * w per row of x [rows,dim], with
	// rstd = 1/sqrt(mean(x^2)+eps) stored in rstd [rows] for the backward.
	// On backends that Support BF16, out may be BF16 (rounded once from
	// the F32 result: a bf16 matmul's input without a conversion pass).
	RMSNorm(out, rstd, x, w Tensor, rows, dim int, eps float32)
	// RMSNormBackward accumulates into dx [rows,dim] and dw [dim].
	RMSNormBackward(dx, dw, dout, x, w, rstd Tensor, rows, dim int)

	// RoPE rotates x [tokens,heads,headDim] in place, token i at position
	// pos[i] (I32), in the Hugging Face "rotate_half" layout: element j
	// pairs with j+headDim/2, frequency theta^(-2j/headDim). inverse
	// rotates by the negative angle, which is the backward of RoPE.
	RoPE(x, pos Tensor, tokens, heads, headDim int, theta float32, inverse bool)
	// RoPEFreqs is RoPE with the inverse frequencies given (invFreq, F32
	// [headDim/2]) instead of derived from theta: for scaled RoPE (Llama
	// 3's "llama3", "linear"), whose frequencies the model computes.
	RoPEFreqs(x, pos, invFreq Tensor, tokens, heads, headDim int, inverse bool)

	// Attention is causal grouped-query attention over a right-padded
	// batch: q [b,t,hq,d], k and v [b,t,hkv,d] (query head h uses kv head
	// h/(hq/hkv)), out [b,t,hq,d], lse [b,hq,t] the log-sum-exp of each
	// query's scaled scores, kept for the backward. Row r holds lens[r]
	// (I32 [b]) real tokens; outputs at padded positions are zero. On
	// backends that Support BF16, q, k and v may all be BF16 (mixed
	// precision: bf16 products, F32 softmax statistics and accumulation);
	// out and lse are F32. window > 0 makes it sliding-window attention
	// as transformers masks it: the query at position i sees keys j with
	// i-window < j <= i; window <= 0 is full causal attention. The same
	// window argument applies to AttentionBackward and AttentionDecode
	// (where the query is at position lens[r]-1).
	Attention(out, lse, q, k, v, lens Tensor, b, t, hq, hkv, d int, scale float32, window int)
	// AttentionBackward overwrites dq, dk and dv (F32); q, k and v are
	// those given to Attention.
	AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, lens Tensor, b, t, hq, hkv, d int, scale float32, window int)
	// AttentionDecode attends one query per row, q [b,hq,d], to the first
	// lens[r] positions of the caches kc, vc [b,tmax,hkv,d]; out [b,hq,d].
	AttentionDecode(out, q, kc, vc, lens Tensor, b, tmax, hq, hkv, d int, scale float32, window int)
	// CacheWrite copies x [b,t,width] into cache [b,tmax,width] at rows
	// start[r]..start[r]+t-1 (I32 start [b]); positions >= tmax are dropped.
	CacheWrite(cache, x, start Tensor, b, t, tmax, width int)

	// SwiGLU computes out = silu(gate) * up over n elements. On backends
	// that Support BF16, out may be BF16 (as RMSNorm's).
	SwiGLU(out, gate, up Tensor, n int)
	// SwiGLUBackward overwrites dgate and dup.
	SwiGLUBackward(dgate, dup, dout, gate, up Tensor, n int)

	// CrossEntropy computes, per row of logits [rows,vocab],
	// loss[r] = w[r]*(logsumexp(logits[r]) - logits[r,targets[r]]), and 0
	// where w[r] == 0 or targets[r] < 0. If dlogits is Valid it is set to
	// gscale*w[r]*(softmax(logits[r]) - onehot(targets[r])) (zero rows
	// where the loss is 0); dlogits may alias logits. On backends that
	// Support BF16 dlogits may be BF16 (for a bf16 output projection's
	// backward). A negative weight gives the gradient of +w*logprob, which
	// policy-gradient losses use.
	CrossEntropy(loss, dlogits, logits, targets, w Tensor, rows, vocab int, gscale float32)
	// LogProbs sets out[r] = log_softmax(logits[r])[targets[r]] (0 where
	// targets[r] < 0).
	LogProbs(out, logits, targets Tensor, rows, vocab int)
	// Distill computes per row loss[r] = w[r]*D(p||q) for the divergence p
	// selects (see DistillParams), student logits s and teacher logits t
	// both [rows,vocab]. If dstudent is Valid it is set to
	// gscale*w[r]*dD/ds (the teacher gets no gradient); it may alias s,
	// or be BF16 on backends that Support BF16 (as CrossEntropy's dlogits).
	Distill(loss, dstudent, s, t, w Tensor, rows, vocab int, p DistillParams, gscale float32)
	// Sample draws one id per row of logits [rows,vocab] into out (I32):
	// temp <= 0 is argmax (lowest id on ties, as torch.argmax); otherwise
	// softmax(logits/temp) restricted to the topK largest (0 = all) and then
	// to the smallest prefix whose mass reaches topP (1 = all), sampled by
	// inverse CDF with u[r] in [0,1) (F32 [rows]) drawn by the caller, so
	// that runs are reproducible across backends.
	Sample(out, logits, u Tensor, rows, vocab int, temp float32, topK int, topP float32)

	// AdamW updates n parameters p from gradients g with moments m and v
	// (all F32), PyTorch's torch.optim.AdamW: p -= lr*wd*p; m = b1*m +
	// (1-b1)*g; v = b2*v + (1-b2)*g^2; p -= (lr/(1-b1^t)) * m /
	// (sqrt(v)/sqrt(1-b2^t) + eps), with g scaled by GradScale first.
	AdamW(p, g, m, v Tensor, n int, a AdamWParams)
}

// PrefillRows is implemented by backends that take other kernels, with
// other float32 summation orders, for short inputs: products with a
// weight (MatMul of x [m,k] by W stored [n,k]) of fewer rows, attention
// over fewer positions (the CPU's decode kernels and per-query
// attention). Generation pads every prefill to at least PrefillRows
// positions, so that a prompt prefilled alone (continuous batching) gets
// the values it gets in a batch.
type PrefillRows interface {
	PrefillRows() int
}

// Recorder is implemented by backends that can record the ops a function
// queues once and replay them as one unit (CUDA graphs on GPUs): for loops
// that run the same ops on the same tensors many times, such as decode
// steps, where launching each op from the host would cost more than the
// op itself. Callers check for it with a type assertion and fall back to
// queuing the ops directly.
type Recorder interface {
	// Record runs fn, which must only queue compute ops on tensors that
	// outlive the Graph (no Alloc, Free, Upload, Download, SumSquares or
	// Sync), and returns those ops as a Graph without executing them. The
	// ops' scalar arguments are fixed at recording; their tensors are read
	// and written anew at each Replay.
	Record(fn func()) (Graph, error)
}

// Graph is a recorded sequence of ops (see Recorder).
type Graph interface {
	// Replay queues the recorded ops, in order, after the work already
	// queued. Errors surface at the backend's next Sync.
	Replay()
	// Free releases the graph. It must not be replayed afterwards.
	Free()
}

// MemoryMeter is implemented by backends that track their device memory
// (the CUDA backend's caching allocator): PeakBytes is the most memory its
// live tensors and scratch have held at once; ResetPeak starts a new
// measurement from what is in use now.
type MemoryMeter interface {
	PeakBytes() int64
	ResetPeak()
}
