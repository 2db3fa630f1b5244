// Package train runs sdzero's training phases on one shared machinery:
// SD-Zero's self-revision training (srt-collect, srt) and on-policy
// self-distillation (distill), and the baselines sft, rft, grpo and sdft.
// Every phase uses the same prompt building (Prompter), rollout (Rollout),
// verification (Verifier), micro-batched forward/backward, AdamW step,
// metrics log and atomic checkpoints, so that runs can be compared at equal
// sample budget and resumed bit-exactly.
//
// Programmatic use:
//
//	cfg := train.DefaultConfig()
//	cfg.Phase, cfg.Model, cfg.Data.Train, cfg.Out = "distill", "runs/srt/final", "train.jsonl", "runs/sdzero"
//	res, err := train.Run(ctx, cfg, train.Options{Backend: be, Out: os.Stderr})
//	// after an interruption (res.Interrupted):
//	res, err = train.Resume(ctx, res.RunDir, train.Options{Backend: be})
//
// # Sequences and losses
//
// x = chat(question + prompt.suffix) rendered by the model's chat template
// with the generation prompt; y = a sampled response including its stop id
// (<|im_end|> or EOS) when it stopped; y' = y without that stop id; delim =
// ids("\n\n" + P_r + "\n\n") with P_r from RevisionPrompt (byte-identical in
// every phase). Token j of a sequence is predicted at position j-1.
//
//   - sft: x + ids(solution) + end; CE on the assistant tokens, mean over
//     the batch's tokens.
//   - srt-collect: per problem n_init attempts y_init from x, then n_rev
//     revisions sampled after x + y_init' + delim(r); revisions that verify
//     correct are kept, de-duplicated on (problem, y_init, y_rev), written as
//     SRTTuple JSON lines, until srt_collect.target.
//   - srt: one sequence x + y_init' + delim + y_rev (+ end); L = L_rev +
//     L_gen where L_rev = sum of -log p over y_rev+EOS tokens / their count
//     in the batch (tuples selected by srt.revision_mask, default all) and
//     L_gen = the same over the whole assistant turn
//     y_init' + delim + y_rev + EOS (srt.generation_mask "turn"; "revision"
//     restricts it to y_rev + EOS). srt.mode two-stage uses L_rev for the first stage_split of the
//     steps and L_gen afterwards.
//   - distill (SD-Zero): student x + y, teacher (frozen copy of the initial
//     model, synced every distill.teacher_sync_every steps)
//     x + y' + delim(r) + y; the teacher's distributions at the positions predicting the
//     second copy of y are the targets at the student's positions predicting
//     y (every token of y, EOS included). D per token is kernels' Distill
//     (default 0.5 forward + 0.5 reverse KL over the teacher's top-64 ids,
//     renormalised); L = sum D / tokens in the batch. Teacher inputs over
//     distill.teacher_max_len keep the first (budget-|x|-|delim|)/2 tokens
//     of y for both; samples that still do not fit get weight 0 (dropped).
//   - sdft: as distill with teacher input chat(sdft.demo_template(question,
//     solution)) + y, full-vocabulary reverse KL, and an EMA teacher.
//   - rft: per round, k samples for each round's prompts; the correct ones
//     (de-duplicated) become SFT data for the round's steps.
//   - grpo: group_size samples per prompt, A = (r - mean)/(std + eps) per
//     group (sample std); L = sum over response tokens of -min(ratio*A,
//     clip(ratio, 1-clip_low, 1+clip_high)*A) + kl_coef*k3(ref) divided by
//     the batch's response tokens (DAPO token mean). The gradient goes
//     through CrossEntropy with per-token weight -dL/dlogp.
//
// # Run directory
//
//	RUN/config.yaml         resolved config (Resume uses it)
//	RUN/metrics.jsonl       one JSON object per step (keys: see Metrics)
//	RUN/srt_data.jsonl      srt-collect output (default path)
//	RUN/final/              exported model (HF layout + tokenizer files)
//	RUN/checkpoints/latest  name of the newest complete checkpoint
//	RUN/checkpoints/step-N/ model/ (F32), optim.safetensors (AdamW M, V),
//	                        trainer.json (step, RNG, sampler, counters, config
//	                        hash, file checksums), teacher/ when the teacher's
//	                        weights differ from both the initial and the
//	                        student model, rft_round.jsonl (rft)
//
// Checkpoints are written into a temp directory, renamed into place, and
// only then named by latest; a failed save leaves the previous checkpoint
// and latest untouched. Resume checks every file's size and CRC-32C, the
// config hash, the phase and the data size, and fails with an error naming
// what does not match.
package train
