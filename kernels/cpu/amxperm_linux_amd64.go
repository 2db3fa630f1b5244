//go:build linux && amd64

package cpu

import "syscall"

// requestTilePermission asks Linux for the AMX tile data state
// (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)): without it the
// first tile instruction raises SIGILL. The permission covers the whole
// process, so asking once is enough; repeating it is harmless.
func requestTilePermission() bool {
	const archReqXcompPerm, xfeatureXTileData = 0x1023, 18
	_, _, errno := syscall.RawSyscall(syscall.SYS_ARCH_PRCTL, archReqXcompPerm, xfeatureXTileData, 0)
	return errno == 0
}
