package cuda

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestEmbeddedSources(t *testing.T) {
	files := kernelFiles()
	want := []string{"attention.cu", "attention_tc.cu", "elementwise.cu", "loss.cu", "norm.cu", "sample.cu"}
	if !slices.Equal(files, want) {
		t.Fatalf("embedded kernel files %v, want %v", files, want)
	}
	// Every .cu file on disk is embedded, and matches.
	disk, _ := filepath.Glob("*.cu")
	if len(disk) != len(files) {
		t.Errorf("on disk %v, embedded %v", disk, files)
	}
	defined := map[string]string{}
	for _, f := range files {
		src, err := moduleSource(f)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(f)
		if len(raw) == 0 || !strings.Contains(src, string(raw)) || !strings.HasPrefix(src, "// common.cuh") {
			t.Errorf("%s: module source is not common.cuh + the file", f)
		}
		names := kernelNames(string(raw))
		if len(names) == 0 {
			t.Errorf("%s defines no kernel", f)
		}
		for _, n := range names {
			if prev, ok := defined[n]; ok {
				t.Errorf("kernel %s defined in %s and %s", n, prev, f)
			}
			defined[n] = f
		}
	}
	// Every kernel the Go code launches exists, in the file it names.
	fileConst := map[string]string{}
	goSrc := ""
	for _, g := range []string{"ops.go", "backend.go"} {
		b, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		goSrc += string(b)
	}
	for _, m := range regexp.MustCompile(`(file[A-Z][a-z]+)\s*=\s*"([a-z]+\.cu)"`).FindAllStringSubmatch(goSrc, -1) {
		fileConst[m[1]] = m[2]
	}
	launched := 0
	for _, m := range regexp.MustCompile(`(file[A-Z][a-z]+),\s*"(sdz_\w+)"`).FindAllStringSubmatch(goSrc, -1) {
		launched++
		if got := defined[m[2]]; got == "" || got != fileConst[m[1]] {
			t.Errorf("Go launches %s from %s (%s); it is defined in %q", m[2], m[1], fileConst[m[1]], got)
		}
	}
	for _, m := range regexp.MustCompile(`name\s*:?=\s*"(sdz_\w+)"`).FindAllStringSubmatch(goSrc, -1) {
		launched++
		if defined[m[1]] == "" {
			t.Errorf("Go names kernel %s, which no file defines", m[1])
		}
	}
	if launched < 30 {
		t.Errorf("only %d kernel launches found in the Go code: the patterns are stale", launched)
	}
}

func TestKernelNamesParse(t *testing.T) {
	src := `extern "C" __global__ void sdz_a(float* x) {}
extern "C" __global__ void __launch_bounds__(512) sdz_c(int n) {}
extern  "C"  __global__  void  sdz_b (int n);
__device__ void helper() {}
__global__ void not_extern_c(int n) {}
`
	got := kernelNames(src)
	if !slices.Equal(got, []string{"sdz_a", "sdz_c", "sdz_b"}) {
		t.Errorf("kernelNames = %v", got)
	}
}

func TestChooseTarget(t *testing.T) {
	tests := []struct {
		major, minor int
		archs        []int
		want         compileTarget
		err          bool
	}{
		{9, 0, []int{75, 80, 86, 89, 90}, compileTarget{Arch: "sm_90", Cubin: true}, false},
		{12, 0, []int{75, 80, 90}, compileTarget{Arch: "compute_90"}, false},
		{8, 6, []int{80, 90}, compileTarget{Arch: "compute_80"}, false},
		{7, 0, []int{75, 80}, compileTarget{}, true},
	}
	for _, tc := range tests {
		got, err := chooseTarget(tc.major, tc.minor, tc.archs)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("chooseTarget(%d.%d, %v) = %+v, %v", tc.major, tc.minor, tc.archs, got, err)
		}
	}
}

func TestCacheKey(t *testing.T) {
	base := cacheKey("src", []string{"--gpu-architecture=sm_90"}, "sm_90", "13.0", 13000)
	if base != cacheKey("src", []string{"--gpu-architecture=sm_90"}, "sm_90", "13.0", 13000) {
		t.Fatal("cache key is not stable")
	}
	if len(base) != 64 {
		t.Errorf("key %q is not a hex sha256", base)
	}
	variants := map[string]string{
		"source":  cacheKey("src2", []string{"--gpu-architecture=sm_90"}, "sm_90", "13.0", 13000),
		"options": cacheKey("src", []string{"--gpu-architecture=sm_90", "-G"}, "sm_90", "13.0", 13000),
		"arch":    cacheKey("src", []string{"--gpu-architecture=sm_90"}, "compute_90", "13.0", 13000),
		"nvrtc":   cacheKey("src", []string{"--gpu-architecture=sm_90"}, "sm_90", "12.8", 13000),
		"driver":  cacheKey("src", []string{"--gpu-architecture=sm_90"}, "sm_90", "13.0", 12080),
		// Boundaries between fields matter.
		"split": cacheKey("src", []string{"--gpu-architecture=sm_9", "0"}, "sm_90", "13.0", 13000),
	}
	seen := map[string]string{base: "base"}
	for what, k := range variants {
		if prev, ok := seen[k]; ok {
			t.Errorf("changing %s gives the key of %s", what, prev)
		}
		seen[k] = what
	}
}

func TestCacheDir(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "SDZERO_CACHE_DIR" {
				return v
			}
			return ""
		}
	}
	if d, _ := cacheDir("/opt", env("/env")); d != "/opt" {
		t.Errorf("explicit dir: %s", d)
	}
	if d, _ := cacheDir("", env("/env")); d != "/env" {
		t.Errorf("env dir: %s", d)
	}
	if d, err := cacheDir("", env("")); err == nil && !strings.HasSuffix(d, filepath.Join("sdzero", "cuda")) {
		t.Errorf("default dir: %s", d)
	}
	if got := cacheFile("/c", "abc", true); got != "/c/abc.cubin" {
		t.Errorf("cacheFile = %s", got)
	}
	if got := cacheFile("/c", "abc", false); got != "/c/abc.ptx" {
		t.Errorf("cacheFile = %s", got)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sub", "cache")
	path := filepath.Join(dir, "k.cubin")
	if readCache(path) != nil {
		t.Fatal("readCache of a missing file")
	}
	a := []byte(strings.Repeat("A", 1<<20))
	b := []byte(strings.Repeat("B", 1<<20+7))
	if err := writeFileAtomic(path, a); err != nil {
		t.Fatal(err)
	}
	// Readers racing with rewrites see one whole version or the other.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			data := a
			if i%2 == 0 {
				data = b
			}
			if err := writeFileAtomic(path, data); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 200 {
		got := readCache(path)
		if !(string(got) == string(a) || string(got) == string(b)) {
			t.Errorf("reader saw a partial file of %d bytes", len(got))
			break
		}
	}
	close(stop)
	wg.Wait()
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("temporary files left behind: %v", names)
	}
	if err := writeFileAtomic(filepath.Join(path, "x"), a); err == nil {
		t.Error("writing under a file succeeded")
	}
	if os.WriteFile(path, nil, 0o644) == nil && readCache(path) != nil {
		t.Error("an empty cache file must read as absent")
	}
}

// TestKernelSyntax type-checks every kernel file with g++ -fsyntax-only
// against a small shim of CUDA's device environment: it catches typos here
// instead of on the GPU machine.
func TestKernelSyntax(t *testing.T) {
	gxx, err := exec.LookPath("g++")
	if err != nil {
		t.Skip("g++ not found")
	}
	shim, err := os.ReadFile(filepath.Join("testdata", "cuda_shim.h"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range kernelFiles() {
		src, _ := moduleSource(f)
		p := filepath.Join(dir, strings.TrimSuffix(f, ".cu")+".cpp")
		if err := os.WriteFile(p, append(shim, src...), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(gxx, "-fsyntax-only", "-std=c++17", "-Wall", "-Werror", "-Wno-unknown-pragmas",
			"-Wno-unused-function", "-DSDZ_SYNTAX_CHECK", p).CombinedOutput()
		if err != nil {
			t.Errorf("%s:\n%s", f, out)
		}
	}
}
