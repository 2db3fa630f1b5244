package cuda

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebitengine/purego"
)

// TestRealNVRTCCompilesKernels compiles every embedded module with a real
// NVRTC library, for each architecture we target, when SDZERO_NVRTC_LIB
// names one (a GPU is not needed: NVRTC is a compiler). The emulator tests
// compile the same sources with g++, which accepts things NVRTC rejects
// and the reverse; this catches NVRTC-only errors (missing builtins, no
// system headers) before a GPU session is spent on them. On Debian:
// apt-get download libnvrtc11.2 libnvrtc-builtins11.8 (non-free), dpkg -x,
// then SDZERO_NVRTC_LIB=.../libnvrtc.so.11.2 go test ./kernels/cuda -run RealNVRTC.
func TestRealNVRTCCompilesKernels(t *testing.T) {
	lib := os.Getenv("SDZERO_NVRTC_LIB")
	if lib == "" {
		t.Skip("SDZERO_NVRTC_LIB not set: no real NVRTC to compile the kernels with (see the test's doc comment)")
	}
	// NVRTC dlopens its builtins library by soname; preload it by path.
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(lib), "libnvrtc-builtins.so.*")); len(m) > 0 {
		if _, err := purego.Dlopen(m[0], rtldNowGlobal); err != nil {
			t.Fatalf("dlopen %s: %v", m[0], err)
		}
	}
	h, err := purego.Dlopen(lib, rtldNowGlobal)
	if err != nil {
		t.Fatalf("dlopen %s: %v", lib, err)
	}
	var n nvrtcAPI
	if err := bindAll(h, lib, n.symbols()); err != nil {
		t.Fatal(err)
	}
	ver, err := n.version()
	if err != nil {
		t.Fatal(err)
	}
	archs, err := n.supportedArchs()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("NVRTC %s, archs %v", ver, archs)
	for _, want := range []struct{ major, minor int }{{8, 0}, {9, 0}} {
		tgt, err := chooseTarget(want.major, want.minor, archs)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range kernelFiles() {
			src, err := moduleSource(f)
			if err != nil {
				t.Fatal(err)
			}
			img, err := n.compile(f, src, compileOptions(tgt), tgt)
			if err != nil {
				t.Errorf("%s for %s: %v", f, tgt.Arch, err)
				continue
			}
			if tgt.Cubin {
				// cuModuleGetFunction looks kernels up by these names: each
				// must appear unmangled in the cubin's string table (the
				// CUDA ELF flavour is not one debug/elf accepts).
				if !bytes.HasPrefix(img, []byte("\x7fELF")) {
					t.Fatalf("%s for %s: image is not an ELF cubin", f, tgt.Arch)
				}
				for _, k := range kernelNames(src) {
					if !bytes.Contains(img, []byte("\x00"+k+"\x00")) {
						t.Errorf("%s for %s: no symbol %q in the cubin (mangled?)", f, tgt.Arch, k)
					}
				}
			}
			if dir := os.Getenv("SDZERO_NVRTC_OUT"); dir != "" {
				// For cuobjdump --dump-resource-usage (registers, spills).
				name := filepath.Join(dir, strings.TrimSuffix(f, ".cu")+"."+tgt.Arch+".cubin")
				if err := os.WriteFile(name, img, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			t.Logf("%s %s: %d bytes, %d kernels", f, tgt.Arch, len(img), len(kernelNames(src)))
		}
	}
}
