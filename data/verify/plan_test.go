package verify

import (
	"strings"
	"testing"
)

func TestPlanCode(t *testing.T) {
	opt := CodeOptions{MemoryBytes: 512 << 20, DiskBytes: 64 << 20, CompileMemoryBytes: 1 << 30}
	tests := []struct {
		name      string
		workers   int
		avail     int64
		fits      bool
		maxWorker int
	}{
		{"unknown memory", 4, 0, true, 4},
		{"plenty", 4, 64 << 30, true, 54},
		{"too many", 64, 8 << 30, false, 6},
		{"not even one", 1, 512 << 20, false, 0},
	}
	for _, tc := range tests {
		p := PlanCode(tc.workers, opt)
		p.AvailableBytes = tc.avail
		// Compile: 1 GiB + 128 MiB tmpfs + overhead; run: 512 + 64 MiB + overhead.
		if want := int64(1<<30 + 128<<20 + sampleOverheadBytes); p.PerSampleBytes != want || p.CompileBytes != want {
			t.Errorf("%s: per sample %d, want %d", tc.name, p.PerSampleBytes, want)
		}
		if want := int64(512<<20 + 64<<20 + sampleOverheadBytes); p.RunBytes != want {
			t.Errorf("%s: run bytes %d, want %d", tc.name, p.RunBytes, want)
		}
		if p.TotalBytes != int64(tc.workers)*p.PerSampleBytes {
			t.Errorf("%s: total %d", tc.name, p.TotalBytes)
		}
		if p.Fits() != tc.fits || p.MaxWorkers() != tc.maxWorker {
			t.Errorf("%s: fits %v max %d, want %v %d (%s)", tc.name, p.Fits(), p.MaxWorkers(), tc.fits, tc.maxWorker, p)
		}
		if s := p.String(); !strings.Contains(s, "code sandbox plan:") || tc.fits == strings.Contains(s, "DOES NOT FIT") {
			t.Errorf("%s: String() = %s", tc.name, s)
		}
	}
}

func TestFitCodeWorkers(t *testing.T) {
	avail := availableMemory()
	if avail <= 0 {
		t.Skip("no /proc/meminfo: available memory unknown")
	}
	// A per-sample budget of a quarter of the available memory: the
	// default worker count is lowered to what fits, an explicit excess is
	// an error naming the plan.
	opt := CodeOptions{MemoryBytes: avail / 4, CompileMemoryBytes: avail / 4}
	p, err := FitCodeWorkers(0, opt)
	if err != nil || p.Workers < 1 || p.Workers > 3 || !p.Fits() {
		t.Fatalf("default workers: %v %v", p, err)
	}
	if _, err := FitCodeWorkers(100, opt); err == nil || !strings.Contains(err.Error(), "DOES NOT FIT") {
		t.Fatalf("100 workers of a quarter of memory each: %v", err)
	}
	if _, err := FitCodeWorkers(1, CodeOptions{MemoryBytes: 2 * avail}); err == nil {
		t.Fatal("a sample larger than memory was accepted")
	}
}
