// Command gen writes internal/configdoc/keys_gen.go and docs/config.md from
// the doc comments of train/config.go (run by `go generate
// ./internal/configdoc`, from that directory). -check compares instead of
// writing and exits 1 when a file is stale.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"sdzero/internal/configdoc"
)

func main() {
	root := flag.String("root", "../..", "the repository root")
	check := flag.Bool("check", false, "report stale files instead of writing them")
	flag.Parse()
	files, warnings, err := configdoc.Generate(*root)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, w := range warnings {
		fmt.Fprintln(os.Stderr, "warning:", w)
	}
	stale := false
	for _, f := range files {
		path := filepath.Join(*root, f.Path)
		if *check {
			old, _ := os.ReadFile(path)
			if !bytes.Equal(old, f.Data) {
				fmt.Fprintf(os.Stderr, "%s is stale: run go generate ./internal/configdoc\n", f.Path)
				stale = true
			}
			continue
		}
		if err := os.WriteFile(path, f.Data, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if stale {
		os.Exit(1)
	}
}
