package cuda

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// touch creates empty files (and their folders) under root.
func touch(t *testing.T, root string, rel ...string) {
	t.Helper()
	for _, r := range rel {
		p := filepath.Join(root, r)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fakeEnv is an os-backed searchEnv with a fixed environment and home.
func fakeEnv(vars map[string]string, home string) searchEnv {
	e := osSearchEnv()
	e.getenv = func(k string) string { return vars[k] }
	e.home = home
	return e
}

func TestSearchDirsOrder(t *testing.T) {
	root := t.TempDir()
	// A venv whose bin holds python3, with two nvidia wheels.
	touch(t, root, "venv/bin/python3",
		"venv/lib/python3.12/site-packages/nvidia/cublas/lib/libcublas.so.12",
		"venv/lib/python3.12/site-packages/nvidia/cuda_nvrtc/lib/libnvrtc.so.12",
		"home/.local/lib/python3.11/site-packages/nvidia/cu13/lib/libcublas.so.13")
	env := fakeEnv(map[string]string{
		"SDZERO_CUDA_LIB_DIR": "/b:/c",
		"LD_LIBRARY_PATH":     "/d::/b",
		"PATH":                filepath.Join(root, "venv/bin") + ":/nonexistent",
	}, filepath.Join(root, "home"))
	dirs := searchDirs("/a", env)
	sp := filepath.Join(root, "venv/lib/python3.12/site-packages/nvidia")
	want := []string{"/a", "/b", "/c", "/d", "/usr/local/cuda/lib64", "/usr/local/nvidia/lib64",
		filepath.Join(sp, "cublas/lib"), filepath.Join(sp, "cuda_nvrtc/lib"),
		filepath.Join(root, "home/.local/lib/python3.11/site-packages/nvidia/cu13/lib")}
	if len(dirs) < len(want) || !slices.Equal(dirs[:len(want)], want) {
		t.Fatalf("search order:\n got %v\nwant prefix %v", dirs, want)
	}
	for _, d := range systemLibDirs {
		if !slices.Contains(dirs, d) {
			t.Errorf("system dir %s not searched", d)
		}
	}
	seen := map[string]bool{}
	for _, d := range dirs {
		if seen[d] {
			t.Errorf("dir %s listed twice", d)
		}
		seen[d] = true
	}
}

func TestFindLibs(t *testing.T) {
	root := t.TempDir()
	d1, d2, d3 := filepath.Join(root, "d1"), filepath.Join(root, "d2"), filepath.Join(root, "d3")
	touch(t, d1, "libcublas.so.12", "libcublasLt.so.12", "libcuda.so")
	touch(t, d2, "libcublas.so.13", "libcublasLt.so.13", "libnvrtc.so.13", "libnvrtc.so.12", "libcuda.so.1",
		"libnvrtc-builtins.so.13.0", "libnvrtc-builtins.so.12.8")
	touch(t, d3, "libcublas.so.13")
	env := fakeEnv(nil, "")
	tests := []struct {
		name string
		dirs []string
		want [numLibs]string // full paths, "" for missing
	}{
		{"first dir wins", []string{d1, d2}, [numLibs]string{
			libDriver: filepath.Join(d2, "libcuda.so.1"),
			libBLASLt: filepath.Join(d1, "libcublasLt.so.12"),
			libBLAS:   filepath.Join(d1, "libcublas.so.12"),
			libNVRTC:  filepath.Join(d2, "libnvrtc.so.13"),
		}},
		{"newest soname in a dir", []string{d2, d1}, [numLibs]string{
			libDriver: filepath.Join(d2, "libcuda.so.1"),
			libBLASLt: filepath.Join(d2, "libcublasLt.so.13"),
			libBLAS:   filepath.Join(d2, "libcublas.so.13"),
			libNVRTC:  filepath.Join(d2, "libnvrtc.so.13"),
		}},
		{"cuBLASLt matches cuBLAS's major", []string{d3, d1, d2}, [numLibs]string{
			libDriver: filepath.Join(d2, "libcuda.so.1"),
			libBLASLt: filepath.Join(d2, "libcublasLt.so.13"),
			libBLAS:   filepath.Join(d3, "libcublas.so.13"),
			libNVRTC:  filepath.Join(d2, "libnvrtc.so.13"),
		}},
		{"stub libcuda.so is not the driver", []string{d1}, [numLibs]string{
			libBLASLt: filepath.Join(d1, "libcublasLt.so.12"),
			libBLAS:   filepath.Join(d1, "libcublas.so.12"),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := findLibs(tc.dirs, env)
			for k := libKind(0); k < numLibs; k++ {
				if s.Libs[k].Path != tc.want[k] {
					t.Errorf("%s: got %q want %q", k, s.Libs[k].Path, tc.want[k])
				}
			}
		})
	}
	if got := nvrtcBuiltins(filepath.Join(d2, "libnvrtc.so.13"), env); got != filepath.Join(d2, "libnvrtc-builtins.so.13.0") {
		t.Errorf("nvrtcBuiltins = %q", got)
	}
	if got := nvrtcBuiltins(filepath.Join(d1, "libnvrtc.so.12"), env); got != "" {
		t.Errorf("nvrtcBuiltins without one = %q", got)
	}
}

func TestFindLibsMessage(t *testing.T) {
	root := t.TempDir()
	empty, some := filepath.Join(root, "empty"), filepath.Join(root, "some")
	touch(t, some, "libcublas.so.13")
	os.MkdirAll(empty, 0o755)
	env := fakeEnv(nil, "")
	s := findLibs([]string{empty, some}, env)
	miss := s.missing()
	if !slices.Equal(miss, []libKind{libDriver, libBLASLt, libNVRTC}) {
		t.Fatalf("missing = %v", miss)
	}
	msg := s.describe(miss)
	for _, want := range []string{empty, some, filepath.Join(some, "libcublas.so.13"), "libnvrtc.so.13 or libnvrtc.so.12",
		"cuBLASLt", "libcuda.so.1", "SDZERO_CUDA_LIB_DIR"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	none := findLibs([]string{empty}, env)
	if msg := none.describe(none.missing()); !strings.Contains(msg, "found no CUDA library") {
		t.Errorf("message without any library: %s", msg)
	}
}
