// Command gen writes tokenizer.json and tokenizer_config.json of the demo's
// tiny tokenizer into the current directory (run by go generate in
// demo/tinytok).
package main

import (
	"fmt"
	"os"

	"sdzero/demo/tinytok"
)

func main() {
	tok, cfg, err := tinytok.Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for i, b := range [][]byte{tok, cfg} {
		if err := os.WriteFile(tinytok.FileNames[i], b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
	}
}
