package verify

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"sdzero/data/dataset"
)

// CodeOptions configures Code. Zero values take the documented defaults.
type CodeOptions struct {
	// TestTimeout is the wall-clock limit per test run (default 2s).
	TestTimeout time.Duration
	// CompileTimeout is the wall-clock limit for compiling C++ (default 30s).
	CompileTimeout time.Duration
	// MemoryBytes is RLIMIT_AS for the program (default 1 GiB; compiling
	// gets at least 2 GiB).
	MemoryBytes int64
	// MaxOutput caps stdout per run in bytes (default 1 MiB); more is a fail.
	MaxOutput int
	// Python is the interpreter (default: python3 on PATH, resolved to the
	// real executable so version-manager shims are not run in the sandbox).
	Python string
	// Gxx is the C++ compiler (default: g++ on PATH; C++ responses get
	// reward 0 with a reason when none is found).
	Gxx string
	// NProc is RLIMIT_NPROC (default 32).
	NProc int
	// FileBytes is RLIMIT_FSIZE, the largest file the program may write
	// (default 16 MiB).
	FileBytes int64
	// TempDir is where per-run work directories are created (default
	// os.TempDir()).
	TempDir string

	// noNamespaces forces fallback mode (tests of the fallback path).
	noNamespaces bool
}

func (o CodeOptions) withDefaults() CodeOptions {
	if o.TestTimeout <= 0 {
		o.TestTimeout = 2 * time.Second
	}
	if o.CompileTimeout <= 0 {
		o.CompileTimeout = 30 * time.Second
	}
	if o.MemoryBytes <= 0 {
		o.MemoryBytes = 1 << 30
	}
	if o.MaxOutput <= 0 {
		o.MaxOutput = 1 << 20
	}
	if o.NProc <= 0 {
		o.NProc = 32
	}
	if o.FileBytes <= 0 {
		o.FileBytes = 16 << 20
	}
	return o
}

// Program is the code extracted from a response.
type Program struct {
	// Lang is "python" or "cpp".
	Lang string
	// Source is the code.
	Source string
}

var (
	fenceRe   = regexp.MustCompile("(?s)```([A-Za-z0-9_+#-]*)[^\\n]*\\n(.*?)```")
	includeRe = regexp.MustCompile(`(?m)^\s*#\s*include\s*[<"]`)
)

// ExtractCode returns the last fenced code block of response. The block is
// C++ when its info string is cpp/c++/cc/cxx or its code has an #include
// line, else Python.
func ExtractCode(response string) (Program, bool) {
	ms := fenceRe.FindAllStringSubmatch(response, -1)
	if len(ms) == 0 {
		return Program{}, false
	}
	m := ms[len(ms)-1]
	lang := strings.ToLower(m[1])
	src := m[2]
	if strings.TrimSpace(src) == "" {
		return Program{}, false
	}
	switch {
	case lang == "cpp" || lang == "c++" || lang == "cc" || lang == "cxx":
		return Program{Lang: "cpp", Source: src}, true
	case includeRe.MatchString(src):
		return Program{Lang: "cpp", Source: src}, true
	}
	return Program{Lang: "python", Source: src}, true
}

var pythonCache sync.Map // configured name -> resolved path (string) or error

// resolvePython finds the real interpreter behind name (e.g. a pyenv shim).
func resolvePython(name string) (string, error) {
	if v, ok := pythonCache.Load(name); ok {
		if err, isErr := v.(error); isErr {
			return "", err
		}
		return v.(string), nil
	}
	path, err := exec.LookPath(name)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, e := exec.CommandContext(ctx, path, "-c", "import sys; print(sys.executable)").Output()
		cancel()
		if e == nil {
			if real := strings.TrimSpace(string(out)); real != "" {
				path = real
			}
		}
	}
	if err != nil {
		err = fmt.Errorf("python interpreter %q not found: %w", name, err)
		pythonCache.Store(name, err)
		return "", err
	}
	pythonCache.Store(name, path)
	return path, nil
}

// siteCustomize disables sockets in fallback mode (no network namespace).
const siteCustomize = `import socket as _socket
def _sdzero_no_network(*args, **kwargs):
    raise PermissionError("network access disabled by the sdzero sandbox")
class _SdzeroNoSocket(_socket.socket):
    def __init__(self, *args, **kwargs):
        _sdzero_no_network()
_socket.socket = _SdzeroNoSocket
_socket.create_connection = _sdzero_no_network
_socket.socketpair = _sdzero_no_network
_socket.fromfd = _sdzero_no_network
`

// Code rewards response with 1 when the program in its last fenced code
// block passes every test of ex.
//
// Stdin/stdout tests (ex.Tests) run the program once per test with the
// input on stdin; stdout must equal the expected output after trailing
// whitespace is removed from every line and trailing blank lines are
// dropped, and must be valid UTF-8.
//
// HumanEval/MBPP tests (ex.Test) run one Python program made of: the
// response code, preceded by ex.Prompt when ex.EntryPoint is set and the
// code does not itself define `def <EntryPoint>(`; then "\n\n" + ex.Test;
// then, when ex.EntryPoint is set, "\n\ncheck(<EntryPoint>)\n". The test
// passes when that program exits with status 0 within TestTimeout.
//
// Every run happens in a fresh work directory (HOME and TMPDIR point into
// it) that is removed afterwards, inside the sandbox described on
// ProbeSandbox. A zero reward always carries the reason.
func Code(ctx context.Context, response string, ex dataset.CodeExample, opt CodeOptions) Result {
	opt = opt.withDefaults()
	prog, ok := ExtractCode(response)
	if !ok {
		return Result{Reason: "no fenced code block in the response"}
	}
	res := Result{Extracted: prog.Source}
	if len(ex.Tests) == 0 && strings.TrimSpace(ex.Test) == "" {
		res.Reason = "example " + ex.ID + " has no tests"
		return res
	}
	info := ProbeSandbox()
	if opt.noNamespaces {
		info = SandboxInfo{Detail: "fallback forced"}
	}
	base := opt.TempDir
	if base == "" {
		base = os.TempDir()
	}
	work, err := os.MkdirTemp(base, "sdzero-run-")
	if err != nil {
		res.Reason = "create work dir: " + err.Error()
		return res
	}
	defer removeAll(work)
	if err := os.Chmod(work, 0o755); err != nil {
		res.Reason = "work dir: " + err.Error()
		return res
	}
	env := []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=" + work,
		"TMPDIR=" + work,
		"LANG=C.UTF-8",
		"LC_ALL=C.UTF-8",
		"PYTHONDONTWRITEBYTECODE=1",
		"PYTHONHASHSEED=0",
		"PYTHONIOENCODING=utf-8",
	}
	if !info.Namespaces {
		site := filepath.Join(work, ".sdzero-site")
		if err := os.Mkdir(site, 0o755); err == nil {
			_ = os.WriteFile(filepath.Join(site, "sitecustomize.py"), []byte(siteCustomize), 0o644)
		}
		env = append(env, "PYTHONPATH="+site)
	}
	spec := runSpec{
		env: env, dir: work, namespaces: info.Namespaces, timeout: opt.TestTimeout,
		mem: opt.MemoryBytes, nproc: uint64(opt.NProc), fileBytes: opt.FileBytes, maxOutput: opt.MaxOutput,
	}
	fallbackNote := ""
	if !info.Namespaces {
		fallbackNote = " [sandbox fallback mode]"
	}
	var argv []string
	switch prog.Lang {
	case "cpp":
		if strings.TrimSpace(ex.Test) != "" && len(ex.Tests) == 0 {
			res.Reason = "C++ response but the example has only Python test code"
			return res
		}
		gxx := opt.Gxx
		if gxx == "" {
			gxx = "g++"
		}
		gxxPath, err := exec.LookPath(gxx)
		if err != nil {
			res.Reason = "C++ program but no compiler: " + err.Error()
			return res
		}
		if err := os.WriteFile(filepath.Join(work, "main.cpp"), []byte(prog.Source), 0o644); err != nil {
			res.Reason = "write source: " + err.Error()
			return res
		}
		cs := spec
		cs.argv = []string{gxxPath, "-O2", "-std=c++17", "-o", "prog", "main.cpp"}
		cs.timeout = opt.CompileTimeout
		cs.mem = max(opt.MemoryBytes, 2<<30)
		cs.fileBytes = max(opt.FileBytes, 256<<20)
		cs.nproc = max(cs.nproc, 64)
		cr := runSandboxed(ctx, cs)
		switch {
		case cr.err != nil:
			res.Reason = "compile: " + cr.err.Error()
			return res
		case cr.timedOut:
			res.Reason = fmt.Sprintf("compile timed out after %v", opt.CompileTimeout)
			return res
		case cr.exitCode != 0:
			res.Reason = "compile error: " + tail(string(cr.stderr), 400)
			return res
		}
		argv = []string{filepath.Join(work, "prog")}
	default:
		name := opt.Python
		if name == "" {
			name = "python3"
		}
		py, err := resolvePython(name)
		if err != nil {
			res.Reason = err.Error()
			return res
		}
		argv = []string{py, "main.py"}
	}

	for i, tc := range ex.Tests {
		// Rewritten for every test: the work directory is writable, so an
		// earlier run may have changed it.
		if prog.Lang == "python" {
			if err := os.WriteFile(filepath.Join(work, "main.py"), []byte(prog.Source), 0o644); err != nil {
				res.Reason = "write source: " + err.Error()
				return res
			}
		}
		s := spec
		s.argv = argv
		s.stdin = []byte(tc.Input)
		r := runSandboxed(ctx, s)
		if why := runFailure(r, opt); why != "" {
			res.Reason = fmt.Sprintf("test %d/%d: %s%s", i+1, len(ex.Tests), why, fallbackNote)
			return res
		}
		if !utf8.Valid(r.stdout) {
			res.Reason = fmt.Sprintf("test %d/%d: output is not valid UTF-8", i+1, len(ex.Tests))
			return res
		}
		if got, want := normalizeOutput(string(r.stdout)), normalizeOutput(tc.Output); got != want {
			res.Reason = fmt.Sprintf("test %d/%d: wrong answer: got %q, want %q", i+1, len(ex.Tests), clip(got, 120), clip(want, 120))
			return res
		}
	}
	if strings.TrimSpace(ex.Test) != "" {
		if prog.Lang != "python" {
			res.Reason = "HumanEval/MBPP tests need a Python program"
			return res
		}
		src := HumanEvalProgram(prog.Source, ex)
		if err := os.WriteFile(filepath.Join(work, "main.py"), []byte(src), 0o644); err != nil {
			res.Reason = "write source: " + err.Error()
			return res
		}
		s := spec
		s.argv = argv
		s.stdin = []byte{}
		r := runSandboxed(ctx, s)
		if why := runFailure(r, opt); why != "" {
			res.Reason = "check program: " + why + fallbackNote
			return res
		}
	}
	res.Reward, res.Reason = 1, "ok"
	return res
}

// HumanEvalProgram builds the Python program run for ex.Test (see Code).
func HumanEvalProgram(code string, ex dataset.CodeExample) string {
	var b strings.Builder
	if ex.EntryPoint != "" {
		def := regexp.MustCompile(`(?m)^\s*def\s+` + regexp.QuoteMeta(ex.EntryPoint) + `\s*\(`)
		if !def.MatchString(code) {
			b.WriteString(ex.Prompt)
		}
	}
	b.WriteString(code)
	b.WriteString("\n\n")
	b.WriteString(ex.Test)
	if ex.EntryPoint != "" {
		b.WriteString("\n\ncheck(" + ex.EntryPoint + ")\n")
	}
	return b.String()
}

// runFailure explains why a run failed, or returns "" for a clean exit 0.
func runFailure(r runResult, opt CodeOptions) string {
	switch {
	case r.err != nil:
		return r.err.Error()
	case r.outputExceeded:
		return fmt.Sprintf("output exceeds %d bytes", opt.MaxOutput)
	case r.timedOut:
		return fmt.Sprintf("timed out after %v", opt.TestTimeout)
	case r.exitCode == -1:
		return fmt.Sprintf("killed by signal %v%s", r.signal, stderrTail(r))
	case r.exitCode != 0:
		return fmt.Sprintf("runtime error (exit %d)%s", r.exitCode, stderrTail(r))
	}
	return ""
}

func stderrTail(r runResult) string {
	if s := strings.TrimSpace(string(r.stderr)); s != "" {
		return ": " + tail(s, 300)
	}
	return ""
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// normalizeOutput strips trailing whitespace from each line and drops
// trailing blank lines.
func normalizeOutput(s string) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\r")
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, "\n")
}
