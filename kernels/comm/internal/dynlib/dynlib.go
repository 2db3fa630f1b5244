// Package dynlib finds, opens and binds the shared libraries of the
// communicators (Open MPI, NCCL) at run time with purego, as kernels/cuda
// does for the CUDA libraries: a list of folders searched in order for a
// list of accepted sonames, an error that says what was searched and what
// was found, and every missing symbol reported at once.
package dynlib

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ebitengine/purego"
)

// Dirs joins folder lists in order, dropping empty entries and duplicates.
// Each list entry may itself be a path list (a:b:c, as in LD_LIBRARY_PATH).
func Dirs(lists ...[]string) []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range lists {
		for _, e := range l {
			for _, d := range filepath.SplitList(e) {
				if d == "" {
					continue
				}
				d = filepath.Clean(d)
				if !seen[d] {
					seen[d] = true
					out = append(out, d)
				}
			}
		}
	}
	return out
}

// Search is where one library was looked for and what was found.
type Search struct {
	// Name is the library's name for messages ("Open MPI").
	Name string
	// Sonames are the accepted file names, preferred first.
	Sonames []string
	// Dirs are the folders searched, in order.
	Dirs []string
	// Path is the first match (empty when none).
	Path string
	// Seen lists every matching file in Dirs.
	Seen []string
	// Hint says how to point the search elsewhere (an environment
	// variable), for the error message.
	Hint string
}

// Find looks for sonames in dirs: the first folder holding any of them
// wins, and within a folder the earlier soname.
func Find(name string, sonames, dirs []string, hint string) Search {
	s := Search{Name: name, Sonames: sonames, Dirs: dirs, Hint: hint}
	for _, d := range dirs {
		for _, n := range sonames {
			p := filepath.Join(d, n)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				s.Seen = append(s.Seen, p)
				if s.Path == "" {
					s.Path = p
				}
			}
		}
	}
	return s
}

// Describe formats the search for an error message.
func (s Search) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "searched %s for %s", strings.Join(s.Dirs, ", "), strings.Join(s.Sonames, " or "))
	if len(s.Seen) > 0 {
		fmt.Fprintf(&b, "; found %s", strings.Join(s.Seen, ", "))
	} else {
		b.WriteString("; found none")
	}
	if s.Hint != "" {
		b.WriteString("; " + s.Hint)
	}
	return b.String()
}

// Open dlopens the library found (RTLD_NOW|RTLD_GLOBAL: Open MPI's plugins
// resolve libmpi's symbols globally). Without a match in the folders it
// asks the dynamic loader for each soname (its cache and default paths).
// The error names the library, the loader's complaint and the search.
func (s Search) Open() (handle uintptr, path string, err error) {
	const mode = purego.RTLD_NOW | purego.RTLD_GLOBAL
	if s.Path != "" {
		h, err := purego.Dlopen(s.Path, mode)
		if err != nil {
			return 0, "", fmt.Errorf("%s: dlopen %s: %v; %s", s.Name, s.Path, err, s.Describe())
		}
		return h, s.Path, nil
	}
	var errs []string
	for _, n := range s.Sonames {
		h, err := purego.Dlopen(n, mode)
		if err == nil {
			return h, n, nil
		}
		errs = append(errs, err.Error())
	}
	return 0, "", fmt.Errorf("%s not found (the loader said: %s); %s", s.Name, strings.Join(errs, "; "), s.Describe())
}

// Symbol binds one C function of a library to Fptr (a pointer to a func
// variable). An Optional symbol may be missing; its function stays nil.
type Symbol struct {
	Name     string
	Fptr     any
	Optional bool
}

// Bind resolves every symbol in the library handle and reports all missing
// ones at once, naming path.
func Bind(handle uintptr, path string, syms []Symbol) error {
	var missing []string
	for _, s := range syms {
		addr, err := purego.Dlsym(handle, s.Name)
		if err != nil || addr == 0 {
			if !s.Optional {
				missing = append(missing, s.Name)
			}
			continue
		}
		purego.RegisterFunc(s.Fptr, addr)
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s lacks symbols %v (too old a version, or another implementation?)", path, missing)
	}
	return nil
}

// Globals resolves the addresses of exported data symbols (Open MPI's
// predefined handles are such addresses), in the order of names.
func Globals(handle uintptr, path string, names []string) ([]uintptr, error) {
	out := make([]uintptr, len(names))
	var missing []string
	for i, n := range names {
		addr, err := purego.Dlsym(handle, n)
		if err != nil || addr == 0 {
			missing = append(missing, n)
			continue
		}
		out[i] = addr
	}
	if len(missing) > 0 {
		return nil, errors.New(path + " lacks globals " + strings.Join(missing, ", ") + " (not Open MPI?)")
	}
	return out, nil
}
