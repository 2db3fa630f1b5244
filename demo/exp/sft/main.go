package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"sdzero/data/chat"
	"sdzero/data/tokenizer"
	"sdzero/data/verify"
	"sdzero/demo/tinytok"
	"sdzero/kernels"
	"sdzero/kernels/cpu"
	"sdzero/model"
	"sdzero/train/optim"
)

type ex struct{ q, sol, ans string }

func gen(rng *rand.Rand, digits int) ex {
	lo, hi := 1, 10
	for i := 1; i < digits; i++ {
		lo *= 10
		hi *= 10
	}
	lo = lo / 10 * 10
	a, b := rng.IntN(hi-lo)+lo, rng.IntN(hi-lo)+lo
	if rng.IntN(2) == 0 {
		// addition with digit-wise worked solution
		sol := ""
		carry := 0
		x, y := a, b
		res := 0
		mul := 1
		for x > 0 || y > 0 || carry > 0 {
			dx, dy := x%10, y%10
			s := dx + dy + carry
			if carry > 0 {
				sol += fmt.Sprintf("%d+%d+%d=%d\n", dx, dy, carry, s)
			} else {
				sol += fmt.Sprintf("%d+%d=%d\n", dx, dy, s)
			}
			res += (s % 10) * mul
			mul *= 10
			carry = s / 10
			x /= 10
			y /= 10
		}
		_ = res
		return ex{fmt.Sprintf("%d+%d", a, b), sol + fmt.Sprintf("\\boxed{%d}", a+b), fmt.Sprint(a + b)}
	}
	if a < b {
		a, b = b, a
	}
	sol := ""
	borrow := 0
	x, y := a, b
	for x > 0 {
		dx, dy := x%10, y%10
		d := dx - dy - borrow
		nb := 0
		if d < 0 {
			d += 10
			nb = 1
		}
		if borrow > 0 {
			sol += fmt.Sprintf("%d-%d-1=%d\n", dx+10*nb, dy, d)
		} else {
			sol += fmt.Sprintf("%d-%d=%d\n", dx+10*nb, dy, d)
		}
		borrow = nb
		x /= 10
		y /= 10
	}
	return ex{fmt.Sprintf("%d-%d", a, b), sol + fmt.Sprintf("\\boxed{%d}", a-b), fmt.Sprint(a - b)}
}

func main() {
	hidden := flag.Int("hidden", 64, "")
	layers := flag.Int("layers", 2, "")
	steps := flag.Int("steps", 300, "")
	lr := flag.Float64("lr", 3e-3, "")
	bs := flag.Int("bs", 32, "")
	digits := flag.Int("digits", 2, "")
	evalEvery := flag.Int("eval", 100, "")
	flag.Parse()
	dir, _ := os.MkdirTemp("", "tok")
	tinytok.WriteDir(dir)
	tok, _ := tokenizer.LoadDir(dir)
	tmpl, _ := chat.LoadDir(dir)
	be := cpu.New(2)
	heads := *hidden / 32
	if heads < 2 {
		heads = 2
	}
	cfg := &model.Config{Arch: "qwen3", VocabSize: 259, Hidden: *hidden, Layers: *layers, Intermediate: *hidden * 3, Heads: heads, KVHeads: heads, HeadDim: *hidden / heads,
		RMSNormEps: 1e-6, RopeTheta: 10000, TieEmbeddings: true, QKNorm: true, MaxPositions: 512, BOSTokenID: -1, EOSTokenIDs: []int{258}}
	m, err := model.New(cfg, be, 1)
	if err != nil {
		panic(err)
	}
	opt, _ := optim.NewAdamW(m, optim.Config{LR: float32(*lr), WeightDecay: 0.01})
	rng := rand.New(rand.NewPCG(1, 2))
	prompt := func(q string) []int32 {
		ids, err := tmpl.RenderIDs(tok, []chat.Message{{Role: "user", Content: q}}, chat.Options{AddGenerationPrompt: true})
		if err != nil {
			panic(err)
		}
		return ids
	}
	var evalSet []ex
	erng := rand.New(rand.NewPCG(99, 3))
	for i := 0; i < 128; i++ {
		evalSet = append(evalSet, gen(erng, *digits))
	}
	T := 0
	{
		e := gen(rng, *digits)
		fmt.Printf("example: %q -> %q (prompt %d tokens, resp %d)\n", e.q, e.sol, len(prompt(e.q)), len(tok.Encode(e.sol)))
	}
	T = 128
	B := *bs
	a, _ := m.NewActs(B, T)
	tg, _ := be.Alloc(kernels.I32, B*T)
	w, _ := be.Alloc(kernels.F32, B*T)
	loss, _ := be.Alloc(kernels.F32, B*T)
	hl := make([]float32, B*T)
	t0 := time.Now()
	evaluate := func() {
		prompts := make([][]int32, len(evalSet))
		for i, e := range evalSet {
			prompts[i] = prompt(e.q)
		}
		for _, temp := range []float32{0, 0.7} {
			outs, err := m.Generate(prompts, model.GenerateOptions{MaxNewTokens: 64, StopIDs: []int32{258}, Temperature: temp, Seed: 5})
			if err != nil {
				panic(err)
			}
			c := 0
			for i, o := range outs {
				if len(o) > 0 && o[len(o)-1] == 258 {
					o = o[:len(o)-1]
				}
				if verify.Math(tok.Decode(o), evalSet[i].ans).Reward > 0.5 {
					c++
				}
			}
			fmt.Printf("  eval T=%.1f acc %.3f  (%q)\n", temp, float64(c)/float64(len(evalSet)), tok.Decode(outs[0]))
		}
	}
	for step := 0; step < *steps; step++ {
		ids := make([]int32, B*T)
		tgt := make([]int32, B*T)
		wt := make([]float32, B*T)
		lens := make([]int, B)
		ntok := 0
		for r := 0; r < B; r++ {
			e := gen(rng, *digits)
			p := prompt(e.q)
			resp := append(tok.Encode(e.sol), 258)
			seq := append(append([]int32{}, p...), resp...)
			copy(ids[r*T:], seq)
			lens[r] = len(seq)
			for i := 0; i < T; i++ {
				tgt[r*T+i] = -1
			}
			for i := len(p) - 1; i < len(seq)-1; i++ {
				tgt[r*T+i] = seq[i+1]
				wt[r*T+i] = 1
				ntok++
			}
		}
		be.UploadInt32(tg, tgt)
		be.Upload(w, wt)
		m.ZeroGrads()
		m.Forward(a, ids, lens)
		lg := a.Logits()
		be.CrossEntropy(loss, lg, lg, tg, w, B*T, 259, 1/float32(ntok))
		m.Backward(a, lg)
		l := optim.Cosine(step, 20, *steps, float32(*lr), float32(*lr)/10)
		opt.Step(m, l, 1)
		if step%20 == 0 || step == *steps-1 {
			be.Download(hl, loss)
			s := 0.0
			for _, v := range hl {
				s += float64(v)
			}
			fmt.Printf("step %d loss %.4f  %.1fs\n", step, s/float64(ntok), time.Since(t0).Seconds())
		}
		if (step+1)%*evalEvery == 0 {
			evaluate()
		}
	}
}
