package train

import (
	"errors"
	"fmt"
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

// checkWorldSize refuses a checkpoint written by a different number of
// ranks: its optimizer state is cut into that many shards.
func (t *trainer) checkWorldSize(dir string, st *trainerState) error {
	ws := max(st.WorldSize, 1)
	if n := t.comm.Size(); ws != n {
		how := "as a single process (without mpirun)"
		if ws > 1 {
			how = fmt.Sprintf("with mpirun -np %d", ws)
		}
		return fmt.Errorf("checkpoint %s was written by a run over %d rank(s), and this one has %d: its optimizer state is sharded for %d; resume it %s", dir, ws, n, ws, how)
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
		err = t.writeOptimShard(tmp)
	}
	if bad, aerr := t.agree(err != nil); aerr != nil {
		return fail("write the optimizer shards", aerr)
	} else if bad {
		if t.lead() {
			os.RemoveAll(tmp)
		}
		return fail("write the optimizer shards", err)
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
