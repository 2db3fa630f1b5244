// Package tboard writes TensorBoard event files (scalars) and CSV tables
// from a run's metrics, so that users of TRL and verl can keep their
// dashboards.
//
// An event file is a TFRecord stream of serialized tensorflow.Event
// protocol buffers. Each record is
//
//	uint64 length | uint32 masked CRC-32C of the length | data | uint32 masked CRC-32C of data
//
// (little-endian; mask(c) = ((c >> 15) | (c << 17)) + 0xa282ead8). The first
// event carries file_version "brain.Event:2"; each later one a wall time, a
// step and a Summary with one simple_value per metric. The few protobuf
// fields needed are encoded by hand (field numbers from
// tensorflow/core/util/event.proto and summary.proto):
//
//	Event:   1 wall_time double, 2 step int64, 3 file_version string, 5 summary Summary
//	Summary: 1 value repeated Value
//	Value:   1 tag string, 2 simple_value float
package tboard

import (
	"bufio"
	"encoding/binary"
	"encoding/csv"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func maskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, castagnoli)
	return ((c >> 15) | (c << 17)) + 0xa282ead8
}

// Writer appends events to one event file.
type Writer struct {
	f    *os.File
	bw   *bufio.Writer
	path string
}

// FileName is the conventional event file name for a start time and host.
func FileName(start time.Time, host string) string {
	return fmt.Sprintf("events.out.tfevents.%d.%s", start.Unix(), host)
}

// Create creates the event file path (truncating it) and writes the
// file-version event.
func Create(path string, start time.Time) (*Writer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	w := &Writer{f: f, bw: bufio.NewWriter(f), path: path}
	var ev []byte
	ev = appendDouble(ev, 1, seconds(start))
	ev = appendBytes(ev, 3, []byte("brain.Event:2"))
	if err := w.record(ev); err != nil {
		f.Close()
		return nil, err
	}
	return w, w.bw.Flush()
}

func seconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// Scalars writes one event with the given scalars at step, tags sorted
// (non-finite values are skipped: TensorBoard cannot draw them).
func (w *Writer) Scalars(step int64, wall time.Time, values map[string]float64) error {
	tags := make([]string, 0, len(values))
	for k, v := range values {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			tags = append(tags, k)
		}
	}
	if len(tags) == 0 {
		return nil
	}
	sort.Strings(tags)
	var sum []byte
	for _, tag := range tags {
		var val []byte
		val = appendBytes(val, 1, []byte(tag))
		val = appendFloat(val, 2, float32(values[tag]))
		sum = appendBytes(sum, 1, val)
	}
	var ev []byte
	ev = appendDouble(ev, 1, seconds(wall))
	ev = appendVarintField(ev, 2, uint64(step))
	ev = appendBytes(ev, 5, sum)
	if err := w.record(ev); err != nil {
		return err
	}
	return w.bw.Flush()
}

// Close flushes and closes the file.
func (w *Writer) Close() error {
	if err := w.bw.Flush(); err != nil {
		w.f.Close()
		return err
	}
	return w.f.Close()
}

func (w *Writer) record(data []byte) error {
	var hdr [12]byte
	binary.LittleEndian.PutUint64(hdr[:8], uint64(len(data)))
	binary.LittleEndian.PutUint32(hdr[8:], maskedCRC(hdr[:8]))
	var foot [4]byte
	binary.LittleEndian.PutUint32(foot[:], maskedCRC(data))
	for _, b := range [][]byte{hdr[:], data, foot[:]} {
		if _, err := w.bw.Write(b); err != nil {
			return fmt.Errorf("tensorboard %s: %w", w.path, err)
		}
	}
	return nil
}

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendVarintField(b []byte, field int, v uint64) []byte {
	return appendVarint(appendVarint(b, uint64(field)<<3|0), v)
}

func appendDouble(b []byte, field int, v float64) []byte {
	b = appendVarint(b, uint64(field)<<3|1)
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
}

func appendFloat(b []byte, field int, v float32) []byte {
	b = appendVarint(b, uint64(field)<<3|5)
	return binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
}

func appendBytes(b []byte, field int, v []byte) []byte {
	b = appendVarint(b, uint64(field)<<3|2)
	b = appendVarint(b, uint64(len(v)))
	return append(b, v...)
}

// Event is one decoded scalar event (ReadEvents).
type Event struct {
	WallTime    float64
	Step        int64
	FileVersion string
	Scalars     map[string]float32
}

// ReadEvents decodes an event file written by Writer (or TensorFlow's
// scalar summaries), checking every CRC.
func ReadEvents(r io.Reader) ([]Event, error) {
	br := bufio.NewReader(r)
	var out []Event
	for n := 0; ; n++ {
		var hdr [12]byte
		if _, err := io.ReadFull(br, hdr[:]); err == io.EOF {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("record %d: header: %w", n, err)
		}
		if binary.LittleEndian.Uint32(hdr[8:]) != maskedCRC(hdr[:8]) {
			return nil, fmt.Errorf("record %d: length CRC mismatch", n)
		}
		size := binary.LittleEndian.Uint64(hdr[:8])
		if size > 64<<20 {
			return nil, fmt.Errorf("record %d: length %d too large", n, size)
		}
		data := make([]byte, size+4)
		if _, err := io.ReadFull(br, data); err != nil {
			return nil, fmt.Errorf("record %d: data: %w", n, err)
		}
		if binary.LittleEndian.Uint32(data[size:]) != maskedCRC(data[:size]) {
			return nil, fmt.Errorf("record %d: data CRC mismatch", n)
		}
		ev, err := decodeEvent(data[:size])
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", n, err)
		}
		out = append(out, ev)
	}
}

// fields walks the protobuf fields of b.
func fields(b []byte, fn func(num int, wire int, varint uint64, fixed []byte, bytes []byte) error) error {
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return fmt.Errorf("bad field key")
		}
		b = b[n:]
		num, wire := int(key>>3), int(key&7)
		switch wire {
		case 0:
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return fmt.Errorf("field %d: bad varint", num)
			}
			b = b[n:]
			if err := fn(num, wire, v, nil, nil); err != nil {
				return err
			}
		case 1, 5:
			size := 8
			if wire == 5 {
				size = 4
			}
			if len(b) < size {
				return fmt.Errorf("field %d: truncated", num)
			}
			if err := fn(num, wire, 0, b[:size], nil); err != nil {
				return err
			}
			b = b[size:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return fmt.Errorf("field %d: bad length", num)
			}
			if err := fn(num, wire, 0, nil, b[n:n+int(l)]); err != nil {
				return err
			}
			b = b[n+int(l):]
		default:
			return fmt.Errorf("field %d: wire type %d not supported", num, wire)
		}
	}
	return nil
}

func decodeEvent(b []byte) (Event, error) {
	ev := Event{Scalars: map[string]float32{}}
	err := fields(b, func(num, wire int, v uint64, fixed, bs []byte) error {
		switch {
		case num == 1 && wire == 1:
			ev.WallTime = math.Float64frombits(binary.LittleEndian.Uint64(fixed))
		case num == 2 && wire == 0:
			ev.Step = int64(v)
		case num == 3 && wire == 2:
			ev.FileVersion = string(bs)
		case num == 5 && wire == 2:
			return fields(bs, func(num, wire int, _ uint64, _, val []byte) error {
				if num != 1 || wire != 2 {
					return nil
				}
				var tag string
				var sv float32
				has := false
				err := fields(val, func(num, wire int, _ uint64, fixed, bs []byte) error {
					switch {
					case num == 1 && wire == 2:
						tag = string(bs)
					case num == 2 && wire == 5:
						sv, has = math.Float32frombits(binary.LittleEndian.Uint32(fixed)), true
					}
					return nil
				})
				if err == nil && has {
					ev.Scalars[tag] = sv
				}
				return err
			})
		}
		return nil
	})
	return ev, err
}

// WriteCSV writes records as a CSV table: one column per key (step first
// when present, then sorted), one row per record, empty cells for missing
// values.
func WriteCSV(w io.Writer, records []map[string]float64) error {
	keys := map[string]bool{}
	for _, r := range records {
		for k := range r {
			keys[k] = true
		}
	}
	cols := make([]string, 0, len(keys))
	for k := range keys {
		if k != "step" {
			cols = append(cols, k)
		}
	}
	sort.Strings(cols)
	if keys["step"] {
		cols = append([]string{"step"}, cols...)
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(cols); err != nil {
		return err
	}
	row := make([]string, len(cols))
	for _, r := range records {
		for i, c := range cols {
			if v, ok := r[c]; ok {
				row[i] = strconv.FormatFloat(v, 'g', -1, 64)
			} else {
				row[i] = ""
			}
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
