package verify

import (
	"context"
	"os"
	"testing"
	"time"
)

func TestProbeTmp(t *testing.T) {
	info := ProbeSandbox()
	t.Logf("%+v", info)
	dir := t.TempDir()
	d2, _ := os.MkdirTemp(dir, "w")
	res := runSandboxed(context.Background(), runSpec{argv: []string{"/root/.pyenv/versions/3.11.7/bin/python3", "-c", "import os,socket;print(os.getuid(), os.getcwd());open('/tmp/zz','w')"}, dir: d2, timeout: 5 * time.Second, namespaces: true, mem: 512 << 20, nproc: 32, env: []string{"HOME=" + d2}})
	t.Logf("%+v\nstdout=%s\nstderr=%s", res, res.stdout, res.stderr)
}
