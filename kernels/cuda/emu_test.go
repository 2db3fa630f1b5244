package cuda

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/ebitengine/purego"
)

// The CPU emulator: every kernel file compiled by g++ with testdata/emu/emu.h
// (CUDA threads as coroutines, warp primitives as barriers) into one shared
// library that also fakes the driver, cuBLAS and NVRTC with their real
// signatures. The backend loads it through purego exactly as it loads the
// real libraries, so these tests exercise everything but NVRTC and the GPU:
// library binding, argument marshalling, launch shapes, the kernels' logic
// and the allocator.

// toolchainGap matches build errors that come from the host toolchain
// rather than from the kernels.
var toolchainGap = regexp.MustCompile(`_Float16|ucontext|makecontext|setcontext|c\+\+17`)

var emu struct {
	once sync.Once
	dir  string
	err  error
}

// emulatorLibDir builds the emulator once per test binary and returns a
// folder holding it under the four sonames the backend looks for.
func emulatorLibDir(t *testing.T) string {
	t.Helper()
	if testing.Short() || os.Getenv("SDZERO_CUDA_EMU") == "0" {
		t.Skip("CPU emulator of the CUDA kernels skipped (-short or SDZERO_CUDA_EMU=0)")
	}
	gxx, err := exec.LookPath("g++")
	if err != nil {
		t.Skip("g++ not found: cannot build the CPU emulator of the CUDA kernels")
	}
	emu.once.Do(func() { emu.dir, emu.err = buildEmulator(gxx) })
	if emu.err != nil {
		if toolchainGap.MatchString(emu.err.Error()) {
			// An older g++ or a libc without ucontext: not a kernel bug
			// (TestKernelSyntax still type-checks the kernels).
			t.Skipf("this toolchain cannot build the emulator: %v", emu.err)
		}
		t.Fatalf("build emulator: %v", emu.err)
	}
	return emu.dir
}

func buildEmulator(gxx string) (string, error) {
	dir, err := os.MkdirTemp("", "sdzero-cuda-emu-")
	if err != nil {
		return "", err
	}
	for _, f := range []string{"emu.h", "emu_runtime.cpp"} {
		data, err := os.ReadFile(filepath.Join("testdata", "emu", f))
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			return "", err
		}
	}
	units := []string{"emu_runtime.cpp"}
	for _, f := range kernelFiles() {
		src, err := moduleSource(f)
		if err != nil {
			return "", err
		}
		var b strings.Builder
		b.WriteString("#include \"emu.h\"\n")
		b.WriteString(src)
		b.WriteString("\nstatic int sdz_emu_reg = (\n")
		for _, k := range kernelNames(src) {
			fmt.Fprintf(&b, "  sdz_emu_register(%q, sdz_emu_launcher(&%s)),\n", k, k)
		}
		b.WriteString("  0);\n")
		unit := "mod_" + strings.TrimSuffix(f, ".cu") + ".cpp"
		if err := os.WriteFile(filepath.Join(dir, unit), []byte(b.String()), 0o644); err != nil {
			return "", err
		}
		units = append(units, unit)
	}
	// Two compilers at a time (the CI machine has two cores).
	errs := make([]error, len(units))
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for i, u := range units {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cmd := exec.Command(gxx, "-std=c++17", "-O1", "-fPIC", "-U_FORTIFY_SOURCE", "-Wall", "-Wno-unknown-pragmas",
				"-Wno-unused-function", "-Wno-unused-variable", "-c", u, "-o", strings.TrimSuffix(u, ".cpp")+".o")
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("g++ %s: %v\n%s", u, err, out)
			}
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return "", e
		}
	}
	args := []string{"-shared", "-o", "libsdzemu.so"}
	for _, u := range units {
		args = append(args, strings.TrimSuffix(u, ".cpp")+".o")
	}
	cmd := exec.Command(gxx, append(args, "-pthread")...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("link: %v\n%s", err, out)
	}
	for _, n := range []string{"libcuda.so.1", "libcublasLt.so.13", "libcublas.so.13", "libnvrtc.so.13"} {
		if err := os.Symlink("libsdzemu.so", filepath.Join(dir, n)); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// newEmulated opens the backend on the emulator.
func newEmulated(t *testing.T) *Backend { t.Helper(); return newEmulatedWith(t, Options{}) }

// newEmulatedWith opens the backend on the emulator with opts (LibDir and
// CacheDir are set here).
func newEmulatedWith(t *testing.T, opts Options) *Backend {
	t.Helper()
	opts.LibDir, opts.CacheDir = emulatorLibDir(t), t.TempDir()
	be, err := New(opts)
	if err != nil {
		t.Fatalf("New on the emulator: %v", err)
	}
	t.Cleanup(func() {
		if err := be.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return be
}

// TestEmulatedBind checks symbol binding against a real shared library:
// a missing required symbol is an error naming it and the library; a
// missing optional one leaves the function nil.
func TestEmulatedBind(t *testing.T) {
	path := filepath.Join(emulatorLibDir(t), "libcuda.so.1")
	h, err := purego.Dlopen(path, rtldNowGlobal)
	if err != nil {
		t.Fatal(err)
	}
	var initFn, missing, optional func(uint32) int32
	err = bindAll(h, path, []symbol{
		{name: "cuInit", fptr: &initFn},
		{name: "cuNoSuchFunction", fptr: &missing},
		{name: "cuNoSuchOptional", fptr: &optional, optional: true},
	})
	if err == nil || !strings.Contains(err.Error(), "cuNoSuchFunction") || !strings.Contains(err.Error(), path) ||
		strings.Contains(err.Error(), "cuNoSuchOptional") {
		t.Errorf("bindAll error: %v", err)
	}
	if initFn == nil || initFn(0) != 0 || missing != nil || optional != nil {
		t.Error("bound functions wrong")
	}
	var d driverAPI
	if err := bindAll(h, path, d.symbols()); err != nil {
		t.Errorf("driver symbols: %v", err)
	}
}
