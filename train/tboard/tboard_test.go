package tboard

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

func TestWriteReadEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tb", FileName(time.Unix(1700000000, 0), "host"))
	w, err := Create(path, time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Scalars(1, time.Unix(1700000001, 0), map[string]float64{"loss": 2.5, "reward_mean": 0.25, "bad": math.NaN()}); err != nil {
		t.Fatal(err)
	}
	if err := w.Scalars(2, time.Unix(1700000002, 0), map[string]float64{"loss": 1.5}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	evs, err := ReadEvents(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 || evs[0].FileVersion != "brain.Event:2" || evs[0].WallTime != 1700000000 {
		t.Fatalf("events %+v", evs)
	}
	if evs[1].Step != 1 || evs[1].Scalars["loss"] != 2.5 || evs[1].Scalars["reward_mean"] != 0.25 || len(evs[1].Scalars) != 2 {
		t.Errorf("event 1: %+v (NaN must be skipped)", evs[1])
	}
	if evs[2].Step != 2 || evs[2].Scalars["loss"] != 1.5 {
		t.Errorf("event 2: %+v", evs[2])
	}
}

// TestEventEncodingIndependent decodes a record with the protobuf module's
// own wire parser (not ours) and checks the TFRecord CRCs against values
// computed the way TensorFlow's record writer does.
func TestEventEncodingIndependent(t *testing.T) {
	var buf bytes.Buffer
	path := filepath.Join(t.TempDir(), "e")
	wr, err := Create(path, time.Unix(10, 500_000_000))
	if err != nil {
		t.Fatal(err)
	}
	if err := wr.Scalars(7, time.Unix(11, 0), map[string]float64{"acc": 0.5}); err != nil {
		t.Fatal(err)
	}
	wr.Close()
	b, _ := os.ReadFile(path)
	buf.Write(b)
	data := buf.Bytes()
	// Skip the first record.
	n := binary.LittleEndian.Uint64(data[:8])
	data = data[12+n+4:]
	n = binary.LittleEndian.Uint64(data[:8])
	ev := data[12 : 12+n]
	var step int64 = -1
	var tag string
	var val float32
	for len(ev) > 0 {
		num, typ, l := protowire.ConsumeTag(ev)
		if l < 0 {
			t.Fatal("bad tag")
		}
		ev = ev[l:]
		switch {
		case num == 2 && typ == protowire.VarintType:
			v, l := protowire.ConsumeVarint(ev)
			step, ev = int64(v), ev[l:]
		case num == 5 && typ == protowire.BytesType:
			sum, l := protowire.ConsumeBytes(ev)
			ev = ev[l:]
			_, _, l2 := protowire.ConsumeTag(sum)
			value, _ := protowire.ConsumeBytes(sum[l2:])
			for len(value) > 0 {
				vn, vt, l := protowire.ConsumeTag(value)
				value = value[l:]
				if vn == 1 && vt == protowire.BytesType {
					s, l := protowire.ConsumeBytes(value)
					tag, value = string(s), value[l:]
				} else if vn == 2 && vt == protowire.Fixed32Type {
					f, l := protowire.ConsumeFixed32(value)
					val, value = math.Float32frombits(f), value[l:]
				} else {
					l := protowire.ConsumeFieldValue(vn, vt, value)
					value = value[l:]
				}
			}
		default:
			l := protowire.ConsumeFieldValue(num, typ, ev)
			ev = ev[l:]
		}
	}
	if step != 7 || tag != "acc" || val != 0.5 {
		t.Errorf("protowire decode: step %d tag %q value %v", step, tag, val)
	}
	// The CRC is CRC-32C (the iSCSI check value of "123456789" is
	// 0xe3069283), masked as TensorFlow's crc32c::Mask does.
	if c := crc32.Checksum([]byte("123456789"), castagnoli); c != 0xe3069283 {
		t.Fatalf("crc32c check value %#x", c)
	}
	var c uint32 = 0xe3069283
	if got := maskedCRC([]byte("123456789")); got != ((c>>15)|(c<<17))+0xa282ead8 {
		t.Errorf("masked crc %#x", got)
	}
}

func TestReadEventsCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "e")
	wr, err := Create(path, time.Unix(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	wr.Scalars(1, time.Unix(2, 0), map[string]float64{"x": 1})
	wr.Close()
	b, _ := os.ReadFile(path)
	b[len(b)-6] ^= 0xff
	if _, err := ReadEvents(bytes.NewReader(b)); err == nil || !strings.Contains(err.Error(), "CRC") {
		t.Errorf("corrupt file: %v", err)
	}
}

func TestWriteCSV(t *testing.T) {
	var b bytes.Buffer
	err := WriteCSV(&b, []map[string]float64{{"step": 1, "loss": 2}, {"step": 2, "acc": 0.5, "loss": 1.25}})
	if err != nil {
		t.Fatal(err)
	}
	want := "step,acc,loss\n1,,2\n2,0.5,1.25\n"
	if b.String() != want {
		t.Errorf("csv %q, want %q", b.String(), want)
	}
}
