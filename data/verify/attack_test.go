package verify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"sdzero/data/dataset"
)

// The adversarial suite: every attack of issue 12 as a hostile program
// that prints a marker only when the attack worked, with the marker as the
// expected output, so a hole shows up as reward 1. After every case the
// host must be unchanged: the root-only canary is intact and its content
// appears in no reason, the sample directory is gone, and (checked once per
// top-level test) no sandbox process is left.

// canary is a root-only 0600 file whose content must never leave the host.
type canary struct {
	path, content string
	mod           time.Time
	// also are other host secrets that must not appear in a reason.
	also []string
}

func newCanary(t *testing.T) canary {
	t.Helper()
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	c := canary{path: filepath.Join(t.TempDir(), "secret"), content: "SDZERO-CANARY-" + hex.EncodeToString(b[:])}
	if err := os.WriteFile(c.path, []byte(c.content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(c.path)
	if err != nil {
		t.Fatal(err)
	}
	c.mod = st.ModTime()
	return c
}

// check fails t when the canary changed or its content is in text.
func (c canary) check(t *testing.T, text string) {
	t.Helper()
	if strings.Contains(text, c.content) || strings.Contains(text, c.content[len(c.content)-12:]) {
		t.Errorf("canary content leaked: %s", clip(text, 300))
	}
	for _, a := range c.also {
		if strings.Contains(text, a) {
			t.Errorf("host secret %q leaked: %s", clip(a, 20), clip(text, 300))
		}
	}
	b, err := os.ReadFile(c.path)
	st, serr := os.Stat(c.path)
	if err != nil || string(b) != c.content+"\n" || serr != nil || st.Mode().Perm() != 0o600 || !st.ModTime().Equal(c.mod) {
		t.Errorf("canary %s modified: %q %v %v", c.path, b, err, serr)
	}
}

// sandboxProcesses lists processes that belong to a sandbox: in another
// user namespace than this test, or running as uid 65534.
func sandboxProcesses() []string {
	self, _ := os.Readlink("/proc/self/ns/user")
	var out []string
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		ns, err := os.Readlink(d + "/ns/user")
		if err != nil {
			continue
		}
		if filepath.Base(d) == strconv.Itoa(os.Getpid()) {
			continue
		}
		// Programs run as 65534 only under a root caller (the test itself
		// may run as 65534 otherwise).
		status, _ := os.ReadFile(d + "/status")
		nobody := os.Geteuid() == 0 && strings.Contains(string(status), "\nUid:\t65534\t")
		if ns != self || nobody {
			comm, _ := os.ReadFile(d + "/comm")
			out = append(out, filepath.Base(d)+":"+strings.TrimSpace(string(comm)))
		}
	}
	return out
}

// assertNoSandboxProcesses fails t when a sandbox process is alive. Call it
// when none of this test's sandboxes is running.
func assertNoSandboxProcesses(t *testing.T) {
	t.Helper()
	var left []string
	for i := 0; i < 20; i++ {
		if left = sandboxProcesses(); len(left) == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("sandbox processes left behind: %v", left)
}

// traversableTempDir is a t.TempDir that uid 65534 may traverse, as the
// unisolated program must reach its work directory (os.TempDir() is).
func traversableTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func cpp(src string) string { return "```cpp\n" + src + "\n```\n" }

func needNamespaces(t *testing.T) {
	t.Helper()
	if info := ProbeSandbox(); !info.Namespaces {
		t.Skipf("needs namespace isolation: %s", info.Detail)
	}
}

func needGxx(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("g++"); err != nil {
		t.Skip("g++ not installed")
	}
}

// TestSandboxFacts checks from inside the sandbox what it must look like:
// no terminal, no capability, unprivileged host uid, seccomp on, only the
// runtime's paths visible, no socket anywhere in view, a visible root-only
// file unreadable, and the denied system calls denied.
func TestSandboxFacts(t *testing.T) {
	needPython(t)
	needNamespaces(t)
	c := newCanary(t)
	// A visible file the program may not read: root's 0600 file under a
	// root caller; under another caller (whose uid the program shares) a
	// mode-0 file, unreadable without CAP_DAC_OVERRIDE.
	visible := t.TempDir()
	if err := os.WriteFile(filepath.Join(visible, "secret"), []byte(c.content), 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		if err := os.Chmod(filepath.Join(visible, "secret"), 0); err != nil {
			t.Fatal(err)
		}
	}
	src := `import os, sys, stat, socket
bad = []
for fd in (0, 1, 2):
    if os.isatty(fd):
        bad.append('fd %d is a tty' % fd)
try:
    os.open('/dev/tty', os.O_RDWR)
    bad.append('/dev/tty opened')
except OSError:
    pass
st = dict(l.split(':\t', 1) for l in open('/proc/self/status').read().splitlines() if ':\t' in l)
for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'):
    if int(st[k], 16) != 0:
        bad.append(k + '=' + st[k])
if st['NoNewPrivs'].strip() != '1':
    bad.append('no_new_privs off')
if st['Seccomp'].strip() != '2':
    bad.append('seccomp mode ' + st['Seccomp'])
for line in open('/proc/self/uid_map'):
    inside, outside, n = map(int, line.split())
    if inside <= os.getuid() < inside + n and outside + os.getuid() - inside == 0:
        bad.append('runs as host root')
try:
    open('/canary/secret').read()
    bad.append('root-only file readable')
except PermissionError:
    pass
allowed = {'usr', 'bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32', 'etc', 'dev', 'proc', 'work', 'src', 'tmp', 'root', 'opt', 'canary'}
extra = set(os.listdir('/')) - allowed
if extra:
    bad.append('unexpected top-level paths %s' % sorted(extra))
if set(os.listdir('/etc')) - {'ld.so.cache', 'alternatives'}:
    bad.append('/etc has %s' % sorted(os.listdir('/etc')))
for top in os.listdir('/'):
    if top == 'proc':
        continue
    for root, dirs, files in os.walk('/' + top):
        for f in files + dirs:
            try:
                if stat.S_ISSOCK(os.lstat(os.path.join(root, f)).st_mode):
                    bad.append('socket in view: ' + os.path.join(root, f))
            except OSError:
                pass
for fam in (socket.AF_UNIX, socket.AF_INET, socket.AF_INET6, socket.AF_NETLINK):
    try:
        socket.socket(fam, socket.SOCK_DGRAM if fam == socket.AF_NETLINK else socket.SOCK_STREAM)
        bad.append('socket family %d allowed' % fam)
    except OSError:
        pass
for p in ('/usr/sdzero-x', '/sdzero-x', '/src/x', '/dev/x'):
    try:
        open(p, 'w').write('x')
        bad.append('wrote ' + p)
    except OSError:
        pass
for p, mode in (('/proc/1/mem', os.O_RDWR), ('/proc/1/fd/3', os.O_WRONLY), ('/proc/1/environ', os.O_RDONLY)):
    try:
        os.close(os.open(p, mode | os.O_NONBLOCK))
        bad.append('supervisor reachable: ' + p)
    except OSError:
        pass
import ctypes, ctypes.util
libc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)
for name, call in (('unshare', lambda: libc.unshare(0x10000000)),
                   ('mount', lambda: libc.mount(b'none', b'/work', b'tmpfs', 0, None)),
                   ('ptrace', lambda: libc.ptrace(0, 0, None, None)),
                   ('chroot', lambda: libc.chroot(b'/work'))):
    if call() == 0:
        bad.append(name + ' allowed')
print('facts-ok' if not bad else 'bad: ' + '; '.join(bad))
`
	smp, err := newSample(t.TempDir(), map[string]string{"main.py": src}, false, true)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := removeTree(smp.dir); err != nil {
			t.Error(err)
		}
	}()
	rt, err := resolvePython("python3", &pythonCache)
	if err != nil {
		t.Fatal(err)
	}
	binds, links := systemView()
	binds = append(append(binds, runtimeBinds(rt.dirs)...),
		bindMount{Src: smp.src, Dst: "/src"}, bindMount{Src: visible, Dst: "/canary"})
	r := runSandboxed(context.Background(), runSpec{
		argv: []string{rt.exe, "/src/main.py"}, dir: "/work", env: []string{"HOME=/work", "PATH=/usr/bin:/bin"},
		namespaces: true, timeout: 60 * time.Second, root: smp.root, binds: binds, links: links,
		workBytes: 16 << 20, workInodes: 1024, mem: 1 << 30, nproc: 16, maxOutput: 1 << 16,
	})
	out := strings.TrimSpace(string(r.stdout))
	if r.err != nil || r.exitCode != 0 || out != "facts-ok" {
		t.Fatalf("sandbox facts: %s (exit %d, err %v, stderr %s)", out, r.exitCode, r.err, clip(string(r.stderr), 2000))
	}
	c.check(t, string(r.stdout)+string(r.stderr))
	assertNoSandboxProcesses(t)
}

// attack is one hostile program; marker (the expected output) is printed
// only when the attack succeeded.
type attack struct {
	name, resp string
	tests      int    // stdin tests (default 1), so a later run sees what an earlier did
	input      string // stdin of every test
	reason     string // required in the reason ("" = any)
	opt        func(*CodeOptions)
}

func runAttacks(t *testing.T, c canary, marker string, attacks []attack, base CodeOptions) {
	t.Helper()
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			opt := base
			opt.TempDir = t.TempDir()
			if opt.noNamespaces {
				opt.TempDir = traversableTempDir(t)
			}
			if a.opt != nil {
				a.opt(&opt)
			}
			n := max(a.tests, 1)
			ex := dataset.CodeExample{ID: a.name}
			for i := 0; i < n; i++ {
				// Without an input, test i reads its number: a program can
				// pass test 1 and attack what the parent does for test 2.
				in := a.input
				if in == "" {
					in = strconv.Itoa(i+1) + "\n"
				}
				ex.Tests = append(ex.Tests, dataset.CodeTest{Input: in, Output: marker})
			}
			o := opt.withDefaults()
			limit := time.Duration(n)*(o.TestTimeout+2*time.Second) + o.CompileTimeout + 10*time.Second
			start := time.Now()
			r := Code(context.Background(), a.resp, ex, opt)
			took := time.Since(start)
			t.Logf("%v: %s", took.Round(time.Millisecond), clip(r.Reason, 240))
			if r.Reward != 0 || r.Reason == "" {
				t.Errorf("attack succeeded: %+v", r)
			}
			if a.reason != "" && !strings.Contains(r.Reason, a.reason) {
				t.Errorf("reason %q, want ~%q", clip(r.Reason, 400), a.reason)
			}
			if took > limit {
				t.Errorf("Code took %v, beyond its limit %v", took, limit)
			}
			c.check(t, r.Reason)
			assertClean(t, opt.TempDir)
		})
	}
}

// TestCodeAttacks runs the attacks through Code with namespace isolation.
func TestCodeAttacks(t *testing.T) {
	needPython(t)
	needNamespaces(t)
	c := newCanary(t)
	const marker = "PWNED"
	// Host listeners no program may reach: a pathname unix socket, an
	// abstract one and TCP on loopback.
	sock := filepath.Join(t.TempDir(), "s")
	abstract := fmt.Sprintf("@sdzero-test-%d", os.Getpid())
	var accepted []chan struct{}
	port := ""
	for _, l := range []struct{ network, addr string }{{"unix", sock}, {"unix", abstract}, {"tcp", "127.0.0.1:0"}} {
		ln, err := net.Listen(l.network, l.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		if l.network == "tcp" {
			port = strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		}
		ch := make(chan struct{}, 1)
		accepted = append(accepted, ch)
		go func() {
			if conn, err := ln.Accept(); err == nil {
				ch <- struct{}{}
				conn.Close()
			}
		}()
	}
	// When this test can read /etc/shadow, its first line must not leak.
	if shadow, err := os.ReadFile("/etc/shadow"); err == nil {
		if line, _, _ := strings.Cut(string(shadow), "\n"); len(line) > 8 {
			c.also = append(c.also, line)
		}
	}
	pyAttacks := []attack{
		{name: "py tiocsti", resp: py(`import os, fcntl, termios
ok = False
fds = list(range(10))
try:
    fds.append(os.open('/dev/tty', os.O_RDWR))
except OSError:
    pass
for fd in fds:
    try:
        fcntl.ioctl(fd, termios.TIOCSTI, b'x')
        ok = True
    except OSError:
        pass
print('PWNED' if ok else 'blocked')`), reason: "wrong answer"},
		{name: "py symlink source", tests: 3, resp: py(fmt.Sprintf(`import os
for p in ('/src/main.py', '/src/check.py'):
    try:
        os.unlink(p)
    except OSError:
        pass
    try:
        os.symlink(%q, p)
    except OSError:
        pass
os.symlink(%q, '/work/main.py')
first = input().strip() == '1'
print('PWNED' if first or os.path.islink('/src/main.py') else 'blocked')`, c.path, c.path)), reason: "test 2/3: wrong answer"},
		{name: "py fifo source", tests: 3, resp: py(`import os, stat
os.mkfifo('/work/main.py')
try:
    os.unlink('/src/main.py')
    os.mkfifo('/src/main.py')
except OSError:
    pass
first = input().strip() == '1'
print('PWNED' if first or stat.S_ISFIFO(os.stat('/src/main.py').st_mode) else 'blocked')`), reason: "test 2/3: wrong answer"},
		{name: "py read host files", resp: py(fmt.Sprintf(`import os
out = []
for p in (%q, '/etc/shadow', '/root/.bash_history', '/proc/1/root/etc/shadow', '/etc/passwd'):
    try:
        out.append(open(p).read())
    except OSError as e:
        out.append(repr(e))
try:
    out.append(repr(os.listdir(%q)))
except OSError as e:
    out.append(repr(e))
print('\n'.join(out))
raise SystemExit('\n'.join(out))`, c.path, filepath.Dir(c.path))), reason: "runtime error"},
		{name: "py unix and tcp sockets", resp: py(fmt.Sprintf(`import os, subprocess
ok = False
try:
    import _socket
    for fam, addr in ((_socket.AF_UNIX, %q), (_socket.AF_UNIX, '\0' + %q), (_socket.AF_INET, ('127.0.0.1', %s))):
        try:
            s = _socket.socket(fam, _socket.SOCK_STREAM)
            s.connect(addr)
            ok = True
        except OSError:
            pass
except ImportError:
    pass
r = subprocess.run(['bash', '-c', 'echo hi > /dev/tcp/127.0.0.1/%s'], capture_output=True)
ok = ok or r.returncode == 0
print('PWNED' if ok else 'blocked')`, sock, abstract[1:], port, port)), reason: "wrong answer"},
		{name: "py sample memory", resp: py(`import os
kids = []
for i in range(8):
    pid = os.fork()
    if pid == 0:
        x = b'x' * (100 << 20)
        import time
        time.sleep(30)
        os._exit(0)
    kids.append(pid)
for k in kids:
    os.waitpid(k, 0)
print('PWNED')`), reason: "memory limit exceeded", opt: func(o *CodeOptions) { o.MemoryBytes = 256 << 20; o.TestTimeout = 20 * time.Second }},
		{name: "py disk", resp: py(`n = 0
with open('/work/big', 'wb') as f:
    for i in range(300):
        f.write(b'x' * (1 << 20))
        n += 1
print('PWNED')`), reason: "No space left on device", opt: func(o *CodeOptions) { o.DiskBytes = 32 << 20; o.FileBytes = 1 << 30 }},
		{name: "py deep dirs", resp: py(`import os
os.chdir('/work')
n = 0
try:
    for n in range(32000):
        os.mkdir('d')
        os.chdir('d')
except OSError as e:
    print('stopped at', n, e)
else:
    print('PWNED')`), reason: "wrong answer"},
		{name: "py detached daemon", resp: py(`import os, time, sys
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(120)
    os._exit(0)
print('blocked', flush=True)`), reason: "wrong answer"},
		{name: "py unread stdin", input: strings.Repeat("x", 8<<20), resp: py(`import time
time.sleep(60)`), reason: "timed out", opt: func(o *CodeOptions) { o.TestTimeout = time.Second }},
		{name: "py signal the trainer", resp: py(fmt.Sprintf(`import os
try:
    os.kill(%d, 0)
    print('PWNED')
except OSError as e:
    print('blocked', e)`, os.Getpid())), reason: "wrong answer"},
		{name: "py escape sequences in reason", resp: py(`import sys
sys.stderr.write('\x1b]0;owned\x07\x1b[2J\x9b31m')
raise SystemExit(3)`), reason: `\x1b]0;owned\x07`},
	}
	runAttacks(t, c, marker, pyAttacks, CodeOptions{TestTimeout: 10 * time.Second})
	for i, ch := range accepted {
		select {
		case <-ch:
			t.Errorf("listener %d accepted a connection from a sandboxed program", i)
		default:
		}
	}
	assertNoSandboxProcesses(t)
}

// TestCodeAttacksCpp runs the C++ attacks, including the compile-time ones
// (#include and .incbin of host files).
func TestCodeAttacksCpp(t *testing.T) {
	needGxx(t)
	needNamespaces(t)
	c := newCanary(t)
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan struct{}, 1)
	go func() {
		if conn, err := ln.Accept(); err == nil {
			got <- struct{}{}
			conn.Close()
		}
	}()
	attacks := []attack{
		{name: "cpp include canary", resp: cpp(fmt.Sprintf("#include %q\nint main(){}", c.path)), reason: "compile error"},
		{name: "cpp include shadow", resp: cpp("#include \"/etc/shadow\"\nint main(){}"), reason: "compile error"},
		{name: "cpp incbin canary", resp: cpp(fmt.Sprintf("#include <cstdio>\nasm(\".section .rodata\\n.global blob\\nblob: .incbin \\\"%s\\\"\\n.byte 0\\n.text\");\nextern const char blob[];\nint main(){ std::puts(blob); }", c.path)), reason: "compile error"},
		{name: "cpp read canary", resp: cpp(fmt.Sprintf("#include <cstdio>\nint main(){ FILE*f=std::fopen(%q,\"r\"); if(!f){std::puts(\"blocked\");return 0;} char b[256]={0}; std::fread(b,1,255,f); std::fputs(b,stdout); std::fputs(b,stderr); return 1; }", c.path)), reason: "wrong answer"},
		{name: "cpp tiocsti", resp: cpp("#include <cstdio>\n#include <fcntl.h>\n#include <sys/ioctl.h>\n#include <termios.h>\nint main(){ bool ok=false; char ch='x'; int t=open(\"/dev/tty\",O_RDWR); for(int fd=0;fd<10;fd++) if(ioctl(fd,TIOCSTI,&ch)==0) ok=true; if(t>=0&&ioctl(t,TIOCSTI,&ch)==0) ok=true; std::puts(ok?\"PWNED\":\"blocked\"); }"), reason: "wrong answer"},
		{name: "cpp unix socket", resp: cpp(fmt.Sprintf("#include <cstdio>\n#include <cstring>\n#include <sys/socket.h>\n#include <sys/un.h>\nint main(){ int s=socket(AF_UNIX,SOCK_STREAM,0); sockaddr_un a{}; a.sun_family=AF_UNIX; std::strcpy(a.sun_path,%q); bool ok = s>=0 && connect(s,(sockaddr*)&a,sizeof a)==0; std::puts(ok?\"PWNED\":\"blocked\"); }", sock)), reason: "wrong answer"},
		{name: "cpp sample memory", resp: cpp("#include <cstdio>\n#include <cstdlib>\n#include <cstring>\n#include <unistd.h>\n#include <sys/wait.h>\nint main(){ for(int i=0;i<8;i++) if(fork()==0){ volatile char*p=(volatile char*)malloc(100<<20); for(int j=0;p&&j<(100<<20);j+=4096) p[j]=1; sleep(30); _exit(p?p[4096]:0);} while(wait(nullptr)>0){} std::puts(\"PWNED\"); }"), reason: "memory limit exceeded", opt: func(o *CodeOptions) { o.MemoryBytes = 256 << 20; o.TestTimeout = 20 * time.Second }},
		{name: "cpp disk", resp: cpp("#include <cstdio>\n#include <vector>\nint main(){ std::vector<char> b(1<<20,'x'); FILE*f=std::fopen(\"/work/big\",\"wb\"); int n=0; for(int i=0;i<300;i++){ if(std::fwrite(b.data(),1,b.size(),f)!=b.size()) break; n++; } if(std::fflush(f)!=0) n=-1; std::printf(n==300?\"PWNED\\n\":\"stopped at %d\\n\", n); }"), reason: "wrong answer", opt: func(o *CodeOptions) { o.DiskBytes = 32 << 20; o.FileBytes = 1 << 30 }},
	}
	runAttacks(t, c, "PWNED", attacks, CodeOptions{TestTimeout: 10 * time.Second, CompileTimeout: 60 * time.Second})
	select {
	case <-got:
		t.Error("the host unix socket accepted a connection from a sandboxed program")
	default:
	}
	assertNoSandboxProcesses(t)
}

// TestCodeUnisolated covers the mode without namespaces: refused by
// default; with the explicit opt-in, the program runs as uid 65534 (when
// the caller is root) under the seccomp filter, so the fallback's old holes
// (import _socket, bash /dev/tcp, signalling the trainer, rewriting its
// source) stay shut and a tree 8,000 deep (16,000 characters of path) is still removed.
func TestCodeUnisolated(t *testing.T) {
	needPython(t)
	ex := dataset.CodeExample{ID: "u", Tests: []dataset.CodeTest{{Input: "3\n", Output: "6"}}}
	dir := t.TempDir()
	r := Code(context.Background(), py("print(int(input())*2)"), ex, CodeOptions{TempDir: dir, noNamespaces: true})
	if r.Reward != 0 || !strings.Contains(r.Reason, "program not run: no sandbox isolation") || !strings.Contains(r.Reason, "AllowUnisolatedCode") {
		t.Fatalf("without the opt-in: %+v", r)
	}
	assertClean(t, dir)
	if os.Geteuid() != 0 {
		t.Skip("the opt-in cases below assume a root caller (the program then runs as uid 65534)")
	}
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3 for uid 65534 to run")
	}
	base := CodeOptions{TestTimeout: 20 * time.Second, Python: "/usr/bin/python3", noNamespaces: true, AllowUnisolatedCode: true}
	pass := base
	pass.TempDir = traversableTempDir(t)
	if r := Code(context.Background(), py("print(int(input())*2)"), ex, pass); r.Reward != 1 {
		t.Fatalf("opt-in pass: %+v", r)
	}
	assertClean(t, pass.TempDir)
	c := newCanary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	attacks := []attack{
		{name: "import _socket", resp: py(fmt.Sprintf("import _socket\ns = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)\ns.connect(('127.0.0.1', %d))\nprint('PWNED')", port)), reason: "PermissionError"},
		{name: "bash dev tcp", resp: py(fmt.Sprintf("import subprocess\nr = subprocess.run(['bash', '-c', 'echo hi > /dev/tcp/127.0.0.1/%d'])\nprint('PWNED' if r.returncode == 0 else 'blocked')", port)), reason: "wrong answer"},
		{name: "signal the trainer", resp: py(fmt.Sprintf("import os\nos.kill(%d, 0)\nprint('PWNED')", os.Getpid())), reason: "PermissionError"},
		{name: "read canary", resp: py(fmt.Sprintf("print(open(%q).read())", c.path)), reason: "PermissionError"},
		{name: "rewrite source", tests: 2, resp: py("import os, sys\nsrc = os.path.abspath(sys.argv[0])\ntry:\n    os.unlink(src)\n    os.symlink('/etc/passwd', src)\nexcept OSError:\n    pass\nfirst = input().strip() == '1'\nprint('PWNED' if first or os.path.islink(src) else 'blocked')"), reason: "test 2/2: wrong answer"},
		{name: "deep dirs", resp: py("import os\nn = 0\nfor n in range(8000):\n    os.mkdir('d')\n    os.chdir('d')\nprint('deep', n)"), reason: "wrong answer"},
	}
	runAttacks(t, c, "PWNED", attacks, base)
	assertNoSandboxProcesses(t)
}

// TestRemoveTreeDeep removes a directory tree deeper than PATH_MAX allows
// to name, with a FIFO, a symlink to a victim and an unreadable directory
// in it: the victim survives and nothing is left.
func TestRemoveTreeDeep(t *testing.T) {
	base := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("v"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(base, "tree")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	// 3000 levels: 6000 characters of path, past PATH_MAX (4096).
	cwd, _ := os.Getwd()
	defer os.Chdir(cwd)
	if err := os.Chdir(root); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3000; i++ {
		if i%1000 == 0 {
			if err := exec.Command("mkfifo", "fifo").Run(); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(victim, "link"); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Mkdir("d", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chdir("d"); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir("locked", 0o000); err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(cwd); err != nil {
		t.Fatal(err)
	}
	if err := removeTree(root); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(base); len(ents) != 0 {
		t.Fatalf("left behind: %v", ents)
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "v" {
		t.Fatalf("victim changed: %q %v", b, err)
	}
	if err := removeTree(filepath.Join(base, "missing")); err != nil {
		t.Fatalf("missing tree: %v", err)
	}
}
