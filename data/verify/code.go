package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
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
	// MemoryBytes bounds one sample as a whole (default 1 GiB): the
	// resident memory of all its processes together, enforced by the
	// sample's supervisor, and each process's address space (RLIMIT_AS).
	MemoryBytes int64
	// CompileMemoryBytes is the same bound while compiling C++ (default
	// 2 GiB, never below MemoryBytes).
	CompileMemoryBytes int64
	// DiskBytes is the size of the sample's tmpfs work directory (default
	// 64 MiB; the compile step gets at least 128 MiB). It is memory, and
	// counted in the plan (see PlanCode).
	DiskBytes int64
	// MaxOutput caps stdout per run in bytes (default 1 MiB); more is a fail.
	MaxOutput int
	// Python is the interpreter (default: python3 on PATH, resolved to the
	// real executable so version-manager shims are not run in the sandbox).
	Python string
	// Gxx is the C++ compiler (default: g++ on PATH; C++ responses get
	// reward 0 with a reason when none is found).
	Gxx string
	// NProc is RLIMIT_NPROC, counted per sample (default 32).
	NProc int
	// FileBytes is RLIMIT_FSIZE, the largest file the program may write
	// (default 16 MiB).
	FileBytes int64
	// TempDir is where per-sample directories are created (default
	// os.TempDir()). With namespaces the program never writes there: it
	// holds the read-only source, the mount point of the sample's root
	// and, for C++, the compiler's output.
	TempDir string
	// AllowUnisolatedCode runs programs even where namespace isolation is
	// unavailable (see ProbeSandbox). What is given up: the program can
	// read every file its user can (as uid 65534 when the caller is root,
	// else as the caller, who is then also exposed to its signals and
	// writes), see host processes, write anywhere its user may, and use
	// more memory and disk than the per-process limits suggest. Without it
	// Code refuses such programs with reward 0 and a reason.
	AllowUnisolatedCode bool
	// Stats, when set, counts runs, refusals, kills and cleanup failures.
	Stats *CodeStats

	// noNamespaces forces unisolated mode (tests of that path).
	noNamespaces bool
}

// CodeStats counts what Code did; safe for concurrent use. The trainer
// prints it: a non-zero CleanupFailures means the verifier's own host
// state is failing and needs attention.
type CodeStats struct {
	// Samples is the number of Code calls that ran a program.
	Samples atomic.Int64
	// Refused counts programs not run because there was no isolation.
	Refused atomic.Int64
	// Timeouts and MemoryKills count runs stopped by those limits.
	Timeouts    atomic.Int64
	MemoryKills atomic.Int64
	// CleanupFailures counts per-sample directories that could not be
	// removed (the sample then gets reward 0, and the error is its reason).
	CleanupFailures atomic.Int64
}

// String summarises the counters for a log line.
func (s *CodeStats) String() string {
	return fmt.Sprintf("code samples %d, refused %d, timeouts %d, memory kills %d, cleanup failures %d",
		s.Samples.Load(), s.Refused.Load(), s.Timeouts.Load(), s.MemoryKills.Load(), s.CleanupFailures.Load())
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
	if o.CompileMemoryBytes <= 0 {
		o.CompileMemoryBytes = 2 << 30
	}
	o.CompileMemoryBytes = max(o.CompileMemoryBytes, o.MemoryBytes)
	if o.DiskBytes <= 0 {
		o.DiskBytes = 64 << 20
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

// compileDiskBytes is the compile step's tmpfs size.
func (o CodeOptions) compileDiskBytes() int64 { return max(o.DiskBytes, 128<<20) }

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

// pythonRuntime is a resolved interpreter: the executable and the prefix
// directories the sandbox must show it.
type pythonRuntime struct {
	exe  string
	dirs []string
}

// pythonQuery prints what the sandbox needs to know about an interpreter.
const pythonQuery = "import sys, json; print(json.dumps([sys.executable, sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]))"

// resolvePython finds the real interpreter behind name (e.g. a pyenv shim)
// and its prefixes. It runs the trusted interpreter once, outside the
// sandbox, with a fixed script; results are cached per process.
func resolvePython(name string, cache *sync.Map) (pythonRuntime, error) {
	if v, ok := cache.Load(name); ok {
		if err, isErr := v.(error); isErr {
			return pythonRuntime{}, err
		}
		return v.(pythonRuntime), nil
	}
	path, err := exec.LookPath(name)
	if err != nil {
		err = fmt.Errorf("python interpreter %q not found: %w", name, err)
		cache.Store(name, err)
		return pythonRuntime{}, err
	}
	rt := pythonRuntime{exe: path}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	out, e := exec.CommandContext(ctx, path, "-c", pythonQuery).Output()
	cancel()
	var info []string
	if e == nil && json.Unmarshal(out, &info) == nil && len(info) == 5 && info[0] != "" {
		rt.exe = info[0]
		rt.dirs = info[1:]
	}
	if real, err := filepath.EvalSymlinks(rt.exe); err == nil {
		rt.dirs = append(rt.dirs, filepath.Dir(rt.exe), filepath.Dir(real))
	}
	cache.Store(name, rt)
	return rt, nil
}

// pythonCache is shared by all Code calls: the interpreter does not change
// while the process runs, and probing it costs a Python start-up.
var pythonCache sync.Map

// sample is the host side of one Code call. With namespaces the program
// never writes any of it except out (the compiler's output directory,
// bound read-only for the test runs); the parent writes the sources once,
// with O_EXCL, before any program runs, and never opens anything a program
// could have created.
type sample struct {
	dir  string // the per-sample directory
	root string // empty mount point of the sandbox's root
	src  string // sources, read-only to the program
	out  string // C++ output ("" for Python)
	work string // unisolated mode only: the program's work directory
}

// newSample creates the per-sample directory under base and writes files
// (name -> content) into its src directory.
func newSample(base string, files map[string]string, cpp, namespaces bool) (*sample, error) {
	dir, err := os.MkdirTemp(base, "sdzero-run-")
	if err != nil {
		return nil, fmt.Errorf("create sample dir: %w", err)
	}
	s := &sample{dir: dir, root: filepath.Join(dir, "root"), src: filepath.Join(dir, "src")}
	fail := func(err error) (*sample, error) {
		if rerr := removeTree(dir); rerr != nil {
			err = fmt.Errorf("%w (and cleanup: %v)", err, rerr)
		}
		return nil, err
	}
	// 0711: the unisolated program (uid 65534) may traverse, not list.
	if err := os.Chmod(dir, 0o711); err != nil {
		return fail(err)
	}
	for _, d := range []string{s.root, s.src} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return fail(err)
		}
	}
	for name, content := range files {
		f, err := os.OpenFile(filepath.Join(s.src, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return fail(fmt.Errorf("write source: %w", err))
		}
		_, err = f.WriteString(content)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fail(fmt.Errorf("write source: %w", err))
		}
	}
	var owned []string
	if cpp {
		s.out = filepath.Join(dir, "out")
		owned = append(owned, s.out)
	}
	if !namespaces {
		s.work = filepath.Join(dir, "work")
		owned = append(owned, s.work)
	}
	for _, d := range owned {
		if err := os.Mkdir(d, 0o700); err != nil {
			return fail(err)
		}
		// The program runs as host uid 65534 when the caller is root
		// (namespace uid 0 maps there); otherwise as the caller.
		if os.Geteuid() == 0 {
			if err := os.Chown(d, nobodyID, nobodyID); err != nil {
				return fail(err)
			}
		}
	}
	return s, nil
}

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
// C++ is compiled inside the sandbox too (g++ -O2 -std=c++17). Every run
// is a fresh sandbox (see doc.go and ProbeSandbox for the guarantees) with
// an empty tmpfs work directory. Without namespace isolation Code refuses
// to run the program unless opt.AllowUnisolatedCode is set. Code returns
// within its limits: CompileTimeout plus TestTimeout per run, plus a few
// seconds of set-up, or sooner when ctx ends. A zero reward always carries
// the reason; reasons never contain control characters.
func Code(ctx context.Context, response string, ex dataset.CodeExample, opt CodeOptions) (res Result) {
	opt = opt.withDefaults()
	prog, ok := ExtractCode(response)
	if !ok {
		return Result{Reason: "no fenced code block in the response"}
	}
	res = Result{Extracted: prog.Source}
	hasIO, hasCheck := len(ex.Tests) > 0, strings.TrimSpace(ex.Test) != ""
	if !hasIO && !hasCheck {
		res.Reason = "example " + ex.ID + " has no tests"
		return res
	}
	if prog.Lang == "cpp" && !hasIO {
		res.Reason = "C++ response but the example has only Python test code"
		return res
	}
	if prog.Lang == "cpp" && hasCheck {
		res.Reason = "HumanEval/MBPP tests need a Python program"
		return res
	}
	info := ProbeSandbox()
	if opt.noNamespaces {
		info = SandboxInfo{Seccomp: info.Seccomp, Detail: "namespaces disabled for this call"}
	}
	if !info.Namespaces && !opt.AllowUnisolatedCode {
		if opt.Stats != nil {
			opt.Stats.Refused.Add(1)
		}
		res.Reason = "program not run: no sandbox isolation on this machine (" + info.Detail +
			"); set AllowUnisolatedCode (verify.allow_unisolated_code) to run code without filesystem and process isolation"
		return res
	}
	if opt.Stats != nil {
		opt.Stats.Samples.Add(1)
	}
	runs := len(ex.Tests)
	if hasCheck {
		runs++
	}
	// A hard deadline for the whole call, whatever the runs do.
	limit := time.Duration(runs)*(opt.TestTimeout+2*time.Second) + 5*time.Second
	if prog.Lang == "cpp" {
		limit += opt.CompileTimeout + 2*time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()

	files := map[string]string{}
	switch {
	case prog.Lang == "cpp":
		files["main.cpp"] = prog.Source
	default:
		if hasIO {
			files["main.py"] = prog.Source
		}
		if hasCheck {
			files["check.py"] = HumanEvalProgram(prog.Source, ex)
		}
	}
	base := opt.TempDir
	if base == "" {
		base = os.TempDir()
	}
	smp, err := newSample(base, files, prog.Lang == "cpp", info.Namespaces)
	if err != nil {
		res.Reason = err.Error()
		return res
	}
	defer func() {
		if err := removeTree(smp.dir); err != nil {
			if opt.Stats != nil {
				opt.Stats.CleanupFailures.Add(1)
			}
			res.Reward = 0
			res.Reason = "cleanup failed (counted as an error): " + err.Error() + "; verdict was: " + res.Reason
		}
	}()

	// Paths as the program sees them.
	srcDir, outDir, workDir := "/src", "/out", "/work"
	if !info.Namespaces {
		srcDir, outDir, workDir = smp.src, smp.out, smp.work
	}
	env := []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=" + workDir,
		"TMPDIR=" + workDir,
		"LANG=C.UTF-8",
		"LC_ALL=C.UTF-8",
		"PYTHONDONTWRITEBYTECODE=1",
		"PYTHONHASHSEED=0",
		"PYTHONIOENCODING=utf-8",
		"PYTHONNOUSERSITE=1",
	}
	sysBinds, links := systemView()
	spec := runSpec{
		env: env, dir: workDir, namespaces: info.Namespaces, timeout: opt.TestTimeout,
		root: smp.root, links: links, workBytes: opt.DiskBytes, workInodes: int(max(opt.DiskBytes/8192, 1024)),
		mem: opt.MemoryBytes, sampleMem: opt.MemoryBytes, nproc: uint64(opt.NProc), fileBytes: opt.FileBytes,
		maxOutput: opt.MaxOutput, runAsNobody: os.Geteuid() == 0,
	}
	note := ""
	if !info.Namespaces {
		note = " [unisolated sandbox]"
	}
	var argv []string
	var binds []bindMount
	switch prog.Lang {
	case "cpp":
		gxx := opt.Gxx
		if gxx == "" {
			gxx = "g++"
		}
		gxxPath, err := exec.LookPath(gxx)
		if err != nil {
			res.Reason = "C++ program but no compiler: " + err.Error()
			return res
		}
		var dirs []string
		if real, err := filepath.EvalSymlinks(gxxPath); err == nil {
			dirs = append(dirs, filepath.Dir(filepath.Dir(real)))
		}
		binds = append(append(append([]bindMount{}, sysBinds...), runtimeBinds(dirs)...), bindMount{Src: smp.src, Dst: "/src"})
		cs := spec
		cs.binds = append(append([]bindMount{}, binds...), bindMount{Src: smp.out, Dst: "/out", RW: true})
		cs.argv = []string{gxxPath, "-O2", "-std=c++17", "-fno-diagnostics-show-caret", "-fdiagnostics-color=never",
			"-o", filepath.Join(outDir, "prog"), filepath.Join(srcDir, "main.cpp")}
		cs.timeout = opt.CompileTimeout
		cs.mem, cs.sampleMem = opt.CompileMemoryBytes, opt.CompileMemoryBytes
		cs.workBytes = opt.compileDiskBytes()
		cs.fileBytes = max(opt.FileBytes, 256<<20)
		cs.nproc = max(cs.nproc, 64)
		cr := runSandboxed(ctx, cs)
		switch {
		case cr.err != nil:
			res.Reason = "compile: " + sanitize(cr.err.Error(), 400)
			return res
		case cr.memExceeded:
			opt.count(cr)
			res.Reason = fmt.Sprintf("compile exceeded the memory limit of %d MiB%s", opt.CompileMemoryBytes>>20, note)
			return res
		case cr.timedOut:
			opt.count(cr)
			res.Reason = fmt.Sprintf("compile timed out after %v%s", opt.CompileTimeout, note)
			return res
		case cr.exitCode != 0:
			res.Reason = "compile error: " + sanitize(tail(string(cr.stderr), 400), 420)
			return res
		}
		binds = append(binds, bindMount{Src: smp.out, Dst: "/out"})
		argv = []string{filepath.Join(outDir, "prog")}
	default:
		name := opt.Python
		if name == "" {
			name = "python3"
		}
		py, err := resolvePython(name, &pythonCache)
		if err != nil {
			res.Reason = err.Error()
			return res
		}
		binds = append(append(append([]bindMount{}, sysBinds...), runtimeBinds(py.dirs)...), bindMount{Src: smp.src, Dst: "/src"})
		argv = []string{py.exe}
	}
	spec.binds = binds

	for i, tc := range ex.Tests {
		if err := ctx.Err(); err != nil {
			res.Reason = fmt.Sprintf("test %d/%d: not run: %v", i+1, len(ex.Tests), err)
			return res
		}
		s := spec
		s.argv = argv
		if prog.Lang == "python" {
			s.argv = []string{argv[0], filepath.Join(srcDir, "main.py")}
		}
		s.stdin = []byte(tc.Input)
		r := runSandboxed(ctx, s)
		opt.count(r)
		if why := runFailure(r, opt); why != "" {
			res.Reason = fmt.Sprintf("test %d/%d: %s%s", i+1, len(ex.Tests), why, note)
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
	if hasCheck {
		if err := ctx.Err(); err != nil {
			res.Reason = "check program: not run: " + err.Error()
			return res
		}
		s := spec
		s.argv = []string{argv[0], filepath.Join(srcDir, "check.py")}
		s.stdin = []byte{}
		r := runSandboxed(ctx, s)
		opt.count(r)
		if why := runFailure(r, opt); why != "" {
			res.Reason = "check program: " + why + note
			return res
		}
	}
	res.Reward, res.Reason = 1, "ok"
	return res
}

// count records a run's limit kills in opt.Stats.
func (o CodeOptions) count(r runResult) {
	if o.Stats == nil {
		return
	}
	if r.timedOut {
		o.Stats.Timeouts.Add(1)
	}
	if r.memExceeded {
		o.Stats.MemoryKills.Add(1)
	}
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
		return sanitize(r.err.Error(), 400)
	case r.memExceeded:
		return fmt.Sprintf("memory limit exceeded: the sample's processes used over %d MiB together", opt.MemoryBytes>>20)
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
		return ": " + sanitize(tail(s, 300), 320)
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

// sanitize makes program-controlled text safe to log and bounded: invalid
// UTF-8 and control characters other than newline and tab (terminal escape
// sequences) become \x.. escapes, and the result is cut at about n bytes.
func sanitize(s string, n int) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if b.Len() >= n {
			b.WriteString("...")
			break
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, "\\x%02x", s[i])
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
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
