package main

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
	"sdzero/internal/fixtures"
	"strconv"
	"strings"
	"testing"

	"sdzero/kernels/cuda"
	"sdzero/model"
)

// cliFixture returns ../shared/fixtures/name or skips the test.
func cliFixture(t *testing.T, name string) string { t.Helper(); return fixtures.Path(t, name) }

// TestScoreCLI compares `sdzero score --json` with log-softmax of the HF
// reference logits.
func TestScoreCLI(t *testing.T) {
	dir := cliFixture(t, "qwen3-tiny-tied")
	ref, err := model.ReadTensors(filepath.Join(dir, "ref_forward.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	ids := ref["input_ids"].Data[:24]
	logits := ref["logits"].Data
	V := 512
	parts := make([]string, len(ids))
	for i, v := range ids {
		parts[i] = strconv.Itoa(int(v))
	}
	var out, errb bytes.Buffer
	if err := runScore([]string{"--model", dir, "--device", "cpu", "--ids", strings.Join(parts, ","), "--json"}, &out, &errb); err != nil {
		t.Fatalf("%v: %s", err, errb.String())
	}
	var res struct {
		TokenLogprobs []float64 `json:"token_logprobs"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.TokenLogprobs) != len(ids)-1 {
		t.Fatalf("%d log-probs for %d ids", len(res.TokenLogprobs), len(ids))
	}
	for i, got := range res.TokenLogprobs {
		row := logits[i*V : (i+1)*V]
		mx := math.Inf(-1)
		for _, x := range row {
			mx = math.Max(mx, float64(x))
		}
		var s float64
		for _, x := range row {
			s += math.Exp(float64(x) - mx)
		}
		want := float64(row[int(ids[i+1])]) - mx - math.Log(s)
		if math.Abs(got-want) > 1e-4*math.Abs(want) {
			t.Errorf("token %d: log-prob %g, want %g", i+1, got, want)
		}
	}
}

// TestGenerateCLI checks the JSON shape and greedy determinism of
// `sdzero generate`, and that inspect runs.
func TestGenerateCLI(t *testing.T) {
	dir := cliFixture(t, "qwen3-tiny-untied-bf16")
	run := func(args ...string) []int32 {
		var out, errb bytes.Buffer
		if err := runGenerate(append([]string{"--model", dir, "--device", "cpu", "--json"}, args...), &out, &errb); err != nil {
			t.Fatalf("%v: %s", err, errb.String())
		}
		var res struct {
			IDs []int32 `json:"ids"`
		}
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		return res.IDs
	}
	g := run("--ids", "5,17,99", "--max-new-tokens", "6", "--greedy")
	if len(g) != 9 || g[0] != 5 || g[2] != 99 {
		t.Errorf("greedy ids %v: want the 3 prompt ids then 6 new ones", g)
	}
	s1 := run("--ids", "5,17,99", "--max-new-tokens", "6", "--temperature", "1", "--seed", "3")
	s2 := run("--ids", "5,17,99", "--max-new-tokens", "6", "--temperature", "1", "--seed", "3")
	if len(s1) != 9 || !equal32(s1, s2) {
		t.Errorf("seeded sampling not reproducible: %v vs %v", s1, s2)
	}
	st := run("--ids", "5,17,99", "--max-new-tokens", "6", "--greedy", "--stop-ids", strconv.Itoa(int(g[4])))
	if len(st) != 5 || !equal32(st, g[:5]) {
		t.Errorf("with stop id %d: %v, want %v", g[4], st, g[:5])
	}
	var out, errb bytes.Buffer
	if err := runInspect([]string{"--model", dir, "--batch", "2", "--seq", "16"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "BF16") || !strings.Contains(out.String(), "total") {
		t.Errorf("inspect output lacks dtypes or total:\n%s", out.String())
	}
}

func equal32(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestInspectPlan: --precision picks the estimate (bf16 adds the BF16
// weight copies and changes the total), the JSON reports it, and --device
// cuda without a GPU is an error naming what was searched.
func TestInspectPlan(t *testing.T) {
	dir := cliFixture(t, "qwen3-tiny-tied")
	plan := func(prec string) (total float64, items []string, p string) {
		var out, errb bytes.Buffer
		if err := runInspect([]string{"--model", dir, "--batch", "2", "--seq", "32", "--precision", prec, "--json"}, &out, &errb); err != nil {
			t.Fatalf("%v: %s", err, errb.String())
		}
		var res struct {
			Memory struct {
				Precision string  `json:"precision"`
				Total     float64 `json:"total_bytes"`
				Items     []struct {
					Name string `json:"name"`
				} `json:"items"`
			} `json:"memory"`
		}
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		for _, it := range res.Memory.Items {
			items = append(items, it.Name)
		}
		return res.Memory.Total, items, res.Memory.Precision
	}
	t32, i32, p32 := plan("fp32")
	t16, i16, p16 := plan("bf16")
	if p32 != "fp32" || p16 != "bf16" {
		t.Errorf("precision fields %q, %q", p32, p16)
	}
	if strings.Contains(strings.Join(i32, ","), "BF16") || !strings.Contains(strings.Join(i16, ","), "BF16 matmul copies") {
		t.Errorf("fp32 items %v, bf16 items %v", i32, i16)
	}
	if !(t16 > t32) {
		t.Errorf("bf16 plan %v bytes, fp32 %v: the BF16 copies and inputs come on top", t16, t32)
	}
	var out, errb bytes.Buffer
	err := runInspect([]string{"--model", dir, "--precision", "fp64"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "precision") {
		t.Errorf("--precision fp64: %v", err)
	}
	if ok, _ := cuda.Available(); !ok {
		err := runInspect([]string{"--model", dir, "--device", "cuda"}, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), "searched") {
			t.Errorf("--device cuda without a GPU: %v, want the library search in the error", err)
		}
	}
}
