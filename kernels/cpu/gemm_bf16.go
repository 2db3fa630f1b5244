package cpu

// packRowsBF16 packs columns [32*j0, 32*j1) of rows [0, kc) of b (stored
// [kc,n]: a block of rows of a weight stored [k,cols]) into panels j0..j1
// in pair layout, panel j at dst[(j-j0)*ps:], as packBBF16(dst[(j-j0)*ps:],
// b, n, kc, false, 32*j) does for each j; ps >= ceil(kc/32)*1024. Whole
// k steps of whole panels are read a row pair at a time, front to back
// (the rows of a weight then stream from memory in order).
func packRowsBF16(dst, b []uint16, n, kc, j0, j1, ps int) {
	if jf := min(j1, n/32); jf > j0 && packRowsFast(dst, b, n, kc, j0, jf, ps) {
		dst, j0 = dst[(jf-j0)*ps:], jf
	}
	for j := j0; j < j1; j++ {
		packBBF16(dst[(j-j0)*ps:(j-j0)*ps+(kc+31)/32*1024], b, n, kc, false, 32*j)
	}
}
