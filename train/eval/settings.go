package eval

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Settings are the effective settings behind a report: which model, data,
// prompt and sampling produced the numbers, and where each came from. The
// CLI prints them as the header of every report and records them in every
// JSON output, so that a score is never separated from its prompt.
type Settings struct {
	// Model is the model directory; Tokenizer the tokenizer directory when
	// it is not the model's.
	Model     string `json:"model"`
	Tokenizer string `json:"tokenizer,omitempty"`
	// Source says where the prompt and sampling settings came from
	// (the model's sdzero.json, a --config file or the built-in
	// defaults); Overrides lists the flags that changed them.
	Source    string   `json:"source"`
	Overrides []string `json:"overrides,omitempty"`
	// Data is the problem file, DataKind "math" or "code", Problems the
	// number of problems used (after skips, splits and limits) and
	// DataOptions the data.* options that shaped the reading
	// ("data.question_field=q", "data.skip_malformed=true", ...).
	Data        string   `json:"data,omitempty"`
	DataKind    string   `json:"data_kind,omitempty"`
	Problems    int      `json:"problems,omitempty"`
	DataOptions []string `json:"data_options,omitempty"`
	// The prompt: system message, question suffix, chat template (its
	// origin and the SHA256 of its text), stop ids and the reviser
	// phrases P_r.
	System          string  `json:"system"`
	Suffix          string  `json:"suffix"`
	EnableThinking  bool    `json:"enable_thinking,omitempty"`
	Template        string  `json:"template"`
	TemplateSHA256  string  `json:"template_sha256"`
	StopIDs         []int32 `json:"stop_ids"`
	RevisionCorrect string  `json:"revision_correct,omitempty"`
	RevisionWrong   string  `json:"revision_wrong,omitempty"`
	// Sampling: samples per problem (K), temperature, top-p, top-k,
	// response budget and seed.
	K            int     `json:"k,omitempty"`
	Temperature  float64 `json:"temperature"`
	TopP         float64 `json:"top_p"`
	TopK         int     `json:"top_k,omitempty"`
	MaxNewTokens int     `json:"max_new_tokens,omitempty"`
	Seed         uint64  `json:"seed"`
	// Warnings are mismatches worth a look (a --config whose prompt
	// differs from the model's sdzero.json, a template that changed since
	// training, ...).
	Warnings []string `json:"warnings,omitempty"`
}

// Print writes the settings as a short header, one topic per line.
func (s *Settings) Print(w io.Writer) {
	fmt.Fprintf(w, "model       %s", s.Model)
	if s.Tokenizer != "" {
		fmt.Fprintf(w, " (tokenizer %s)", s.Tokenizer)
	}
	fmt.Fprintf(w, "\nsettings    %s", s.Source)
	if len(s.Overrides) > 0 {
		fmt.Fprintf(w, "; flags: %s", strings.Join(s.Overrides, " "))
	}
	fmt.Fprintln(w)
	if s.Data != "" {
		fmt.Fprintf(w, "data        %s (%s, %d problems", s.Data, s.DataKind, s.Problems)
		if len(s.DataOptions) > 0 {
			fmt.Fprintf(w, "; %s", strings.Join(s.DataOptions, ", "))
		}
		fmt.Fprintln(w, ")")
	}
	if s.Template != "" || s.Suffix != "" || s.System != "" {
		s.printPrompt(w)
	}
	if s.TopP > 0 { // top_p is in (0, 1] whenever something was sampled
		s.printSampling(w)
	}
	for _, warn := range s.Warnings {
		fmt.Fprintf(w, "warning     %s\n", warn)
	}
}

func (s *Settings) printPrompt(w io.Writer) {
	sys := "(none)"
	if s.System != "" {
		sys = strconv.Quote(s.System)
	}
	fmt.Fprintf(w, "prompt      suffix %s, system %s, template %s (sha256 %s)", strconv.Quote(s.Suffix), sys, s.Template, short(s.TemplateSHA256))
	if s.EnableThinking {
		fmt.Fprint(w, ", thinking on")
	}
	fmt.Fprintf(w, ", stop ids %v\n", s.StopIDs)
	if s.RevisionCorrect != "" || s.RevisionWrong != "" {
		fmt.Fprintf(w, "reviser     P_r right %s, wrong %s\n", strconv.Quote(s.RevisionCorrect), strconv.Quote(s.RevisionWrong))
	}
}

func (s *Settings) printSampling(w io.Writer) {
	fmt.Fprintf(w, "sampling    ")
	if s.K > 0 {
		fmt.Fprintf(w, "n samples %d, ", s.K)
	}
	fmt.Fprintf(w, "temperature %g, top_p %g", s.Temperature, s.TopP)
	if s.TopK > 0 {
		fmt.Fprintf(w, ", top_k %d", s.TopK)
	}
	if s.MaxNewTokens > 0 {
		fmt.Fprintf(w, ", max_new_tokens %d", s.MaxNewTokens)
	}
	fmt.Fprintf(w, ", seed %d\n", s.Seed)
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
