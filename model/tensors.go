package model

import (
	"encoding/binary"
	"fmt"
	"math"
	"path/filepath"

	"github.com/nlpodyssey/safetensors"
)

// HostTensor is a tensor read into host memory as float32.
type HostTensor struct {
	// DType is the dtype on disk ("F32", "BF16", "F16", "I32", ...).
	DType string
	Shape []int
	Data  []float32
}

// ReadTensors reads every tensor of a safetensors file into host memory as
// float32 (F32, BF16 and F16 exactly; I32 and I64 values converted), for
// tests, tools and reference comparisons. Other dtypes are an error naming
// the tensor.
func ReadTensors(path string) (map[string]HostTensor, error) {
	st, err := openSafetensors(path)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	out := make(map[string]HostTensor, len(st.Tensors))
	for name, t := range st.Tensors {
		raw, err := st.read(t)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		var v []float32
		switch t.DType {
		case safetensors.F32:
			v = make([]float32, len(raw)/4)
			for i := range v {
				v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		case safetensors.I32:
			v = make([]float32, len(raw)/4)
			for i := range v {
				v[i] = float32(int32(binary.LittleEndian.Uint32(raw[4*i:])))
			}
		case safetensors.I64:
			v = make([]float32, len(raw)/8)
			for i := range v {
				v[i] = float32(int64(binary.LittleEndian.Uint64(raw[8*i:])))
			}
		case safetensors.BF16, safetensors.F16:
			v = decode16(raw, t.DType == safetensors.BF16)
		default:
			return nil, fmt.Errorf("%s: tensor %q has dtype %s (want F32, BF16, F16, I32 or I64)", path, name, t.DType)
		}
		out[name] = HostTensor{DType: t.DType.String(), Shape: t.Shape, Data: v}
	}
	return out, nil
}

// WeightsInfo summarises a checkpoint's safetensors files from their
// headers alone.
type WeightsInfo struct {
	// Files are the safetensors file names.
	Files []string `json:"files"`
	// DTypes counts tensors per on-disk dtype.
	DTypes map[string]int `json:"dtypes"`
	// Bytes is the total tensor data size.
	Bytes int64 `json:"bytes"`
}

// InspectWeights reads the headers of a model directory's safetensors
// files (single or sharded) without loading any tensor data.
func InspectWeights(dir string) (*WeightsInfo, error) {
	files, _, err := checkpointFiles(dir)
	if err != nil {
		return nil, err
	}
	info := &WeightsInfo{DTypes: map[string]int{}}
	for _, f := range files {
		st, err := openSafetensors(f)
		if err != nil {
			return nil, err
		}
		for _, t := range st.Tensors {
			info.DTypes[t.DType.String()]++
			info.Bytes += t.End - t.Start
		}
		st.Close()
		info.Files = append(info.Files, filepath.Base(f))
	}
	return info, nil
}
