package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Release builds may stamp these with
//
//	go build -ldflags "-X main.version=v1.2.0 -X main.commit=abc1234 -X main.buildDate=2026-12-03"
//
// -X can only set package-level string variables, which is why these are
// the package's only global state; they are read, never written, at run
// time. Empty values fall back on the build information the go command
// records (module version, VCS revision and time).
var (
	version   string
	commit    string
	buildDate string
)

// buildReport is what `sdzero version` prints.
type buildReport struct {
	Version   string `json:"version"`
	Module    string `json:"module"`
	Commit    string `json:"commit,omitempty"`
	CommitAt  string `json:"commit_time,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	BuildDate string `json:"build_date,omitempty"`
	Go        string `json:"go"`
	Platform  string `json:"platform"`
}

// readBuild combines the -ldflags values with bi (nil when the binary
// carries no build information): a stamped value wins over the recorded
// one, so that a release says what its build script set.
func readBuild(bi *debug.BuildInfo, ldVersion, ldCommit, ldDate string) buildReport {
	r := buildReport{Version: "(devel)", Module: "sdzero", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if bi.Main.Path != "" {
			r.Module = bi.Main.Path
		}
		if bi.Main.Version != "" {
			r.Version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			r.Go = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				r.Commit = s.Value
			case "vcs.time":
				r.CommitAt = s.Value
			case "vcs.modified":
				r.Modified = s.Value == "true"
			}
		}
	}
	if ldVersion != "" {
		r.Version = ldVersion
	}
	if ldCommit != "" {
		r.Commit, r.CommitAt, r.Modified = ldCommit, "", false
	}
	r.BuildDate = ldDate
	return r
}

// String is the one-paragraph text form.
func (r buildReport) String() string {
	s := fmt.Sprintf("sdzero %s (module %s)\n", r.Version, r.Module)
	switch {
	case r.Commit != "":
		s += "commit " + r.Commit
		if r.CommitAt != "" {
			s += " (" + r.CommitAt + ")"
		}
		if r.Modified {
			s += ", with uncommitted changes"
		}
		s += "\n"
	default:
		s += "commit unknown (built outside a git checkout, or with -buildvcs=false)\n"
	}
	if r.BuildDate != "" {
		s += "built " + r.BuildDate + "\n"
	}
	return s + fmt.Sprintf("%s %s\n", r.Go, r.Platform)
}

// Short is the version with its commit on one line, as summary.json
// records it: "v1.2.0 (commit abc1234)", "(devel) (commit 0123456789ab,
// modified)".
func (r buildReport) Short() string {
	if r.Commit == "" {
		return r.Version
	}
	c := r.Commit
	if len(c) > 12 {
		c = c[:12]
	}
	if r.Modified {
		c += ", modified"
	}
	return r.Version + " (commit " + c + ")"
}

func currentBuild() buildReport {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return readBuild(bi, version, commit, buildDate)
}

// runVersion implements `sdzero version` (also `sdzero --version`).
func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sdzero version [--json]   (also: sdzero --version)\n\nPrints the module version, the VCS commit the binary was built from, and the Go version.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := positionalError(fs, false); err != nil {
		return err
	}
	r := currentBuild()
	if *asJSON {
		return writeJSON(stdout, r)
	}
	_, err := io.WriteString(stdout, r.String())
	return err
}
