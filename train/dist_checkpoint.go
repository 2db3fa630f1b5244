package train

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"sdzero/kernels"
)

// Checkpoints of a multi-rank run: one directory in the usual layout, with
// the optimizer state in one file per rank (optimShardName) instead of
// optimFile. Rank 0 creates the temp directory; after an agreement every
// other rank writes its shard into it; after a second agreement rank 0
// writes its own shard, the model, the teacher and trainer.json (whose
// checksums cover every shard) and renames the directory into place; a
// third agreement tells every rank whether the checkpoint was committed.
// A failure on any rank leaves the previous checkpoint as it was.

// optimShardName is the optimizer file of rank of size.
func optimShardName(rank, size int) string {
	return fmt.Sprintf("optim-rank-%05d-of-%05d.safetensors", rank, size)
}

// optimFileName is this rank's optimizer file in a checkpoint.
func (t *trainer) optimFileName() string {
	if !t.distributed() {
		return optimFile
	}
	return optimShardName(t.comm.Rank(), t.comm.Size())
}

// writeOptimShard writes this rank's AdamW moments into checkpoint dir.
func (t *trainer) writeOptimShard(dir string) error {
	return writeMoments(filepath.Join(dir, t.optimFileName()), t.be, t.adam.M.N, map[string]kernels.Tensor{"M": t.adam.M, "V": t.adam.V})
}

// checkpointTemp returns the temp directory a checkpoint is written into:
// the one saveRanks prepared, or a new one.
func (t *trainer) checkpointTemp(root, name string) (string, error) {
	if t.ckpTmp != "" {
		return t.ckpTmp, nil
	}
	return os.MkdirTemp(root, ".tmp-"+name+"-")
}

// checkWorldSize checks that a checkpoint's optimizer files are those of
// its world size, so that readOptimState can reshard them for this run's
// ranks (or read them as they are).
func (t *trainer) checkWorldSize(dir string, st *trainerState) error {
	ws := max(st.WorldSize, 1)
	for r := 0; r < ws && t.needsOptimizer(); r++ {
		name := optimFile
		if ws > 1 {
			name = optimShardName(r, ws)
		}
		if _, ok := st.Files[name]; !ok {
			return fmt.Errorf("checkpoint %s: written by a run over %d rank(s), but it lists no %s", dir, ws, name)
		}
	}
	if n := t.comm.Size(); ws != n {
		t.prog0().logf("checkpoint %s was written by %d rank(s); resharding its optimizer state for %d", dir, ws, n)
	}
	return nil
}

// readOptimState loads this rank's AdamW moments from checkpoint dir,
// written by a run over st.WorldSize ranks: this rank's own file when the
// world size is the same, else the ranges of this rank's shard gathered
// from the old shards (a raw copy: resharding changes no value).
func (t *trainer) readOptimState(dir string, st *trainerState) error {
	ws := max(st.WorldSize, 1)
	ts := map[string]kernels.Tensor{"M": t.adam.M, "V": t.adam.V}
	if ws == t.comm.Size() {
		return readMoments(filepath.Join(dir, t.optimFileName()), t.be, t.adam.M.N, ts)
	}
	n := t.m.LayoutLen()
	sh := t.adam.Shard()
	// The new state: [0, Shard) is parameters [Rank*Shard, ...), then the
	// tail [Size*Shard, n); an unsharded optimizer holds [0, n).
	type seg struct{ state, param, len int }
	segs := []seg{{0, 0, n}}
	if sh.Size > 1 {
		segs = []seg{{0, sh.Rank * sh.Shard, sh.Shard}, {sh.Shard, sh.Size * sh.Shard, sh.Tail}}
	}
	// The old state: rank q's file holds parameters [q*osz, (q+1)*osz)
	// and the tail [ws*osz, n).
	osz := n / ws
	oldLen := osz + (n - ws*osz)
	for _, g := range segs {
		for a := g.param; a < g.param+g.len; {
			q, off, k := 0, 0, 0
			if a < ws*osz {
				q = a / osz
				off, k = a-q*osz, min(g.param+g.len, (q+1)*osz)-a
			} else {
				off, k = osz+a-ws*osz, g.param+g.len-a
			}
			name := optimFile
			if ws > 1 {
				name = optimShardName(q, ws)
			}
			views := map[string]kernels.Tensor{}
			for key, x := range ts {
				views[key] = x.View(g.state+a-g.param, k)
			}
			if err := readMomentsRange(filepath.Join(dir, name), t.be, oldLen, off, views); err != nil {
				return fmt.Errorf("reshard the optimizer state of %d rank(s) for %d: %w", ws, t.comm.Size(), err)
			}
			a += k
		}
	}
	return t.be.Sync()
}

// readMomentsRange reads elements [off, off+len) of each tensor of a
// moment file (tensors of n elements) into the views of ts.
func readMomentsRange(path string, be kernels.Backend, n, off int, ts map[string]kernels.Tensor) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("optimizer state: %w", err)
	}
	defer f.Close()
	var lenBuf [8]byte
	if _, err := io.ReadFull(f, lenBuf[:]); err != nil {
		return fmt.Errorf("optimizer state %s: truncated header: %w", path, err)
	}
	hl := binary.LittleEndian.Uint64(lenBuf[:])
	if hl > 1<<20 {
		return fmt.Errorf("optimizer state %s: corrupt header length %d", path, hl)
	}
	hj := make([]byte, hl)
	if _, err := io.ReadFull(f, hj); err != nil {
		return fmt.Errorf("optimizer state %s: %w", path, err)
	}
	var hdr map[string]struct {
		DType   string `json:"dtype"`
		Shape   []int  `json:"shape"`
		Offsets [2]int `json:"data_offsets"`
	}
	if err := json.Unmarshal(hj, &hdr); err != nil {
		return fmt.Errorf("optimizer state %s: corrupt header: %w", path, err)
	}
	for name, t := range ts {
		e, ok := hdr[name]
		if !ok {
			return fmt.Errorf("optimizer state %s: tensor %s is missing", path, name)
		}
		if e.DType != "F32" || len(e.Shape) != 1 || e.Shape[0] != n || off+t.N > n {
			return fmt.Errorf("optimizer state %s: tensor %s is %s %v, want F32 [%d] (different model?)", path, name, e.DType, e.Shape, n)
		}
		buf := make([]byte, 4*min(t.N, rawChunk))
		for o := 0; o < t.N; o += rawChunk {
			c := min(rawChunk, t.N-o)
			if _, err := f.ReadAt(buf[:4*c], int64(8+hl)+int64(e.Offsets[0])+4*int64(off+o)); err != nil {
				return fmt.Errorf("optimizer state %s: tensor %s: %w", path, name, err)
			}
			be.UploadRaw(t.View(o, c), buf[:4*c])
		}
	}
	return nil
}

// saveRanks is save for a multi-rank run (see the top of this file).
func (t *trainer) saveRanks() error {
	root := filepath.Join(t.runDir, checkpointsDir)
	name := checkpointName(t.st.Step)
	final := filepath.Join(root, name)
	tmp := filepath.Join(root, ".tmp-"+name+"-ranks")
	rank := t.comm.Rank()
	fail := func(stage string, err error) error {
		if err == nil {
			err = errors.New("another rank failed (its own error says why)")
		}
		kept := "previous checkpoint kept"
		if t.lastCkp == "" {
			kept = "the run has no earlier checkpoint"
		}
		return fmt.Errorf("checkpoint %s: rank %d of %d: %s: %w (%s)", final, rank, t.comm.Size(), stage, err, kept)
	}
	var err error
	if t.lead() {
		if err = os.MkdirAll(root, 0o755); err == nil {
			if err = os.RemoveAll(tmp); err == nil {
				err = os.Mkdir(tmp, 0o755)
			}
		}
	}
	if bad, aerr := t.agree(err != nil); aerr != nil {
		return fail("create the temp directory", aerr)
	} else if bad {
		return fail("create the temp directory", err)
	}
	if !t.lead() && t.adam != nil {
		if err = t.hook("shard"); err == nil {
			err = t.writeOptimShard(tmp)
		}
	}
	if bad, aerr := t.agree(err != nil); aerr != nil {
		return fail("write the optimizer shards", aerr)
	} else if bad {
		if t.lead() {
			os.RemoveAll(tmp)
		}
		return fail("write the optimizer shards", err)
	}
	if t.masters, err = t.masterImage(); err != nil { // every rank takes part
		err = fmt.Errorf("rank %d: %w", rank, err)
	}
	defer func() { t.masters = nil }()
	if bad, aerr := t.agree(err != nil); aerr != nil {
		return fail("gather the master weights", aerr)
	} else if bad {
		if t.lead() {
			os.RemoveAll(tmp)
		}
		return fail("gather the master weights", err)
	}
	if t.lead() {
		t.ckpTmp = tmp
		err = t.save()
		t.ckpTmp = ""
	}
	if bad, aerr := t.agree(err != nil); aerr != nil {
		return fail("commit", aerr)
	} else if bad {
		if t.lead() {
			return err // save's error says what was kept
		}
		return fail("commit", nil)
	}
	t.lastCkp = final
	return nil
}
