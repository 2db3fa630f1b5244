// Package mpi is a kernels.Comm over Open MPI for CPU tensors: libmpi.so.40
// (Open MPI 3.x to 5.x) is loaded at run time with purego, so sdzero builds
// with CGO_ENABLED=0 and needs the library only on machines that run
// multi-process jobs.
//
// Open MPI's predefined handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...)
// are, in its mpi.h, addresses of exported globals (ompi_mpi_comm_world,
// ...), which are looked up with dlsym; this binding is therefore specific
// to Open MPI's ABI (MPICH's handles are integers).
//
// Every MPI call runs on one dedicated OS thread, the one that called
// MPI_Init_thread (MPI_THREAD_FUNNELED), because goroutines move between
// threads. Errors are returned, not fatal: MPI_ERRORS_RETURN is set on
// MPI_COMM_WORLD, and each error names the call and the rank.
package mpi

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"unsafe"

	"sdzero/kernels"
	"sdzero/kernels/comm/internal/dynlib"
	"sdzero/kernels/cpu"
)

// Soname is the Open MPI library this package loads (its soname has been
// libmpi.so.40 from Open MPI 3.0 to 5.x).
const Soname = "libmpi.so.40"

// Constants of Open MPI's mpi.h.
const (
	threadFunneled   = 1
	maxErrorString   = 256
	maxLibraryString = 256
	// inPlace is MPI_IN_PLACE, ((void *) 1) in Open MPI.
	inPlace = uintptr(1)
	// maxCount is the largest element count passed in one call (MPI
	// counts are C ints); longer AllReduce and Broadcast calls are split
	// into Comm.chunk-sized calls.
	maxCount = 1 << 30
)

// api holds the MPI functions. Buffers are passed as uintptr (MPI_IN_PLACE
// is not a valid Go pointer); handles are addresses.
type api struct {
	initialized        func(flag *int32) int32
	finalized          func(flag *int32) int32
	initThread         func(argc, argv uintptr, required int32, provided *int32) int32
	commSetErrhandler  func(comm, errh uintptr) int32
	commRank           func(comm uintptr, r *int32) int32
	commSize           func(comm uintptr, n *int32) int32
	allreduce          func(send, recv uintptr, count int32, dt, op, comm uintptr) int32
	reduceScatterBlock func(send, recv uintptr, count int32, dt, op, comm uintptr) int32
	allgather          func(send uintptr, scount int32, sdt uintptr, recv uintptr, rcount int32, rdt, comm uintptr) int32
	bcast              func(buf uintptr, count int32, dt uintptr, root int32, comm uintptr) int32
	barrier            func(comm uintptr) int32
	finalize           func() int32
	abort              func(comm uintptr, code int32) int32
	errorString        func(code int32, s *byte, n *int32) int32
	libraryVersion     func(s *byte, n *int32) int32
}

// symbols lists every function the package binds.
func (a *api) symbols() []dynlib.Symbol {
	return []dynlib.Symbol{
		{Name: "MPI_Initialized", Fptr: &a.initialized},
		{Name: "MPI_Finalized", Fptr: &a.finalized},
		{Name: "MPI_Init_thread", Fptr: &a.initThread},
		{Name: "MPI_Comm_set_errhandler", Fptr: &a.commSetErrhandler},
		{Name: "MPI_Comm_rank", Fptr: &a.commRank},
		{Name: "MPI_Comm_size", Fptr: &a.commSize},
		{Name: "MPI_Allreduce", Fptr: &a.allreduce},
		{Name: "MPI_Reduce_scatter_block", Fptr: &a.reduceScatterBlock},
		{Name: "MPI_Allgather", Fptr: &a.allgather},
		{Name: "MPI_Bcast", Fptr: &a.bcast},
		{Name: "MPI_Barrier", Fptr: &a.barrier},
		{Name: "MPI_Finalize", Fptr: &a.finalize},
		{Name: "MPI_Abort", Fptr: &a.abort},
		{Name: "MPI_Error_string", Fptr: &a.errorString},
		{Name: "MPI_Get_library_version", Fptr: &a.libraryVersion, Optional: true},
	}
}

// globalNames are the exported globals behind Open MPI's predefined
// handles, in the order of the handles struct's fields.
var globalNames = []string{
	"ompi_mpi_comm_world",    // MPI_COMM_WORLD
	"ompi_mpi_float",         // MPI_FLOAT
	"ompi_mpi_double",        // MPI_DOUBLE
	"ompi_mpi_byte",          // MPI_BYTE
	"ompi_mpi_op_sum",        // MPI_SUM
	"ompi_mpi_errors_return", // MPI_ERRORS_RETURN
}

type handles struct {
	world, float, double, byte, sum, errorsReturn uintptr
}

// Options configure Open.
type Options struct {
	// LibDir is searched first for libmpi.so.40 (a path list).
	LibDir string
}

// Comm is an MPI_COMM_WORLD communicator. It implements kernels.Comm for
// tensors of the CPU backend (kernels/cpu), whose host memory it hands to
// MPI directly. Like a backend it is used by one goroutine at a time.
type Comm struct {
	api     api
	h       handles
	rank    int
	size    int
	lib     string
	version string
	calls   chan func()
	closed  bool
	// chunk is the most elements per MPI call of AllReduce and Broadcast
	// (maxCount; tests lower it to cover the split).
	chunk int
}

var _ kernels.Comm = (*Comm)(nil)

// SearchDirs returns the folders searched for libmpi.so.40, in order:
// libDir, $SDZERO_MPI_LIB_DIR, $LD_LIBRARY_PATH, $OPAL_PREFIX/lib,
// $MPI_HOME/lib, $MPI_ROOT/lib, the lib folder next to the mpirun on PATH,
// Mellanox OFED's and NVIDIA HPC-X's Open MPI, then system folders.
func SearchDirs(libDir string) []string {
	var near []string
	for _, v := range []string{"OPAL_PREFIX", "MPI_HOME", "MPI_ROOT"} {
		if p := os.Getenv(v); p != "" {
			near = append(near, filepath.Join(p, "lib"), filepath.Join(p, "lib64"))
		}
	}
	if p, err := exec.LookPath("mpirun"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		near = append(near, filepath.Join(filepath.Dir(filepath.Dir(p)), "lib"))
	}
	mofed, _ := filepath.Glob("/usr/mpi/gcc/openmpi-*/lib")
	sort.Sort(sort.Reverse(sort.StringSlice(mofed)))
	return dynlib.Dirs(
		[]string{libDir, os.Getenv("SDZERO_MPI_LIB_DIR"), os.Getenv("LD_LIBRARY_PATH")},
		near, mofed,
		[]string{"/opt/hpcx/ompi/lib",
			"/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
			"/usr/lib/x86_64-linux-gnu/openmpi/lib", "/usr/lib/aarch64-linux-gnu/openmpi/lib",
			"/usr/lib64/openmpi/lib", "/usr/lib/openmpi/lib",
			"/usr/local/lib", "/usr/lib64", "/usr/lib", "/opt/openmpi/lib"},
	)
}

// Find reports where libmpi.so.40 would be loaded from.
func Find(libDir string) dynlib.Search {
	return dynlib.Find("Open MPI", []string{Soname}, SearchDirs(libDir),
		"install Open MPI (Debian: apt-get install openmpi-bin) or set SDZERO_MPI_LIB_DIR to the folder holding libmpi.so.40")
}

// Open loads Open MPI, initialises it (MPI_Init_thread) on a dedicated OS
// thread and returns the MPI_COMM_WORLD communicator. The process must have
// been started by mpirun (or srun with PMIx); a plain process becomes a
// one-rank "singleton" world.
func Open(opts Options) (*Comm, error) {
	h, path, err := Find(opts.LibDir).Open()
	if err != nil {
		return nil, fmt.Errorf("mpi: %w", err)
	}
	c := &Comm{lib: path, calls: make(chan func()), chunk: maxCount}
	if err := dynlib.Bind(h, path, c.api.symbols()); err != nil {
		return nil, fmt.Errorf("mpi: %w", err)
	}
	g, err := dynlib.Globals(h, path, globalNames)
	if err != nil {
		return nil, fmt.Errorf("mpi: %w", err)
	}
	c.h = handles{world: g[0], float: g[1], double: g[2], byte: g[3], sum: g[4], errorsReturn: g[5]}
	go c.serve()
	if err := c.init(); err != nil {
		return nil, err
	}
	return c, nil
}

// serve runs every MPI call on one locked OS thread.
func (c *Comm) serve() {
	runtime.LockOSThread()
	// The thread stays locked: it is MPI's thread until the process ends.
	for f := range c.calls {
		f()
	}
}

// do runs f on the MPI thread and waits for it.
func (c *Comm) do(f func()) {
	done := make(chan struct{})
	c.calls <- func() { f(); close(done) }
	<-done
}

func (c *Comm) init() error {
	var err error
	c.do(func() {
		var flag int32
		if r := c.api.initialized(&flag); r != 0 || flag != 0 {
			err = fmt.Errorf("mpi: MPI_Init_thread: MPI is already initialised in this process (%s)", c.lib)
			return
		}
		var provided int32
		if r := c.api.initThread(0, 0, threadFunneled, &provided); r != 0 {
			err = fmt.Errorf("mpi: MPI_Init_thread failed with code %d (%s)", r, c.lib)
			return
		}
		if provided < threadFunneled {
			err = fmt.Errorf("mpi: MPI_Init_thread: %s provides thread level %d, need MPI_THREAD_FUNNELED (%d)", c.lib, provided, threadFunneled)
			return
		}
		// Errors come back as codes from here on (the default handler
		// aborts the job without saying which call failed).
		if r := c.api.commSetErrhandler(c.h.world, c.h.errorsReturn); r != 0 {
			err = c.mpiErr("MPI_Comm_set_errhandler", r)
			return
		}
		var rank, size int32
		if r := c.api.commRank(c.h.world, &rank); r != 0 {
			err = c.mpiErr("MPI_Comm_rank", r)
			return
		}
		if r := c.api.commSize(c.h.world, &size); r != 0 {
			err = c.mpiErr("MPI_Comm_size", r)
			return
		}
		c.rank, c.size = int(rank), int(size)
		if c.api.libraryVersion != nil {
			var buf [maxLibraryString]byte
			var n int32
			if c.api.libraryVersion(&buf[0], &n) == 0 && n > 0 && int(n) <= len(buf) {
				c.version = strings.TrimSpace(strings.TrimRight(string(buf[:n]), "\x00"))
			}
		}
	})
	return err
}

// prefix is the start of every error message of this rank.
func (c *Comm) prefix() string { return fmt.Sprintf("mpi rank %d of %d", c.rank, c.size) }

// mpiErr formats a failed call's code with MPI's own message. It runs on
// the MPI thread.
func (c *Comm) mpiErr(call string, code int32) error {
	var buf [maxErrorString]byte
	var n int32
	msg := fmt.Sprintf("error code %d", code)
	if c.api.errorString(code, &buf[0], &n) == 0 && n > 0 && int(n) <= len(buf) {
		msg = fmt.Sprintf("%s (code %d)", strings.TrimRight(string(buf[:n]), "\x00"), code)
	}
	return fmt.Errorf("%s: %s: %s", c.prefix(), call, msg)
}

// Rank returns this process's rank in MPI_COMM_WORLD.
func (c *Comm) Rank() int { return c.rank }

// Size returns the number of ranks in MPI_COMM_WORLD.
func (c *Comm) Size() int { return c.size }

// Library returns the path of the libmpi loaded and, where the library
// reports it, its version line.
func (c *Comm) Library() string {
	if c.version == "" {
		return c.lib
	}
	return c.lib + " (" + strings.SplitN(c.version, "\n", 2)[0] + ")"
}

// errClosed is returned by calls on a closed Comm.
var errClosed = errors.New("communicator used after Close")

// host returns the float32 memory of a CPU tensor for call.
func (c *Comm) host(call, name string, t kernels.Tensor) ([]float32, error) {
	if c.closed {
		return nil, fmt.Errorf("%s: %s: %w", c.prefix(), call, errClosed)
	}
	if err := kernels.CheckF32(c.prefix()+": "+call, name, t); err != nil {
		return nil, err
	}
	if b := t.Buf.Backend(); b != "cpu" {
		return nil, fmt.Errorf("%s: %s: %s belongs to backend %q; the MPI communicator takes CPU tensors (GPU tensors go through kernels/comm/nccl)", c.prefix(), call, name, b)
	}
	x, err := cpu.Float32s(t)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %s: %w", c.prefix(), call, name, err)
	}
	return x, nil
}

func addr(x []float32) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(x))) }

// AllReduce sums the CPU tensor x over all ranks, in place
// (MPI_Allreduce with MPI_IN_PLACE, MPI_FLOAT, MPI_SUM).
func (c *Comm) AllReduce(x kernels.Tensor) error {
	const call = "MPI_Allreduce"
	v, err := c.host(call, "x", x)
	if err != nil {
		return err
	}
	c.do(func() {
		for off := 0; off < len(v) && err == nil; off += c.chunk {
			part := v[off:min(off+c.chunk, len(v))]
			if r := c.api.allreduce(inPlace, addr(part), int32(len(part)), c.h.float, c.h.sum, c.h.world); r != 0 {
				err = c.mpiErr(call, r)
			}
		}
	})
	runtime.KeepAlive(v)
	return err
}

// AllReduceHost sums x over all ranks, in place (MPI_DOUBLE).
func (c *Comm) AllReduceHost(x []float64) error {
	const call = "MPI_Allreduce"
	if c.closed {
		return fmt.Errorf("%s: %s: %w", c.prefix(), call, errClosed)
	}
	if len(x) > maxCount {
		return fmt.Errorf("%s: %s: %d host values, at most %d", c.prefix(), call, len(x), maxCount)
	}
	if len(x) == 0 {
		// Every rank has the same (empty) x: nothing to exchange.
		return nil
	}
	var err error
	c.do(func() {
		if r := c.api.allreduce(inPlace, uintptr(unsafe.Pointer(unsafe.SliceData(x))), int32(len(x)), c.h.double, c.h.sum, c.h.world); r != 0 {
			err = c.mpiErr(call, r)
		}
	})
	runtime.KeepAlive(x)
	return err
}

// ReduceScatter sums src over all ranks and keeps this rank's slot in dst
// (MPI_Reduce_scatter_block). When dst is src's own slot the result goes
// through a temporary buffer, since MPI's in-place form expects a
// different layout.
func (c *Comm) ReduceScatter(dst, src kernels.Tensor) error {
	const call = "MPI_Reduce_scatter_block"
	n, same, err := kernels.CheckShards(c.prefix()+": "+call, c.rank, c.size, src, dst)
	if err != nil {
		return err
	}
	if n > math.MaxInt32 {
		return fmt.Errorf("%s: %s: %d elements per rank, at most %d", c.prefix(), call, n, math.MaxInt32)
	}
	s, err := c.host(call, "src", src)
	if err != nil {
		return err
	}
	d, err := c.host(call, "dst", dst)
	if err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	out := d
	if same {
		out = make([]float32, n)
	}
	c.do(func() {
		if r := c.api.reduceScatterBlock(addr(s), addr(out), int32(n), c.h.float, c.h.sum, c.h.world); r != 0 {
			err = c.mpiErr(call, r)
		}
	})
	runtime.KeepAlive(s)
	runtime.KeepAlive(out)
	if err == nil && same {
		copy(d, out)
	}
	return err
}

// AllGather collects every rank's src into dst (MPI_Allgather; with
// MPI_IN_PLACE when src is dst's own slot).
func (c *Comm) AllGather(dst, src kernels.Tensor) error {
	const call = "MPI_Allgather"
	n, same, err := kernels.CheckShards(c.prefix()+": "+call, c.rank, c.size, dst, src)
	if err != nil {
		return err
	}
	if n > math.MaxInt32 {
		return fmt.Errorf("%s: %s: %d elements per rank, at most %d", c.prefix(), call, n, math.MaxInt32)
	}
	d, err := c.host(call, "dst", dst)
	if err != nil {
		return err
	}
	s, err := c.host(call, "src", src)
	if err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	send := addr(s)
	if same {
		send = inPlace
	}
	c.do(func() {
		if r := c.api.allgather(send, int32(n), c.h.float, addr(d), int32(n), c.h.float, c.h.world); r != 0 {
			err = c.mpiErr(call, r)
		}
	})
	runtime.KeepAlive(s)
	runtime.KeepAlive(d)
	return err
}

// Broadcast copies root's x into x on every rank (MPI_Bcast).
func (c *Comm) Broadcast(x kernels.Tensor, root int) error {
	const call = "MPI_Bcast"
	if err := kernels.CheckRoot(c.prefix()+": "+call, root, c.size); err != nil {
		return err
	}
	v, err := c.host(call, "x", x)
	if err != nil {
		return err
	}
	c.do(func() {
		for off := 0; off < len(v) && err == nil; off += c.chunk {
			part := v[off:min(off+c.chunk, len(v))]
			if r := c.api.bcast(addr(part), int32(len(part)), c.h.float, int32(root), c.h.world); r != 0 {
				err = c.mpiErr(call, r)
			}
		}
	})
	runtime.KeepAlive(v)
	return err
}

// BroadcastBytes copies root's b into b on every rank (MPI_Bcast of
// MPI_BYTE): how the NCCL communicator shares its unique id.
func (c *Comm) BroadcastBytes(b []byte, root int) error {
	const call = "MPI_Bcast"
	if c.closed {
		return fmt.Errorf("%s: %s: %w", c.prefix(), call, errClosed)
	}
	if err := kernels.CheckRoot(c.prefix()+": "+call, root, c.size); err != nil {
		return err
	}
	if len(b) == 0 || len(b) > maxCount {
		return fmt.Errorf("%s: %s: %d bytes, want 1..%d", c.prefix(), call, len(b), maxCount)
	}
	var err error
	c.do(func() {
		if r := c.api.bcast(uintptr(unsafe.Pointer(&b[0])), int32(len(b)), c.h.byte, int32(root), c.h.world); r != 0 {
			err = c.mpiErr(call, r)
		}
	})
	runtime.KeepAlive(b)
	return err
}

// Barrier waits for every rank (MPI_Barrier).
func (c *Comm) Barrier() error {
	const call = "MPI_Barrier"
	if c.closed {
		return fmt.Errorf("%s: %s: %w", c.prefix(), call, errClosed)
	}
	var err error
	c.do(func() {
		if r := c.api.barrier(c.h.world); r != 0 {
			err = c.mpiErr(call, r)
		}
	})
	return err
}

// Abort ends every rank of the job with code (MPI_Abort on
// MPI_COMM_WORLD: mpirun kills the other processes). It returns only if
// MPI could not abort.
func (c *Comm) Abort(code int) error {
	const call = "MPI_Abort"
	var err error
	c.do(func() {
		if r := c.api.abort(c.h.world, int32(code)); r != 0 {
			err = c.mpiErr(call, r)
		}
	})
	if err == nil {
		err = fmt.Errorf("%s: %s returned", c.prefix(), call)
	}
	return err
}

// Close finalises MPI (MPI_Finalize). Every rank must call it before
// exiting: mpirun treats a rank that exits without it as failed.
func (c *Comm) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	var err error
	c.do(func() {
		if r := c.api.finalize(); r != 0 {
			err = c.mpiErr("MPI_Finalize", r)
		}
	})
	return err
}
