package demo

import (
	"bytes"
	_ "embed"
	"fmt"
	"os"

	"gopkg.in/yaml.v3"

	"sdzero/train"
)

// DefaultYAML is the demo's embedded settings file (demo/demo.yaml).
//
//go:embed demo.yaml
var DefaultYAML []byte

// Config is the demo's settings file.
type Config struct {
	Seed      uint64               `yaml:"seed"`
	Task      TaskConfig           `yaml:"task"`
	BaseModel BaseModelConfig      `yaml:"base_model"`
	Eval      EvalConfig           `yaml:"eval"`
	Readiness ReadinessConfig      `yaml:"readiness"`
	Common    yaml.Node            `yaml:"common"`
	Phases    map[string]yaml.Node `yaml:"phases"`
	Quick     *QuickConfig         `yaml:"quick"`
}

// TaskConfig selects the synthetic arithmetic problems.
type TaskConfig struct {
	// Kinds ("add", "sub") and Digits per operand of the problems.
	Kinds  []string `yaml:"kinds"`
	Digits int      `yaml:"digits"`
	// Hard is the fraction of training and held-out problems with a carry
	// or borrow chain of at least HardChain columns (Spec); PretrainHard
	// the fraction among the pretraining solutions (small: the hard cases
	// are rare in pretraining, so the base model errs on them
	// systematically).
	Hard         float64 `yaml:"hard"`
	HardChain    int     `yaml:"hard_chain"`
	PretrainHard float64 `yaml:"pretrain_hard"`
	Train        int     `yaml:"train"`
	Eval         int     `yaml:"eval"`
	Pretrain     int     `yaml:"pretrain"`
	TrainSeed    uint64  `yaml:"train_seed"`
	EvalSeed     uint64  `yaml:"eval_seed"`
	PretrainSeed uint64  `yaml:"pretrain_seed"`
	// RevisionDemos configure the base model's second pretraining stage
	// (phases.pretrain-revise): the stage-1 model answers Problems fresh
	// problems (a Hard share of them hard) once at the rollout
	// temperature; each wrong answer, and a Right share of the right
	// ones, becomes a revision demonstration (SelectRevisionDemos),
	// mixed with Plain fresh worked solutions of the pretraining
	// distribution.
	RevisionDemos struct {
		Problems int     `yaml:"problems"`
		Hard     float64 `yaml:"hard"`
		Right    float64 `yaml:"right"`
		Plain    int     `yaml:"plain"`
	} `yaml:"revision_demos"`
}

// ReadinessConfig sizes the readiness check the demo runs on the SRT
// model before distilling (train.RunReadiness).
type ReadinessConfig struct {
	Problems   int `yaml:"problems"`
	Samples    int `yaml:"samples"`
	KLAttempts int `yaml:"kl_attempts"`
}

// Spec returns the problem spec of the training and held-out sets (hard
// fraction hard).
func (t TaskConfig) Spec(hard float64) Spec {
	return Spec{Digits: t.Digits, Kinds: t.Kinds, Hard: hard, HardChain: t.HardChain}
}

// BaseModelConfig is the architecture of the base model.
type BaseModelConfig struct {
	Hidden       int    `yaml:"hidden"`
	Layers       int    `yaml:"layers"`
	Intermediate int    `yaml:"intermediate"`
	Heads        int    `yaml:"heads"`
	KVHeads      int    `yaml:"kv_heads"`
	HeadDim      int    `yaml:"head_dim"`
	InitSeed     uint64 `yaml:"init_seed"`
}

// EvalConfig is the held-out evaluation.
type EvalConfig struct {
	K            int     `yaml:"k"`
	Temperature  float64 `yaml:"temperature"`
	MaxNewTokens int     `yaml:"max_new_tokens"`
	Batch        int     `yaml:"batch"`
}

// QuickConfig overrides parts of the settings for --quick.
type QuickConfig struct {
	Task      map[string]any       `yaml:"task"`
	Eval      map[string]any       `yaml:"eval"`
	Readiness map[string]any       `yaml:"readiness"`
	Phases    map[string]yaml.Node `yaml:"phases"`
}

// PhaseNames are the phase sections the demo runs, in order.
var PhaseNames = []string{"pretrain", "pretrain-revise", "srt-collect", "srt", "distill", "rft", "grpo"}

// ParseConfig reads demo settings; unknown keys are errors. With quick,
// the quick section's task and eval overrides are applied.
func ParseConfig(data []byte, quick bool) (*Config, error) {
	var c Config
	if err := strictDecode(data, &c); err != nil {
		return nil, fmt.Errorf("demo config: %w", err)
	}
	if quick && c.Quick != nil {
		for _, o := range []struct {
			m   map[string]any
			dst any
		}{{c.Quick.Task, &c.Task}, {c.Quick.Eval, &c.Eval}, {c.Quick.Readiness, &c.Readiness}} {
			if len(o.m) == 0 {
				continue
			}
			b, err := yaml.Marshal(o.m)
			if err != nil {
				return nil, fmt.Errorf("demo config: quick: %w", err)
			}
			if err := strictDecode(b, o.dst); err != nil {
				return nil, fmt.Errorf("demo config: quick: %w", err)
			}
		}
	}
	for _, p := range PhaseNames {
		if _, ok := c.Phases[p]; !ok {
			return nil, fmt.Errorf("demo config: phases.%s is missing", p)
		}
	}
	for p := range c.Phases {
		known := false
		for _, q := range PhaseNames {
			known = known || p == q
		}
		if !known {
			return nil, fmt.Errorf("demo config: unknown phase section %q", p)
		}
	}
	if c.Task.Train <= 0 || c.Task.Eval <= 0 || c.Eval.K <= 0 || c.Eval.MaxNewTokens <= 0 {
		return nil, fmt.Errorf("demo config: task.train, task.eval, eval.k and eval.max_new_tokens must be positive")
	}
	return &c, nil
}

// LoadConfig reads demo settings from a file (empty path: the embedded
// defaults).
func LoadConfig(path string, quick bool) (*Config, error) {
	if path == "" {
		return ParseConfig(DefaultYAML, quick)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("demo config: %w", err)
	}
	c, err := ParseConfig(b, quick)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func strictDecode(data []byte, dst any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(dst); err != nil && err.Error() != "EOF" {
		return err
	}
	return nil
}

func decodeNode(n *yaml.Node, dst any) error {
	if n == nil || n.Kind == 0 {
		return nil
	}
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	return strictDecode(b, dst)
}

// PhaseConfig returns the trainer config of a phase section: the trainer's
// defaults, then common, then the section, then (quick) its quick
// override. The caller sets Model, Out, data paths and Seed.
func (c *Config) PhaseConfig(name string, quick bool) (*train.Config, error) {
	node, ok := c.Phases[name]
	if !ok {
		return nil, fmt.Errorf("demo config: no phase section %q", name)
	}
	cfg := train.DefaultConfig()
	if err := decodeNode(&c.Common, cfg); err != nil {
		return nil, fmt.Errorf("demo config: common: %w", err)
	}
	if err := decodeNode(&node, cfg); err != nil {
		return nil, fmt.Errorf("demo config: phases.%s: %w", name, err)
	}
	if quick && c.Quick != nil {
		if q, ok := c.Quick.Phases[name]; ok {
			if err := decodeNode(&q, cfg); err != nil {
				return nil, fmt.Errorf("demo config: quick.phases.%s: %w", name, err)
			}
		}
	}
	return cfg, nil
}
