package cuda

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// libKind names one of the shared libraries the backend loads at run time.
type libKind int

// The libraries, in load order: cuBLASLt before cuBLAS so that cuBLAS's
// dependency on it resolves to the copy we found, whatever the loader path.
const (
	libDriver libKind = iota
	libBLASLt
	libBLAS
	libNVRTC
	numLibs
)

// libSonames lists the accepted sonames per library, newest first.
var libSonames = [numLibs][]string{
	libDriver: {"libcuda.so.1"},
	libBLASLt: {"libcublasLt.so.13", "libcublasLt.so.12"},
	libBLAS:   {"libcublas.so.13", "libcublas.so.12"},
	libNVRTC:  {"libnvrtc.so.13", "libnvrtc.so.12"},
}

func (k libKind) String() string {
	return [numLibs]string{"CUDA driver", "cuBLASLt", "cuBLAS", "NVRTC"}[k]
}

// searchEnv is what the library search reads from the outside world, so
// that tests can replace it.
type searchEnv struct {
	getenv func(string) string
	home   string
	// exists reports whether path is a regular file or a symlink to one.
	exists func(path string) bool
	glob   func(pattern string) ([]string, error)
}

func osSearchEnv() searchEnv {
	home, _ := os.UserHomeDir()
	return searchEnv{
		getenv: os.Getenv,
		home:   home,
		exists: func(p string) bool {
			st, err := os.Stat(p)
			return err == nil && st.Mode().IsRegular()
		},
		glob: filepath.Glob,
	}
}

// systemLibDirs are searched last; the driver library usually lives there
// (never in a toolkit's lib64/stubs, whose libcuda.so is a link-time stub).
var systemLibDirs = []string{
	"/usr/lib/x86_64-linux-gnu",
	"/usr/lib/aarch64-linux-gnu",
	"/usr/lib64",
	"/usr/lib",
	"/lib/x86_64-linux-gnu",
	"/lib64",
	"/usr/lib/wsl/lib",
}

// searchDirs returns the directories to search, in order, without
// duplicates: libDir (Options.LibDir), $SDZERO_CUDA_LIB_DIR,
// $LD_LIBRARY_PATH, /usr/local/cuda/lib64, /usr/local/nvidia/lib64, the
// nvidia/*/lib folders of Python environments, then system folders.
func searchDirs(libDir string, env searchEnv) []string {
	var dirs []string
	seen := map[string]bool{}
	add := func(d string) {
		if d == "" {
			return
		}
		d = filepath.Clean(d)
		if !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	for _, d := range filepath.SplitList(libDir) {
		add(d)
	}
	for _, d := range filepath.SplitList(env.getenv("SDZERO_CUDA_LIB_DIR")) {
		add(d)
	}
	for _, d := range filepath.SplitList(env.getenv("LD_LIBRARY_PATH")) {
		add(d)
	}
	if cp := env.getenv("CUDA_PATH"); cp != "" {
		add(filepath.Join(cp, "lib64"))
	}
	add("/usr/local/cuda/lib64")
	add("/usr/local/nvidia/lib64")
	for _, d := range pythonNvidiaDirs(env) {
		add(d)
	}
	for _, d := range systemLibDirs {
		add(d)
	}
	return dirs
}

// pythonNvidiaDirs finds the lib folders of pip's nvidia-* wheels
// (site-packages/nvidia/<pkg>/lib, e.g. nvidia/cublas/lib or nvidia/cu13/lib)
// in the environments of every python3 on PATH, the active virtualenv or
// conda environment, and common install locations.
func pythonNvidiaDirs(env searchEnv) []string {
	var prefixes []string
	for _, d := range filepath.SplitList(env.getenv("PATH")) {
		if d == "" {
			continue
		}
		for _, exe := range []string{"python3", "python"} {
			if env.exists(filepath.Join(d, exe)) {
				prefixes = append(prefixes, filepath.Dir(filepath.Clean(d)))
				break
			}
		}
	}
	for _, v := range []string{"VIRTUAL_ENV", "CONDA_PREFIX"} {
		if p := env.getenv(v); p != "" {
			prefixes = append(prefixes, p)
		}
	}
	if env.home != "" {
		prefixes = append(prefixes, filepath.Join(env.home, ".local"), filepath.Join(env.home, ".venv"),
			filepath.Join(env.home, "venv"), filepath.Join(env.home, "miniconda3"), filepath.Join(env.home, "anaconda3"))
	}
	prefixes = append(prefixes, ".venv", "venv", "/usr/local", "/usr", "/opt/conda")
	var out []string
	seen := map[string]bool{}
	for _, p := range prefixes {
		for _, sp := range []string{"site-packages", "dist-packages"} {
			for _, pat := range []string{
				filepath.Join(p, "lib", "python3*", sp, "nvidia", "*", "lib"),
				filepath.Join(p, "lib", "python3", sp, "nvidia", "*", "lib"),
			} {
				m, err := env.glob(pat)
				if err != nil {
					continue
				}
				sort.Strings(m)
				for _, d := range m {
					if !seen[d] {
						seen[d] = true
						out = append(out, d)
					}
				}
			}
		}
	}
	return out
}

// libFound says where one library was found: Path is a full path, or empty
// when only the dynamic loader's own search (by soname) is left to try.
type libFound struct {
	Soname string
	Path   string
}

// libSearch is the result of a search: one entry per library (zero when
// missing), the directories searched and every matching file seen.
type libSearch struct {
	Libs     [numLibs]libFound
	Searched []string
	Seen     []string
}

// findLibs looks for every library in dirs. cuBLAS and cuBLASLt must share a
// major version: cuBLASLt is taken from the major version of the cuBLAS
// found first. The driver may also be found by soname only (it is usually
// in the loader's cache), which the caller tries when Path is empty.
func findLibs(dirs []string, env searchEnv) libSearch {
	res := libSearch{Searched: dirs}
	seen := map[string]bool{}
	lookup := func(names []string) libFound {
		for _, d := range dirs {
			for _, n := range names {
				p := filepath.Join(d, n)
				if env.exists(p) {
					return libFound{Soname: n, Path: p}
				}
			}
		}
		return libFound{}
	}
	for _, d := range dirs {
		for k := libKind(0); k < numLibs; k++ {
			for _, n := range libSonames[k] {
				p := filepath.Join(d, n)
				if !seen[p] && env.exists(p) {
					seen[p] = true
					res.Seen = append(res.Seen, p)
				}
			}
		}
	}
	res.Libs[libDriver] = lookup(libSonames[libDriver])
	res.Libs[libBLAS] = lookup(libSonames[libBLAS])
	if b := res.Libs[libBLAS]; b.Path != "" {
		major := strings.TrimPrefix(b.Soname, "libcublas.so.")
		lt := "libcublasLt.so." + major
		// Prefer cuBLASLt next to cuBLAS, then anywhere.
		if p := filepath.Join(filepath.Dir(b.Path), lt); env.exists(p) {
			res.Libs[libBLASLt] = libFound{Soname: lt, Path: p}
		} else {
			res.Libs[libBLASLt] = lookup([]string{lt})
		}
	} else {
		res.Libs[libBLASLt] = lookup(libSonames[libBLASLt])
	}
	res.Libs[libNVRTC] = lookup(libSonames[libNVRTC])
	return res
}

// missing returns the libraries that were not found in any directory
// (the driver counts as found only with a path; see findLibs).
func (s libSearch) missing() []libKind {
	var m []libKind
	for k := libKind(0); k < numLibs; k++ {
		if s.Libs[k].Path == "" {
			m = append(m, k)
		}
	}
	return m
}

// describe formats the search for error messages: what is missing, where
// we looked, and what we found.
func (s libSearch) describe(missing []libKind) string {
	var b strings.Builder
	if len(missing) > 0 {
		var names []string
		for _, k := range missing {
			names = append(names, fmt.Sprintf("%s (%s)", k, strings.Join(libSonames[k], " or ")))
		}
		fmt.Fprintf(&b, "missing %s", strings.Join(names, ", "))
	}
	fmt.Fprintf(&b, "; searched %s", strings.Join(s.Searched, ", "))
	if len(s.Seen) > 0 {
		fmt.Fprintf(&b, "; found %s", strings.Join(s.Seen, ", "))
	} else {
		b.WriteString("; found no CUDA library")
	}
	b.WriteString("; set SDZERO_CUDA_LIB_DIR (or Options.LibDir) to the folder holding them")
	return b.String()
}

// nvrtcBuiltins returns NVRTC's companion libnvrtc-builtins library next to
// nvrtcPath, if any. NVRTC dlopens it by soname at compile time, which only
// works when the loader can find it, so the backend preloads it by path.
func nvrtcBuiltins(nvrtcPath string, env searchEnv) string {
	soname := filepath.Base(nvrtcPath)
	major := strings.TrimPrefix(soname, "libnvrtc.so.")
	m, _ := env.glob(filepath.Join(filepath.Dir(nvrtcPath), "libnvrtc-builtins.so."+major+"*"))
	sort.Strings(m)
	for i := len(m) - 1; i >= 0; i-- {
		if env.exists(m[i]) {
			return m[i]
		}
	}
	return ""
}
