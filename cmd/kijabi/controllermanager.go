package main

import (
	"github.com/kijabi/kijabi/internal/procmem"
	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kijabi/kijabi/internal/controllermanager"
)

func newControllerManagerCommand() *cobra.Command {
	var kubeconfig, logLevel string
	var leaderElect bool
	var workers int
	cmd := &cobra.Command{
		Use:   "controller-manager",
		Short: "Run the controllers (one process, many controllers) against an API server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return err
			}
			log := newLogger(logLevel)
			procmem.TrimAfterStart(cmd.Context(), log)
			return controllermanager.Run(cmd.Context(), controllermanager.Config{
				REST: rc, Workers: workers, LeaderElection: leaderElect, Log: log,
			})
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", defaultKubeconfig(), "kubeconfig of the API server")
	cmd.Flags().BoolVar(&leaderElect, "leader-elect", true, "hold the kube-controller-manager Lease while acting, so that only one manager acts")
	cmd.Flags().IntVar(&workers, "workers", 4, "workers per controller")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}
