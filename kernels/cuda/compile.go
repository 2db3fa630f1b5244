package cuda

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"unsafe"
)

// kernelFS holds the CUDA C sources. common.cuh is prepended to every .cu
// file (NVRTC runs without include paths).
//
//go:embed *.cu common.cuh
var kernelFS embed.FS

// moduleSource returns the full text NVRTC compiles for file (e.g.
// "loss.cu"): common.cuh, then the file.
func moduleSource(file string) (string, error) {
	common, err := kernelFS.ReadFile("common.cuh")
	if err != nil {
		return "", fmt.Errorf("read embedded common.cuh: %w", err)
	}
	src, err := kernelFS.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read embedded %s: %w", file, err)
	}
	return string(common) + "\n#line 1 \"" + file + "\"\n" + string(src), nil
}

// kernelFiles lists the embedded .cu files, sorted.
func kernelFiles() []string {
	ents, _ := kernelFS.ReadDir(".")
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".cu") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

var globalRE = regexp.MustCompile(`extern\s+"C"\s+__global__\s+void\s+(?:__launch_bounds__\([^)]*\)\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*\(`)

// kernelNames returns the extern "C" __global__ functions defined in src.
func kernelNames(src string) []string {
	var out []string
	for _, m := range globalRE.FindAllStringSubmatch(src, -1) {
		out = append(out, m[1])
	}
	return out
}

// compileTarget is what NVRTC is asked to produce for one device.
type compileTarget struct {
	// Arch is the --gpu-arch value: "sm_90" (CUBIN) or "compute_90" (PTX,
	// used when NVRTC does not know the device's exact arch).
	Arch string
	// Cubin is true when Arch is an sm_ arch and nvrtcGetCUBIN is used.
	Cubin bool
}

// chooseTarget picks the arch for a device of compute capability
// major.minor given NVRTC's supported (integer, e.g. 90) archs: the exact
// sm_XY when supported, else PTX for the newest supported arch below it.
func chooseTarget(major, minor int, supported []int) (compileTarget, error) {
	want := major*10 + minor
	best := -1
	for _, a := range supported {
		if a == want {
			return compileTarget{Arch: fmt.Sprintf("sm_%d", want), Cubin: true}, nil
		}
		if a < want && a > best {
			best = a
		}
	}
	if best < 0 {
		return compileTarget{}, fmt.Errorf("NVRTC supports archs %v, none at or below the device's sm_%d", supported, want)
	}
	return compileTarget{Arch: fmt.Sprintf("compute_%d", best)}, nil
}

// compileOptions are the NVRTC options for a target.
func compileOptions(t compileTarget) []string {
	return []string{"--gpu-architecture=" + t.Arch, "--std=c++17", "-DSDZ_NVRTC=1"}
}

// cacheKey identifies a compiled module: the source, the options, the arch,
// and the NVRTC and driver versions (a new toolkit or driver recompiles).
func cacheKey(src string, opts []string, arch, nvrtcVersion string, driverVersion int) string {
	h := sha256.New()
	fmt.Fprintf(h, "sdzero-cuda-module-v1\x00%d\x00%s\x00", len(src), src)
	for _, o := range opts {
		fmt.Fprintf(h, "%d\x00%s\x00", len(o), o)
	}
	fmt.Fprintf(h, "%s\x00%s\x00%d", arch, nvrtcVersion, driverVersion)
	return hex.EncodeToString(h.Sum(nil))
}

// cacheDir resolves the module cache folder: dir if set, else
// $SDZERO_CACHE_DIR, else os.UserCacheDir()/sdzero/cuda.
func cacheDir(dir string, getenv func(string) string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	if d := getenv("SDZERO_CACHE_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache dir (set SDZERO_CACHE_DIR): %w", err)
	}
	return filepath.Join(d, "sdzero", "cuda"), nil
}

// cacheFile names the cached image of key.
func cacheFile(dir, key string, cubin bool) string {
	ext := ".ptx"
	if cubin {
		ext = ".cubin"
	}
	return filepath.Join(dir, key+ext)
}

// writeFileAtomic writes data to path through a temporary file in the same
// folder and a rename, so readers never see a partial file.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create cache dir %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// readCache returns the cached image at path, or nil when absent or empty.
func readCache(path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 {
		return nil
	}
	return data
}

// compile runs NVRTC on src and returns the CUBIN (t.Cubin) or PTX image.
// A compilation error includes NVRTC's log.
func (n *nvrtcAPI) compile(name, src string, opts []string, t compileTarget) ([]byte, error) {
	var prog uintptr
	if err := n.err("nvrtcCreateProgram", n.nvrtcCreateProgram(&prog, src, name, 0, 0, 0)); err != nil {
		return nil, err
	}
	defer n.nvrtcDestroyProgram(&prog)
	// The option array holds pointers to NUL-terminated copies, pinned so
	// the collector can neither move nor free them during the call.
	var pin runtime.Pinner
	defer pin.Unpin()
	cstrs := make([][]byte, len(opts))
	ptrs := make([]unsafe.Pointer, len(opts))
	for i, o := range opts {
		cstrs[i] = append([]byte(o), 0)
		pin.Pin(&cstrs[i][0])
		ptrs[i] = unsafe.Pointer(&cstrs[i][0])
	}
	var optp unsafe.Pointer
	if len(ptrs) > 0 {
		pin.Pin(&ptrs[0])
		optp = unsafe.Pointer(&ptrs[0])
	}
	r := n.nvrtcCompileProgram(prog, int32(len(opts)), optp)
	runtime.KeepAlive(cstrs)
	if r != 0 {
		err := n.err("nvrtcCompileProgram", r)
		return nil, fmt.Errorf("compile %s (%s): %w\n%s", name, strings.Join(opts, " "), err, n.log(prog))
	}
	get := func(sizeName, getName string, size func(uintptr, *uint64) int32, get func(uintptr, *byte) int32) ([]byte, error) {
		var sz uint64
		if err := n.err(sizeName, size(prog, &sz)); err != nil {
			return nil, err
		}
		if sz == 0 {
			return nil, fmt.Errorf("%s: empty image for %s", sizeName, name)
		}
		buf := make([]byte, sz)
		if err := n.err(getName, get(prog, &buf[0])); err != nil {
			return nil, err
		}
		return buf, nil
	}
	if t.Cubin {
		return get("nvrtcGetCUBINSize", "nvrtcGetCUBIN", n.nvrtcGetCUBINSize, n.nvrtcGetCUBIN)
	}
	// PTX comes NUL-terminated, as cuModuleLoadData wants it.
	return get("nvrtcGetPTXSize", "nvrtcGetPTX", n.nvrtcGetPTXSize, n.nvrtcGetPTX)
}

// log returns the program's compilation log.
func (n *nvrtcAPI) log(prog uintptr) string {
	var sz uint64
	if n.nvrtcGetProgramLogSize(prog, &sz) != 0 || sz <= 1 {
		return ""
	}
	buf := make([]byte, sz)
	if n.nvrtcGetProgramLog(prog, &buf[0]) != 0 {
		return ""
	}
	return strings.TrimRight(string(buf), "\x00\n")
}

// version returns NVRTC's "major.minor".
func (n *nvrtcAPI) version() (string, error) {
	var ma, mi int32
	if err := n.err("nvrtcVersion", n.nvrtcVersion(&ma, &mi)); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d.%d", ma, mi), nil
}

// supportedArchs returns the archs NVRTC can compile for (e.g. 75, 80, 90).
func (n *nvrtcAPI) supportedArchs() ([]int, error) {
	var cnt int32
	if err := n.err("nvrtcGetNumSupportedArchs", n.nvrtcGetNumSupportedArchs(&cnt)); err != nil {
		return nil, err
	}
	if cnt <= 0 {
		return nil, fmt.Errorf("nvrtcGetNumSupportedArchs: none")
	}
	archs := make([]int32, cnt)
	if err := n.err("nvrtcGetSupportedArchs", n.nvrtcGetSupportedArchs(&archs[0])); err != nil {
		return nil, err
	}
	out := make([]int, cnt)
	for i, a := range archs {
		out[i] = int(a)
	}
	return out, nil
}
