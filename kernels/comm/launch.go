// Package comm finds out how the process was launched and opens the
// matching kernels.Comm: a one-rank kernels.LocalComm for a plain process
// (no MPI library needed), Open MPI (kernels/comm/mpi) for CPU tensors
// under mpirun or srun, and NCCL bootstrapped over MPI (kernels/comm/nccl)
// for CUDA tensors.
package comm

import (
	"fmt"
	"strconv"

	"sdzero/kernels"
	"sdzero/kernels/comm/mpi"
	"sdzero/kernels/comm/nccl"
	"sdzero/kernels/cuda"
)

// Launch says how this process was started, as far as the launcher's
// environment variables tell.
type Launch struct {
	// Launcher names the launcher that set the variables ("mpirun (Open
	// MPI)", "PMIx", "PMI", "srun"); empty for a plain process.
	Launcher string
	// Rank and Size are this process's rank and the number of ranks. Size
	// is 0 when only MPI itself can tell (a PMIx launch without Slurm's
	// variables); a plain process is rank 0 of 1.
	Rank, Size int
	// LocalRank is the rank among the processes on this node (-1 when the
	// launcher does not say); LocalSize their number (0 when unknown).
	LocalRank, LocalSize int
}

// Distributed reports whether the process is one of several ranks (or may
// be: Size unknown), so that MPI must be initialised.
func (l Launch) Distributed() bool { return l.Launcher != "" && l.Size != 1 }

// DeviceOrdinal is the GPU a rank should open when devices are visible to
// it: the local rank modulo devices (launchers that give each rank its own
// CUDA_VISIBLE_DEVICES leave one device, ordinal 0). It is 0 for a plain
// process or an unknown local rank.
func (l Launch) DeviceOrdinal(devices int) int {
	if l.LocalRank < 0 || devices <= 0 {
		return 0
	}
	return l.LocalRank % devices
}

// String describes the launch for logs ("rank 1 of 4 (local 1 of 2) under
// mpirun (Open MPI)").
func (l Launch) String() string {
	if l.Launcher == "" {
		return "single process"
	}
	size := "?"
	if l.Size > 0 {
		size = strconv.Itoa(l.Size)
	}
	s := fmt.Sprintf("rank %d of %s", l.Rank, size)
	if l.LocalRank >= 0 {
		local := "?"
		if l.LocalSize > 0 {
			local = strconv.Itoa(l.LocalSize)
		}
		s += fmt.Sprintf(" (local %d of %s)", l.LocalRank, local)
	}
	return s + " under " + l.Launcher
}

// launchers lists, in order of precedence, the variables each launcher
// sets. Open MPI's mpirun sets OMPI_COMM_WORLD_*; PMIx launchers
// (including srun --mpi=pmix) PMIX_RANK; MPICH's Hydra and srun
// --mpi=pmi2 PMI_RANK and PMI_SIZE; srun itself SLURM_PROCID and
// SLURM_STEP_NUM_TASKS (SLURM_NTASKS is not used: a batch script sees it
// too, but is a single process).
var launchers = []struct {
	name                 string
	marker               string // set only under this launcher
	rank, size           string
	localRank, localSize []string
}{
	{name: "mpirun (Open MPI)", marker: "OMPI_COMM_WORLD_SIZE", rank: "OMPI_COMM_WORLD_RANK", size: "OMPI_COMM_WORLD_SIZE",
		localRank: []string{"OMPI_COMM_WORLD_LOCAL_RANK"}, localSize: []string{"OMPI_COMM_WORLD_LOCAL_SIZE"}},
	{name: "PMIx", marker: "PMIX_RANK", rank: "PMIX_RANK", size: "SLURM_STEP_NUM_TASKS",
		localRank: []string{"SLURM_LOCALID"}},
	{name: "PMI", marker: "PMI_RANK", rank: "PMI_RANK", size: "PMI_SIZE",
		localRank: []string{"MPI_LOCALRANKID", "SLURM_LOCALID"}, localSize: []string{"MPI_LOCALNRANKS"}},
	{name: "srun", marker: "SLURM_STEP_NUM_TASKS", rank: "SLURM_PROCID", size: "SLURM_STEP_NUM_TASKS",
		localRank: []string{"SLURM_LOCALID"}},
}

// Detect reads the launcher's variables through getenv (os.Getenv in
// FromEnvironment). A plain process is rank 0 of 1; a variable that is set
// but not a valid number is an error naming it.
func Detect(getenv func(string) string) (Launch, error) {
	for _, ln := range launchers {
		if getenv(ln.marker) == "" {
			continue
		}
		l := Launch{Launcher: ln.name, LocalRank: -1}
		num := func(name string, min int) (int, bool, error) {
			v := getenv(name)
			if v == "" {
				return 0, false, nil
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < min {
				return 0, false, fmt.Errorf("launched by %s: %s=%q is not a number >= %d", ln.name, name, v, min)
			}
			return n, true, nil
		}
		var ok bool
		var err error
		if l.Rank, ok, err = num(ln.rank, 0); err != nil {
			return Launch{}, err
		} else if !ok {
			return Launch{}, fmt.Errorf("launched by %s (%s is set) but %s is not", ln.name, ln.marker, ln.rank)
		}
		if l.Size, _, err = num(ln.size, 1); err != nil {
			return Launch{}, err
		}
		if l.Size > 0 && l.Rank >= l.Size {
			return Launch{}, fmt.Errorf("launched by %s: rank %s=%d outside size %s=%d", ln.name, ln.rank, l.Rank, ln.size, l.Size)
		}
		for _, v := range ln.localRank {
			if n, ok, err := num(v, 0); err != nil {
				return Launch{}, err
			} else if ok {
				l.LocalRank = n
				break
			}
		}
		for _, v := range ln.localSize {
			if n, ok, err := num(v, 1); err != nil {
				return Launch{}, err
			} else if ok {
				l.LocalSize = n
				break
			}
		}
		return l, nil
	}
	return Launch{Size: 1, LocalRank: 0, LocalSize: 1}, nil
}

// Options configure FromEnvironment.
type Options struct {
	// MPILibDir and NCCLLibDir are searched first for libmpi.so.40 and
	// libnccl.so.2 (path lists).
	MPILibDir, NCCLLibDir string
}

// FromEnvironment returns the communicator for tensors of b according to
// how the process was launched (see Detect): a LocalComm for a single
// process, Open MPI's MPI_COMM_WORLD for the CPU backend, and NCCL
// (bootstrapped over MPI) for the CUDA backend. A CUDA rank should have
// opened device launch.DeviceOrdinal(n) of its n visible devices.
//
// On an error after MPI was initialised the caller should print the error
// and exit with a non-zero status: mpirun then ends the other ranks (MPI
// is deliberately not finalised, since MPI_Finalize would wait for ranks
// that may be stuck).
func FromEnvironment(getenv func(string) string, b kernels.Backend, opts Options) (kernels.Comm, Launch, error) {
	l, err := Detect(getenv)
	if err != nil {
		return nil, l, err
	}
	if !l.Distributed() {
		return kernels.NewLocalComm(b), l, nil
	}
	m, err := mpi.Open(mpi.Options{LibDir: opts.MPILibDir})
	if err != nil {
		return nil, l, fmt.Errorf("%s: %w", l, err)
	}
	if l.Size > 0 && (m.Size() != l.Size || m.Rank() != l.Rank) {
		return nil, l, fmt.Errorf("%s, but MPI sees rank %d of %d: under Slurm, start Open MPI programs with srun --mpi=pmix (or use mpirun)",
			l, m.Rank(), m.Size())
	}
	l.Rank, l.Size = m.Rank(), m.Size()
	switch be := b.(type) {
	case *cuda.Backend:
		c, err := nccl.New(be, m, nccl.Options{LibDir: opts.NCCLLibDir})
		if err != nil {
			return nil, l, err
		}
		return c, l, nil
	default:
		if b.Name() != "cpu" {
			return nil, l, fmt.Errorf("%s: no communicator for backend %q (MPI takes cpu tensors, NCCL cuda ones)", l, b.Name())
		}
		return m, l, nil
	}
}
