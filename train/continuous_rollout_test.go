package train

import (
	"fmt"
	"reflect"
	"testing"

	"sdzero/model"
)

// TestGenerateNContinuous: continuous batching returns the static
// chunks' samples exactly, for rollouts whose lengths vary widely (stop
// ids), any gen_batch and a rank's share of a larger rollout.
func TestGenerateNContinuous(t *testing.T) {
	m, err := model.New(tinyConfig(), testBackend(), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	prompts := [][]int32{{1, 2, 3}, {4, 5}, {6, 7, 8, 9}, {10}, {11, 12}, {13, 14, 15}, {16, 17}}
	base := RolloutOptions{N: 3, MaxNewTokens: 16, Temperature: 1, TopP: 1, Seed: 11, Static: true}
	first, err := GenerateN(m, prompts, base)
	if err != nil {
		t.Fatal(err)
	}
	// Stop ids from early tokens, so that rows end anywhere from the
	// first token to MaxNewTokens.
	for r := 0; r < len(first); r += 4 {
		base.Stop = append(base.Stop, first[r][r%5])
	}
	for _, gb := range []int{1, 4, 5, 64} {
		for _, share := range [][2]int{{0, len(prompts)}, {2, 5}} {
			t.Run(fmt.Sprintf("gen_batch %d prompts %v", gb, share), func(t *testing.T) {
				o := base
				o.GenBatch = gb
				if share[0] > 0 {
					o.RowOffset, o.TotalRows = share[0]*o.N, len(prompts)*o.N
				}
				ps := prompts[share[0]:share[1]]
				static, err := GenerateN(m, ps, o)
				if err != nil {
					t.Fatal(err)
				}
				o.Static = false
				cont, err := GenerateN(m, ps, o)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(cont, static) {
					t.Errorf("continuous batching differs from the static chunks:\n got %v\nwant %v", cont, static)
				}
				short, long := o.MaxNewTokens, 0
				for _, row := range static {
					short, long = min(short, len(row)), max(long, len(row))
				}
				if share[0] == 0 && long-short < o.MaxNewTokens/2 {
					t.Errorf("lengths %d..%d: the stop ids do not vary them enough", short, long)
				}
			})
		}
	}
}
