package demo

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// shipped holds the base model checkpoint (see base/README.md).
//
//go:embed base
var shipped embed.FS

// baseFiles are the files of a shipped base model.
var baseFiles = []string{"config.json", "model.safetensors"}

// HasShippedBase reports whether this build embeds a base model.
func HasShippedBase() bool {
	for _, f := range baseFiles {
		if _, err := fs.Stat(shipped, "base/"+f); err != nil {
			return false
		}
	}
	return true
}

// writeShippedBase writes the embedded base model into dir.
func writeShippedBase(dir string) error {
	if !HasShippedBase() {
		return errors.New("demo: this build has no shipped base model (demo/base/model.safetensors); run with --regen-base")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	for _, f := range baseFiles {
		b, err := fs.ReadFile(shipped, "base/"+f)
		if err != nil {
			return fmt.Errorf("demo: embedded base/%s: %w", f, err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	return nil
}

// saveBase copies a trained model's config.json and model.safetensors into
// dst (each via a temp file and rename).
func saveBase(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("demo: save base: %w", err)
	}
	for _, f := range baseFiles {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			return fmt.Errorf("demo: save base: %w", err)
		}
		tmp := filepath.Join(dst, "."+f+".tmp")
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			return fmt.Errorf("demo: save base: %w", err)
		}
		if err := os.Rename(tmp, filepath.Join(dst, f)); err != nil {
			return fmt.Errorf("demo: save base: %w", err)
		}
	}
	return nil
}
