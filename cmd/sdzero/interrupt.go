package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Graceful stops for the commands that run for minutes without a run
// directory (eval, readiness, explain): the first SIGINT, SIGTERM or
// SIGHUP cancels the command's context, the command stops at its next
// batch boundary, prints what it finished (marked partial) and exits with
// 128 + the signal's number, as train does.

// watchInterrupt installs the handlers for command name. ctx is cancelled
// by the first signal, after a line on stderr saying what happens next
// (then); got returns that signal (0 if none came); release undoes the
// handlers. A second SIGINT or SIGTERM gets the default action (kills
// the process); further SIGHUPs are ignored. A signal ignored at start
// (nohup) stays ignored.
func watchInterrupt(stderr io.Writer, name, then string) (ctx context.Context, got func() syscall.Signal, release func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigc := make(chan os.Signal, 1)
	var watched []os.Signal
	for _, s := range []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP} {
		if !signal.Ignored(s) {
			watched = append(watched, s)
		}
	}
	hupWatched := !signal.Ignored(syscall.SIGHUP)
	if len(watched) > 0 { // no arguments would mean every signal
		signal.Notify(sigc, watched...)
	}
	var mu sync.Mutex
	var first syscall.Signal
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case s := <-sigc:
			signal.Stop(sigc) // a second SIGINT/SIGTERM gets the default action
			if hupWatched {
				signal.Ignore(syscall.SIGHUP)
			}
			ss, _ := s.(syscall.Signal)
			mu.Lock()
			first = ss
			mu.Unlock()
			fmt.Fprintf(stderr, "\nsdzero %s: %s: %s (SIGINT or SIGTERM again to kill)\n", name, signalName(ss), then)
			cancel()
		case <-done:
		}
	}()
	got = func() syscall.Signal {
		mu.Lock()
		defer mu.Unlock()
		return first
	}
	release = func() {
		close(done)
		<-exited
		signal.Stop(sigc)
		if hupWatched {
			signal.Reset(syscall.SIGHUP)
		}
		cancel()
	}
	return ctx, got, release
}

// partialError is the result of a command a signal stopped after it
// printed its partial results: main exits with 128 + the signal's number
// (130 SIGINT, 143 SIGTERM, 129 SIGHUP), so that scripts see an
// unfinished evaluation, not a success.
type partialError struct {
	sig syscall.Signal
	// what was done, e.g. "12 of 40 problems".
	done string
	// none: the command had nothing to print yet (explain writes its
	// report only when finished); done then says where it stopped.
	none bool
}

func (e *partialError) Error() string {
	if e.none {
		return fmt.Sprintf("interrupted by %s %s: nothing was written (exit status %d)", signalName(e.sig), e.done, e.ExitCode())
	}
	return fmt.Sprintf("interrupted by %s after %s: the results are partial (exit status %d)", signalName(e.sig), e.done, e.ExitCode())
}

// ExitCode is the process exit status main uses for the error.
func (e *partialError) ExitCode() int { return 128 + int(e.sig) }
