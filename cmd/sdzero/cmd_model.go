package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"sdzero/data/tokenizer"
	"sdzero/kernels"
	"sdzero/kernels/cuda"
	"sdzero/model"
	"sdzero/train"
)

// modelFlags are the flags shared by inspect, score and generate.
type modelFlags struct {
	dir     *string
	device  *string
	threads *int
}

func addModelFlags(fs *flag.FlagSet) modelFlags {
	return modelFlags{
		dir:     fs.String("model", "", "Hugging Face model directory (config.json + safetensors)"),
		device:  fs.String("device", "auto", "compute device: cpu, cuda or auto"),
		threads: fs.Int("threads", 0, "CPU threads (0 = all cores)"),
	}
}

// runInspect prints a model's architecture, sizes, on-disk dtypes and a
// training memory estimate. It reads config.json and the safetensors
// headers only, so it works on models of any size.
func runInspect(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mf := addModelFlags(fs)
	batch := fs.Int("batch", 1, "batch rows for the memory estimate")
	seq := fs.Int("seq", 1024, "tokens per row for the memory estimate")
	recompute := fs.Bool("recompute", false, "plan for activations recomputed in the backward (train.recompute)")
	precision := fs.String("precision", "auto", "precision of the memory estimate: fp32, bf16 or auto (bf16 with --device cuda)")
	asJSON := fs.Bool("json", false, "print JSON")
	ranks := fs.Int("ranks", 1, "plan one rank of a data-parallel run over this many ranks (ZeRO-1: AdamW moments sharded, and in bf16 the F32 master weights; gradients whole)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sdzero inspect --model DIR [--batch B --seq T] [--device cuda] [--precision P] [--ranks N] [--json]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *mf.dir == "" {
		return errors.New("--model DIR is required")
	}
	if *batch <= 0 || *seq <= 0 {
		return fmt.Errorf("--batch %d and --seq %d must be positive", *batch, *seq)
	}
	if err := checkIntFlags(intFlag{"batch", *batch, 1, train.MaxBatchLimit}, intFlag{"seq", *seq, 1, train.MaxSeqLenLimit}, intFlag{"ranks", *ranks, 1, 1 << 16}); err != nil {
		return err
	}
	cfg, err := model.LoadConfig(filepath.Join(*mf.dir, "config.json"))
	if err != nil {
		return err
	}
	disk, err := model.InspectWeights(*mf.dir)
	if err != nil {
		return err
	}
	// With --device cuda the estimate is the GPU's plan (mixed precision by
	// default) and is set against the device's free memory.
	prec := model.PrecisionF32
	var dev *deviceMemory
	switch *mf.device {
	case "cuda", "gpu":
		if dev, err = cudaMemory(*mf.device); err != nil {
			return err
		}
		prec = model.PrecisionBF16
	case "", "auto", "cpu":
	default:
		return fmt.Errorf("unknown --device %q (want cpu, cuda or auto)", *mf.device)
	}
	if *precision != "auto" {
		if prec, err = model.ParsePrecision(*precision); err != nil {
			return fmt.Errorf("--precision: %w", err)
		}
	}
	mem, err := model.TrainingMemoryPlan(cfg, *batch, *seq, prec, *recompute)
	if err != nil {
		return err
	}
	if mem, err = train.ShardPlan(mem, cfg, *ranks); err != nil {
		return err
	}
	commBytes := train.CommBytesPerStep(cfg.NumParams(), *ranks)
	// The frozen teacher (distill, sdft) or grpo reference, whole on every
	// rank: BF16-only in bf16 (train.Config.TeacherBF16Only), except SDFT's
	// EMA teacher, which keeps F32 masters.
	teacherItems, err := model.FrozenParamMemory(cfg, prec, prec == model.PrecisionBF16)
	if err != nil {
		return err
	}
	teacherBytes := train.PlanTotal(teacherItems)
	emaItems, err := model.FrozenParamMemory(cfg, prec, false)
	if err != nil {
		return err
	}
	emaBytes := train.PlanTotal(emaItems)
	total := train.PlanTotal(mem)
	for _, it := range mem {
		if it.Bytes < 0 || total == math.MaxInt64 {
			return fmt.Errorf("inspect: the memory estimate at --batch %d --seq %d overflows a 64-bit byte count (%s); lower them", *batch, *seq, it.Name)
		}
	}
	qd, kvd := cfg.Heads*cfg.HeadDim, cfg.KVHeads*cfg.HeadDim
	type dim struct {
		Name  string `json:"name"`
		Shape []int  `json:"shape"`
	}
	layer := []dim{
		{"self_attn.q_proj", []int{qd, cfg.Hidden}}, {"self_attn.k_proj", []int{kvd, cfg.Hidden}},
		{"self_attn.v_proj", []int{kvd, cfg.Hidden}}, {"self_attn.o_proj", []int{cfg.Hidden, qd}},
		{"mlp.gate_proj", []int{cfg.Intermediate, cfg.Hidden}}, {"mlp.up_proj", []int{cfg.Intermediate, cfg.Hidden}},
		{"mlp.down_proj", []int{cfg.Hidden, cfg.Intermediate}},
	}
	embed := int64(cfg.VocabSize) * int64(cfg.Hidden)
	layers, ropes := layerPattern(cfg)
	kvBytes := model.KVCacheBytes(cfg, *batch, *seq, prec)
	kvNote := "every layer keeps all positions"
	if cfg.LayerTypes != nil {
		kvNote += fmt.Sprintf("; sliding layers read at most %d of them per step (the cache is not bounded by the window)", cfg.SlidingWindow)
	}
	if *asJSON {
		items := make([]map[string]any, len(mem))
		for i, it := range mem {
			items[i] = map[string]any{"name": it.Name, "bytes": it.Bytes}
		}
		return writeJSON(stdout, map[string]any{
			"arch": cfg.Arch, "vocab_size": cfg.VocabSize, "hidden_size": cfg.Hidden,
			"intermediate_size": cfg.Intermediate, "num_hidden_layers": cfg.Layers,
			"num_attention_heads": cfg.Heads, "num_key_value_heads": cfg.KVHeads, "head_dim": cfg.HeadDim,
			"rope_theta": cfg.RopeTheta, "rope_scaling": cfg.RopeScaling, "rms_norm_eps": cfg.RMSNormEps, "tie_word_embeddings": cfg.TieEmbeddings,
			"qk_norm": cfg.QKNorm, "qk_norm_full_width": cfg.QKNormFull, "post_norm": cfg.PostNorm,
			"attention_bias": cfg.AttnBias, "o_proj_bias": cfg.OBias, "mlp_bias": cfg.MLPBias,
			"layer_types": layers, "sliding_window": cfg.SlidingWindow, "rope": ropes,
			"kv_cache": map[string]any{"batch": *batch, "positions": *seq, "bytes": kvBytes, "note": kvNote}, "layer": layer,
			"parameters": cfg.NumParams(), "embedding_parameters": embed,
			"files": disk.Files, "disk_dtypes": disk.DTypes, "disk_bytes": disk.Bytes,
			"memory": map[string]any{"batch": *batch, "seq": *seq, "precision": prec.String(), "recompute": *recompute, "items": items, "total_bytes": total,
				"device": dev, "ranks": *ranks, "comm_bytes_per_step": commBytes,
				"teacher_weight_bytes": teacherBytes, "ema_teacher_weight_bytes": emaBytes},
		})
	}
	w := &errWriter{w: stdout}
	w.printf("model         %s\n", *mf.dir)
	w.printf("architecture  %s (%s)\n", archTitle(cfg), cfg.Arch)
	w.printf("dimensions    vocab %d, hidden %d, intermediate %d, layers %d\n", cfg.VocabSize, cfg.Hidden, cfg.Intermediate, cfg.Layers)
	w.printf("attention     %d query heads, %d key/value heads (GQA %d:1), head_dim %d\n",
		cfg.Heads, cfg.KVHeads, cfg.Heads/cfg.KVHeads, cfg.HeadDim)
	w.printf("layers        %s\n", layerPatternText(cfg, layers))
	for _, r := range ropes {
		w.printf("rope          %s: theta %g%s\n", r.Type, r.Theta, ropeScalingText(r.Scaling))
	}
	qkNorm := yesNo(cfg.QKNorm)
	if cfg.QKNormFull {
		qkNorm = "over the whole projection width"
	} else if cfg.QKNorm {
		qkNorm = "per head"
	}
	norms := "before each sublayer (input_layernorm, post_attention_layernorm)"
	if cfg.PostNorm {
		norms = "after each sublayer, before the residual add (post_attention_layernorm, post_feedforward_layernorm)"
	}
	w.printf("features      rms_norm_eps %g, norms %s, q/k norm %s, q/k/v bias %s, o_proj bias %s, mlp bias %s, tied embeddings %s\n",
		cfg.RMSNormEps, norms, qkNorm, yesNo(cfg.AttnBias), yesNo(cfg.OBias), yesNo(cfg.MLPBias), yesNo(cfg.TieEmbeddings))
	w.printf("per layer     ")
	for i, d := range layer {
		if i > 0 {
			w.printf(", ")
		}
		w.printf("%s %v", d.Name, d.Shape)
	}
	w.printf("\n")
	n := cfg.NumParams()
	w.printf("parameters    %s (%s; embedding %s%s)\n", commas(n), human(float64(n)), commas(embed),
		map[bool]string{true: ", tied with the output projection", false: ", plus as many in lm_head"}[cfg.TieEmbeddings])
	dts := make([]string, 0, len(disk.DTypes))
	for dt, c := range disk.DTypes {
		dts = append(dts, fmt.Sprintf("%s x%d", dt, c))
	}
	sort.Strings(dts)
	w.printf("on disk       %d file(s), %s, tensors %s\n", len(disk.Files), bytesStr(disk.Bytes), strings.Join(dts, ", "))
	how := ""
	if *recompute {
		how = ", layers recomputed in the backward"
	}
	if *ranks > 1 {
		how += fmt.Sprintf(", per rank of %d (ZeRO-1: AdamW moments sharded, F32 master weights %s, gradients whole)", *ranks,
			map[bool]string{true: "sharded", false: "whole (they are the weights the forward reads)"}[prec == model.PrecisionBF16])
	}
	w.printf("training memory estimate at batch %d x seq %d (F32 master weights, AdamW, %s compute%s):\n", *batch, *seq, prec, how)
	for _, it := range mem {
		w.printf("  %-34s %12s\n", it.Name, bytesStr(it.Bytes))
	}
	w.printf("  %-34s %12s\n", "total", bytesStr(total))
	if dev != nil {
		fit := "fits"
		if total > dev.FreeBytes {
			fit = "does NOT fit: lower --batch or --seq"
		}
		w.printf("device        %s: %s free of %s; the estimate %s\n", dev.Name, bytesStr(dev.FreeBytes), bytesStr(dev.TotalBytes), fit)
	}
	if prec == model.PrecisionBF16 {
		w.printf("teacher/reference weights (distill, sdft, grpo; not in the total, whole on every rank): %s BF16-only (F32 norms, biases, embedding); sdft's EMA teacher keeps F32 masters: %s\n",
			bytesStr(teacherBytes), bytesStr(emaBytes))
	} else {
		w.printf("teacher/reference weights (distill, sdft, grpo; not in the total, whole on every rank): %s (F32)\n", bytesStr(teacherBytes))
	}
	if *ranks > 1 {
		w.printf("communication per optimizer step: %s sent per rank (ring reduce-scatter of F32 gradients + all-gather of F32 parameters)\n", bytesStr(commBytes))
	}
	w.printf("generation KV cache at batch %d x %d positions (%s): %s; %s\n", *batch, *seq, prec, bytesStr(kvBytes), kvNote)
	return w.err
}

// layerRope is one layer type's RoPE, for inspect.
type layerRope struct {
	Type    string             `json:"layer_type"`
	Theta   float64            `json:"rope_theta"`
	Scaling *model.RopeScaling `json:"rope_scaling"`
}

// layerPattern returns each layer's type and the RoPE of each layer type
// present (full_attention first).
func layerPattern(cfg *model.Config) ([]string, []layerRope) {
	types := make([]string, cfg.Layers)
	var ropes []layerRope
	for _, want := range []string{model.FullAttention, model.SlidingAttention} {
		for l := range types {
			t := model.FullAttention
			if cfg.LayerWindow(l) > 0 {
				t = model.SlidingAttention
			}
			types[l] = t
			if t == want && (len(ropes) == 0 || ropes[len(ropes)-1].Type != want) {
				rp := cfg.LayerRope(l)
				ropes = append(ropes, layerRope{want, rp.Theta, rp.Scaling})
			}
		}
	}
	return types, ropes
}

// layerPatternText summarises the layer types: counts, the window, and
// the pattern with one letter per layer (F full, S sliding).
func layerPatternText(cfg *model.Config, types []string) string {
	if cfg.LayerTypes == nil {
		return fmt.Sprintf("%d, all full causal attention", cfg.Layers)
	}
	var b strings.Builder
	nS := 0
	for _, t := range types {
		if t == model.SlidingAttention {
			nS++
			b.WriteByte('S')
		} else {
			b.WriteByte('F')
		}
	}
	return fmt.Sprintf("%d: %d sliding_attention (window %d), %d full_attention; pattern %s",
		cfg.Layers, nS, cfg.SlidingWindow, cfg.Layers-nS, b.String())
}

// ropeScalingText describes RoPE scaling for inspect ("" when none).
func ropeScalingText(r *model.RopeScaling) string {
	switch {
	case r == nil:
		return ""
	case r.Type == "llama3":
		return fmt.Sprintf(", llama3 scaling (factor %g, low/high frequency factors %g/%g, original context %d)",
			r.Factor, r.LowFreqFactor, r.HighFreqFactor, r.OriginalMaxPositions)
	case r.Type == "yarn":
		trunc := ""
		if r.NoTruncate {
			trunc = ", untruncated range"
		}
		return fmt.Sprintf(", yarn scaling (factor %g, original context %d, beta fast/slow %g/%g, attention factor %.6g%s)",
			r.Factor, r.OriginalMaxPositions, r.BetaFast, r.BetaSlow, r.AttentionFactor, trunc)
	}
	return fmt.Sprintf(", %s scaling (factor %g)", r.Type, r.Factor)
}

// deviceMemory is a GPU's name and memory, for inspect's plan.
type deviceMemory struct {
	Name       string `json:"name"`
	FreeBytes  int64  `json:"free_bytes"`
	TotalBytes int64  `json:"total_bytes"`
}

// cudaMemory opens the CUDA backend and reads the device's free and total
// memory.
func cudaMemory(device string) (*deviceMemory, error) {
	be, err := openBackend(device, 1)
	if err != nil {
		return nil, err
	}
	cb, ok := be.(*cuda.Backend)
	if !ok {
		return nil, fmt.Errorf("--device %s: not a CUDA backend", device)
	}
	defer cb.Close()
	st := cb.MemoryStats()
	return &deviceMemory{Name: cb.Describe(), FreeBytes: st.FreeDeviceBytes, TotalBytes: st.TotalDeviceBytes}, nil
}

// runScore prints the log-probability of every token after the first given
// its prefix.
func runScore(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("score", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mf := addModelFlags(fs)
	idsFlag := fs.String("ids", "", "token ids, e.g. 5,17,99")
	prompt := fs.String("prompt", "", "text to tokenise with the model's tokenizer.json (instead of --ids)")
	asJSON := fs.Bool("json", false, `print JSON {"token_logprobs": [...]} (n-1 values)`)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sdzero score --model DIR (--ids 5,17,99 | --prompt TEXT) [--json] [--device D] [--threads N]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := positionalError(fs, false); err != nil {
		return err
	}
	if *mf.dir == "" {
		return errors.New("--model DIR is required")
	}
	if err := checkIntFlags(intFlag{"threads", *mf.threads, 0, train.MaxThreadsLimit}); err != nil {
		return err
	}
	ids, tok, err := inputIDs(*mf.dir, *idsFlag, *prompt, fs)
	if err != nil {
		return err
	}
	if len(ids) > train.MaxSeqLenLimit {
		return fmt.Errorf("score: %d tokens is more than the limit of %d", len(ids), train.MaxSeqLenLimit)
	}
	if len(ids) < 2 {
		return fmt.Errorf("need at least 2 tokens to score, got %d", len(ids))
	}
	m, be, err := loadModel(mf)
	if err != nil {
		return err
	}
	defer m.Free()
	if err := checkWeights(*mf.dir, m); err != nil {
		return err
	}
	if err := checkDecodeMemory(fmt.Sprintf("score of %d tokens", len(ids)), m, be, 1, len(ids), 0, "score fewer tokens"); err != nil {
		return err
	}
	a, err := m.NewInferActs(1, len(ids))
	if err != nil {
		return err
	}
	defer a.Free()
	targets := make([]int32, len(ids))
	copy(targets, ids[1:])
	targets[len(ids)-1] = -1
	lp, err := m.TokenLogProbs(a, ids, []int{len(ids)}, targets)
	if err != nil {
		return err
	}
	if err := be.Sync(); err != nil {
		return err
	}
	lp = lp[:len(ids)-1]
	if err := checkFiniteValues("score: log-probability of token", lp); err != nil {
		return err
	}
	if *asJSON {
		out := make([]float64, len(lp))
		for i, v := range lp {
			out[i] = float64(v)
		}
		res := map[string]any{"token_logprobs": out}
		if tok != nil {
			res["ids"] = ids
		}
		return writeJSONWithSettings(stdout, res, scoreSettings(*mf.dir))
	}
	scoreSettings(*mf.dir).Print(stderr) // stdout is the table alone
	w := &errWriter{w: stdout}
	var sum float64
	for i, v := range lp {
		sum += float64(v)
		piece := ""
		if tok != nil {
			piece = " " + strconv.Quote(tok.Decode(ids[i+1:i+2]))
		}
		w.printf("%6d %8d %12.6f%s\n", i+1, ids[i+1], v, piece)
	}
	n := float64(len(lp))
	w.printf("sum %.6f, mean %.6f, perplexity %.4f over %d tokens\n", sum, sum/n, math.Exp(-sum/n), len(lp))
	return w.err
}

// runGenerate continues a prompt with KV-cache decoding. By default no
// token stops generation (not even EOS), so greedy output matches HF
// generate with eos_token_id=None; --stop-ids or --stop-eos add stops.
func runGenerate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mf := addModelFlags(fs)
	idsFlag := fs.String("ids", "", "prompt token ids, e.g. 5,17,99")
	prompt := fs.String("prompt", "", "prompt text, tokenised with the model's tokenizer.json (instead of --ids)")
	maxNew := fs.Int("max-new-tokens", 32, "tokens to generate at most")
	greedy := fs.Bool("greedy", false, "greedy decoding (the default unless --temperature > 0)")
	temp := fs.Float64("temperature", 0, "sampling temperature (0 = greedy)")
	topP := fs.Float64("top-p", 1, "nucleus sampling mass (1 = off)")
	topK := fs.Int("top-k", 0, "sample among the K most likely tokens (0 = off)")
	seed := fs.Uint64("seed", 0, "sampling seed (same seed, same output)")
	stopIDs := fs.String("stop-ids", "", "ids that end generation (kept in the output), e.g. 151645,151643")
	stopEOS := fs.Bool("stop-eos", false, "also stop at the eos ids of generation_config.json (else config.json)")
	asJSON := fs.Bool("json", false, `print JSON {"ids": [...]} (prompt + new tokens; "text" with --prompt)`)
	cf := addChatFlags(fs)
	suffix := fs.String("suffix", "", "with --chat: text appended to the prompt (default: prompt.suffix of the model's sdzero.json; with --chat a trained model's system, thinking, stop ids and sampling come from it too unless given)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sdzero generate --model DIR (--ids 5,17,99 | --prompt TEXT) --max-new-tokens N\n"+
			"       [--greedy | --temperature T --top-p P --top-k K --seed S] [--stop-ids 1,2 | --stop-eos] [--json]\n"+
			"       sdzero generate --model DIR --chat [--system TEXT] --prompt TEXT [--thinking false] ...   (the model's chat template)\n"+
			"No EOS stop unless --stop-ids or --stop-eos is given (matching HF generate with eos_token_id=None).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *mf.dir == "" {
		return errors.New("--model DIR is required")
	}
	if err := positionalError(fs, false); err != nil {
		return err
	}
	if err := checkIntFlags(intFlag{"max-new-tokens", *maxNew, 1, train.MaxSeqLenLimit}, intFlag{"threads", *mf.threads, 0, train.MaxThreadsLimit}); err != nil {
		return err
	}
	gs, err := applyGenerateSettings(fs, *mf.dir, prompt, *suffix) // settingsOrder
	if err != nil {
		return err
	}
	if err := checkSampling(*temp, *topP, *topK); err != nil {
		return err
	}
	ids, tok, chatStops, err := cf.inputIDs(*mf.dir, *idsFlag, *prompt, fs)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return errors.New("the prompt has no tokens")
	}
	opt := model.GenerateOptions{MaxNewTokens: *maxNew, Temperature: float32(*temp), TopP: float32(*topP), TopK: *topK, Seed: *seed}
	if *greedy {
		opt.Temperature = 0
	}
	if *stopIDs != "" {
		if opt.StopIDs, err = parseIDList("--stop-ids", *stopIDs); err != nil {
			return err
		}
	} else {
		opt.StopIDs = chatStops // a chat reply ends with its turn
	}
	m, be, err := loadModel(mf)
	if err != nil {
		return err
	}
	defer m.Free()
	if err := checkWeights(*mf.dir, m); err != nil {
		return err
	}
	if err := checkPromptPositions("the prompt", len(ids), m); err != nil {
		return err
	}
	if err := checkDecodeMemory(fmt.Sprintf("generate (%d prompt tokens + --max-new-tokens %d)", len(ids), *maxNew), m, be, 1, len(ids), *maxNew,
		"lower --max-new-tokens or shorten the prompt"); err != nil {
		return err
	}
	if *stopEOS {
		eos, err := eosIDs(*mf.dir, m.Cfg)
		if err != nil {
			return err
		}
		if len(eos) == 0 {
			return fmt.Errorf("--stop-eos: no eos_token_id in %s", *mf.dir)
		}
		opt.StopIDs = append(opt.StopIDs, eos...)
	}
	out, err := m.Generate([][]int32{ids}, opt)
	if err != nil {
		return err
	}
	if err := be.Sync(); err != nil {
		return err
	}
	all := append(append([]int32{}, ids...), out[0]...)
	st := gs.finish(fs, *mf.dir, opt, *seed)
	if *asJSON {
		res := map[string]any{"ids": all}
		if tok != nil {
			res["text"] = tok.Decode(out[0])
		}
		return writeJSONWithSettings(stdout, res, st)
	}
	st.Print(stderr) // stdout is the continuation alone
	w := &errWriter{w: stdout}
	if tok != nil {
		w.printf("%s\n", tok.Decode(out[0]))
		return w.err
	}
	w.printf("%s\n", joinIDs(all))
	return w.err
}

// loadModel opens the backend and loads the model.
func loadModel(mf modelFlags) (*model.Model, kernels.Backend, error) {
	be, err := openBackend(*mf.device, *mf.threads)
	if err != nil {
		return nil, nil, err
	}
	m, err := model.LoadFrozen(*mf.dir, be)
	if err != nil {
		return nil, nil, err
	}
	return m, be, nil
}

// inputIDs returns the ids from --ids or the tokenised --prompt (then also
// the tokenizer, for decoding).
func inputIDs(dir, idsFlag, prompt string, fs *flag.FlagSet) ([]int32, *tokenizer.Tokenizer, error) {
	promptSet := false
	fs.Visit(func(f *flag.Flag) { promptSet = promptSet || f.Name == "prompt" })
	switch {
	case idsFlag != "" && promptSet:
		return nil, nil, errors.New("--ids and --prompt exclude each other")
	case idsFlag != "":
		ids, err := parseIDList("--ids", idsFlag)
		return ids, nil, err
	case promptSet:
		if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err != nil {
			return nil, nil, fmt.Errorf("--prompt needs %s: %w", filepath.Join(dir, "tokenizer.json"), err)
		}
		tok, err := tokenizer.LoadDir(dir)
		if err != nil {
			return nil, nil, err
		}
		return tok.Encode(prompt), tok, nil
	}
	return nil, nil, errors.New("give --ids or --prompt")
}

// parseIDList reads "1,2,3", "1 2 3" or "[1, 2, 3]".
func parseIDList(flagName, s string) ([]int32, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '[' || r == ']' || r == '\n' || r == '\t'
	})
	ids := make([]int32, 0, len(fields))
	for _, f := range fields {
		v, err := strconv.ParseInt(f, 10, 32)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("%s: %q is not a token id", flagName, f)
		}
		ids = append(ids, int32(v))
	}
	return ids, nil
}

// eosIDs reads eos_token_id from generation_config.json, else the config.
func eosIDs(dir string, cfg *model.Config) ([]int32, error) {
	var out []int32
	data, err := os.ReadFile(filepath.Join(dir, "generation_config.json"))
	if err == nil {
		var gc struct {
			EOS json.RawMessage `json:"eos_token_id"`
		}
		if err := json.Unmarshal(data, &gc); err != nil {
			return nil, fmt.Errorf("generation_config.json: %w", err)
		}
		var one int32
		var list []int32
		switch {
		case len(gc.EOS) == 0 || string(gc.EOS) == "null":
		case json.Unmarshal(gc.EOS, &one) == nil:
			return []int32{one}, nil
		case json.Unmarshal(gc.EOS, &list) == nil:
			return list, nil
		default:
			return nil, fmt.Errorf("generation_config.json: eos_token_id %s is not an id or a list of ids", gc.EOS)
		}
	}
	for _, id := range cfg.EOSTokenIDs {
		out = append(out, int32(id))
	}
	return out, nil
}

func joinIDs(ids []int32) string {
	s := make([]string, len(ids))
	for i, v := range ids {
		s[i] = strconv.Itoa(int(v))
	}
	return strings.Join(s, ",")
}

func archTitle(c *model.Config) string {
	return c.HFArchitecture()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// commas formats 1234567 as 1,234,567.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// human formats a count as 1.5M, 0.6B.
func human(x float64) string {
	switch {
	case x >= 1e9:
		return fmt.Sprintf("%.2fB", x/1e9)
	case x >= 1e6:
		return fmt.Sprintf("%.2fM", x/1e6)
	case x >= 1e3:
		return fmt.Sprintf("%.1fK", x/1e3)
	}
	return fmt.Sprintf("%.0f", x)
}

func bytesStr(n int64) string {
	const ki = 1024.0
	x := float64(n)
	switch {
	case x >= ki*ki*ki:
		return fmt.Sprintf("%.2f GiB", x/(ki*ki*ki))
	case x >= ki*ki:
		return fmt.Sprintf("%.2f MiB", x/(ki*ki))
	case x >= ki:
		return fmt.Sprintf("%.1f KiB", x/ki)
	}
	return fmt.Sprintf("%d B", n)
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
