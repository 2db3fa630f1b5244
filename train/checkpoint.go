package train

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sdzero/kernels"
)

// stateVersion is the trainer.json format version.
const stateVersion = 1

// Checkpoint layout, relative to the run directory.
const (
	checkpointsDir = "checkpoints"
	latestFile     = "latest"
	stateFile      = "trainer.json"
	optimFile      = "optim.safetensors"
	modelSubdir    = "model"
	teacherSubdir  = "teacher"
	rftRoundFile   = "rft_round.jsonl"
	metricsFile    = "metrics.jsonl"
	configFile     = "config.yaml"
	finalSubdir    = "final"
)

// trainerState is trainer.json: everything besides weights and moments that
// a resumed run needs to continue bit-exactly.
type trainerState struct {
	Version int    `json:"version"`
	Phase   string `json:"phase"`
	// Step is the number of completed trainer steps.
	Step       int `json:"step"`
	TotalSteps int `json:"total_steps"`
	// PlannedSteps is the plan derived from config and data (TotalSteps
	// becomes Step when srt-collect reaches its target early).
	PlannedSteps int `json:"planned_steps"`
	// OptimStep is AdamW's step count (bias correction).
	OptimStep int `json:"optim_step"`
	// RNG is the PCG state (MarshalBinary) that seeds rollouts.
	RNG     []byte       `json:"rng"`
	Sampler samplerState `json:"sampler"`
	// SamplesGenerated counts every generated response so far.
	SamplesGenerated int64 `json:"samples_generated"`
	// GenTokens counts the tokens of those responses (stop tokens
	// included), the budget in generated tokens.
	GenTokens int64 `json:"gen_tokens"`
	// Teacher: "init" (the starting model, reloaded from config.model),
	// "saved" (weights in the checkpoint's teacher/) or "" (no teacher).
	Teacher         string `json:"teacher,omitempty"`
	TeacherSyncStep int    `json:"teacher_sync_step"`
	TeacherSyncs    int    `json:"teacher_syncs"`
	// NonFiniteRun counts skipped steps in a row; NonFiniteTotal all.
	NonFiniteRun   int `json:"nonfinite_run"`
	NonFiniteTotal int `json:"nonfinite_total"`
	// MetricsBytes is the size of metrics.jsonl at this step; a resumed
	// run truncates the file there.
	MetricsBytes int64  `json:"metrics_bytes"`
	ConfigHash   string `json:"config_hash"`
	// WorldSize is the number of ranks of a multi-rank run (absent: one),
	// whose optimizer state is one file per rank.
	WorldSize int `json:"world_size,omitempty"`
	// Phase-specific state.
	Collect *collectState `json:"collect,omitempty"`
	RFT     *rftState     `json:"rft,omitempty"`
	// Files lists every file of the checkpoint with its size and CRC-32C,
	// relative to the checkpoint directory.
	Files map[string]fileSum `json:"files"`
}

type fileSum struct {
	Size  int64  `json:"size"`
	CRC32 uint32 `json:"crc32c"`
}

type collectState struct {
	Kept        int   `json:"kept"`
	Attempts    int   `json:"attempts"`
	OutputBytes int64 `json:"output_bytes"`
}

type rftState struct {
	Round   int          `json:"round"`
	Kept    int          `json:"kept"`
	Sampler samplerState `json:"sampler"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checkpointName is the directory name of the checkpoint after step.
func checkpointName(step int) string { return fmt.Sprintf("step-%06d", step) }

// writeFileAtomic writes data to path through a synced temp file and a
// rename, so that path holds either its old or its new content.
func writeFileAtomic(path string, data []byte) error {
	return writeAtomic(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

func writeAtomic(path string, fill func(w io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	bw := bufio.NewWriterSize(f, 1<<20)
	// CreateTemp makes 0600 files; run files are shared like other tools'
	// output (0644), so that the group can read a run it did not start.
	err = f.Chmod(0o644)
	if err == nil {
		err = fill(bw)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// sumFiles computes size and CRC-32C of every regular file under dir.
func sumFiles(dir string) (map[string]fileSum, error) {
	sums := map[string]fileSum{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if rel == stateFile {
			return nil
		}
		s, err := sumFile(path)
		if err != nil {
			return err
		}
		sums[filepath.ToSlash(rel)] = s
		return nil
	})
	return sums, err
}

func sumFile(path string) (fileSum, error) {
	f, err := os.Open(path)
	if err != nil {
		return fileSum{}, err
	}
	defer f.Close()
	h := crc32.New(castagnoli)
	n, err := io.Copy(h, f)
	if err != nil {
		return fileSum{}, fmt.Errorf("read %s: %w", path, err)
	}
	return fileSum{Size: n, CRC32: h.Sum32()}, nil
}

// verifyFiles checks every file trainer.json lists: present, same size,
// same checksum. The error names the file.
func verifyFiles(dir string, want map[string]fileSum) error {
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		path := filepath.Join(dir, filepath.FromSlash(n))
		st, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("checkpoint %s: file %s is missing: %w", dir, n, err)
		}
		w := want[n]
		if st.Size() != w.Size {
			return fmt.Errorf("checkpoint %s: file %s is truncated or corrupt: %d bytes, trainer.json records %d", dir, n, st.Size(), w.Size)
		}
		got, err := sumFile(path)
		if err != nil {
			return fmt.Errorf("checkpoint %s: %w", dir, err)
		}
		if got.CRC32 != w.CRC32 {
			return fmt.Errorf("checkpoint %s: file %s is corrupt: CRC-32C %08x, trainer.json records %08x", dir, n, got.CRC32, w.CRC32)
		}
	}
	return nil
}

// readState reads and checks trainer.json of a checkpoint directory.
func readState(dir string) (*trainerState, error) {
	path := filepath.Join(dir, stateFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	var st trainerState
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("checkpoint %s: corrupt or truncated: %w", path, err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("checkpoint %s: version %d, this build reads version %d", path, st.Version, stateVersion)
	}
	if st.Step < 0 || st.Step > st.TotalSteps || st.Files == nil {
		return nil, fmt.Errorf("checkpoint %s: inconsistent state (step %d of %d)", path, st.Step, st.TotalSteps)
	}
	if len(st.RNG) > 0 {
		if err := new(rand.PCG).UnmarshalBinary(st.RNG); err != nil {
			return nil, fmt.Errorf("checkpoint %s: rng state: %w", path, err)
		}
	}
	return &st, nil
}

// latestCheckpoint returns the directory that RUN/checkpoints/latest names.
func latestCheckpoint(runDir string) (string, error) {
	path := filepath.Join(runDir, checkpointsDir, latestFile)
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("resume %s: no checkpoint (%s is missing): the run saved none, so there is nothing to resume; unless it has finished steps, the train command that started it (same --out) starts it again", runDir, path)
		}
		return "", fmt.Errorf("resume %s: %w", runDir, err)
	}
	name := strings.TrimSpace(string(data))
	if !strings.HasPrefix(name, "step-") || strings.ContainsAny(name, `/\`) {
		return "", fmt.Errorf("resume %s: %s is corrupt (%q)", runDir, path, name)
	}
	dir := filepath.Join(runDir, checkpointsDir, name)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", fmt.Errorf("resume %s: %s names %s, which is missing", runDir, path, dir)
	}
	return dir, nil
}

// pruneCheckpoints removes all but the newest keep step-* directories
// (and stale temp directories), never removing keepDir.
func pruneCheckpoints(root string, keep int, keepDir string) error {
	ents, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	var steps []string
	for _, e := range ents {
		switch {
		case e.IsDir() && strings.HasPrefix(e.Name(), "step-"):
			steps = append(steps, e.Name())
		case strings.HasPrefix(e.Name(), ".tmp-") || strings.HasPrefix(e.Name(), ".old-"):
			os.RemoveAll(filepath.Join(root, e.Name()))
		}
	}
	sort.Strings(steps)
	for i := 0; i < len(steps)-keep; i++ {
		if steps[i] == filepath.Base(keepDir) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(root, steps[i])); err != nil {
			return err
		}
	}
	return nil
}

// Optimizer-moment file: a safetensors file with two F32 tensors "M" and
// "V" of n elements each, copied raw (bit-exact).

const rawChunk = 1 << 22 // elements per host transfer

func writeMoments(path string, be kernels.Backend, n int, ts map[string]kernels.Tensor) error {
	names := make([]string, 0, len(ts))
	for k := range ts {
		names = append(names, k)
	}
	sort.Strings(names)
	type entry struct {
		DType   string `json:"dtype"`
		Shape   []int  `json:"shape"`
		Offsets [2]int `json:"data_offsets"`
	}
	hdr := map[string]any{}
	off := 0
	for _, k := range names {
		hdr[k] = entry{DType: "F32", Shape: []int{n}, Offsets: [2]int{off, off + 4*n}}
		off += 4 * n
	}
	hj, err := json.Marshal(hdr)
	if err != nil {
		return err
	}
	for len(hj)%8 != 0 {
		hj = append(hj, ' ')
	}
	return writeAtomic(path, func(w io.Writer) error {
		var lenBuf [8]byte
		binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hj)))
		if _, err := w.Write(lenBuf[:]); err != nil {
			return err
		}
		if _, err := w.Write(hj); err != nil {
			return err
		}
		buf := make([]byte, 4*min(n, rawChunk))
		for _, k := range names {
			t := ts[k]
			for o := 0; o < n; o += rawChunk {
				c := min(rawChunk, n-o)
				be.DownloadRaw(buf[:4*c], t.View(o, c))
				if _, err := w.Write(buf[:4*c]); err != nil {
					return err
				}
			}
		}
		return be.Sync()
	})
}

func readMoments(path string, be kernels.Backend, n int, ts map[string]kernels.Tensor) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("optimizer state: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	var lenBuf [8]byte
	if _, err := io.ReadFull(f, lenBuf[:]); err != nil {
		return fmt.Errorf("optimizer state %s: truncated header: %w", path, err)
	}
	hl := binary.LittleEndian.Uint64(lenBuf[:])
	if hl > 1<<20 || int64(hl)+8 > st.Size() {
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
	base := int64(8 + hl)
	for name, t := range ts {
		e, ok := hdr[name]
		if !ok {
			return fmt.Errorf("optimizer state %s: tensor %s is missing", path, name)
		}
		if e.DType != "F32" || len(e.Shape) != 1 || e.Shape[0] != n || e.Offsets[1]-e.Offsets[0] != 4*n {
			return fmt.Errorf("optimizer state %s: tensor %s is %s %v, want F32 [%d] (different model?)", path, name, e.DType, e.Shape, n)
		}
		if base+int64(e.Offsets[1]) > st.Size() {
			return fmt.Errorf("optimizer state %s: tensor %s is truncated (file has %d bytes, needs %d)", path, name, st.Size(), base+int64(e.Offsets[1]))
		}
		buf := make([]byte, 4*min(n, rawChunk))
		for o := 0; o < n; o += rawChunk {
			c := min(rawChunk, n-o)
			if _, err := f.ReadAt(buf[:4*c], base+int64(e.Offsets[0])+int64(4*o)); err != nil {
				return fmt.Errorf("optimizer state %s: tensor %s: %w", path, name, err)
			}
			be.UploadRaw(t.View(o, c), buf[:4*c])
		}
	}
	return be.Sync()
}

// olderCheckpoints returns a hint naming the other checkpoints of a run,
// for errors about a damaged latest one.
func olderCheckpoints(runDir, bad string) string {
	ents, err := os.ReadDir(filepath.Join(runDir, checkpointsDir))
	if err != nil {
		return ""
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), "step-") && e.Name() != filepath.Base(bad) {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return ""
	}
	return fmt.Sprintf(" (older checkpoints: %s; write one's name into %s to resume from it)", strings.Join(names, ", "), filepath.Join(runDir, checkpointsDir, latestFile))
}

// checkNewRunDir refuses to start a new run over a directory that holds a
// run worth keeping: one with a checkpoint, a final model or a finished
// step. A directory whose config.yaml is all there is, left by a start
// that failed, may be started again.
func checkNewRunDir(runDir string) error {
	if _, err := os.Stat(filepath.Join(runDir, configFile)); err != nil {
		return nil // not a run
	}
	root := filepath.Join(runDir, checkpointsDir)
	ents, _ := os.ReadDir(root)
	for _, e := range ents {
		if n := e.Name(); n == latestFile || strings.HasPrefix(n, "step-") || strings.HasPrefix(n, ".old-step-") {
			return fmt.Errorf("run %s already exists and has a checkpoint (%s): resume it with --resume %s, or pick another --out", runDir, filepath.Join(root, n), runDir)
		}
	}
	if _, err := os.Stat(filepath.Join(runDir, finalSubdir)); err == nil {
		return fmt.Errorf("run %s already finished (final model in %s): pick another --out", runDir, filepath.Join(runDir, finalSubdir))
	}
	if fi, err := os.Stat(filepath.Join(runDir, metricsFile)); err == nil && fi.Size() > 0 {
		return fmt.Errorf("run %s already exists: %s records finished steps but there is no checkpoint to resume from; pick another --out, or remove %s to start it again", runDir, filepath.Join(runDir, metricsFile), runDir)
	}
	return nil
}

// isTempName reports a temp file or directory of an interrupted atomic
// write (writeAtomic's ".NAME.tmp*", model.Save's ".NAME.tmp-*", save's
// ".tmp-step-*").
func isTempName(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp")
}

// cleanRunLeftovers removes what a killed run's atomic writes left in the
// run directory, its checkpoints and its final model, and puts back a
// checkpoint that save had moved aside (".old-step-N") when the run died
// before its replacement was renamed in. It runs under the run's lock, so
// no live writer owns these files. It returns the paths it removed.
func cleanRunLeftovers(runDir string) ([]string, error) {
	var removed []string
	root := filepath.Join(runDir, checkpointsDir)
	for _, dir := range []string{runDir, root, filepath.Join(runDir, finalSubdir)} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return removed, fmt.Errorf("clean up %s: %w", dir, err)
		}
		for _, e := range ents {
			path := filepath.Join(dir, e.Name())
			if dir == root && strings.HasPrefix(e.Name(), ".old-step-") {
				orig := filepath.Join(root, strings.TrimPrefix(e.Name(), ".old-"))
				if _, err := os.Lstat(orig); errors.Is(err, fs.ErrNotExist) {
					if err := os.Rename(path, orig); err != nil {
						return removed, fmt.Errorf("clean up %s: restore %s: %w", dir, orig, err)
					}
					continue
				}
			} else if !isTempName(e.Name()) {
				continue
			}
			if err := os.RemoveAll(path); err != nil {
				return removed, fmt.Errorf("clean up %s: %w", dir, err)
			}
			removed = append(removed, path)
		}
	}
	return removed, nil
}
