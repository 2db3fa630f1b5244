//go:build unix

package cpu

import "syscall"

// cpuSeconds returns the user+system CPU time of the process so far, which
// benchmarks use to report throughput per CPU-second: on a shared machine
// that is steadier than wall-clock rates.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
