package train

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"sdzero/kernels"
	"sdzero/kernels/cpu"
	"sdzero/model"
)

// tinyConfig is a 2-layer Qwen3-style model over the 259-id test tokenizer.
func tinyConfig() *model.Config {
	return &model.Config{
		Arch: "qwen3", VocabSize: 259, Hidden: 32, Intermediate: 64, Layers: 2,
		Heads: 4, KVHeads: 2, HeadDim: 8, RMSNormEps: 1e-6, RopeTheta: 10000,
		TieEmbeddings: true, QKNorm: true, MaxPositions: 512, BOSTokenID: -1,
		EOSTokenIDs: []int{258},
	}
}

func testBackend() kernels.Backend { return cpu.New(2) }

// tinyModelDir writes a random tiny model with the test tokenizer files
// into a temp dir and returns it.
func tinyModelDir(t *testing.T, seed uint64) string {
	t.Helper()
	be := testBackend()
	m, err := model.New(tinyConfig(), be, seed)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	dir := filepath.Join(t.TempDir(), "model")
	if err := m.Save(dir, model.SaveOptions{DType: kernels.F32}); err != nil {
		t.Fatal(err)
	}
	if err := copyTokenizerFiles("testdata/tok", dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

type mathRow struct {
	Question string `json:"question"`
	Answer   string `json:"answer"`
	Solution string `json:"solution"`
}

// tinyMathData writes n small arithmetic problems as JSONL.
func tinyMathData(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "math.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	enc := json.NewEncoder(f)
	for i := 0; i < n; i++ {
		a, b := i%7+1, i%5+2
		r := mathRow{Question: itoa(a) + "+" + itoa(b) + "?", Answer: itoa(a + b),
			Solution: itoa(a) + "+" + itoa(b) + "=" + itoa(a+b) + " \\boxed{" + itoa(a+b) + "}"}
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// tinyRunConfig is a fast config for phase over the tiny model.
func tinyRunConfig(t *testing.T, phase, modelDir, data, out string) *Config {
	t.Helper()
	c := DefaultConfig()
	c.Phase = phase
	c.Model = modelDir
	c.Data.Train = data
	c.Out = out
	c.Seed = 7
	c.Prompt.Suffix = ""
	c.Optim.LR = 1e-3
	c.Optim.WarmupSteps = 1
	c.Train.BatchSize = 3
	c.Train.MicroBatch = 2
	c.Train.MaxSeqLen = 48
	c.Train.Steps = 4
	c.Train.CheckpointEvery = 0
	c.Train.LogEvery = 1
	c.Rollout.MaxNewTokens = 10
	c.Rollout.Temperature = 1.0
	c.Rollout.GenBatch = 4
	c.Verify.Workers = 2
	c.Distill.TopK = 8
	c.Distill.TeacherSyncEvery = 2
	c.GRPO.GroupSize = 2
	c.GRPO.KLCoef = 0.05
	c.GRPO.Updates = 2
	c.RFT.K = 2
	c.RFT.Rounds = 2
	c.RFT.StepsPerRound = 2
	c.Collect.NRev = 2
	c.SDFT.EMARate = 0.1
	return c
}

// readParams loads a saved model directory's parameters as float32 bits.
func readParams(t *testing.T, dir string) []uint32 {
	t.Helper()
	be := testBackend()
	m, err := model.Load(dir, be)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	raw := make([]byte, 4*m.Params.N)
	be.DownloadRaw(raw, m.Params)
	out := make([]uint32, m.Params.N)
	for i := range out {
		out[i] = uint32(raw[4*i]) | uint32(raw[4*i+1])<<8 | uint32(raw[4*i+2])<<16 | uint32(raw[4*i+3])<<24
	}
	return out
}
