package model

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/nlpodyssey/safetensors"

	"sdzero/kernels"
)

// SaveOptions control Save.
type SaveOptions struct {
	// DType is the on-disk dtype: kernels.F32 (the default, bit-exact) or
	// kernels.BF16 (round to nearest even).
	DType kernels.DType
	// MaxShardBytes > 0 splits the weights into shards of at most this many
	// bytes (a single larger tensor gets a shard of its own) with a
	// model.safetensors.index.json; 0 writes one model.safetensors.
	MaxShardBytes int64
	// Masters, when set, is a host image of the F32 master weights in the
	// parameter layout (LayoutLen elements): the matmul weights that the
	// model does not hold in F32 (DropMatmulMasters) are saved from it
	// instead of being widened from their BF16 copies. A sharded
	// optimizer gathers it (optim.AdamW.GatherMasters).
	Masters []float32
}

// auxFiles are copied from the source directory of a loaded model, so that
// a saved checkpoint stays usable by the tokenizer and by HF generate.
var auxFiles = []string{"generation_config.json", "tokenizer.json", "tokenizer_config.json",
	"special_tokens_map.json", "vocab.json", "merges.txt", "added_tokens.json"}

// Save writes the model to dir in the Hugging Face layout: config.json and
// model.safetensors (or shards and model.safetensors.index.json). Every
// file is written under a temp name, synced, and renamed into place only
// once all are written, so a crash leaves the previous checkpoint's files
// intact; files of a previous layout that the new one does not use are
// removed last.
func (m *Model) Save(dir string, opt SaveOptions) error {
	if m.closed {
		return fmt.Errorf("save %s: model used after Free", dir)
	}
	var dtName string
	var stType safetensors.DType
	switch opt.DType {
	case kernels.F32:
		dtName, stType = "float32", safetensors.F32
	case kernels.BF16:
		dtName, stType = "bfloat16", safetensors.BF16
	default:
		return fmt.Errorf("save %s: dtype %s is not supported (F32 or BF16)", dir, opt.DType)
	}
	if opt.Masters != nil && len(opt.Masters) != m.LayoutLen() {
		return fmt.Errorf("save %s: the master image has %d elements, the parameter layout %d", dir, len(opt.Masters), m.LayoutLen())
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	if err := m.BE.Sync(); err != nil {
		return fmt.Errorf("save %s: %w", dir, err)
	}

	// Group tensors into shards in buffer order.
	elem := int64(opt.DType.Size())
	var shards [][]ParamSpec
	var cur []ParamSpec
	var curBytes, total int64
	for _, s := range m.Specs {
		nb := int64(s.N) * elem
		total += nb
		if opt.MaxShardBytes > 0 && len(cur) > 0 && curBytes+nb > opt.MaxShardBytes {
			shards = append(shards, cur)
			cur, curBytes = nil, 0
		}
		cur = append(cur, s)
		curBytes += nb
	}
	shards = append(shards, cur)

	var tmps []string // temp files, renamed to finals in order
	var finals []string
	cleanup := func() {
		for _, t := range tmps {
			os.Remove(t)
		}
	}
	var fetchErr error
	weightMap := map[string]string{}
	// Shard names must not collide with the shards of a checkpoint already
	// in dir: the old index keeps pointing at intact old shards until the
	// new index replaces it.
	shardName := func(i int, tag string) string {
		return fmt.Sprintf("model-%05d-of-%05d%s.safetensors", i+1, len(shards), tag)
	}
	tag := ""
	for try := 0; len(shards) > 1; try++ {
		clash := false
		for i := range shards {
			if _, err := os.Lstat(filepath.Join(dir, shardName(i, tag))); err == nil {
				clash = true
				break
			}
		}
		if !clash {
			break
		}
		tag = fmt.Sprintf("-%d", try+2)
	}
	for i, sh := range shards {
		name := "model.safetensors"
		if len(shards) > 1 {
			name = shardName(i, tag)
		}
		views := make(map[string]lazyView, len(sh))
		for _, s := range sh {
			s := s
			shape := make([]uint64, len(s.Shape))
			for j, d := range s.Shape {
				shape[j] = uint64(d)
			}
			views[s.Name] = lazyView{dtype: stType, shape: shape, n: uint64(s.N) * uint64(elem),
				fetch: func() []byte {
					b, err := m.rawParam(s, opt.DType, opt.Masters)
					if err != nil && fetchErr == nil {
						fetchErr = err
					}
					return b
				}}
			weightMap[s.Name] = name
		}
		path := filepath.Join(dir, name)
		tmp, err := writeSafetensorsTemp(path, views, map[string]string{"format": "pt"})
		if err == nil && fetchErr != nil {
			os.Remove(tmp)
			err = fetchErr
		}
		if err != nil {
			cleanup()
			return fmt.Errorf("save %s: %w", dir, err)
		}
		tmps, finals = append(tmps, tmp), append(finals, path)
	}
	if len(shards) > 1 {
		idx := map[string]any{"metadata": map[string]any{"total_size": total}, "weight_map": weightMap}
		data, err := json.MarshalIndent(idx, "", "  ")
		if err != nil {
			cleanup()
			return fmt.Errorf("save %s: %w", dir, err)
		}
		path := filepath.Join(dir, "model.safetensors.index.json")
		tmp, err := writeTemp(path, func(w io.Writer) error { _, err := w.Write(append(data, '\n')); return err })
		if err != nil {
			cleanup()
			return fmt.Errorf("save %s: %w", dir, err)
		}
		tmps, finals = append(tmps, tmp), append(finals, path)
	}
	cfgData, err := m.Cfg.MarshalHF(dtName)
	if err != nil {
		cleanup()
		return fmt.Errorf("save %s: %w", dir, err)
	}
	cfgPath := filepath.Join(dir, "config.json")
	tmp, err := writeTemp(cfgPath, func(w io.Writer) error { _, err := w.Write(cfgData); return err })
	if err != nil {
		cleanup()
		return fmt.Errorf("save %s: %w", dir, err)
	}
	tmps, finals = append(tmps, tmp), append(finals, cfgPath)
	if m.SrcDir != "" && !sameDir(m.SrcDir, dir) {
		for _, f := range auxFiles {
			src := filepath.Join(m.SrcDir, f)
			data, err := os.ReadFile(src)
			if err != nil {
				continue // optional files
			}
			dst := filepath.Join(dir, f)
			tmp, err := writeTemp(dst, func(w io.Writer) error { _, err := w.Write(data); return err })
			if err != nil {
				cleanup()
				return fmt.Errorf("save %s: %w", dir, err)
			}
			tmps, finals = append(tmps, tmp), append(finals, dst)
		}
	}

	// Commit: shards first (fresh names), then the index (the commit point
	// of a sharded checkpoint) or model.safetensors, then config and extra
	// files.
	for i := range tmps {
		if err := os.Rename(tmps[i], finals[i]); err != nil {
			cleanup()
			return fmt.Errorf("save %s: %w", dir, err)
		}
		tmps[i] = ""
	}
	// Remove what a previous layout left behind: a stale single file
	// would shadow a new index, stale shards are dead weight.
	keep := map[string]bool{}
	for _, f := range finals {
		keep[filepath.Base(f)] = true
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		n := e.Name()
		stale := n == "model.safetensors" || n == "model.safetensors.index.json" ||
			(strings.HasPrefix(n, "model-") && strings.HasSuffix(n, ".safetensors"))
		if stale && !keep[n] {
			os.Remove(filepath.Join(dir, n))
		}
	}
	syncDir(dir)
	return nil
}

// rawParam returns a parameter's little-endian bytes in dtype d. A matmul
// weight of a BF16-only model comes from masters (the F32 image of the
// layout) when given, else from its BF16 copy, as is or widened to F32
// (exactly: what the model computes with).
func (m *Model) rawParam(s ParamSpec, d kernels.DType, masters []float32) ([]byte, error) {
	i := m.index[s.Name]
	src := m.paramView(i)
	if !src.Valid() && masters != nil {
		v := masters[s.Off : s.Off+s.N]
		buf := make([]byte, s.N*d.Size())
		for k, x := range v {
			if d == kernels.BF16 {
				binary.LittleEndian.PutUint16(buf[2*k:], kernels.F32ToBF16(x))
			} else {
				binary.LittleEndian.PutUint32(buf[4*k:], math.Float32bits(x))
			}
		}
		return buf, nil
	}
	if !src.Valid() {
		raw, err := m.lowRaw(i)
		if err != nil || d == kernels.BF16 {
			return raw, err
		}
		buf := make([]byte, 4*s.N)
		for k := range s.N {
			binary.LittleEndian.PutUint32(buf[4*k:], uint32(binary.LittleEndian.Uint16(raw[2*k:]))<<16)
		}
		return buf, nil
	}
	buf := make([]byte, s.N*d.Size())
	if d == kernels.F32 {
		m.BE.DownloadRaw(buf, src)
		return buf, m.BE.Sync()
	}
	tmp, err := m.BE.Alloc(d, s.N)
	if err != nil {
		return nil, fmt.Errorf("convert %s to %s: %w", s.Name, d, err)
	}
	defer m.BE.Free(tmp)
	m.BE.Convert(tmp, src)
	m.BE.DownloadRaw(buf, tmp)
	return buf, m.BE.Sync()
}

func sameDir(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// syncDir flushes a directory's entries (renames) to disk; best effort.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
