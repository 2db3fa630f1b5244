package main

import (
	"errors"
	"strings"
	"testing"

	"sdzero/kernels"
	"sdzero/kernels/cpu"
)

// skewedBackend is a backend whose matmuls are off by a factor: what a
// GPU path with a wrong kernel looks like to the self-check.
type skewedBackend struct {
	kernels.Backend
	f      float32
	closed *bool
}

func (s skewedBackend) MatMul(c, a, b kernels.Tensor, m, n, k int, transA, transB bool, alpha, beta float32) {
	s.Backend.MatMul(c, a, b, m, n, k, transA, transB, alpha*s.f, beta)
}

func (s skewedBackend) Close() error { *s.closed = true; return nil }

// TestChooseBackend: device auto picks the GPU backend only when a GPU is
// found, its backend starts and it passes the self-check; otherwise the
// CPU, and the note says which and why.
func TestChooseBackend(t *testing.T) {
	gpu := func() (bool, string) { return true, "1 CUDA device(s); device 0: Test GPU" }
	for _, tc := range []struct {
		name     string
		probe    func() (bool, string)
		open     func(closed *bool) (kernels.Backend, error)
		picked   bool // the opened backend, not a fresh CPU one
		closed   bool
		noteHave []string
	}{
		{"no gpu", func() (bool, string) { return false, "cuda: no CUDA device" }, nil, false, false,
			[]string{"auto: no usable GPU: no CUDA device; --device cuda for details"}},
		{"no libraries", func() (bool, string) {
			return false, "cuda: CUDA libraries not available: missing CUDA driver (libcuda.so.1); searched /usr/lib, /lib64, /usr/local/cuda/lib64"
		}, nil, false, false, []string{"auto: no usable GPU: CUDA libraries not available: missing CUDA driver (libcuda.so.1); --device cuda"}},
		{"backend fails", gpu, func(*bool) (kernels.Backend, error) { return nil, errors.New("cuInit: 999") }, false, false,
			[]string{"Test GPU found", "did not start", "cuInit: 999"}},
		{"self-check fails", gpu, func(c *bool) (kernels.Backend, error) { return skewedBackend{cpu.New(1), 1.05, c}, nil }, false, true,
			[]string{"Test GPU found", "self-check failed", "--device cuda", "fp32"}},
		{"kernel outputs zeros", gpu, func(c *bool) (kernels.Backend, error) { return skewedBackend{cpu.New(1), 0, c}, nil }, false, true,
			[]string{"self-check failed"}},
		{"bf16 backend passes", gpu, func(c *bool) (kernels.Backend, error) { return skewedBackend{cpu.NewBF16(1), 1, c}, nil }, true, false,
			[]string{"self-check against the CPU passed"}},
		{"self-check passes", gpu, func(c *bool) (kernels.Backend, error) { return skewedBackend{cpu.New(1), 1, c}, nil }, true, false,
			[]string{"auto: 1 CUDA device(s); device 0: Test GPU", "self-check against the CPU passed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var closed bool
			var opened kernels.Backend
			open := func() (kernels.Backend, error) {
				if tc.open == nil {
					t.Fatal("opened a backend without a GPU")
				}
				be, err := tc.open(&closed)
				opened = be
				return be, err
			}
			be, note, err := chooseBackend(3, tc.probe, open)
			if err != nil {
				t.Fatal(err)
			}
			if got := opened != nil && be == opened; got != tc.picked {
				t.Errorf("picked the candidate: %v, want %v (note %q)", got, tc.picked, note)
			}
			if !tc.picked {
				if c, ok := be.(*cpu.Backend); !ok || c.Threads() != 3 {
					t.Errorf("fallback is %T, want the CPU with 3 threads", be)
				}
			}
			if closed != tc.closed {
				t.Errorf("candidate closed: %v, want %v", closed, tc.closed)
			}
			for _, w := range tc.noteHave {
				if !strings.Contains(note, w) {
					t.Errorf("note %q lacks %q", note, w)
				}
			}
		})
	}
}

// TestOpenBackendNote: explicit devices need no note; auto always has
// one; unknown devices are errors.
func TestOpenBackendNote(t *testing.T) {
	be, note, err := openBackendNote("cpu", 1)
	if err != nil || be.Name() != "cpu" || note != "" {
		t.Errorf("cpu: %v %q %v", be, note, err)
	}
	be, note, err = openBackendNote("auto", 1)
	if err != nil || !strings.HasPrefix(note, "auto: ") {
		t.Errorf("auto: %v %q %v", be, note, err)
	}
	if _, _, err := openBackendNote("tpu", 1); err == nil || !strings.Contains(err.Error(), `unknown --device "tpu"`) {
		t.Errorf("tpu: %v", err)
	}
}
