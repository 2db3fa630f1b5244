package main

import (
	"fmt"
	"time"

	"sdzero/kernels"
	"sdzero/kernels/cpu"
	"sdzero/model"
)

func main() {
	be := cpu.New(2)
	for _, sz := range [][4]int{{64, 2, 192, 4}, {96, 3, 256, 4}, {128, 4, 384, 4}} {
		cfg := &model.Config{Arch: "qwen3", VocabSize: 259, Hidden: sz[0], Layers: sz[1], Intermediate: sz[2], Heads: sz[3], KVHeads: 2, HeadDim: sz[0] / sz[3],
			RMSNormEps: 1e-6, RopeTheta: 10000, TieEmbeddings: true, QKNorm: true, MaxPositions: 512, BOSTokenID: -1, EOSTokenIDs: []int{258}}
		m, err := model.New(cfg, be, 1)
		if err != nil {
			panic(err)
		}
		B, T := 32, 128
		a, err := m.NewActs(B, T)
		if err != nil {
			panic(err)
		}
		ids := make([]int32, B*T)
		lens := make([]int, B)
		for i := range ids {
			ids[i] = int32(i * 7 % 259)
		}
		for i := range lens {
			lens[i] = T
		}
		tg, _ := be.Alloc(kernels.I32, B*T)
		w, _ := be.Alloc(kernels.F32, B*T)
		loss, _ := be.Alloc(kernels.F32, B*T)
		be.UploadInt32(tg, ids)
		be.Fill(w, 1)
		step := func() {
			m.Forward(a, ids, lens)
			lg := a.Logits()
			be.CrossEntropy(loss, lg, lg, tg, w, B*T, 259, 1.0/float32(B*T))
			m.Backward(a, lg)
			be.Sync()
		}
		step()
		t0 := time.Now()
		n := 3
		for i := 0; i < n; i++ {
			step()
		}
		dt := time.Since(t0).Seconds() / float64(n)
		fmt.Printf("h=%d L=%d I=%d params=%d: %.3fs/step %.0f tok/s\n", sz[0], sz[1], sz[2], cfg.NumParams(), dt, float64(B*T)/dt)
	}
}
