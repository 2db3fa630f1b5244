package train

import (
	"fmt"
	"reflect"
	"testing"

	"sdzero/model"
)

// TestGenerateNSplit: a rollout generated in parts (RowOffset, TotalRows),
// as the ranks of a data-parallel run generate their shares of the global
// batch, gives exactly the samples of the whole rollout generated at once,
// for any split and any gen_batch.
func TestGenerateNSplit(t *testing.T) {
	m, err := model.New(tinyConfig(), testBackend(), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	prompts := [][]int32{{1, 2, 3}, {4, 5}, {6, 7, 8, 9}, {10}, {11, 12}, {13, 14, 15}}
	for _, gb := range []int{1, 3, 4, 64} {
		opt := RolloutOptions{N: 2, MaxNewTokens: 8, Temperature: 1, TopP: 1, GenBatch: gb, Seed: 11}
		whole, err := GenerateN(m, prompts, opt)
		if err != nil {
			t.Fatal(err)
		}
		for _, split := range [][]int{{0, 3, 6}, {0, 1, 4, 6}, {0, 2, 4, 6}} {
			t.Run(fmt.Sprintf("gen_batch %d split %v", gb, split), func(t *testing.T) {
				var got [][]int32
				for i := 0; i+1 < len(split); i++ {
					o := opt
					o.RowOffset, o.TotalRows = split[i]*opt.N, len(prompts)*opt.N
					part, err := GenerateN(m, prompts[split[i]:split[i+1]], o)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, part...)
				}
				if !reflect.DeepEqual(got, whole) {
					t.Errorf("split rollout differs from the whole one:\n got %v\nwant %v", got, whole)
				}
			})
		}
	}
}
