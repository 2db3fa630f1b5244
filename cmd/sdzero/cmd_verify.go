package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"sdzero/data/verify"
)

// verifyRow is one line of a --pairs file; want is optional.
type verifyRow struct {
	Gold     string `json:"gold"`
	Response string `json:"response"`
	Want     *bool  `json:"want,omitempty"`
}

// verifyResult is what verify prints per pair with --json.
type verifyResult struct {
	Reward    float64 `json:"reward"`
	Extracted string  `json:"extracted"`
	Reason    string  `json:"reason"`
	Want      *bool   `json:"want,omitempty"`
}

// runVerify grades responses against gold answers with the math verifier
// the trainer uses, so that a user can see why a reward was 0 and check the
// verifier on their own cases.
func runVerify(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	gold := fs.String("gold", "", "gold answer (plain, $...$, \\boxed{...} or a worked solution ending in #### x)")
	response := fs.String("response", "", "the response to grade (default: read standard input)")
	pairs := fs.String("pairs", "", `JSONL file of {"gold": ..., "response": ..., "want": true|false} rows; prints a line per row and the agreement with "want"`)
	asJSON := fs.Bool("json", false, `print JSON: {"reward", "extracted", "reason"}`)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sdzero verify --gold ANSWER [--response TEXT] [--json]\n"+
			"       sdzero verify --pairs FILE.jsonl [--json]\n"+
			"grades with the math verifier the trainer uses (see docs/math-verifier.md)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags come as --gold X --response Y)", fs.Arg(0))
	}
	if *pairs != "" {
		if *gold != "" || *response != "" {
			return errors.New("--pairs reads gold and response from the file: drop --gold/--response")
		}
		return verifyPairs(*pairs, *asJSON, stdout)
	}
	if *gold == "" {
		return errors.New("--gold is required (or --pairs FILE)")
	}
	resp := *response
	if resp == "" {
		b, err := io.ReadAll(io.LimitReader(os.Stdin, maxVerifyInput+1))
		if err != nil {
			return fmt.Errorf("read standard input: %w", err)
		}
		if len(b) > maxVerifyInput {
			return fmt.Errorf("standard input is over %d bytes", maxVerifyInput)
		}
		resp = string(b)
	}
	r := verify.Math(resp, *gold)
	return printVerify(stdout, r, nil, *asJSON)
}

// maxVerifyInput bounds one response read from standard input or a row.
const maxVerifyInput = 16 << 20

func printVerify(w io.Writer, r verify.Result, want *bool, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false) // answers are full of < and >
		return enc.Encode(verifyResult{Reward: r.Reward, Extracted: r.Extracted, Reason: r.Reason, Want: want})
	}
	_, err := fmt.Fprintf(w, "reward %g\textracted %q\t%s\n", r.Reward, r.Extracted, r.Reason)
	return err
}

func verifyPairs(path string, asJSON bool, stdout io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), maxVerifyInput)
	line, labelled, agree := 0, 0, 0
	var disagree []int
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var row verifyRow
		dec := json.NewDecoder(strings.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&row); err != nil {
			return fmt.Errorf("%s:%d: %v (want {\"gold\": ..., \"response\": ..., \"want\": true|false})", path, line, err)
		}
		if row.Gold == "" {
			return fmt.Errorf("%s:%d: empty \"gold\"", path, line)
		}
		r := verify.Math(row.Response, row.Gold)
		if row.Want != nil {
			labelled++
			if (r.Reward == 1) == *row.Want {
				agree++
			} else {
				disagree = append(disagree, line)
			}
		}
		if err := printVerify(stdout, r, row.Want, asJSON); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s:%d: %w", path, line+1, err)
	}
	if labelled > 0 && !asJSON {
		fmt.Fprintf(stdout, "agreement %d/%d (%.1f%%)", agree, labelled, 100*float64(agree)/float64(labelled))
		if len(disagree) > 0 {
			fmt.Fprintf(stdout, "; disagreeing lines %v", disagree)
		}
		fmt.Fprintln(stdout)
	}
	return nil
}
