package main

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"
)

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "kijabi",
		Short:         "A Kubernetes-compatible container orchestrator in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServerCommand(), newAPIServerCommand(), newSchedulerCommand(), newControllerManagerCommand(), newSimnodeCommand(), newKubectlCommand(), newVersionCommand())
	root.AddCommand(newImageCommand(), newAgentCommand())
	return root
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
	// client-go logs through klog (leader election, reflectors): send it to the same place.
	klog.SetSlogLogger(log)
	return log
}

// defaultDataDir is /var/lib/kijabi for root and ~/.kijabi otherwise.
func defaultDataDir() string {
	if d := os.Getenv("KIJABI_DATA_DIR"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/lib/kijabi"
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".kijabi"
	}
	return home + "/.kijabi"
}

// defaultKubeconfig is $KUBECONFIG, or the local server's admin kubeconfig.
func defaultKubeconfig() string {
	if k := os.Getenv("KUBECONFIG"); k != "" {
		return k
	}
	return defaultDataDir() + "/kubeconfig.yaml"
}
