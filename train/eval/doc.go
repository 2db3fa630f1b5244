// Package eval measures a model on a math dataset: avg@k, unbiased pass@k,
// mean response length, and, with revision, the initial and revised
// accuracy and the correction and regression rates of the model acting as
// its own reviser (SD-Zero's reviser prompt). Every sample is written to a
// JSONL file with its reward and the verifier's reason.
package eval
