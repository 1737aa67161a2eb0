package main

import (
	"github.com/kijabi/kijabi/internal/procmem"
	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kijabi/kijabi/internal/server"
)

func newSchedulerCommand() *cobra.Command {
	var kubeconfig, logLevel, pprofAddr, name string
	var leaderElect bool
	cmd := &cobra.Command{
		Use:   "scheduler",
		Short: "Run the scheduler against an API server: binds pending pods to nodes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return err
			}
			log := newLogger(logLevel)
			if pprofAddr != "" {
				if err := servePprof(cmd.Context(), pprofAddr); err != nil {
					return err
				}
			}
			procmem.TrimAfterStart(cmd.Context(), log)
			return server.RunScheduler(cmd.Context(), rc, name, leaderElect, log)
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", defaultKubeconfig(), "kubeconfig of the API server")
	cmd.Flags().StringVar(&name, "scheduler-name", "default-scheduler", "schedule the pods whose spec.schedulerName is this (another name runs a second scheduler beside the default one)")
	cmd.Flags().BoolVar(&leaderElect, "leader-elect", true, "hold the kube-scheduler Lease while scheduling, so that only one scheduler acts")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	cmd.Flags().StringVar(&pprofAddr, "pprof-address", "", "serve net/http/pprof on this address (e.g. 127.0.0.1:6060), for profiling")
	_ = cmd.Flags().MarkHidden("pprof-address")
	return cmd
}
