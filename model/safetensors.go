package model

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"sort"

	"github.com/nlpodyssey/safetensors"
)

// Safetensors I/O. github.com/nlpodyssey/safetensors parses a header only
// from a byte slice holding the whole file (ReadMetadata insists on it), and
// serialises from tensors whose bytes are all in memory. Checkpoints of
// several GB must not be read whole, so we read the 8-byte length and the
// JSON header ourselves, decode the header with the library's
// Metadata.UnmarshalJSON, validate offsets against the real file size
// ourselves, and then read each tensor with ReadAt. Writing uses the
// library's SerializeToWriter with a View that fetches each tensor's bytes
// only when it is written.

// maxHeaderBytes bounds the JSON header (the reference implementation's
// limit), so a corrupt length cannot make us allocate gigabytes.
const maxHeaderBytes = 100_000_000

// stTensor is one tensor's entry in a safetensors file.
type stTensor struct {
	Name  string
	DType safetensors.DType
	Shape []int
	// Start and End are byte offsets from the start of the file.
	Start, End int64
}

// stFile is the parsed header of a safetensors file.
type stFile struct {
	Path    string
	Meta    map[string]string
	Tensors map[string]*stTensor
	r       io.ReaderAt
	closer  io.Closer
}

// openSafetensors opens and validates the header of a safetensors file.
func openSafetensors(path string) (*stFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	st, err := parseSafetensors(f, fi.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	st.Path, st.closer = path, f
	return st, nil
}

// parseSafetensors reads and validates the header of a safetensors stream
// of the given total size. Every tensor must lie inside the data region,
// have exactly shape*dtype bytes, and not overlap another one.
func parseSafetensors(r io.ReaderAt, size int64) (*stFile, error) {
	var lenBuf [8]byte
	if size < 8 {
		return nil, fmt.Errorf("truncated: %d bytes, shorter than the 8-byte header length", size)
	}
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("read header length: %w", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > maxHeaderBytes {
		return nil, fmt.Errorf("corrupt: header length %d exceeds %d", n, maxHeaderBytes)
	}
	if int64(n) > size-8 {
		return nil, fmt.Errorf("truncated: header length %d but only %d bytes follow", n, size-8)
	}
	hdr := make([]byte, n)
	if _, err := r.ReadAt(hdr, 8); err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	var md safetensors.Metadata
	if err := json.Unmarshal(hdr, &md); err != nil {
		return nil, fmt.Errorf("corrupt header: %w", err)
	}
	dataStart := int64(8 + n)
	dataLen := uint64(size - dataStart)
	st := &stFile{Meta: md.Metadata(), Tensors: map[string]*stTensor{}, r: r}
	infos := md.Tensors()
	names := make([]string, 0, len(infos))
	for name := range infos {
		names = append(names, name)
	}
	sort.Strings(names)
	type span struct {
		s, e uint64
		name string
	}
	spans := make([]span, 0, len(names))
	var maxEnd uint64
	for _, name := range names {
		info := infos[name]
		if info.DType > safetensors.U64 {
			return nil, fmt.Errorf("tensor %q: unknown dtype %d", name, info.DType)
		}
		elems := uint64(1)
		shape := make([]int, len(info.Shape))
		for i, d := range info.Shape {
			hi, lo := bits.Mul64(elems, d)
			if hi != 0 || lo > math.MaxInt32*uint64(1<<16) {
				return nil, fmt.Errorf("tensor %q: shape %v is too large", name, info.Shape)
			}
			elems = lo
			shape[i] = int(d)
		}
		s, e := info.DataOffsets[0], info.DataOffsets[1]
		if e < s || e > dataLen {
			return nil, fmt.Errorf("tensor %q: data offsets [%d,%d) outside the %d data bytes (truncated or corrupt file)", name, s, e, dataLen)
		}
		if e-s != elems*info.DType.Size() {
			return nil, fmt.Errorf("tensor %q: %d bytes for shape %v of %s (want %d)", name, e-s, info.Shape, info.DType, elems*info.DType.Size())
		}
		spans = append(spans, span{s, e, name})
		maxEnd = max(maxEnd, e)
		st.Tensors[name] = &stTensor{Name: name, DType: info.DType, Shape: shape,
			Start: dataStart + int64(s), End: dataStart + int64(e)}
	}
	sort.Slice(spans, func(i, j int) bool {
		return spans[i].s < spans[j].s || spans[i].s == spans[j].s && spans[i].e < spans[j].e
	})
	for i := 1; i < len(spans); i++ {
		if spans[i].s < spans[i-1].e {
			return nil, fmt.Errorf("tensors %q and %q overlap", spans[i-1].name, spans[i].name)
		}
	}
	if maxEnd != dataLen {
		return nil, fmt.Errorf("data region is %d bytes but tensors end at %d (truncated or trailing bytes)", dataLen, maxEnd)
	}
	return st, nil
}

// read returns the raw bytes of tensor t.
func (st *stFile) read(t *stTensor) ([]byte, error) {
	buf := make([]byte, t.End-t.Start)
	if _, err := st.r.ReadAt(buf, t.Start); err != nil {
		return nil, fmt.Errorf("read tensor %q: %w", t.Name, err)
	}
	return buf, nil
}

// Close closes the underlying file.
func (st *stFile) Close() error {
	if st.closer != nil {
		return st.closer.Close()
	}
	return nil
}

// shardIndex is model.safetensors.index.json.
type shardIndex struct {
	Metadata  map[string]any    `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

// checkpointFiles returns the safetensors files of a model directory and,
// for a sharded checkpoint, which file holds each tensor (nil otherwise).
// A single model.safetensors wins over an index, as in transformers.
func checkpointFiles(dir string) (files []string, weightMap map[string]string, err error) {
	single := filepath.Join(dir, "model.safetensors")
	if _, err := os.Stat(single); err == nil {
		return []string{single}, nil, nil
	}
	idxPath := filepath.Join(dir, "model.safetensors.index.json")
	data, err := os.ReadFile(idxPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("%s: no model.safetensors or model.safetensors.index.json", dir)
		}
		return nil, nil, err
	}
	var idx shardIndex
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", idxPath, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, nil, fmt.Errorf("%s: empty weight_map", idxPath)
	}
	seen := map[string]bool{}
	for name, f := range idx.WeightMap {
		if f == "" || filepath.Base(f) != f {
			return nil, nil, fmt.Errorf("%s: tensor %q maps to bad file name %q", idxPath, name, f)
		}
		if !seen[f] {
			seen[f] = true
			files = append(files, filepath.Join(dir, f))
		}
	}
	sort.Strings(files)
	return files, idx.WeightMap, nil
}

// lazyView is a safetensors.View whose bytes are produced only when the
// serialiser writes it, so that a shard is never held in memory whole.
type lazyView struct {
	dtype safetensors.DType
	shape []uint64
	n     uint64
	fetch func() []byte
}

func (v lazyView) DType() safetensors.DType { return v.dtype }
func (v lazyView) Shape() []uint64          { return v.shape }
func (v lazyView) Data() []byte             { return v.fetch() }
func (v lazyView) DataLen() uint64          { return v.n }

// writeSafetensorsTemp writes tensors to a synced temp file beside path and
// returns its name; the caller renames it into place once every file of the
// checkpoint is written.
func writeSafetensorsTemp(path string, views map[string]lazyView, meta map[string]string) (string, error) {
	return writeTemp(path, func(w io.Writer) error {
		return safetensors.SerializeToWriter(views, meta, &countingWriter{w: w})
	})
}

// countingWriter forwards writes and surfaces short writes as errors.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err == nil && n != len(p) {
		err = io.ErrShortWrite
	}
	return n, err
}

// CheckFinite returns an error naming the first parameter tensor that holds
// a NaN or an infinity (its element index and shape), or nil when every
// weight is finite. NaN weights otherwise surface as NaN log-probabilities
// or as token 0 from an argmax over NaN logits. It copies each tensor to
// the host once (about a second per billion parameters on the CPU).
func (m *Model) CheckFinite() error {
	for _, s := range m.Specs {
		v, err := m.DownloadParam(s.Name)
		if err != nil {
			return fmt.Errorf("check weights: %w", err)
		}
		for i, x := range v {
			if x != x || x > math.MaxFloat32 || x < -math.MaxFloat32 {
				return fmt.Errorf("tensor %s (shape %v) holds %g at element %d: the weights are not finite", s.Name, s.Shape, x, i)
			}
		}
	}
	return nil
}
