package main

import "testing"

// TestPinRankGPU: each rank of a multi-rank launch sees its own GPU.
func TestPinRankGPU(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string // CUDA_VISIBLE_DEVICES afterwards; "-" = not set
	}{
		{"single process", map[string]string{}, "-"},
		{"local rank 1, all devices visible", map[string]string{"OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_LOCAL_RANK": "1"}, "1"},
		{"local rank 2 of a list", map[string]string{"OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_LOCAL_RANK": "2", "CUDA_VISIBLE_DEVICES": "4,5,6,7"}, "6"},
		{"launcher gave one device", map[string]string{"OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_LOCAL_RANK": "1", "CUDA_VISIBLE_DEVICES": "3"}, "-"},
		{"second node, local rank 0", map[string]string{"OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_LOCAL_RANK": "0"}, "0"},
		{"unknown local rank", map[string]string{"SLURM_STEP_NUM_TASKS": "2", "SLURM_PROCID": "1"}, "-"},
	}
	for _, tc := range tests {
		got := "-"
		err := pinRankGPU(func(k string) string { return tc.env[k] }, func(k, v string) error {
			if k != "CUDA_VISIBLE_DEVICES" {
				t.Errorf("%s: set %s", tc.name, k)
			}
			got = v
			return nil
		})
		if err != nil || got != tc.want {
			t.Errorf("%s: CUDA_VISIBLE_DEVICES %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}
