package main

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// TestInspectRanks: --ranks N plans one rank of a data-parallel run: the
// AdamW moments are 1/N of one rank's (ZeRO-1), the F32 parameters are
// named as the whole masters, everything else is the same, and the
// communication per step is reported.
func TestInspectRanks(t *testing.T) {
	dir := cliFixture(t, "qwen3-tiny-tied")
	type item struct {
		Name  string `json:"name"`
		Bytes int64  `json:"bytes"`
	}
	plan := func(ranks int, prec ...string) (items []item, total, comm int64) {
		var out, errb bytes.Buffer
		if err := runInspect(append([]string{"--model", dir, "--batch", "2", "--seq", "32", "--ranks", strconv.Itoa(ranks), "--json"}, prec...), &out, &errb); err != nil {
			t.Fatalf("--ranks %d: %v: %s", ranks, err, errb.String())
		}
		var res struct {
			Memory struct {
				Items []item `json:"items"`
				Total int64  `json:"total_bytes"`
				Comm  int64  `json:"comm_bytes_per_step"`
			} `json:"memory"`
		}
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		return res.Memory.Items, res.Memory.Total, res.Memory.Comm
	}
	one, t1, c1 := plan(1)
	two, t2, c2 := plan(2)
	if len(one) != len(two) || c1 != 0 || c2 <= 0 {
		t.Fatalf("items %v vs %v, communication %d and %d", one, two, c1, c2)
	}
	var moments int64
	for i := range one {
		switch {
		case strings.HasPrefix(one[i].Name, "AdamW moments"):
			moments = one[i].Bytes
			if 2*two[i].Bytes != one[i].Bytes || !strings.Contains(two[i].Name, "shard 1/2") {
				t.Errorf("2 ranks: %s %d bytes, want half of %d", two[i].Name, two[i].Bytes, one[i].Bytes)
			}
		case one[i].Name == "parameters (F32)":
			// fp32: the parameters are AdamW's masters, whole on every rank.
			if two[i].Bytes != one[i].Bytes || two[i].Name != "parameters = masters (F32, whole)" {
				t.Errorf("2 ranks: %v, want %d bytes named as the whole F32 masters", two[i], one[i].Bytes)
			}
		case one[i] != two[i]:
			t.Errorf("2 ranks changed %v to %v", one[i], two[i])
		}
	}
	if moments == 0 || t1-t2 != moments/2 {
		t.Errorf("totals %d (1 rank) and %d (2 ranks): want them %d apart", t1, t2, moments/2)
	}

	// bf16: the F32 masters are sharded too (the shard and its all-gather
	// stage); the norms, biases and embedding stay whole in F32.
	one, t1, _ = plan(1, "--precision", "bf16")
	two, t2, _ = plan(2, "--precision", "bf16")
	var whole, shard, kept int64
	for _, it := range one {
		if it.Name == "parameters (F32)" {
			whole = it.Bytes
		}
	}
	for _, it := range two {
		switch it.Name {
		case "F32 master weights (shard 1/2)":
			shard = it.Bytes
		case "F32 norms, biases, embedding (whole)":
			kept = it.Bytes
		case "parameters (F32)":
			t.Errorf("bf16, 2 ranks: whole F32 parameters %d bytes still planned", it.Bytes)
		}
	}
	n := whole / 4
	if want := 4 * (n/2 + 2*((n/2+7)/8)); shard != want || kept <= 0 || kept >= whole/2 {
		t.Errorf("bf16, 2 ranks: masters shard %d bytes (want %d: half of %d parameters plus the stage), norms/biases/embedding %d", shard, want, n, kept)
	}
	if saved := whole - shard - kept + moments/2; t1-t2 != saved {
		t.Errorf("bf16 totals %d (1 rank) and %d (2 ranks): want them %d apart", t1, t2, saved)
	}
	var out, errb bytes.Buffer
	if err := runInspect([]string{"--model", dir, "--ranks", "0"}, &out, &errb); err == nil || !strings.Contains(err.Error(), "ranks") {
		t.Errorf("--ranks 0: got %v", err)
	}
}
