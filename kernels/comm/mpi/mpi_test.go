package mpi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"sdzero/kernels"
	"sdzero/kernels/cpu"
)

// workerEnv tells a test binary started by mpirun which scenario to run as
// one rank (TestWorker); the tests that start mpirun set it.
const workerEnv = "SDZERO_MPI_TEST_WORKER"

// deathBound is how long a 2-rank job whose rank 1 dies may take to end.
// mpirun notices the exit at once and kills the other rank (SIGTERM, then
// SIGKILL); measured well under a second here. The bound only turns a hang
// into a failure: it is not a speed assertion.
const deathBound = 60 * time.Second

// needMPI skips unless mpirun and libmpi.so.40 are installed; with
// SDZERO_REQUIRE_MPI=1 (CI, once it installs Open MPI) it fails instead, so
// that a lost install step cannot pass as green.
func needMPI(t *testing.T) string {
	t.Helper()
	missing := t.Skipf
	if os.Getenv("SDZERO_REQUIRE_MPI") == "1" {
		missing = t.Fatalf
	}
	mpirun, err := exec.LookPath("mpirun")
	if err != nil {
		missing("mpirun not on PATH: install Debian's openmpi-bin (apt-get install openmpi-bin) for the multi-rank tests")
	}
	if s := Find(""); s.Path == "" {
		missing("no %s: install Debian's openmpi-bin (apt-get install openmpi-bin) for the multi-rank tests; %s", Soname, s.Describe())
	}
	return mpirun
}

// mpirun runs this test binary's TestWorker as np ranks of scenario and
// returns the combined output and the exit error.
func mpirun(t *testing.T, ctx context.Context, np int, scenario string) (string, error) {
	t.Helper()
	bin := needMPI(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, "--allow-run-as-root", "--oversubscribe", "-np", strconv.Itoa(np),
		self, "-test.run=^TestWorker$", "-test.count=1", "-test.v", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), workerEnv+"="+scenario,
		// Containers often forbid the cross-memory-attach copies of the
		// shared-memory transport; plain copies work everywhere.
		"OMPI_MCA_btl_vader_single_copy_mechanism=none")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

// TestCollectives runs every collective on 2 and 3 ranks and checks the
// results against the values each rank can compute on its own.
func TestCollectives(t *testing.T) {
	for _, np := range []int{2, 3} {
		t.Run(fmt.Sprintf("np%d", np), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			out, err := mpirun(t, ctx, np, "collectives")
			if err != nil {
				t.Fatalf("mpirun -np %d: %v\n%s", np, err, out)
			}
			// Every rank must have run its checks (not skipped them).
			for r := 0; r < np; r++ {
				if want := fmt.Sprintf("worker rank %d of %d: all collectives agree", r, np); !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestRankDeath ends rank 1 of 2 while rank 0 waits in collectives: by an
// error exit, by SIGKILL, and by a "successful" exit without MPI_Finalize.
// The job must end within deathBound with mpirun's message naming rank 1.
func TestRankDeath(t *testing.T) {
	needMPI(t)
	cases := []struct {
		scenario string
		// want matches mpirun's report of the dead rank.
		want string
	}{
		{"die-exit", `(?s)exited with non-zero status.*Process name: \[\[\d+,\d+\],1\]\s+Exit code:\s+7`},
		{"die-kill", `process rank 1 with PID \d+ on\s+node \S+ exited\s+on\s+signal\s+9`},
		{"die-zero", `process rank 1 with PID \d+ on\s+node \S+ exiting\s+improperly`},
	}
	for _, tc := range cases {
		t.Run(tc.scenario, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), deathBound)
			defer cancel()
			start := time.Now()
			out, err := mpirun(t, ctx, 2, tc.scenario)
			took := time.Since(start)
			if ctx.Err() != nil {
				t.Fatalf("the job did not end within %v after rank 1 died:\n%s", deathBound, out)
			}
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("mpirun: want a non-zero exit, got %v\n%s", err, out)
			}
			if !regexp.MustCompile(tc.want).MatchString(out) {
				t.Errorf("output does not name rank 1 (want /%s/):\n%s", tc.want, out)
			}
			if strings.Contains(out, "rank 0 finished") {
				t.Errorf("rank 0 finished its collectives although rank 1 was dead:\n%s", out)
			}
			t.Logf("job ended %v after start (mpirun exit %d)", took.Round(time.Millisecond), exit.ExitCode())
		})
	}
}

// TestFindDescribesSearch checks that a failed search says where it looked
// and what to install.
func TestFindDescribesSearch(t *testing.T) {
	s := Find("/nonexistent/mpi")
	if s.Dirs[0] != "/nonexistent/mpi" {
		t.Errorf("LibDir is not searched first: %v", s.Dirs)
	}
	d := s.Describe()
	for _, want := range []string{"/nonexistent/mpi", Soname, "openmpi-bin", "SDZERO_MPI_LIB_DIR"} {
		if !strings.Contains(d, want) {
			t.Errorf("description lacks %q: %s", want, d)
		}
	}
}

// TestWorker is one rank of a job that TestCollectives or TestRankDeath
// starts under mpirun.
func TestWorker(t *testing.T) {
	scenario := os.Getenv(workerEnv)
	if scenario == "" {
		t.Skip("runs only as a rank under mpirun (TestCollectives and TestRankDeath start it)")
	}
	c, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := os.Getenv("OMPI_COMM_WORLD_RANK"); want != strconv.Itoa(c.Rank()) {
		t.Errorf("rank %d, but OMPI_COMM_WORLD_RANK=%s", c.Rank(), want)
	}
	if want := os.Getenv("OMPI_COMM_WORLD_SIZE"); want != strconv.Itoa(c.Size()) {
		t.Errorf("size %d, but OMPI_COMM_WORLD_SIZE=%s", c.Size(), want)
	}
	t.Logf("rank %d of %d: %s", c.Rank(), c.Size(), c.Library())
	switch scenario {
	case "collectives":
		checkCollectives(t, c)
		if !t.Failed() {
			t.Logf("worker rank %d of %d: all collectives agree", c.Rank(), c.Size())
		}
	case "die-exit", "die-kill", "die-zero":
		b := cpu.New(1)
		x := alloc(t, b, 1000)
		if err := c.AllReduce(x); err != nil {
			t.Fatal(err)
		}
		if c.Rank() == 1 {
			switch scenario {
			case "die-exit":
				os.Exit(7)
			case "die-kill":
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				time.Sleep(time.Minute)
			case "die-zero":
				// Exiting "successfully" without MPI_Finalize.
				os.Exit(0)
			}
		}
		for i := 0; i < 1000; i++ {
			if err := c.AllReduce(x); err != nil {
				// With MPI_ERRORS_RETURN the survivor may see the error
				// before mpirun kills it.
				fmt.Fprintf(os.Stderr, "rank 0 got: %v\n", err)
				os.Exit(3)
			}
		}
		fmt.Fprintln(os.Stderr, "rank 0 finished")
	default:
		t.Fatalf("unknown scenario %q", scenario)
	}
	if err := c.Close(); err != nil {
		t.Error(err)
	}
}

func alloc(t *testing.T, b *cpu.Backend, n int) kernels.Tensor {
	t.Helper()
	x, err := b.Alloc(kernels.F32, n)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func download(b *cpu.Backend, x kernels.Tensor) []float32 {
	v := make([]float32, x.N)
	b.Download(v, x)
	return v
}

// fakeBuf is memory of another backend, which the MPI communicator refuses.
type fakeBuf struct{}

func (fakeBuf) Backend() string { return "cuda" }

// checkCollectives runs each collective with values every rank can predict
// (small integers and halves: float32 sums are exact, in any order).
func checkCollectives(t *testing.T, c *Comm) {
	b := cpu.New(1)
	rank, size := c.Rank(), c.Size()
	val := func(r, i int) float32 { return float32((r+1)*(i+1)) + 0.5 }
	sumVal := func(i int) float32 {
		var s float32
		for r := 0; r < size; r++ {
			s += val(r, i)
		}
		return s
	}
	expect := func(what string, got []float32, want func(i int) float32) {
		t.Helper()
		for i, g := range got {
			if w := want(i); g != w {
				t.Errorf("rank %d: %s[%d] = %v, want %v", rank, what, i, g, w)
				return
			}
		}
	}

	// AllReduce on a view (nonzero offset), untouched neighbours, and
	// split into several MPI calls.
	for _, chunk := range []int{maxCount, 7} {
		c.chunk = chunk
		const n = 50
		buf := alloc(t, b, n+4)
		init := make([]float32, n+4)
		for i := range init {
			init[i] = -1
		}
		for i := 0; i < n; i++ {
			init[2+i] = val(rank, i)
		}
		b.Upload(buf, init)
		if err := c.AllReduce(buf.View(2, n)); err != nil {
			t.Fatal(err)
		}
		got := download(b, buf)
		expect(fmt.Sprintf("AllReduce(chunk %d)", chunk), got[2:2+n], sumVal)
		if got[0] != -1 || got[1] != -1 || got[n+2] != -1 || got[n+3] != -1 {
			t.Errorf("rank %d: AllReduce wrote outside its view: %v", rank, got)
		}
	}
	c.chunk = maxCount

	// ReduceScatter into a separate shard and in place.
	const n = 5
	full := alloc(t, b, size*n)
	fill := func() {
		v := make([]float32, size*n)
		for i := range v {
			v[i] = val(rank, i)
		}
		b.Upload(full, v)
	}
	fill()
	shard := alloc(t, b, n)
	if err := c.ReduceScatter(shard, full); err != nil {
		t.Fatal(err)
	}
	expect("ReduceScatter", download(b, shard), func(i int) float32 { return sumVal(rank*n + i) })
	fill()
	if err := c.ReduceScatter(full.View(rank*n, n), full); err != nil {
		t.Fatal(err)
	}
	expect("ReduceScatter in place", download(b, full)[rank*n:(rank+1)*n], func(i int) float32 { return sumVal(rank*n + i) })

	// AllGather from a separate shard and in place.
	own := make([]float32, n)
	for i := range own {
		own[i] = float32(rank*10 + i)
	}
	b.Upload(shard, own)
	gathered := alloc(t, b, size*n)
	if err := c.AllGather(gathered, shard); err != nil {
		t.Fatal(err)
	}
	gatherWant := func(i int) float32 { return float32((i/n)*10 + i%n) }
	expect("AllGather", download(b, gathered), gatherWant)
	junk := make([]float32, size*n)
	for i := range junk {
		junk[i] = -7
	}
	copy(junk[rank*n:], own)
	b.Upload(gathered, junk)
	if err := c.AllGather(gathered, gathered.View(rank*n, n)); err != nil {
		t.Fatal(err)
	}
	expect("AllGather in place", download(b, gathered), gatherWant)

	// Broadcast from the last rank.
	root := size - 1
	x := alloc(t, b, 9)
	mine := make([]float32, 9)
	for i := range mine {
		mine[i] = val(rank, i)
	}
	b.Upload(x, mine)
	if err := c.Broadcast(x, root); err != nil {
		t.Fatal(err)
	}
	expect("Broadcast", download(b, x), func(i int) float32 { return val(root, i) })

	// Host sums, exact beyond float32's range.
	h := []float64{float64(rank), 1, math.Ldexp(1, 40) + float64(rank)}
	if err := c.AllReduceHost(h); err != nil {
		t.Fatal(err)
	}
	tri := float64(size * (size - 1) / 2)
	if want := []float64{tri, float64(size), float64(size)*math.Ldexp(1, 40) + tri}; h[0] != want[0] || h[1] != want[1] || h[2] != want[2] {
		t.Errorf("rank %d: AllReduceHost = %v, want %v", rank, h, want)
	}

	id := []byte(fmt.Sprintf("id from rank %03d", rank))
	if err := c.BroadcastBytes(id, 0); err != nil {
		t.Fatal(err)
	}
	if string(id) != "id from rank 000" {
		t.Errorf("rank %d: BroadcastBytes gave %q", rank, id)
	}
	if err := c.Barrier(); err != nil {
		t.Fatal(err)
	}

	// Bad arguments are refused on every rank before any collective, with
	// the rank and the call in the message.
	prefix := fmt.Sprintf("mpi rank %d of %d: ", rank, size)
	bad := []struct {
		name string
		err  error
		want string
	}{
		{"short full tensor", c.ReduceScatter(shard, full.View(0, size*n-1)), "MPI_Reduce_scatter_block: the full tensor has"},
		{"overlapping shard", c.AllGather(gathered, gathered.View(1, n)), "MPI_Allgather: the shard"},
		{"root out of range", c.Broadcast(x, size), "MPI_Bcast: root"},
		{"GPU tensor", c.AllReduce(kernels.Tensor{DType: kernels.F32, N: 4, Buf: fakeBuf{}}), `MPI_Allreduce: x belongs to backend "cuda"`},
		{"I32 tensor", c.AllReduce(kernels.Tensor{DType: kernels.I32, N: 4, Buf: fakeBuf{}}), "MPI_Allreduce: x is I32"},
	}
	for _, tc := range bad {
		if tc.err == nil || !strings.HasPrefix(tc.err.Error(), prefix) || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: got error %v, want %q%q...", tc.name, tc.err, prefix, tc.want)
		}
	}
	if err := c.Barrier(); err != nil {
		t.Fatal(err)
	}
}
