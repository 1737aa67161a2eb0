// Command kijabi is a Kubernetes-compatible container orchestrator in one binary: each
// component is a subcommand, and `kijabi server` runs them all.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// kubectl takes over the process, flags and exit codes included.
	if len(os.Args) > 1 && os.Args[1] == "kubectl" {
		os.Exit(runKubectl(os.Args[2:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCommand().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "kijabi:", err)
		os.Exit(1)
	}
}
