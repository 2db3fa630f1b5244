// Package nccl is a kernels.Comm over NVIDIA's NCCL for tensors of the CUDA
// backend: libnccl.so.2 is loaded at run time with purego (no cgo, no CUDA
// toolkit at build time), and its communicator is bootstrapped as llm.c
// does: rank 0 calls ncclGetUniqueId and broadcasts the id over MPI, then
// every rank calls ncclCommInitRank.
//
// Collectives are queued on the CUDA backend's own stream, so they are
// ordered with the backend's ops without extra synchronisation; a call
// returns once the work is queued. Host values (metrics, counts) and
// barriers go through the bootstrap communicator (MPI).
package nccl

import (
	"fmt"
	"os"
	"strings"

	"sdzero/kernels"
	"sdzero/kernels/comm/internal/dynlib"
	"sdzero/kernels/cuda"
)

// Soname is the NCCL library this package loads.
const Soname = "libnccl.so.2"

// Values of nccl.h's enums.
const (
	ncclSuccess    = 0
	ncclInProgress = 7
	ncclFloat32    = 7
	ncclSum        = 0
	uniqueIDBytes  = 128 // NCCL_UNIQUE_ID_BYTES
)

// uniqueID is ncclUniqueId, passed by value to ncclCommInitRank: purego
// copies its 128 bytes onto the stack on amd64 and passes a pointer to a
// copy on arm64, as the C ABIs require.
type uniqueID struct {
	internal [uniqueIDBytes]byte
}

// api holds the NCCL functions. Buffers and streams are addresses.
type api struct {
	getVersion        func(v *int32) int32
	getUniqueID       func(id *uniqueID) int32
	commInitRank      func(comm *uintptr, nranks int32, id uniqueID, rank int32) int32
	commDestroy       func(comm uintptr) int32
	commAbort         func(comm uintptr) int32
	commGetAsyncError func(comm uintptr, r *int32) int32
	allReduce         func(send, recv uintptr, count uint64, dt, op int32, comm, stream uintptr) int32
	reduceScatter     func(send, recv uintptr, recvCount uint64, dt, op int32, comm, stream uintptr) int32
	allGather         func(send, recv uintptr, sendCount uint64, dt int32, comm, stream uintptr) int32
	broadcast         func(send, recv uintptr, count uint64, dt, root int32, comm, stream uintptr) int32
	getErrorString    func(r int32) string
	getLastError      func(comm uintptr) string
}

// symbols lists every function the package binds.
func (a *api) symbols() []dynlib.Symbol {
	return []dynlib.Symbol{
		{Name: "ncclGetVersion", Fptr: &a.getVersion},
		{Name: "ncclGetUniqueId", Fptr: &a.getUniqueID},
		{Name: "ncclCommInitRank", Fptr: &a.commInitRank},
		{Name: "ncclCommDestroy", Fptr: &a.commDestroy},
		{Name: "ncclCommAbort", Fptr: &a.commAbort},
		{Name: "ncclCommGetAsyncError", Fptr: &a.commGetAsyncError},
		{Name: "ncclAllReduce", Fptr: &a.allReduce},
		{Name: "ncclReduceScatter", Fptr: &a.reduceScatter},
		{Name: "ncclAllGather", Fptr: &a.allGather},
		{Name: "ncclBroadcast", Fptr: &a.broadcast},
		{Name: "ncclGetErrorString", Fptr: &a.getErrorString},
		// NCCL 2.13 and later: the last error's detail.
		{Name: "ncclGetLastError", Fptr: &a.getLastError, Optional: true},
	}
}

// Device is what the communicator needs of a CUDA backend; *cuda.Backend
// implements it.
type Device interface {
	// DevicePointer returns the device address of an F32 tensor.
	DevicePointer(t kernels.Tensor) (uintptr, error)
	// Stream returns the stream the backend queues its work on.
	Stream() uintptr
	// InContext runs fn with the backend's CUDA context current.
	InContext(fn func() error) error
	// Sync waits for queued work and returns the backend's first error.
	Sync() error
}

var _ Device = (*cuda.Backend)(nil)

// Bootstrap is the host-side communicator that shares NCCL's unique id
// and carries host reductions and barriers; *mpi.Comm implements it.
type Bootstrap interface {
	Rank() int
	Size() int
	BroadcastBytes(b []byte, root int) error
	AllReduceHost(x []float64) error
	Barrier() error
	Abort(code int) error
	Close() error
}

// Options configure New.
type Options struct {
	// LibDir is searched first for libnccl.so.2 (a path list).
	LibDir string
}

// Comm is an NCCL communicator over the ranks of its bootstrap
// communicator. It implements kernels.Comm for tensors of the CUDA backend.
type Comm struct {
	api     api
	dev     Device
	boot    Bootstrap
	comm    uintptr
	rank    int
	size    int
	lib     string
	version int
	closed  bool
}

var _ kernels.Comm = (*Comm)(nil)

// SearchDirs returns the folders searched for libnccl.so.2, in order:
// libDir, $SDZERO_NCCL_LIB_DIR, $NCCL_HOME/lib, then the CUDA backend's
// folders (cuda.LibrarySearchDirs: $SDZERO_CUDA_LIB_DIR,
// $LD_LIBRARY_PATH, the CUDA toolkit, pip's nvidia/nccl/lib, system
// folders).
func SearchDirs(libDir string) []string {
	var home []string
	if h := os.Getenv("NCCL_HOME"); h != "" {
		home = []string{h + "/lib", h + "/lib64"}
	}
	return dynlib.Dirs([]string{libDir, os.Getenv("SDZERO_NCCL_LIB_DIR")}, home, cuda.LibrarySearchDirs(""))
}

// Find reports where libnccl.so.2 would be loaded from.
func Find(libDir string) dynlib.Search {
	return dynlib.Find("NCCL", []string{Soname}, SearchDirs(libDir),
		"install NCCL (pip install nvidia-nccl-cu12, or NVIDIA's libnccl2 package) or set SDZERO_NCCL_LIB_DIR to the folder holding libnccl.so.2")
}

// New loads NCCL on every rank of boot and creates the communicator for
// dev's device (one device per rank). All ranks learn whether every rank
// could load NCCL before any waits for the others, so a missing library
// on one rank is an error on all, naming it.
func New(dev Device, boot Bootstrap, opts Options) (*Comm, error) {
	c := &Comm{dev: dev, boot: boot, rank: boot.Rank(), size: boot.Size()}
	loadErr := c.load(opts.LibDir)
	failed := make([]float64, c.size)
	if loadErr != nil {
		failed[c.rank] = 1
	}
	if err := boot.AllReduceHost(failed); err != nil {
		return nil, fmt.Errorf("%s: agreeing on NCCL: %w", c.prefix(), err)
	}
	if loadErr != nil {
		return nil, fmt.Errorf("%s: %w", c.prefix(), loadErr)
	}
	var bad []string
	for r, f := range failed {
		if f != 0 {
			bad = append(bad, fmt.Sprint(r))
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%s: rank(s) %s could not load NCCL (their errors say why)", c.prefix(), strings.Join(bad, ", "))
	}

	// Rank 0 makes the id; byte 0 of the message says whether it could.
	msg := make([]byte, 1+uniqueIDBytes)
	var idErr error
	if c.rank == 0 {
		var id uniqueID
		if r := c.api.getUniqueID(&id); r != ncclSuccess {
			idErr = c.ncclErr("ncclGetUniqueId", r)
			msg[0] = 1
		}
		copy(msg[1:], id.internal[:])
	}
	if err := boot.BroadcastBytes(msg, 0); err != nil {
		return nil, fmt.Errorf("%s: broadcasting the NCCL unique id: %w", c.prefix(), err)
	}
	if idErr != nil {
		return nil, idErr
	}
	if msg[0] != 0 {
		return nil, fmt.Errorf("%s: ncclGetUniqueId failed on rank 0 (its error says why)", c.prefix())
	}
	var id uniqueID
	copy(id.internal[:], msg[1:])
	err := dev.InContext(func() error {
		if r := c.api.commInitRank(&c.comm, int32(c.size), id, int32(c.rank)); r != ncclSuccess {
			return c.ncclErr("ncclCommInitRank", r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// load finds, opens and binds libnccl.so.2.
func (c *Comm) load(libDir string) error {
	h, path, err := Find(libDir).Open()
	if err != nil {
		return err
	}
	if err := dynlib.Bind(h, path, c.api.symbols()); err != nil {
		return err
	}
	c.lib = path
	var v int32
	if c.api.getVersion(&v) == ncclSuccess {
		c.version = int(v)
	}
	return nil
}

func (c *Comm) prefix() string { return fmt.Sprintf("nccl rank %d of %d", c.rank, c.size) }

// ncclErr formats a failed call's result with NCCL's messages.
func (c *Comm) ncclErr(call string, r int32) error {
	msg := c.api.getErrorString(r)
	if c.api.getLastError != nil {
		if last := c.api.getLastError(c.comm); last != "" {
			msg += ": " + last
		}
	}
	return fmt.Errorf("%s: %s: %s (ncclResult %d)", c.prefix(), call, msg, r)
}

// Rank returns this process's rank.
func (c *Comm) Rank() int { return c.rank }

// Size returns the number of ranks.
func (c *Comm) Size() int { return c.size }

// Library returns the path of the libnccl loaded and its version.
func (c *Comm) Library() string {
	v := c.version
	if v >= 10000 { // NCCL 2.9+: major*10000 + minor*100 + patch
		return fmt.Sprintf("%s (NCCL %d.%d.%d)", c.lib, v/10000, v/100%100, v%100)
	}
	return fmt.Sprintf("%s (NCCL %d.%d.%d)", c.lib, v/1000, v/100%10, v%100)
}

// pointer returns the device address of t for call.
func (c *Comm) pointer(call, name string, t kernels.Tensor) (uintptr, error) {
	if c.closed {
		return 0, fmt.Errorf("%s: %s: communicator used after Close", c.prefix(), call)
	}
	if err := kernels.CheckF32(c.prefix()+": "+call, name, t); err != nil {
		return 0, err
	}
	p, err := c.dev.DevicePointer(t)
	if err != nil {
		return 0, fmt.Errorf("%s: %s: %s: %w", c.prefix(), call, name, err)
	}
	return p, nil
}

// enqueue runs one NCCL call in the device's context and checks both its
// result and the communicator's asynchronous error (a failed peer shows
// there).
func (c *Comm) enqueue(call string, f func() int32) error {
	return c.dev.InContext(func() error {
		if r := f(); r != ncclSuccess {
			return c.ncclErr(call, r)
		}
		return c.asyncErr(call)
	})
}

func (c *Comm) asyncErr(call string) error {
	var a int32
	if r := c.api.commGetAsyncError(c.comm, &a); r != ncclSuccess {
		return c.ncclErr("ncclCommGetAsyncError", r)
	}
	if a != ncclSuccess && a != ncclInProgress {
		return c.ncclErr(call+" (asynchronous)", a)
	}
	return nil
}

// AllReduce sums x over all ranks in place (ncclAllReduce, float32, sum).
func (c *Comm) AllReduce(x kernels.Tensor) error {
	const call = "ncclAllReduce"
	p, err := c.pointer(call, "x", x)
	if err != nil || x.N == 0 {
		return err
	}
	return c.enqueue(call, func() int32 {
		return c.api.allReduce(p, p, uint64(x.N), ncclFloat32, ncclSum, c.comm, c.dev.Stream())
	})
}

// ReduceScatter sums src over all ranks into this rank's slot dst
// (ncclReduceScatter; in place when dst is src's slot at Rank()).
func (c *Comm) ReduceScatter(dst, src kernels.Tensor) error {
	const call = "ncclReduceScatter"
	n, _, err := kernels.CheckShards(c.prefix()+": "+call, c.rank, c.size, src, dst)
	if err != nil {
		return err
	}
	sp, err := c.pointer(call, "src", src)
	if err != nil {
		return err
	}
	dp, err := c.pointer(call, "dst", dst)
	if err != nil || n == 0 {
		return err
	}
	return c.enqueue(call, func() int32 {
		return c.api.reduceScatter(sp, dp, uint64(n), ncclFloat32, ncclSum, c.comm, c.dev.Stream())
	})
}

// AllGather collects every rank's src into dst (ncclAllGather; in place
// when src is dst's slot at Rank()).
func (c *Comm) AllGather(dst, src kernels.Tensor) error {
	const call = "ncclAllGather"
	n, _, err := kernels.CheckShards(c.prefix()+": "+call, c.rank, c.size, dst, src)
	if err != nil {
		return err
	}
	sp, err := c.pointer(call, "src", src)
	if err != nil {
		return err
	}
	dp, err := c.pointer(call, "dst", dst)
	if err != nil || n == 0 {
		return err
	}
	return c.enqueue(call, func() int32 {
		return c.api.allGather(sp, dp, uint64(n), ncclFloat32, c.comm, c.dev.Stream())
	})
}

// Broadcast copies root's x into x on every rank (ncclBroadcast).
func (c *Comm) Broadcast(x kernels.Tensor, root int) error {
	const call = "ncclBroadcast"
	if err := kernels.CheckRoot(c.prefix()+": "+call, root, c.size); err != nil {
		return err
	}
	p, err := c.pointer(call, "x", x)
	if err != nil || x.N == 0 {
		return err
	}
	return c.enqueue(call, func() int32 {
		return c.api.broadcast(p, p, uint64(x.N), ncclFloat32, int32(root), c.comm, c.dev.Stream())
	})
}

// AllReduceHost sums host values over all ranks through the bootstrap
// communicator.
func (c *Comm) AllReduceHost(x []float64) error { return c.boot.AllReduceHost(x) }

// Barrier waits for this rank's queued work (including its collectives),
// then for every rank.
func (c *Comm) Barrier() error {
	if err := c.dev.Sync(); err != nil {
		return fmt.Errorf("%s: Barrier: %w", c.prefix(), err)
	}
	if err := c.dev.InContext(func() error { return c.asyncErr("Barrier") }); err != nil {
		return err
	}
	return c.boot.Barrier()
}

// Abort aborts the NCCL communicator (ncclCommAbort: its kernels stop
// waiting for peers) and then every rank through the bootstrap.
func (c *Comm) Abort(code int) error {
	if !c.closed {
		c.dev.InContext(func() error { c.api.commAbort(c.comm); return nil })
	}
	return c.boot.Abort(code)
}

// Close waits for queued work, destroys the NCCL communicator and closes
// the bootstrap communicator (MPI_Finalize).
func (c *Comm) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	err := c.dev.Sync()
	if err != nil {
		err = fmt.Errorf("%s: Close: %w", c.prefix(), err)
	}
	if e := c.dev.InContext(func() error {
		if r := c.api.commDestroy(c.comm); r != ncclSuccess {
			return c.ncclErr("ncclCommDestroy", r)
		}
		return nil
	}); e != nil && err == nil {
		err = e
	}
	if e := c.boot.Close(); e != nil && err == nil {
		err = e
	}
	return err
}
