package verify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"sdzero/data/dataset"
)

func needPython(t testing.TB) {
	t.Helper()
	if _, err := resolvePython("python3", &pythonCache); err != nil {
		t.Skipf("python3 not available: %v", err)
	}
}

func py(src string) string { return "Here:\n```python\n" + src + "\n```\n" }

// assertClean checks that nothing from the run is left in base: no files and
// no live process whose working directory is inside it.
func assertClean(t *testing.T, base string) {
	t.Helper()
	ents, err := os.ReadDir(base)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Errorf("work dir not removed: %d entries left in %s", len(ents), base)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cwd")
	for _, p := range procs {
		if cwd, err := os.Readlink(p); err == nil && strings.HasPrefix(cwd, base) {
			t.Errorf("process %s still running in %s", filepath.Dir(p), cwd)
		}
	}
}

func TestExtractCode(t *testing.T) {
	tests := []struct {
		in, lang, src string
		ok            bool
	}{
		{"```python\nprint(1)\n```", "python", "print(1)\n", true},
		{"```\nprint(1)\n```", "python", "print(1)\n", true},
		{"```py\na=1\n```\ntext\n```python\nb=2\n```", "python", "b=2\n", true},
		{"```cpp\nint main(){}\n```", "cpp", "int main(){}\n", true},
		{"```\n#include <cstdio>\nint main(){}\n```", "cpp", "#include <cstdio>\nint main(){}\n", true},
		{"print(1)", "", "", false},
		{"```python\n\n```", "", "", false},
	}
	for _, tc := range tests {
		p, ok := ExtractCode(tc.in)
		if ok != tc.ok || p.Lang != tc.lang || p.Source != tc.src {
			t.Errorf("ExtractCode(%q) = %+v,%v want %s %q %v", tc.in, p, ok, tc.lang, tc.src, tc.ok)
		}
	}
}

func TestNormalizeOutput(t *testing.T) {
	tests := []struct{ in, want string }{
		{"1 \n2\t\n\n\n", "1\n2"},
		{"a\r\nb\r\n", "a\nb"},
		{"  x", "  x"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := normalizeOutput(tc.in); got != tc.want {
			t.Errorf("normalizeOutput(%q) = %q want %q", tc.in, got, tc.want)
		}
	}
}

func TestHumanEvalProgram(t *testing.T) {
	ex := dataset.CodeExample{Prompt: "def f(x):\n", Test: "def check(c):\n    assert c(1) == 2\n", EntryPoint: "f"}
	got := HumanEvalProgram("    return x + 1\n", ex)
	want := "def f(x):\n    return x + 1\n\n\ndef check(c):\n    assert c(1) == 2\n\n\ncheck(f)\n"
	if got != want {
		t.Errorf("completion only:\n%q\nwant\n%q", got, want)
	}
	got = HumanEvalProgram("def f(x):\n    return x + 1\n", ex)
	if strings.Count(got, "def f(") != 1 {
		t.Errorf("full function: prompt prepended again:\n%s", got)
	}
}

func TestCodeFunctional(t *testing.T) {
	needPython(t)
	stdin := dataset.CodeExample{ID: "dbl", Prompt: "double", Tests: []dataset.CodeTest{{Input: "2\n", Output: "4\n"}, {Input: "5\n", Output: "10"}}}
	he := dataset.CodeExample{ID: "he", Prompt: "def add(a, b):\n    \"\"\"add\"\"\"\n", Test: "def check(candidate):\n    assert candidate(2, 3) == 5\n", EntryPoint: "add"}
	mbpp := dataset.CodeExample{ID: "mbpp", Prompt: "square", Test: "assert sq(3) == 9\nassert sq(-2) == 4"}
	tests := []struct {
		name   string
		resp   string
		ex     dataset.CodeExample
		reward float64
		reason string
	}{
		{"stdin pass", py("print(int(input())*2)"), stdin, 1, "ok"},
		{"trailing whitespace ok", py("print(str(int(input())*2) + '   ')\nprint()"), stdin, 1, "ok"},
		{"wrong answer", py("print(int(input())*3)"), stdin, 0, "test 1/2: wrong answer"},
		{"second test fails", py("n=int(input())\nprint(4 if n==2 else 0)"), stdin, 0, "test 2/2: wrong answer"},
		{"runtime error", py("raise ValueError('boom')"), stdin, 0, "ValueError: boom"},
		{"syntax error", py("def ("), stdin, 0, "SyntaxError"},
		{"no fence", "print(1)", stdin, 0, "no fenced code block"},
		{"humaneval full def", py("def add(a, b):\n    return a + b"), he, 1, "ok"},
		{"humaneval body only", py("    return a + b"), he, 1, "ok"},
		{"humaneval wrong", py("def add(a, b):\n    return a - b"), he, 0, "AssertionError"},
		{"humaneval missing entry", py("def plus(a, b):\n    return a + b"), dataset.CodeExample{Prompt: "", Test: he.Test, EntryPoint: "add"}, 0, "NameError"},
		{"mbpp pass", py("def sq(x):\n    return x*x"), mbpp, 1, "ok"},
		{"mbpp fail", py("def sq(x):\n    return 2*x"), mbpp, 0, "AssertionError"},
		{"exit nonzero", py("import sys\nsys.exit(3)"), stdin, 0, "exit 3"},
	}
	opt := CodeOptions{TestTimeout: 10 * time.Second}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opt := opt
			opt.TempDir = t.TempDir()
			r := Code(context.Background(), tc.resp, tc.ex, opt)
			if r.Reward != tc.reward || !strings.Contains(r.Reason, tc.reason) {
				t.Fatalf("got %+v, want reward %v reason ~%q", r, tc.reward, tc.reason)
			}
			assertClean(t, opt.TempDir)
		})
	}
}

func TestCodeCpp(t *testing.T) {
	if _, err := exec.LookPath("g++"); err != nil {
		t.Skip("g++ not installed: C++ verification is not tested on this machine")
	}
	ex := dataset.CodeExample{ID: "sum", Tests: []dataset.CodeTest{{Input: "3 4\n", Output: "7\n"}}}
	opt := CodeOptions{TestTimeout: 10 * time.Second, TempDir: t.TempDir()}
	tests := []struct {
		name, resp, reason string
		reward             float64
	}{
		{"pass", "```cpp\n#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a+b<<\"\\n\";}\n```", "ok", 1},
		{"detected by include", "```\n#include <cstdio>\nint main(){int a,b;scanf(\"%d %d\",&a,&b);printf(\"%d\\n\",a*b);}\n```", "wrong answer", 0},
		{"compile error", "```cpp\nint main( {\n```", "compile error", 0},
		{"segfault", "```cpp\n#include <cstdio>\nint main(){volatile int*p=nullptr;*p=1;}\n```", "signal", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opt := opt
			opt.TempDir = t.TempDir()
			r := Code(context.Background(), tc.resp, ex, opt)
			if r.Reward != tc.reward || !strings.Contains(r.Reason, tc.reason) {
				t.Fatalf("got %+v, want reward %v reason ~%q", r, tc.reward, tc.reason)
			}
			assertClean(t, opt.TempDir)
		})
	}
	r := Code(context.Background(), "```cpp\nint main(){}\n```", ex, CodeOptions{Gxx: "no-such-gxx-compiler", TempDir: opt.TempDir})
	if r.Reward != 0 || !strings.Contains(r.Reason, "no compiler") {
		t.Fatalf("missing compiler: %+v", r)
	}
}

// TestCodeAdversarial runs hostile programs with short limits. Each must
// give reward 0 with the right reason and leave no file or process behind.
func TestCodeAdversarial(t *testing.T) {
	needPython(t)
	info := ProbeSandbox()
	t.Logf("sandbox: %+v", info)
	ex := dataset.CodeExample{ID: "adv", Tests: []dataset.CodeTest{{Input: "", Output: "ok"}}}
	tests := []struct {
		name, src, reason string
		nsOnly            bool
		// alt is another acceptable reason (a fork bomb of Pythons may
		// reach the sample's memory budget before the timeout).
		alt string
	}{
		{"infinite loop", "while True:\n    pass", "timed out", false, ""},
		{"sleep", "import time\ntime.sleep(60)", "timed out", false, ""},
		{"memory bomb", "x = []\nwhile True:\n    x.append(bytearray(10**7))", "MemoryError", false, ""},
		{"huge allocation", "x = bytearray(10**11)", "MemoryError", false, ""},
		{"fork bomb", "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass", "timed out", true, "memory limit exceeded"},
		{"huge output", "while True:\n    print('x' * 10000)", "output exceeds", false, ""},
		{"missing module", "import sdzero_no_such_module\nprint('ok')", "ModuleNotFoundError", false, ""},
		{"non-UTF-8 output", "import sys\nsys.stdout.buffer.write(b'ok\\xff\\xfe\\n')", "not valid UTF-8", false, ""},
		{"big file", "open('f', 'wb').write(b'x' * (20 << 20))\nprint('ok')", "File too large", false, ""},
		{"detached child", "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\nprint('ok', flush=True)\nos._exit(1)", "exit 1", true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.nsOnly && !info.Namespaces {
				t.Skipf("needs namespace isolation; this machine is in fallback mode: %s", info.Detail)
			}
			opt := CodeOptions{TestTimeout: 300 * time.Millisecond, MemoryBytes: 128 << 20, TempDir: t.TempDir()}
			if tc.reason != "timed out" || tc.alt != "" {
				// Room for Python start-up on a busy shared 2-core machine,
				// so the failure is the one under test and not a timeout.
				opt.TestTimeout = 20 * time.Second
			}
			r := Code(context.Background(), py(tc.src), ex, opt)
			okReason := strings.Contains(r.Reason, tc.reason) || (tc.alt != "" && strings.Contains(r.Reason, tc.alt))
			if r.Reward != 0 || !okReason || r.Reason == "" {
				t.Fatalf("got %+v, want reward 0 and reason ~%q", r, tc.reason)
			}
			t.Logf("reason: %s", clip(r.Reason, 160))
			assertClean(t, opt.TempDir)
		})
	}
}

func TestCodeNoNetwork(t *testing.T) {
	needPython(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("cannot listen on loopback: %v", err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- struct{}{}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	src := fmt.Sprintf("import socket\ns = socket.create_connection(('127.0.0.1', %d), timeout=2)\nprint('ok')", port)
	ex := dataset.CodeExample{Tests: []dataset.CodeTest{{Output: "ok"}}}
	opt := CodeOptions{TestTimeout: 5 * time.Second, TempDir: t.TempDir()}
	r := Code(context.Background(), py(src), ex, opt)
	if r.Reward != 0 || !strings.Contains(r.Reason, "Error") {
		t.Fatalf("network program: %+v", r)
	}
	t.Logf("reason: %s", clip(r.Reason, 200))
	select {
	case <-accepted:
		t.Fatal("sandboxed program reached the host's loopback listener")
	default:
	}
	assertClean(t, opt.TempDir)
}

func TestCodeNoWritesOutside(t *testing.T) {
	needPython(t)
	needNamespaces(t)
	victim := t.TempDir()
	// World-writable, so only the sandbox (not file permissions) protects it.
	if err := os.Chmod(victim, 0o777); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(victim, "keep.txt")
	if err := os.WriteFile(keep, []byte("data"), 0o666); err != nil {
		t.Fatal(err)
	}
	escape := filepath.Join(os.TempDir(), fmt.Sprintf("sdzero-escape-%d", os.Getpid()))
	// Host paths are not in the sandbox's view at all; the paths that are
	// (the runtime, the source) are read-only.
	attempts := []struct{ src, reason string }{
		{fmt.Sprintf("open(%q, 'w').write('x')", filepath.Join(victim, "new.txt")), "No such file or directory"},
		{fmt.Sprintf("import os\nos.remove(%q)", keep), "No such file or directory"},
		// /tmp is the sample's own tmpfs: allowed, and not the host's.
		{fmt.Sprintf("open(%q, 'w').write('x')", escape), ""},
		{fmt.Sprintf("import os\nos.chmod(%q, 0o600)", keep), "No such file or directory"},
		{fmt.Sprintf("import os\nos.rename(%q, %q)", keep, keep+".moved"), "No such file or directory"},
		{"open('/usr/sdzero-escape', 'w').write('x')", "Read-only file system"},
		{"open('/src/main.py', 'a').write('x')", "Permission denied"},
		{"import os\nos.unlink('/src/main.py')", "Read-only file system"},
		{"open('/sdzero-escape', 'w').write('x')", "Read-only file system"},
	}
	opt := CodeOptions{TestTimeout: 5 * time.Second, TempDir: t.TempDir()}
	ex := dataset.CodeExample{Tests: []dataset.CodeTest{{Output: ""}}}
	for _, a := range attempts {
		r := Code(context.Background(), py(a.src), ex, opt)
		if a.reason != "" && (r.Reward != 0 || !strings.Contains(r.Reason, a.reason)) {
			t.Errorf("%q: got %+v, want ~%q", a.src, r, a.reason)
		}
	}
	if b, err := os.ReadFile(keep); err != nil || string(b) != "data" {
		t.Errorf("victim file changed: %q %v", b, err)
	}
	if st, err := os.Stat(keep); err != nil || st.Mode().Perm() != 0o666&^0o022 && st.Mode().Perm() != 0o666 {
		t.Errorf("victim file mode changed: %v %v", st.Mode(), err)
	}
	for _, p := range []string{filepath.Join(victim, "new.txt"), escape, keep + ".moved", "/usr/sdzero-escape", "/sdzero-escape"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s was created by the sandboxed program", p)
			os.Remove(p)
		}
	}
	assertClean(t, opt.TempDir)
}

// pySpec builds the spec Code would use to run src (namespace mode).
func pySpec(t *testing.T, src string) runSpec {
	t.Helper()
	needNamespaces(t)
	smp, err := newSample(t.TempDir(), map[string]string{"main.py": src}, false, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := removeTree(smp.dir); err != nil {
			t.Error(err)
		}
	})
	rt, err := resolvePython("python3", &pythonCache)
	if err != nil {
		t.Fatal(err)
	}
	binds, links := systemView()
	binds = append(append(binds, runtimeBinds(rt.dirs)...), bindMount{Src: smp.src, Dst: "/src"})
	return runSpec{
		argv: []string{rt.exe, "/src/main.py"}, dir: "/work", env: []string{"HOME=/work"},
		namespaces: true, root: smp.root, binds: binds, links: links,
		workBytes: 16 << 20, workInodes: 1024, mem: 512 << 20, nproc: 16, maxOutput: 1 << 10,
	}
}

// TestRunSandboxedGroupGone checks at the process level that nothing of the
// group survives a timeout, including a child that tried to hide in a new
// session.
func TestRunSandboxedGroupGone(t *testing.T) {
	needPython(t)
	spec := pySpec(t, "import os, time\nfor _ in range(3):\n    if os.fork() == 0:\n        os.setsid()\n        break\ntime.sleep(60)\n")
	spec.timeout = 500 * time.Millisecond
	r := runSandboxed(context.Background(), spec)
	if !r.timedOut || r.pgid <= 0 {
		t.Fatalf("want a timeout, got %+v (stderr %s)", r, r.stderr)
	}
	if err := syscall.Kill(-r.pgid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("process group %d still exists: %v", r.pgid, err)
	}
	assertNoSandboxProcesses(t)
}

func TestCodeContextCancel(t *testing.T) {
	needPython(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ex := dataset.CodeExample{Tests: []dataset.CodeTest{{Output: "ok"}}}
	r := Code(ctx, py("print('ok')"), ex, CodeOptions{TempDir: t.TempDir()})
	if r.Reward != 0 {
		t.Fatalf("cancelled context: %+v", r)
	}
}

// TestNProcLimit checks that RLIMIT_NPROC stops a fork loop inside the
// sandbox (counted per sandbox thanks to its own user namespace).
func TestNProcLimit(t *testing.T) {
	needPython(t)
	spec := pySpec(t, "import os, time\nn = 0\ntry:\n    while n < 200:\n        if os.fork() == 0:\n            time.sleep(30)\n            os._exit(0)\n        n += 1\nexcept OSError:\n    pass\nprint(n, flush=True)\n")
	spec.timeout, spec.nproc = 20*time.Second, 10
	r := runSandboxed(context.Background(), spec)
	var n int
	if _, err := fmt.Sscan(string(r.stdout), &n); err != nil {
		t.Fatalf("no count printed: %+v stderr %s", r, r.stderr)
	}
	if n >= 10 {
		t.Fatalf("forked %d processes with RLIMIT_NPROC=10", n)
	}
	t.Logf("fork loop stopped after %d children", n)
	if err := syscall.Kill(-r.pgid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("process group %d still exists: %v", r.pgid, err)
	}
	assertNoSandboxProcesses(t)
}

func TestSanitize(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"plain\ttext\nline", 100, "plain\ttext\nline"},
		{"\x1b]0;title\x07", 100, `\x1b]0;title\x07`},
		{"csi \u009b31m", 100, `csi \x9b31m`},
		{"bad \xff\xfe utf8", 100, `bad \xff\xfe utf8`},
		{"del \x7f", 100, `del \x7f`},
		{"ünïcode ok", 100, "ünïcode ok"},
		{strings.Repeat("a", 50), 10, "aaaaaaaaaa..."},
	}
	for _, tc := range tests {
		if got := sanitize(tc.in, tc.n); got != tc.want {
			t.Errorf("sanitize(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

// TestCodeStats checks the counters the trainer prints.
func TestCodeStats(t *testing.T) {
	needPython(t)
	needNamespaces(t)
	var st CodeStats
	ex := dataset.CodeExample{ID: "s", Tests: []dataset.CodeTest{{Output: "ok"}}}
	base := CodeOptions{TestTimeout: 10 * time.Second, Stats: &st}
	for _, c := range []struct {
		src string
		opt func(*CodeOptions)
	}{
		{"print('ok')", nil},
		{"while True: pass", func(o *CodeOptions) { o.TestTimeout = 300 * time.Millisecond }},
		// Each process stays under RLIMIT_AS; together they pass the
		// sample's budget, which only the supervisor sees.
		{"import os, time\nfor i in range(4):\n    if os.fork() == 0:\n        x = b'x' * (100 << 20)\n        time.sleep(30)\nos.wait()", func(o *CodeOptions) { o.MemoryBytes = 256 << 20; o.TestTimeout = 20 * time.Second }},
		{"print('ok')", func(o *CodeOptions) { o.noNamespaces = true }},
	} {
		opt := base
		opt.TempDir = t.TempDir()
		if c.opt != nil {
			c.opt(&opt)
		}
		Code(context.Background(), py(c.src), ex, opt)
		assertClean(t, opt.TempDir)
	}
	if st.Samples.Load() != 3 || st.Refused.Load() != 1 || st.Timeouts.Load() != 1 || st.MemoryKills.Load() != 1 || st.CleanupFailures.Load() != 0 {
		t.Fatalf("stats: %s", st.String())
	}
}
