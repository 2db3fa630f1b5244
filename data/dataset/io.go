package dataset

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/parquet-go/parquet-go"
)

// maxLineBytes bounds one JSONL line (large code tasks carry big tests).
const maxLineBytes = 256 << 20

// readJSONL decodes each non-blank line of path as a JSON object.
func readJSONL(path string, handle func(record, error) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if len(b) > maxLineBytes {
			return fmt.Errorf("dataset %s:%d: line longer than %d bytes", path, line, maxLineBytes)
		}
		if len(bytes.TrimSpace(b)) > 0 {
			r := record{loc: fmt.Sprintf("%s:%d", path, line)}
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.UseNumber()
			var v any
			derr := dec.Decode(&v)
			if derr == nil && dec.More() {
				derr = errors.New("trailing data after the JSON object")
			}
			if derr != nil {
				derr = &rowError{loc: r.loc, msg: "invalid JSON: " + derr.Error()}
			} else if m, ok := v.(map[string]any); ok {
				r.fields = m
			} else {
				derr = &rowError{loc: r.loc, msg: fmt.Sprintf("want a JSON object, got %T", v)}
			}
			if herr := handle(r, derr); herr != nil {
				return herr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("dataset %s:%d: %w", path, line, err)
		}
	}
}

// readParquet decodes each row of path into a generic record. Row indices
// in messages are 0-based.
func readParquet(path string, handle func(record, error) error) (err error) {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return fmt.Errorf("dataset %s: not a parquet file: %w", path, err)
	}
	rd := parquet.NewGenericReader[any](pf)
	defer rd.Close()
	idx := 0
	// parquet-go panics when a row does not fit the reconstructed shape;
	// report that as an error at the current row instead of crashing.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("dataset %s: row %d: parquet decode failed: %v", path, idx, p)
		}
	}()
	buf := make([]any, 64)
	for {
		for i := range buf {
			buf[i] = nil
		}
		n, rerr := rd.Read(buf)
		for i := 0; i < n; i++ {
			r := record{loc: fmt.Sprintf("%s: row %d", path, idx)}
			var derr error
			if m, ok := buf[i].(map[string]any); ok {
				r.fields = m
			} else {
				derr = &rowError{loc: r.loc, msg: fmt.Sprintf("want a record, got %T", buf[i])}
			}
			if herr := handle(r, derr); herr != nil {
				return herr
			}
			idx++
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("dataset %s: row %d: %w", path, idx, rerr)
		}
		if n == 0 {
			return nil
		}
	}
}

// writeJSONL writes one JSON object per line to a temp file and renames it
// over path, so a crash never leaves a truncated file.
func writeJSONL[T any](path string, rows []T) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	bw := bufio.NewWriter(tmp)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for i := range rows {
		if err := enc.Encode(rows[i]); err != nil {
			tmp.Close()
			return fmt.Errorf("write %s: row %d: %w", path, i, err)
		}
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteMathJSONL writes examples as JSONL rows {id, question, answer,
// solution} that LoadMath reads back unchanged.
func WriteMathJSONL(path string, exs []MathExample) error { return writeJSONL(path, exs) }

// WriteCodeJSONL writes examples as JSONL rows {id, prompt, tests, test,
// entry_point} that LoadCode reads back unchanged.
func WriteCodeJSONL(path string, exs []CodeExample) error { return writeJSONL(path, exs) }
