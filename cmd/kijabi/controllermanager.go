package main

import (
	"time"

	"github.com/kijabi/kijabi/internal/procmem"
	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kijabi/kijabi/internal/controller/certificates"
	"github.com/kijabi/kijabi/internal/controllermanager"
)

func newControllerManagerCommand() *cobra.Command {
	var kubeconfig, logLevel, signingCert, signingKey string
	var leaderElect bool
	var workers int
	var signingDuration time.Duration
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
				ClusterSigningCertFile: signingCert, ClusterSigningKeyFile: signingKey, ClusterSigningDuration: signingDuration,
			})
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", defaultKubeconfig(), "kubeconfig of the API server")
	cmd.Flags().BoolVar(&leaderElect, "leader-elect", true, "hold the kube-controller-manager Lease while acting, so that only one manager acts")
	cmd.Flags().IntVar(&workers, "workers", 4, "workers per controller")
	cmd.Flags().StringVar(&signingCert, "cluster-signing-cert-file", "", "PEM CA certificate that signs approved CertificateSigningRequests of the kubernetes.io signers (with --cluster-signing-key-file; unset: none is signed)")
	cmd.Flags().StringVar(&signingKey, "cluster-signing-key-file", "", "PEM private key of --cluster-signing-cert-file")
	cmd.Flags().DurationVar(&signingDuration, "cluster-signing-duration", certificates.DefaultMaxDuration, "the longest validity of signed certificates (requests may ask for less)")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}
