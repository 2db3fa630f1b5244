// Package dataset loads math and code training sets from JSONL and Parquet
// files, shuffles them deterministically and keeps a resumable cursor.
//
// Both formats go through one row decoder working on generic records
// (map[string]any), so a field means the same thing in either format. A row
// that cannot be decoded is an error naming the file and the line (JSONL) or
// row index (Parquet); with Options.SkipMalformed it is skipped and counted in
// the returned Summary instead.
package dataset

import (
	"fmt"
	"path/filepath"
	"strings"
)

// MathExample is one verifiable math problem.
type MathExample struct {
	// ID identifies the row: the row's id field when present, else "file:line".
	ID string `json:"id,omitempty"`
	// Question is the problem statement shown to the model.
	Question string `json:"question"`
	// Answer is the reference final answer compared by verify.Math.
	Answer string `json:"answer"`
	// Solution is a worked solution when the source has one (may be empty).
	Solution string `json:"solution,omitempty"`
}

// CodeTest is one stdin/stdout test case.
type CodeTest struct {
	// Input is written to the program's stdin.
	Input string `json:"input"`
	// Output is the expected stdout (compared after trimming trailing
	// whitespace on each line and trailing blank lines).
	Output string `json:"output"`
}

// CodeExample is one programming task. Either Tests (stdin/stdout) or Test
// (HumanEval/MBPP-style Python test code) is set.
type CodeExample struct {
	// ID identifies the row: the row's id/task_id field, else "file:line".
	ID string `json:"id,omitempty"`
	// Prompt is the task statement (for HumanEval: the function signature and
	// docstring the model completes).
	Prompt string `json:"prompt"`
	// Tests are stdin/stdout cases; all must pass.
	Tests []CodeTest `json:"tests,omitempty"`
	// Test is Python test code, e.g. HumanEval's `def check(candidate): ...`
	// or MBPP's assert lines joined by newlines.
	Test string `json:"test,omitempty"`
	// EntryPoint is the function under test; when set, verify.Code calls
	// check(EntryPoint) after running Test.
	EntryPoint string `json:"entry_point,omitempty"`
}

// Options selects field names and error handling. Empty field names use the
// defaults documented on each field.
type Options struct {
	// QuestionField names the question (math) or prompt (code) field.
	// Default: the first present of "question", "problem", "prompt"
	// (code: "prompt", "question", "problem", "text").
	QuestionField string
	// AnswerField names the final-answer field. Default "answer". A value
	// containing a GSM8K "#### x" marker is treated as a worked solution
	// whose final answer is x.
	AnswerField string
	// SolutionField names the worked-solution field. Default "solution".
	// When no answer field is present the answer is taken from the solution:
	// the text after the last "####", else the last \boxed{...}.
	SolutionField string
	// SkipMalformed skips bad rows (counting them in Summary) instead of
	// failing on the first one.
	SkipMalformed bool
}

// maxSummaryErrors bounds how many skip reasons a Summary keeps.
const maxSummaryErrors = 20

// Summary reports what a load did.
type Summary struct {
	// Path is the file that was read.
	Path string
	// Rows is the number of non-blank rows seen.
	Rows int
	// Loaded is the number of examples returned.
	Loaded int
	// Skipped is the number of malformed rows skipped (SkipMalformed only).
	Skipped int
	// Errors holds the first few skip reasons, each naming file and line/row.
	Errors []string
}

// String formats the summary on one line.
func (s Summary) String() string {
	out := fmt.Sprintf("%s: %d rows, %d loaded, %d skipped", s.Path, s.Rows, s.Loaded, s.Skipped)
	if len(s.Errors) > 0 {
		out += " (first: " + s.Errors[0] + ")"
	}
	return out
}

// rowError is a decoding failure for one row.
type rowError struct {
	loc string // "file:line" or "file: row N"
	msg string
}

func (e *rowError) Error() string { return e.loc + ": " + e.msg }

// format identifies the on-disk format from the file extension.
func format(path string) (string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jsonl", ".json", ".ndjson":
		return "jsonl", nil
	case ".parquet", ".pq":
		return "parquet", nil
	}
	return "", fmt.Errorf("dataset %s: unknown extension %q (want .jsonl or .parquet)", path, filepath.Ext(path))
}

// record is one generic row with its location for error messages.
type record struct {
	loc    string
	fields map[string]any
}

// forEachRecord calls fn for every row of path in order; fn returning a
// *rowError is a malformed row, any other error aborts.
func forEachRecord(path string, fn func(r record) error, sum *Summary, opt Options) error {
	kind, err := format(path)
	if err != nil {
		return err
	}
	handle := func(r record, decodeErr error) error {
		sum.Rows++
		if decodeErr == nil {
			decodeErr = fn(r)
		}
		if decodeErr == nil {
			sum.Loaded++
			return nil
		}
		re, ok := decodeErr.(*rowError)
		if !ok {
			return decodeErr
		}
		if !opt.SkipMalformed {
			return fmt.Errorf("dataset %w (set data.skip_malformed: true to skip and count bad rows)", re)
		}
		sum.Skipped++
		if len(sum.Errors) < maxSummaryErrors {
			sum.Errors = append(sum.Errors, re.Error())
		}
		return nil
	}
	if kind == "jsonl" {
		return readJSONL(path, handle)
	}
	return readParquet(path, handle)
}

// LoadMath reads math examples from a .jsonl or .parquet file.
func LoadMath(path string, opt Options) ([]MathExample, Summary, error) {
	sum := Summary{Path: path}
	var out []MathExample
	err := forEachRecord(path, func(r record) error {
		ex, err := decodeMath(r, opt)
		if err != nil {
			return err
		}
		out = append(out, ex)
		return nil
	}, &sum, opt)
	if err != nil {
		return nil, sum, err
	}
	return out, sum, nil
}

// LoadCode reads code examples from a .jsonl or .parquet file.
func LoadCode(path string, opt Options) ([]CodeExample, Summary, error) {
	sum := Summary{Path: path}
	var out []CodeExample
	err := forEachRecord(path, func(r record) error {
		ex, err := decodeCode(r, opt)
		if err != nil {
			return err
		}
		out = append(out, ex)
		return nil
	}, &sum, opt)
	if err != nil {
		return nil, sum, err
	}
	return out, sum, nil
}
