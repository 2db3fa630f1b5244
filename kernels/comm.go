package kernels

import (
	"fmt"
	"os"
)

// Comm is a communicator over the ranks (processes) of a distributed run:
// the collectives that data-parallel training needs, on tensors of one
// backend. Every rank must make the same calls in the same order with
// tensors of the same sizes; a collective returns once this rank's part is
// done (for a GPU communicator: once the work is queued on the backend's
// stream, so that later ops on that stream see the result).
//
// Errors name the call and the rank ("mpi rank 1 of 2: MPI_Allreduce:
// ..."). After an error the communicator's state is undefined: the caller
// should report the error and Abort, so that no other rank waits forever
// in its next collective.
//
// Implementations: LocalComm (one rank, no library), kernels/comm/mpi (Open
// MPI, CPU tensors) and kernels/comm/nccl (NCCL, CUDA tensors);
// kernels/comm.FromEnvironment picks one from how the process was
// launched.
type Comm interface {
	// Rank is this process's index, 0 <= Rank < Size.
	Rank() int
	// Size is the number of ranks.
	Size() int
	// AllReduce replaces x (F32) on every rank with the elementwise sum of
	// x over all ranks.
	AllReduce(x Tensor) error
	// ReduceScatter sums src (F32, Size()*n elements) over all ranks and
	// writes slot Rank() of the sum, src-sum[Rank()*n:(Rank()+1)*n], into
	// dst (n elements). dst may be src's own slot at Rank() (in place);
	// other overlaps are refused.
	ReduceScatter(dst, src Tensor) error
	// AllGather writes every rank's src (F32, n elements) into slot r of
	// dst (Size()*n elements), dst[r*n:(r+1)*n] = src of rank r. src may be
	// dst's own slot at Rank() (in place); other overlaps are refused.
	AllGather(dst, src Tensor) error
	// Broadcast copies x (F32) of rank root into x on every other rank.
	Broadcast(x Tensor, root int) error
	// AllReduceHost replaces the host values x with their elementwise sum
	// over all ranks: for metrics, token counts and sample counts (float64
	// sums of integers are exact below 2^53).
	AllReduceHost(x []float64) error
	// Barrier returns once every rank has entered it (for a GPU
	// communicator, after this rank's queued work has finished).
	Barrier() error
	// Abort ends every rank's process, this one included, with the exit
	// code: for a rank that fails while the others may be waiting in a
	// collective. It returns only if it could not abort.
	Abort(code int) error
	// Close releases the communicator (MPI_Finalize, ncclCommDestroy). Every
	// rank must call it; a closed Comm must not be used again.
	Close() error
}

// LocalComm is the communicator of a single-process run: rank 0 of 1.
// Reductions over one rank are identities, and ReduceScatter and AllGather
// copy (through the backend) unless done in place. It needs no library.
type LocalComm struct {
	// B is the backend that owns the tensors (used only for copies).
	B Backend
}

var _ Comm = LocalComm{}

// NewLocalComm returns the one-rank communicator for tensors of b.
func NewLocalComm(b Backend) LocalComm { return LocalComm{B: b} }

// Rank returns 0.
func (LocalComm) Rank() int { return 0 }

// Size returns 1.
func (LocalComm) Size() int { return 1 }

// AllReduce checks x: the sum over one rank is x itself.
func (c LocalComm) AllReduce(x Tensor) error {
	return CheckF32("local rank 0 of 1: AllReduce", "x", x)
}

// ReduceScatter copies src into dst (the whole sum is rank 0's slot).
func (c LocalComm) ReduceScatter(dst, src Tensor) error {
	_, inPlace, err := CheckShards("local rank 0 of 1: ReduceScatter", 0, 1, src, dst)
	if err != nil || inPlace {
		return err
	}
	c.B.Copy(dst, src)
	return nil
}

// AllGather copies src into dst (rank 0's slot is all of dst).
func (c LocalComm) AllGather(dst, src Tensor) error {
	_, inPlace, err := CheckShards("local rank 0 of 1: AllGather", 0, 1, dst, src)
	if err != nil || inPlace {
		return err
	}
	c.B.Copy(dst, src)
	return nil
}

// Broadcast checks x and root (which must be 0): x already holds rank 0's
// values.
func (c LocalComm) Broadcast(x Tensor, root int) error {
	const call = "local rank 0 of 1: Broadcast"
	if err := CheckRoot(call, root, 1); err != nil {
		return err
	}
	return CheckF32(call, "x", x)
}

// AllReduceHost leaves x as it is (the sum over one rank).
func (LocalComm) AllReduceHost(x []float64) error { return nil }

// Barrier returns at once: there is no other rank to wait for.
func (LocalComm) Barrier() error { return nil }

// Abort exits the process with code, as an MPI abort would.
func (LocalComm) Abort(code int) error {
	os.Exit(code)
	return nil
}

// Close does nothing: a LocalComm holds no resources.
func (LocalComm) Close() error { return nil }

// CheckF32 returns an error, prefixed with call, unless t is a valid F32
// tensor. Comm implementations use it to refuse bad arguments before any
// rank enters a collective.
func CheckF32(call, name string, t Tensor) error {
	if !t.Valid() {
		return fmt.Errorf("%s: %s is the zero Tensor", call, name)
	}
	if t.DType != F32 {
		return fmt.Errorf("%s: %s is %s, want F32", call, name, t.DType)
	}
	return nil
}

// CheckRoot returns an error, prefixed with call, unless 0 <= root < size.
func CheckRoot(call string, root, size int) error {
	if root < 0 || root >= size {
		return fmt.Errorf("%s: root %d outside ranks 0..%d", call, root, size-1)
	}
	return nil
}

// CheckShards validates the tensors of a ReduceScatter (full is src, shard
// is dst) or an AllGather (full is dst, shard is src) at rank of size:
// both F32, full holding size*n elements and shard n. It returns n and
// whether shard is exactly full's slot at rank (the in-place case); any
// other overlap of the two is an error, prefixed with call.
func CheckShards(call string, rank, size int, full, shard Tensor) (n int, inPlace bool, err error) {
	if err := CheckF32(call, "the full tensor", full); err != nil {
		return 0, false, err
	}
	if err := CheckF32(call, "the shard", shard); err != nil {
		return 0, false, err
	}
	n = shard.N
	if full.N != size*n {
		return 0, false, fmt.Errorf("%s: the full tensor has %d elements, want %d ranks * %d (the shard's size)", call, full.N, size, n)
	}
	if full.Buf != shard.Buf || n == 0 {
		return n, false, nil
	}
	if shard.Off == full.Off+rank*n {
		return n, true, nil
	}
	if shard.Off < full.Off+full.N && full.Off < shard.Off+n {
		return 0, false, fmt.Errorf("%s: the shard [%d,%d) overlaps the full tensor [%d,%d) but is not its slot at rank %d",
			call, shard.Off, shard.Off+n, full.Off, full.Off+full.N, rank)
	}
	return n, false, nil
}
