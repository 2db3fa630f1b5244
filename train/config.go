package train

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"

	"sdzero/kernels"
	"sdzero/model"
)

// The phases Run accepts.
const (
	PhaseSFT        = "sft"
	PhaseSRTCollect = "srt-collect"
	PhaseSRT        = "srt"
	PhaseDistill    = "distill"
	PhaseRFT        = "rft"
	PhaseGRPO       = "grpo"
	PhaseSDFT       = "sdft"
)

// Phases lists every phase name, in the order of the method.
var Phases = []string{PhaseSRTCollect, PhaseSRT, PhaseDistill, PhaseSFT, PhaseRFT, PhaseGRPO, PhaseSDFT}

// Config holds every knob of a training run. Its YAML (or TOML) form is
// the run file; DefaultConfig gives the defaults of the method spec, which
// a file only needs to override. The resolved config is saved as
// RUN/config.yaml and a resumed run uses exactly that.
type Config struct {
	// Phase is the method to run: "srt-collect", "srt", "distill", "sft",
	// "rft", "grpo" or "sdft" (docs/method.md says what each does).
	Phase string `yaml:"phase" toml:"phase"`
	// Model is the Hugging Face model directory to start from (config.json
	// and safetensors weights).
	Model string `yaml:"model" toml:"model"`
	// Tokenizer is the directory holding tokenizer.json and
	// tokenizer_config.json (chat template); empty means Model.
	Tokenizer string `yaml:"tokenizer" toml:"tokenizer"`
	// Out is the run directory: created, and it must not hold a previous
	// run (one left by a start that failed is started again).
	Out string `yaml:"out" toml:"out"`
	// Seed seeds every random stream of the run (data order, sampling).
	Seed uint64 `yaml:"seed" toml:"seed"`
	// Device names the backend: "auto" (the default), "cuda" or "cpu".
	// "auto" runs on the GPU when one is present and the CUDA backend
	// passes its start-up self-check against the CPU, else on the CPU; the
	// run's header line says which and why. "cuda" insists on the GPU (an
	// error without one), "cpu" stays on the CPU. Used by the CLI.
	Device string `yaml:"device" toml:"device"`
	// Threads is the CPU backend's thread count (0 = all cores); the GPU
	// backend ignores it.
	Threads int `yaml:"threads" toml:"threads"`
	// Precision is the models' compute precision: "auto", "fp32" or
	// "bf16". "bf16" is mixed precision (F32 master weights and optimiser
	// state, BF16 matmuls; the backend must support BF16); "auto" (or
	// empty) is bf16 where the backend supports it, else fp32.
	Precision string `yaml:"precision" toml:"precision"`

	// Data selects the problems; Prompt how they are rendered.
	Data   DataConfig   `yaml:"data" toml:"data"`
	Prompt PromptConfig `yaml:"prompt" toml:"prompt"`
	// Optim is AdamW and the schedule; Train the shared loop.
	Optim OptimConfig `yaml:"optim" toml:"optim"`
	Train LoopConfig  `yaml:"train" toml:"train"`
	// Rollout is student sampling; Verify the reward.
	Rollout RolloutConfig `yaml:"rollout" toml:"rollout"`
	Verify  VerifyConfig  `yaml:"verify" toml:"verify"`
	// Collect, SRT, Distill, RFT, GRPO and SDFT are the phases' knobs.
	Collect CollectConfig `yaml:"srt_collect" toml:"srt_collect"`
	SRT     SRTConfig     `yaml:"srt" toml:"srt"`
	Distill DistillConfig `yaml:"distill" toml:"distill"`
	RFT     RFTConfig     `yaml:"rft" toml:"rft"`
	GRPO    GRPOConfig    `yaml:"grpo" toml:"grpo"`
	SDFT    SDFTConfig    `yaml:"sdft" toml:"sdft"`
	// Eval is the optional held-out evaluation during training.
	Eval EvalConfig `yaml:"eval" toml:"eval"`
	// Log is what a run writes for people to read besides metrics.jsonl.
	Log LogConfig `yaml:"log" toml:"log"`
}

// LogConfig selects the sample log of a run. It changes what is written,
// never what is trained: it is not part of the config hash, so a resume
// accepts any value.
type LogConfig struct {
	// RolloutsEvery appends sample rollouts to RUN/rollouts.jsonl every N
	// steps (default 10; 0 = off). They show what the model generates
	// while it trains. Each line is one sample: step, phase, problem id,
	// prompt, response, reward and the verifier's reason; for distill and
	// sdft also the per-token divergence to the teacher on the response
	// (mean, max and the response position of the max). Phases that
	// generate nothing (sft, srt) write no rollouts.
	RolloutsEvery int `yaml:"rollouts_every" toml:"rollouts_every"`
	// RolloutsSamples is the number of samples logged per logged step
	// (default 4). They are the first ones of the step's rollout, so that a
	// reader sees the same prompts' groups side by side.
	RolloutsSamples int `yaml:"rollouts_samples" toml:"rollouts_samples"`
}

// EvalConfig evaluates the student on held-out problems during training.
// It samples greedily by default and logs eval_accuracy and
// eval_response_len in the metrics of the steps it runs after. It reads its file with the data
// section's field options and renders prompts as training does.
type EvalConfig struct {
	// Data is a problem file of the same kind as data.train (empty = off).
	Data string `yaml:"data" toml:"data"`
	// Every runs the evaluation every N steps (trainer steps, as
	// train.steps counts them) and after the last step.
	Every int `yaml:"every" toml:"every"`
	// Limit keeps the first Limit problems (0 = all).
	Limit int `yaml:"limit" toml:"limit"`
	// Temperature of the evaluation samples (0 = greedy). One sample per
	// problem, at most rollout.max_new_tokens tokens, whatever the phase.
	Temperature float64 `yaml:"temperature" toml:"temperature"`
}

// DataConfig selects the training problems (docs/data.md: formats and
// field mapping). srt reads srt.data instead; eval.data is read with the
// same field options.
// Phases: srt-collect, distill, sft, rft, grpo, sdft.
type DataConfig struct {
	// Train is the problem file: JSONL (one JSON object a line) or Parquet.
	// Rows may be plain (question/answer/solution), chat messages, verl's
	// layout or the Hugging Face GSM8K, MATH and code layouts.
	Train string `yaml:"train" toml:"train"`
	// Kind is "math" (rewarded by the final answer, data/verify) or "code"
	// (rewarded by running the row's tests in the sandbox).
	Kind string `yaml:"kind" toml:"kind"`
	// QuestionField names the question field (dots reach nested fields:
	// "extra_info.question"). Empty = the first present of "question",
	// "problem", "prompt" (code: "prompt", "question", "problem", "text").
	QuestionField string `yaml:"question_field" toml:"question_field"`
	// AnswerField names the final-answer field (empty = "answer"). A value
	// with a GSM8K "#### x" marker counts as a worked solution whose
	// answer is x.
	AnswerField string `yaml:"answer_field" toml:"answer_field"`
	// SolutionField names the worked-solution field (empty = "solution"):
	// the demonstration of sft and sdft. Without an answer field the answer
	// is read from it (after the last "####", else the last \boxed{}).
	SolutionField string `yaml:"solution_field" toml:"solution_field"`
	// Limit keeps only the first Limit problems (0 = all).
	Limit int `yaml:"limit" toml:"limit"`
	// SkipMalformed skips bad records instead of failing on the first one;
	// the load summary counts them and names the first few.
	SkipMalformed bool `yaml:"skip_malformed" toml:"skip_malformed"`

	// SplitFrom is the start of the kept slice, as a fraction of the
	// problems. SplitFrom and SplitTo keep the problems at positions
	// [SplitFrom*N, SplitTo*N) of the N problems (after Limit), in file
	// order or, when SplitSeed is not 0, in an order permuted by SplitSeed.
	// Two phases given the same seed and complementary ranges get disjoint
	// problem sets, as the paper's N1 (srt-collect) / N2 (distill) split:
	// e.g. split_to 0.5 for srt-collect and split_from 0.5 for distill.
	SplitFrom float64 `yaml:"split_from" toml:"split_from"`
	// SplitTo is the end of the kept slice, as a fraction of the problems
	// (1 = to the end); see SplitFrom.
	SplitTo float64 `yaml:"split_to" toml:"split_to"`
	// SplitSeed permutes the problems before the split (0 = file order);
	// give complementary splits the same seed. See SplitFrom.
	SplitSeed uint64 `yaml:"split_seed" toml:"split_seed"`
}

// PromptConfig says how problems become token ids and how the reviser is
// prompted.
type PromptConfig struct {
	// System is an optional system message (empty = none, or the chat
	// template's own default). srt uses the prompts stored by srt-collect.
	System string `yaml:"system" toml:"system"`
	// Suffix is appended to every question in the user message. The
	// default asks for a \boxed{} final answer, which the math verifier
	// reads; srt uses the prompts stored by srt-collect.
	Suffix string `yaml:"suffix" toml:"suffix"`
	// EnableThinking is passed to chat templates that support it (Qwen3:
	// true lets the model open a <think> block).
	EnableThinking bool `yaml:"enable_thinking" toml:"enable_thinking"`
	// RevisionVariant selects the reviser phrase P_r for a wrong attempt.
	// "paper" is "Wait, this response is not correct, let me start over.",
	// "official" is "Wait, this response is wrong. Let me correct it."
	// Phases: srt-collect, distill.
	RevisionVariant string `yaml:"revision_variant" toml:"revision_variant"`
	// RevisionCorrect replaces the reviser phrase for a correct attempt
	// (empty = "Let me rephrase the above solution.").
	// Phases: srt-collect, distill.
	RevisionCorrect string `yaml:"revision_correct" toml:"revision_correct"`
	// RevisionWrong replaces the reviser phrase for a wrong attempt (empty
	// = the revision_variant's text).
	// Phases: srt-collect, distill.
	RevisionWrong string `yaml:"revision_wrong" toml:"revision_wrong"`
	// StopTokens end a generated turn; the first one found in the
	// vocabulary also ends demonstrations (SFT targets). Token strings
	// missing from the vocabulary are ignored; the model's EOS ids are
	// always added.
	StopTokens []string `yaml:"stop_tokens" toml:"stop_tokens"`
}

// OptimConfig configures AdamW and the learning-rate schedule.
// srt-collect trains nothing and ignores it.
// Phases: srt, distill, sft, rft, grpo, sdft.
type OptimConfig struct {
	// LR is the peak learning rate, reached after the warm-up.
	LR float64 `yaml:"lr" toml:"lr"`
	// MinLR is the learning rate at the end of a cosine or linear decay.
	MinLR float64 `yaml:"min_lr" toml:"min_lr"`
	// WeightDecay is AdamW's decoupled weight decay, as in
	// torch.optim.AdamW (see decay_norms_and_biases).
	WeightDecay float64 `yaml:"weight_decay" toml:"weight_decay"`
	// Beta1 is AdamW's first-moment decay rate.
	Beta1 float64 `yaml:"beta1" toml:"beta1"`
	// Beta2 is AdamW's second-moment decay rate.
	Beta2 float64 `yaml:"beta2" toml:"beta2"`
	// Eps is added to AdamW's denominator.
	Eps float64 `yaml:"eps" toml:"eps"`
	// GradClip is the global gradient-norm clip (0 = none).
	GradClip float64 `yaml:"grad_clip" toml:"grad_clip"`
	// Schedule is the learning-rate shape after warm-up: "cosine", "linear",
	// "constant" or "" (cosine for sft, srt, rft; constant otherwise). Cosine
	// and linear decay from lr to min_lr; the on-policy phases (distill,
	// grpo, sdft) default to a constant rate.
	Schedule string `yaml:"schedule" toml:"schedule"`
	// WarmupSteps is the linear warm-up to lr, in optimizer steps; negative
	// (the default -1) means warmup_ratio x the run's optimizer steps. The
	// optimizer steps of grpo are steps x grpo.updates; the result is
	// rounded; 0 = no warm-up.
	WarmupSteps int `yaml:"warmup_steps" toml:"warmup_steps"`
	// WarmupRatio is the warm-up as a fraction of the optimizer steps,
	// used only when warmup_steps is negative.
	WarmupRatio float64 `yaml:"warmup_ratio" toml:"warmup_ratio"`
	// DecayNormsAndBiases applies weight decay to norm weights and biases
	// too, as PyTorch does with one parameter group (false exempts them).
	DecayNormsAndBiases bool `yaml:"decay_norms_and_biases" toml:"decay_norms_and_biases"`
}

// LoopConfig configures the optimisation loop shared by all phases.
type LoopConfig struct {
	// Steps is the run's length in trainer steps (srt-collect: prompt
	// batches; 0 = epochs passes over the data). A grpo step makes
	// grpo.updates optimizer steps; rft ignores it (rft.rounds x
	// rft.steps_per_round).
	Steps int `yaml:"steps" toml:"steps"`
	// Epochs is the number of passes over the data when steps is 0. A
	// pass is over the demonstrations (sft), tuples (srt), prompts
	// (distill, grpo, sdft) or each round's prompts (rft); srt-collect
	// makes one pass.
	Epochs int `yaml:"epochs" toml:"epochs"`
	// BatchSize is per step: sequences in sft, srt, rft; prompts in
	// distill, sdft, grpo, srt-collect (x rollout.n, grpo.group_size samples).
	// In detail: demonstrations for sft, tuples for srt and kept samples
	// for rft; prompts for distill and sdft (each with rollout.n samples),
	// grpo (each a group of grpo.group_size samples) and srt-collect
	// (prompts per batch, each with srt_collect.n_init attempts).
	BatchSize int `yaml:"batch_size" toml:"batch_size"`
	// MicroBatch is the number of sequences per forward/backward. A step
	// accumulates the gradients of its micro-batches, so it sets memory,
	// not the result.
	MicroBatch int `yaml:"micro_batch" toml:"micro_batch"`
	// MaxSeqLen bounds every student sequence (prompt + response), in
	// tokens. Phases that generate keep prompts of at most max_seq_len -
	// rollout.max_new_tokens tokens; sft keeps demonstrations of at most
	// max_seq_len; what is dropped is counted and reported.
	MaxSeqLen int `yaml:"max_seq_len" toml:"max_seq_len"`
	// Recompute trades compute for memory (activation checkpointing). It
	// keeps only each layer's input between the forward and the backward and
	// recomputes the rest: about a third more compute for a fraction of the
	// activation memory, with identical results. For models whose
	// activations do not fit.
	Recompute bool `yaml:"recompute" toml:"recompute"`
	// CheckpointEvery saves a checkpoint every N steps (0 = only at the
	// end and on interrupt); a resume continues from the last one.
	CheckpointEvery int `yaml:"checkpoint_every" toml:"checkpoint_every"`
	// KeepCheckpoints is how many of the newest checkpoints are kept
	// (>= 1); older ones are deleted.
	KeepCheckpoints int `yaml:"keep_checkpoints" toml:"keep_checkpoints"`
	// LogEvery prints a plain progress line every N steps when the output
	// is not a terminal.
	LogEvery int `yaml:"log_every" toml:"log_every"`
	// MaxNonFinite stops the run (state saved) after this many steps in a
	// row were skipped for NaN/Inf loss or gradients.
	MaxNonFinite int `yaml:"max_nonfinite" toml:"max_nonfinite"`
	// FinalDType is the dtype of the final model export (RUN/final): "f32"
	// or "bf16" (half the size, as Hugging Face checkpoints ship).
	FinalDType string `yaml:"final_dtype" toml:"final_dtype"`
}

// RolloutConfig configures sampling from the student. sft and srt
// generate nothing and ignore it (the held-out eval, eval.data, uses
// max_new_tokens in every phase).
// Phases: srt-collect, distill, rft, grpo, sdft.
type RolloutConfig struct {
	// N is the number of samples per prompt in distill and sdft (rft uses
	// rft.k, grpo grpo.group_size, srt-collect srt_collect.n_init/n_rev).
	// Phases: distill, sdft.
	N int `yaml:"n" toml:"n"`
	// MaxNewTokens bounds a response, in tokens; a response cut there is
	// unfinished (and usually wrong). Prompts must fit in train.max_seq_len
	// - max_new_tokens.
	MaxNewTokens int `yaml:"max_new_tokens" toml:"max_new_tokens"`
	// Temperature is the sampling temperature (0 = greedy).
	Temperature float64 `yaml:"temperature" toml:"temperature"`
	// TopP is nucleus sampling's probability mass (1 = off).
	TopP float64 `yaml:"top_p" toml:"top_p"`
	// TopK samples from the K most likely tokens only (0 = off).
	TopK int `yaml:"top_k" toml:"top_k"`
	// GenBatch bounds the rows (sequences) of one Generate call, and with
	// them the KV-cache memory; it changes speed, not samples.
	GenBatch int `yaml:"gen_batch" toml:"gen_batch"`
}

// VerifyConfig configures the reward: the math verifier, or the code
// sandbox (docs/sandbox.md) for data.kind code. The held-out eval uses it
// in every phase.
// Phases: srt-collect, distill, rft, grpo, sdft.
type VerifyConfig struct {
	// Workers bounds parallel verifications (0 = number of CPUs); for
	// code it is lowered to what memory_mb allows.
	Workers int `yaml:"workers" toml:"workers"`
	// TestTimeoutS is the wall-clock limit of one code test run, in
	// seconds (code datasets only).
	TestTimeoutS float64 `yaml:"test_timeout_s" toml:"test_timeout_s"`
	// CompileTimeoutS is the limit of one C++ compile, in seconds (code
	// datasets only).
	CompileTimeoutS float64 `yaml:"compile_timeout_s" toml:"compile_timeout_s"`
	// MemoryMB is the memory limit of one sandboxed program, in MiB (code
	// datasets only).
	MemoryMB int `yaml:"memory_mb" toml:"memory_mb"`
	// Python is the interpreter command for .py tests (empty = python3 on
	// PATH).
	Python string `yaml:"python" toml:"python"`
	// Gxx is the C++ compiler for C++ tests (empty = g++ on PATH).
	Gxx string `yaml:"gxx" toml:"gxx"`
	// AllowUnisolatedCode runs code rewards without namespace isolation.
	// Where the sandbox has none this gives up filesystem, process and
	// whole-sample memory isolation (see docs/sandbox.md); without it such a
	// machine refuses code datasets.
	AllowUnisolatedCode bool `yaml:"allow_unisolated_code" toml:"allow_unisolated_code"`
}

// CollectConfig configures srt-collect: sample attempts, revise them with
// the reviser phrase, keep verified-correct revisions as SRT tuples.
// Phases: srt-collect.
type CollectConfig struct {
	// NInit is the number of attempts y_init sampled per problem.
	NInit int `yaml:"n_init" toml:"n_init"`
	// NRev is the number of revisions y_rev sampled per revised attempt.
	NRev int `yaml:"n_rev" toml:"n_rev"`
	// Target stops collection after this many kept tuples (0 = one pass
	// over the problems, or train.steps prompt batches).
	Target int `yaml:"target" toml:"target"`
	// Output is the JSONL file of tuples (empty = RUN/srt_data.jsonl).
	Output string `yaml:"output" toml:"output"`

	// Revise selects the attempts that are revised: "wrong" (reward-0 only)
	// or "both" (correct ones are rephrased too). "wrong" is the official
	// code's default, "both" what the paper describes. Default "wrong".
	Revise string `yaml:"revise" toml:"revise"`
	// TrimRepeats cuts a revision's looping tail to one copy (0 = off). A
	// tail is at least TrimRepeats consecutive copies of a block of 1 to 64
	// tokens, covering at least 16 tokens, at the revision's end. Default 4.
	// Cleaned revisions are verified again (official cleaning).
	TrimRepeats int `yaml:"trim_repeats" toml:"trim_repeats"`
	// StripOpenings removes a revision's sycophantic opening ("You're
	// right", "I apologize", ...) before it is kept. The phrases are
	// train.SycophanticOpenings (official cleaning). Default true.
	StripOpenings bool `yaml:"strip_openings" toml:"strip_openings"`
	// Dedupe selects how kept tuples are de-duplicated: "tuple", "revision"
	// or "none". "tuple" keys on (x, y_init, y_rev; the method spec),
	// "revision" on (x, y_rev: one copy of each distinct revision of a
	// problem). Default "tuple".
	Dedupe string `yaml:"dedupe" toml:"dedupe"`
}

// SRTConfig configures self-revision training on collected tuples. It is
// supervised training on x + y_init + P_r + y_rev that teaches the model
// to revise (revision loss) and to answer (generation loss).
// Phases: srt.
type SRTConfig struct {
	// Data is the JSONL of tuples written by srt-collect
	// (srt_collect.output; default RUN/srt_data.jsonl of that run).
	Data string `yaml:"data" toml:"data"`
	// Mode is "joint" (both losses in every step) or "two-stage" (one loss,
	// then the other: stage_split, stage_order). "joint" adds L_rev and
	// L_gen in every step (each averaged over its own tokens); "two-stage"
	// trains one loss for the first stage_split of the steps and the other
	// for the rest, in stage_order.
	Mode string `yaml:"mode" toml:"mode"`
	// StageSplit is the fraction of the steps in the first stage
	// (two-stage mode only).
	StageSplit float64 `yaml:"stage_split" toml:"stage_split"`
	// RevisionMask selects the tuples whose y_rev+EOS carry the revision
	// loss: "all", "correct-init", "wrong-init" or "none".
	RevisionMask string `yaml:"revision_mask" toml:"revision_mask"`
	// GenerationMask selects the generation-loss tokens: "turn", "revision"
	// or "none". "turn" is the whole assistant turn
	// (y_init+delimiter+y_rev+EOS), "revision" only y_rev+EOS.
	GenerationMask string `yaml:"generation_mask" toml:"generation_mask"`

	// GenerationTuples selects the tuples that carry the generation loss:
	// "wrong-init", "all" or "correct-init". "wrong-init" (tuples whose
	// y_init was wrong) is the official recipe. Default "wrong-init".
	GenerationTuples string `yaml:"generation_tuples" toml:"generation_tuples"`
	// StageOrder is two-stage's order: "generation-first" (generation
	// loss, then revision loss; the official code) or "revision-first".
	// Default "generation-first".
	StageOrder string `yaml:"stage_order" toml:"stage_order"`
}

// DistillConfig configures SD-Zero's on-policy self-distillation. The
// teacher is the model itself shown its own sample and the reviser phrase
// of the sample's reward; the student is trained toward the teacher's
// next-token distributions on the sample.
// Phases: distill.
type DistillConfig struct {
	// TeacherSyncEvery copies the student into the teacher every N steps
	// (0 = frozen teacher).
	TeacherSyncEvery int `yaml:"teacher_sync_every" toml:"teacher_sync_every"`
	// Divergence is the per-token loss: "mixed", "reverse" or "forward".
	// "mixed" is ForwardWeight x forward + (1 - ForwardWeight) x reverse KL
	// over the teacher's TopK ids; "reverse" and "forward" use the full
	// vocabulary.
	Divergence string `yaml:"divergence" toml:"divergence"`
	// TopK is the number of the teacher's most likely ids the mixed
	// divergence is computed over.
	TopK int `yaml:"top_k" toml:"top_k"`
	// ForwardWeight is the forward-KL share of the mixed divergence, in
	// [0, 1].
	ForwardWeight float64 `yaml:"forward_weight" toml:"forward_weight"`
	// Temperature divides both models' logits before the divergence.
	Temperature float64 `yaml:"temperature" toml:"temperature"`
	// TeacherMaxLen is the teacher's input budget in tokens (prompt,
	// sample, reviser phrase, sample again; 0 = 2 x train.max_seq_len).
	TeacherMaxLen int `yaml:"teacher_max_len" toml:"teacher_max_len"`

	// The start check and the collapse guards (train/guard.go,
	// docs/method.md "Distillation start check and collapse guards").

	// ReadinessProblems is the number of problems of the start check (0 =
	// off). At the start of a new distill run the cheap part of the
	// readiness check (sdzero readiness without the token analysis) runs
	// on this many training problems, with ReadinessSamples attempts each.
	// Its samples come from a seed of their own and do not count in
	// samples_generated.
	ReadinessProblems int `yaml:"readiness_problems" toml:"readiness_problems"`
	// ReadinessSamples is the number of attempts per problem of the start
	// check (at least 2).
	ReadinessSamples int `yaml:"readiness_samples" toml:"readiness_samples"`
	// GuardWindow is the collapse guards' averaging window, in steps (0 =
	// guards off). The first window gives the start values, the last the
	// current ones; the guards are judged from step 2 x GuardWindow on.
	GuardWindow int `yaml:"guard_window" toml:"guard_window"`
	// GuardRewardDrop fires the reward guard when the windowed training
	// reward falls below (1 - GuardRewardDrop) x its start value (0 = off).
	GuardRewardDrop float64 `yaml:"guard_reward_drop" toml:"guard_reward_drop"`
	// GuardErrorGrowth fires an error guard when one error type grows this
	// many times over (0 = off). That is when the first-error count of one
	// error type (train.ErrorType; only where the problems have worked
	// solutions) in the last window exceeds GuardErrorGrowth x its count
	// in the first window and is at least GuardMinErrors.
	GuardErrorGrowth float64 `yaml:"guard_error_growth" toml:"guard_error_growth"`
	// GuardMinErrors is the least count of one error type in the last
	// window for the error guard to fire (small counts are noise).
	GuardMinErrors int `yaml:"guard_min_errors" toml:"guard_min_errors"`
	// GuardStop stops the run when a guard fires (false only warns). The
	// best model seen (the highest windowed training reward, saved as
	// RUN/best while the run goes) is then exported as the final model.
	GuardStop bool `yaml:"guard_stop" toml:"guard_stop"`
	// TeacherFeedback is what the teacher is told: "reward" (the method),
	// or the controls "blind" and "wrong". "reward" (default) gives P_r of
	// the verified reward; the others are controls that show what the
	// reward is worth: "blind" (the r=1 phrase for every sample: a
	// reward-blind teacher, which can only copy) or "wrong" (the r=0
	// phrase for every sample).
	TeacherFeedback string `yaml:"teacher_feedback" toml:"teacher_feedback"`
}

// RFTConfig configures rejection-sampling fine-tuning: sample, keep the
// verified-correct samples, fine-tune on them, repeat per round.
// Phases: rft.
type RFTConfig struct {
	// K is the number of samples per prompt; the correct ones
	// (deduplicated) are kept.
	K int `yaml:"k" toml:"k"`
	// Rounds of collect-then-train; each round samples with the current
	// model.
	Rounds int `yaml:"rounds" toml:"rounds"`
	// PromptsPerRound limits the prompts sampled per round (0 = all).
	PromptsPerRound int `yaml:"prompts_per_round" toml:"prompts_per_round"`
	// StepsPerRound is the optimizer steps per round (0 = train.epochs x
	// the round's prompts / train.batch_size).
	StepsPerRound int `yaml:"steps_per_round" toml:"steps_per_round"`
}

// GRPOConfig configures the GRPO baseline (reinforcement learning with
// group-normalised rewards as advantages).
// Phases: grpo.
type GRPOConfig struct {
	// GroupSize is the number of samples per prompt; advantages are
	// rewards normalised within each group.
	GroupSize int `yaml:"group_size" toml:"group_size"`
	// ClipLow bounds the importance ratio below, at 1 - ClipLow.
	ClipLow float64 `yaml:"clip_low" toml:"clip_low"`
	// ClipHigh bounds the importance ratio above, at 1 + ClipHigh.
	ClipHigh float64 `yaml:"clip_high" toml:"clip_high"`
	// KLCoef weights the k3 KL estimate to the frozen initial model (0 =
	// none, and no reference model is kept).
	KLCoef float64 `yaml:"kl_coef" toml:"kl_coef"`
	// AdvEps is added to the group std of the advantages.
	AdvEps float64 `yaml:"adv_eps" toml:"adv_eps"`
	// Updates is the number of optimizer steps per rollout batch (mu);
	// old log-probs come from the rollout-time model.
	Updates int `yaml:"updates" toml:"updates"`

	// LogProbTemperature is the temperature of the log-probabilities:
	// "rollout" or "one". It applies to the current, old and reference
	// log-probabilities: "rollout" divides the logits by
	// rollout.temperature, as TRL and NeMo-RL do, so that the ratio and the
	// KL score the distribution the samples came from (1 for greedy
	// rollouts); "one" is temperature 1. Default "rollout".
	LogProbTemperature string `yaml:"logprob_temperature" toml:"logprob_temperature"`
	// DAPOClipHigher replaces clip_high by 0.28 (DAPOClipHigh: DAPO's
	// clip-higher). Default false.
	DAPOClipHigher bool `yaml:"dapo_clip_higher" toml:"dapo_clip_higher"`
	// DAPODynamicSampling drops groups with equal rewards (DAPO). Such
	// groups have zero advantage; more prompts are drawn until
	// train.batch_size groups remain, with at most DynamicSamplingMaxDraws
	// extra rollout batches per step (then the step trains on the groups
	// it has). Default false.
	DAPODynamicSampling bool `yaml:"dapo_dynamic_sampling" toml:"dapo_dynamic_sampling"`
	// DynamicSamplingMaxDraws bounds the extra rollout batches per step of
	// dapo_dynamic_sampling. Default 4.
	DynamicSamplingMaxDraws int `yaml:"dynamic_sampling_max_draws" toml:"dynamic_sampling_max_draws"`
}

// DAPOClipHigh is DAPO's upper clip bound eps_high (Yu et al. 2025).
const DAPOClipHigh = 0.28

// SDFTConfig configures the SDFT baseline (teacher = the model with the
// demonstration in context).
// Phases: sdft.
type SDFTConfig struct {
	// DemoTemplate builds the teacher's user message; {question} and
	// {solution} are replaced.
	DemoTemplate string `yaml:"demo_template" toml:"demo_template"`
	// EMARate moves the teacher toward the student after every step:
	// teacher = (1-EMARate)*teacher + EMARate*student (0 = frozen).
	EMARate float64 `yaml:"ema_rate" toml:"ema_rate"`
	// Divergence is the per-token loss, as distill.divergence (default
	// "reverse": full-vocabulary reverse KL).
	Divergence string `yaml:"divergence" toml:"divergence"`
	// TopK is as distill.top_k (mixed divergence only).
	TopK int `yaml:"top_k" toml:"top_k"`
	// ForwardWeight is as distill.forward_weight (mixed divergence only).
	ForwardWeight float64 `yaml:"forward_weight" toml:"forward_weight"`
	// Temperature divides both models' logits, as distill.temperature.
	Temperature float64 `yaml:"temperature" toml:"temperature"`
}

// Revision prompts P_r (method spec; byte-identical in every phase).
const (
	RevisionCorrectText       = "Let me rephrase the above solution."
	RevisionWrongPaperText    = "Wait, this response is not correct, let me start over."
	RevisionWrongOfficialText = "Wait, this response is wrong. Let me correct it."
)

// DefaultSDFTTemplate is SDFT's default teacher prompt.
const DefaultSDFTTemplate = "{question}\n\nThis is an example for a response to the question:\n{solution}\n\nNow answer with a response of your own, including the thinking process."

// DefaultConfig returns a config holding the method spec's defaults.
func DefaultConfig() *Config {
	return &Config{
		Phase:     PhaseDistill,
		Seed:      1,
		Device:    "auto",
		Precision: "auto",
		Data:      DataConfig{Kind: "math", SplitTo: 1},
		Prompt: PromptConfig{
			Suffix:          "\nPlease reason step by step, and put your final answer within \\boxed{}.",
			RevisionVariant: "paper",
			StopTokens:      []string{"<|im_end|>", "<|endoftext|>"},
		},
		Optim: OptimConfig{
			LR: 5e-6, WeightDecay: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8,
			GradClip: 1.0, WarmupSteps: -1, WarmupRatio: 0.05,
		},
		Train: LoopConfig{
			Epochs: 1, BatchSize: 16, MicroBatch: 4, MaxSeqLen: 2048,
			CheckpointEvery: 50, KeepCheckpoints: 2, LogEvery: 10, MaxNonFinite: 5,
			FinalDType: "f32",
		},
		Rollout: RolloutConfig{N: 1, MaxNewTokens: 1024, Temperature: 0.7, TopP: 1.0, GenBatch: 64},
		Verify:  VerifyConfig{TestTimeoutS: 5, CompileTimeoutS: 30, MemoryMB: 1024},
		Collect: CollectConfig{NInit: 1, NRev: 3, Revise: "wrong", TrimRepeats: 4, StripOpenings: true, Dedupe: "tuple"},
		SRT: SRTConfig{Mode: "joint", StageSplit: 0.5, RevisionMask: "all", GenerationMask: "turn",
			GenerationTuples: "wrong-init", StageOrder: "generation-first"},
		Distill: DistillConfig{Divergence: "mixed", TopK: 64, ForwardWeight: 0.5, Temperature: 1.0,
			ReadinessProblems: 32, ReadinessSamples: 4, GuardWindow: 5, GuardRewardDrop: 0.3, GuardErrorGrowth: 2, GuardMinErrors: 8,
			TeacherFeedback: "reward"},
		RFT: RFTConfig{K: 8, Rounds: 1},
		GRPO: GRPOConfig{GroupSize: 8, ClipLow: 0.2, ClipHigh: 0.2, AdvEps: 1e-6, Updates: 1,
			LogProbTemperature: "rollout", DynamicSamplingMaxDraws: 4},
		SDFT: SDFTConfig{DemoTemplate: DefaultSDFTTemplate, EMARate: 0.01, Divergence: "reverse", Temperature: 1.0},
		Log:  LogConfig{RolloutsEvery: 10, RolloutsSamples: 4},
	}
}

// LoadConfig reads a YAML (.yaml, .yml) or TOML (.toml) run file over the
// defaults. Unknown keys are errors naming the file.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	cfg := DefaultConfig()
	switch strings.ToLower(filepath.Ext(path)) {
	case ".toml":
		m, lines, err := parseTOMLLines(data)
		if err != nil {
			return nil, fmt.Errorf("TOML config %s: %w", path, err)
		}
		if err := decodeNode(tomlNode(m, lines, nil), reflect.ValueOf(cfg).Elem(), ""); err != nil {
			return nil, fmt.Errorf("TOML config %s: %w", path, err)
		}
	default:
		if err := decodeYAMLStrict(data, cfg); err != nil {
			return nil, fmt.Errorf("YAML config %s: %w", path, err)
		}
	}
	return cfg, nil
}

// decodeYAMLStrict decodes one YAML document over cfg (decodeNode: unknown
// keys and bad values are KeyErrors with their line).
func decodeYAMLStrict(data []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return errors.New("more than one YAML document (---); a run file is one")
	}
	return decodeNode(&doc, reflect.ValueOf(cfg).Elem(), "")
}

// Set overrides one knob by its dotted YAML path ("optim.lr=1e-5",
// "rollout.temperature=1", "prompt.stop_tokens=[a, b]"); the value is
// parsed as YAML, and a string knob takes a scalar's text as written
// ("--set model=123" is the string "123"; an empty value is ""). Unknown
// keys are errors that suggest the closest key.
func (c *Config) Set(kv string) error {
	key, val, ok := strings.Cut(kv, "=")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		return fmt.Errorf("--set %q: want key=value", kv)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(val), &doc); err != nil {
		return fmt.Errorf("--set %s: value %q: %w", key, val, err)
	}
	v := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		v = doc.Content[0]
		clearLines(v)
	}
	parts := strings.Split(key, ".")
	for i := len(parts) - 1; i >= 0; i-- {
		v = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map",
			Content: []*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!str", Value: parts[i]}, v}}
	}
	if err := decodeNode(v, reflect.ValueOf(c).Elem(), ""); err != nil {
		return fmt.Errorf("--set %s: %w", kv, err)
	}
	return nil
}

// Validate checks every knob and returns an error naming the first bad
// one.
func (c *Config) Validate() error {
	bad := func(key string, format string, a ...any) error {
		return fmt.Errorf("config: %s: %s", key, fmt.Sprintf(format, a...))
	}
	if err := c.validateBounds(); err != nil {
		return err
	}
	if err := c.Distill.validateGuards(); err != nil {
		return err
	}
	found := false
	for _, p := range Phases {
		found = found || p == c.Phase
	}
	if !found {
		return bad("phase", "%q is not one of %s", c.Phase, strings.Join(Phases, ", "))
	}
	if c.Model == "" {
		return bad("model", "required (a Hugging Face model directory)")
	}
	switch c.Precision {
	case "", "auto", "fp32", "bf16":
	default:
		return bad("precision", "%q is not auto, fp32 or bf16", c.Precision)
	}
	if c.Out == "" {
		return bad("out", "required (the run directory)")
	}
	switch c.Phase {
	case PhaseSRT:
		if c.SRT.Data == "" {
			return bad("srt.data", "required for phase srt (the JSONL written by srt-collect)")
		}
	default:
		if c.Data.Train == "" {
			return bad("data.train", "required for phase %s", c.Phase)
		}
	}
	if c.Data.Kind != "math" && c.Data.Kind != "code" {
		return bad("data.kind", "%q is not math or code", c.Data.Kind)
	}
	if c.Data.Limit < 0 {
		return bad("data.limit", "negative")
	}
	if !(c.Data.SplitFrom >= 0 && c.Data.SplitFrom < c.Data.SplitTo && c.Data.SplitTo <= 1) {
		return bad("data.split_from/split_to", "must satisfy 0 <= split_from < split_to <= 1, got %g and %g", c.Data.SplitFrom, c.Data.SplitTo)
	}
	if c.Prompt.RevisionVariant != "paper" && c.Prompt.RevisionVariant != "official" {
		return bad("prompt.revision_variant", "%q is not paper or official", c.Prompt.RevisionVariant)
	}
	o := c.Optim
	switch {
	case !(o.LR > 0):
		return bad("optim.lr", "must be > 0, got %g", o.LR)
	case o.MinLR < 0 || o.MinLR > o.LR:
		return bad("optim.min_lr", "must be in [0, lr], got %g", o.MinLR)
	case o.WeightDecay < 0:
		return bad("optim.weight_decay", "negative")
	case o.Beta1 < 0 || o.Beta1 >= 1:
		return bad("optim.beta1", "must be in [0,1), got %g", o.Beta1)
	case o.Beta2 < 0 || o.Beta2 >= 1:
		return bad("optim.beta2", "must be in [0,1), got %g", o.Beta2)
	case !(o.Eps > 0):
		return bad("optim.eps", "must be > 0")
	case o.GradClip < 0:
		return bad("optim.grad_clip", "negative")
	case o.WarmupRatio < 0 || o.WarmupRatio >= 1:
		return bad("optim.warmup_ratio", "must be in [0,1)")
	}
	switch o.Schedule {
	case "", "cosine", "linear", "constant":
	default:
		return bad("optim.schedule", "%q is not cosine, linear or constant", o.Schedule)
	}
	t := c.Train
	switch {
	case t.Steps < 0:
		return bad("train.steps", "negative")
	case t.Steps == 0 && t.Epochs <= 0 && c.Phase != PhaseSRTCollect:
		return bad("train.epochs", "must be > 0 when train.steps is 0")
	case t.BatchSize <= 0:
		return bad("train.batch_size", "must be > 0")
	case t.MicroBatch <= 0:
		return bad("train.micro_batch", "must be > 0")
	case t.MaxSeqLen < 8:
		return bad("train.max_seq_len", "must be >= 8, got %d", t.MaxSeqLen)
	case t.CheckpointEvery < 0:
		return bad("train.checkpoint_every", "negative")
	case t.KeepCheckpoints < 1:
		return bad("train.keep_checkpoints", "must be >= 1")
	case t.LogEvery < 1:
		return bad("train.log_every", "must be >= 1")
	case t.MaxNonFinite < 1:
		return bad("train.max_nonfinite", "must be >= 1")
	case t.FinalDType != "f32" && t.FinalDType != "bf16":
		return bad("train.final_dtype", "%q is not f32 or bf16", t.FinalDType)
	}
	r := c.Rollout
	switch {
	case r.N < 1:
		return bad("rollout.n", "must be >= 1")
	case r.MaxNewTokens < 1:
		return bad("rollout.max_new_tokens", "must be >= 1")
	case r.MaxNewTokens >= t.MaxSeqLen && (c.Generates() || c.Eval.Data != ""):
		// Only where something is generated: sft and srt use no rollout
		// limit (the held-out eval does).
		return bad("rollout.max_new_tokens", "%d leaves no room for the prompt in train.max_seq_len %d", r.MaxNewTokens, t.MaxSeqLen)
	case r.Temperature < 0:
		return bad("rollout.temperature", "negative")
	case !(r.TopP > 0 && r.TopP <= 1):
		return bad("rollout.top_p", "must be in (0,1], got %g", r.TopP)
	case r.TopK < 0:
		return bad("rollout.top_k", "negative")
	case r.GenBatch < 1:
		return bad("rollout.gen_batch", "must be >= 1")
	}
	if c.Eval.Data != "" && (c.Eval.Every < 1 || c.Eval.Limit < 0 || c.Eval.Temperature < 0) {
		return bad("eval", "every must be >= 1, limit >= 0 and temperature >= 0 when eval.data is set")
	}
	if c.Verify.Workers < 0 {
		return bad("verify.workers", "negative")
	}
	switch c.Phase {
	case PhaseSRTCollect:
		if c.Collect.NInit < 1 || c.Collect.NRev < 1 {
			return bad("srt_collect.n_init/n_rev", "must be >= 1")
		}
		if c.Collect.Target < 0 {
			return bad("srt_collect.target", "negative")
		}
		if c.Collect.Revise != "wrong" && c.Collect.Revise != "both" {
			return bad("srt_collect.revise", "%q is not wrong or both", c.Collect.Revise)
		}
		if c.Collect.TrimRepeats < 0 || c.Collect.TrimRepeats == 1 {
			return bad("srt_collect.trim_repeats", "must be 0 (off) or >= 2, got %d", c.Collect.TrimRepeats)
		}
		switch c.Collect.Dedupe {
		case "tuple", "revision", "none":
		default:
			return bad("srt_collect.dedupe", "%q is not tuple, revision or none", c.Collect.Dedupe)
		}
	case PhaseSRT:
		s := c.SRT
		if s.Mode != "joint" && s.Mode != "two-stage" {
			return bad("srt.mode", "%q is not joint or two-stage", s.Mode)
		}
		if s.Mode == "two-stage" && !(s.StageSplit > 0 && s.StageSplit < 1) {
			return bad("srt.stage_split", "must be in (0,1)")
		}
		switch s.RevisionMask {
		case "all", "correct-init", "wrong-init", "none":
		default:
			return bad("srt.revision_mask", "%q is not all, correct-init, wrong-init or none", s.RevisionMask)
		}
		switch s.GenerationMask {
		case "turn", "revision", "none":
		default:
			return bad("srt.generation_mask", "%q is not turn, revision or none", s.GenerationMask)
		}
		switch s.GenerationTuples {
		case "wrong-init", "all", "correct-init":
		default:
			return bad("srt.generation_tuples", "%q is not wrong-init, all or correct-init", s.GenerationTuples)
		}
		if s.StageOrder != "generation-first" && s.StageOrder != "revision-first" {
			return bad("srt.stage_order", "%q is not generation-first or revision-first", s.StageOrder)
		}
		if s.RevisionMask == "none" && s.GenerationMask == "none" {
			return bad("srt", "revision_mask and generation_mask are both none: nothing to train")
		}
	case PhaseDistill:
		d := c.Distill
		if err := validDivergence("distill", d.Divergence, d.TopK, d.ForwardWeight, d.Temperature); err != nil {
			return err
		}
		if d.TeacherSyncEvery < 0 {
			return bad("distill.teacher_sync_every", "negative")
		}
		if d.TeacherMaxLen != 0 && d.TeacherMaxLen < t.MaxSeqLen/2 {
			return bad("distill.teacher_max_len", "%d is too small (< max_seq_len/2)", d.TeacherMaxLen)
		}
	case PhaseRFT:
		if c.RFT.K < 1 || c.RFT.Rounds < 1 {
			return bad("rft.k/rounds", "must be >= 1")
		}
		if c.RFT.PromptsPerRound < 0 || c.RFT.StepsPerRound < 0 {
			return bad("rft.prompts_per_round/steps_per_round", "negative")
		}
	case PhaseGRPO:
		g := c.GRPO
		switch {
		case g.GroupSize < 2:
			return bad("grpo.group_size", "must be >= 2")
		case g.ClipLow < 0 || g.ClipLow >= 1 || g.ClipHigh < 0:
			return bad("grpo.clip_low/clip_high", "must satisfy 0 <= clip_low < 1 and clip_high >= 0")
		case g.KLCoef < 0:
			return bad("grpo.kl_coef", "negative")
		case !(g.AdvEps > 0):
			return bad("grpo.adv_eps", "must be > 0")
		case g.Updates < 1:
			return bad("grpo.updates", "must be >= 1")
		case g.LogProbTemperature != "rollout" && g.LogProbTemperature != "one":
			return bad("grpo.logprob_temperature", "%q is not rollout or one", g.LogProbTemperature)
		case g.DAPOClipHigher && g.ClipHigh != DefaultConfig().GRPO.ClipHigh && g.ClipHigh != DAPOClipHigh:
			return bad("grpo.dapo_clip_higher", "sets the upper clip to %g; clip_high %g contradicts it (set one of them)", DAPOClipHigh, g.ClipHigh)
		case g.DynamicSamplingMaxDraws < 0:
			return bad("grpo.dynamic_sampling_max_draws", "negative")
		}
	case PhaseSDFT:
		s := c.SDFT
		if err := validDivergence("sdft", s.Divergence, s.TopK, s.ForwardWeight, s.Temperature); err != nil {
			return err
		}
		if s.EMARate < 0 || s.EMARate > 1 {
			return bad("sdft.ema_rate", "must be in [0,1]")
		}
		if !strings.Contains(s.DemoTemplate, "{question}") || !strings.Contains(s.DemoTemplate, "{solution}") {
			return bad("sdft.demo_template", "must contain {question} and {solution}")
		}
	}
	return nil
}

func validDivergence(sec, div string, topK int, fw, temp float64) error {
	switch div {
	case "mixed", "reverse", "forward":
	default:
		return fmt.Errorf("config: %s.divergence: %q is not mixed, reverse or forward", sec, div)
	}
	if div == "mixed" && topK < 0 {
		return fmt.Errorf("config: %s.top_k: negative", sec)
	}
	if fw < 0 || fw > 1 {
		return fmt.Errorf("config: %s.forward_weight: must be in [0,1]", sec)
	}
	if !(temp > 0) {
		return fmt.Errorf("config: %s.temperature: must be > 0", sec)
	}
	return nil
}

// YAML returns the resolved config as YAML that LoadConfig reads back to
// exactly this config (checked on every call: a knob that would not
// survive is an error naming it). Strings yaml.v3 would write lossily,
// such as the default prompt suffix with its leading newline, are written
// double-quoted.
func (c *Config) YAML() ([]byte, error) {
	cc := *c
	lossy := map[string]string{}
	replaceLossy(reflect.ValueOf(&cc).Elem(), lossy)
	var n yaml.Node
	if err := n.Encode(&cc); err != nil {
		return nil, fmt.Errorf("config to YAML: %w", err)
	}
	restoreLossy(&n, lossy)
	b, err := yaml.Marshal(&n)
	if err != nil {
		return nil, fmt.Errorf("config to YAML: %w", err)
	}
	back := &Config{}
	if err := decodeYAMLStrict(b, back); err != nil {
		return nil, fmt.Errorf("config to YAML: does not read back: %w", err)
	}
	if k := firstDifference(reflect.ValueOf(c).Elem(), reflect.ValueOf(back).Elem(), ""); k != "" {
		return nil, fmt.Errorf("config to YAML: %s does not survive writing and reading", k)
	}
	return b, nil
}

// Hash identifies the resolved config (sha256 of its YAML, hex); a
// checkpoint records it so that resuming under a changed config is caught.
//
// Device, Precision, Threads and Out are excluded: a run may be resumed on
// another device (whose precision may differ) or after its directory was
// moved; so is Log, which changes only what is logged.
func (c *Config) Hash() string {
	cc := *c
	cc.Device, cc.Precision, cc.Threads, cc.Out = "", "", 0, ""
	cc.Log = LogConfig{} // what is logged does not change the run
	b, err := cc.YAML()
	if err != nil {
		return "unhashable:" + err.Error()
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// RevisionPrompt returns P_r: the reviser's instruction for reward r
// under variant ("paper" or "official"); any other variant is "paper".
func RevisionPrompt(correct bool, variant string) string {
	if correct {
		return RevisionCorrectText
	}
	if variant == "official" {
		return RevisionWrongOfficialText
	}
	return RevisionWrongPaperText
}

// revisionText is RevisionPrompt with the config's overrides.
func (p PromptConfig) revisionText(correct bool) string {
	if correct && p.RevisionCorrect != "" {
		return p.RevisionCorrect
	}
	if !correct && p.RevisionWrong != "" {
		return p.RevisionWrong
	}
	return RevisionPrompt(correct, p.RevisionVariant)
}

// Generates reports whether the phase samples from the student (and so
// uses the rollout limits): every phase but sft and srt, which train on
// given text.
func (c *Config) Generates() bool {
	return c.Phase != PhaseSFT && c.Phase != PhaseSRT
}

// defaultSchedule is the schedule used when optim.schedule is empty.
func (c *Config) schedule() string {
	if c.Optim.Schedule != "" {
		return c.Optim.Schedule
	}
	switch c.Phase {
	case PhaseSFT, PhaseSRT, PhaseRFT:
		return "cosine"
	}
	return "constant"
}

// ModelPrecision resolves Precision for backend be: auto (or empty) is bf16
// where be supports BF16 matmuls and fp32 elsewhere.
func (c *Config) ModelPrecision(be kernels.Backend) (model.Precision, error) {
	switch c.Precision {
	case "", "auto":
		if be.Supports(kernels.BF16) {
			return model.PrecisionBF16, nil
		}
		return model.PrecisionF32, nil
	}
	p, err := model.ParsePrecision(c.Precision)
	if err != nil {
		return 0, fmt.Errorf("config precision: %w", err)
	}
	return p, nil
}
