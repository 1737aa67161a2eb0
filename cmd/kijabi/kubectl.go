package main

import (
	goflag "flag"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/klog/v2"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
)

// newKubectlCommand is only for help output: main hands `kijabi kubectl` to runKubectl
// before cobra parses anything.
func newKubectlCommand() *cobra.Command {
	return &cobra.Command{
		Use:                "kubectl",
		Short:              "Run kubectl (built in), using this machine's admin kubeconfig by default",
		DisableFlagParsing: true,
		Run: func(_ *cobra.Command, args []string) {
			os.Exit(runKubectl(args))
		},
	}
}

// runKubectl runs the upstream kubectl with args. Without KUBECONFIG or --kubeconfig it uses
// the local server's admin kubeconfig, as k3s does.
func runKubectl(args []string) int {
	setKubectlVersion()
	if os.Getenv("KUBECONFIG") == "" && !hasKubeconfigFlag(args) {
		local := filepath.Join(defaultDataDir(), "kubeconfig.yaml")
		if _, err := os.Stat(local); err == nil {
			os.Setenv("KUBECONFIG", local)
		}
	}
	cmd := kubectlcmd.NewDefaultKubectlCommandWithArgs(kubectlcmd.KubectlOptions{
		PluginHandler: kubectlcmd.NewDefaultPluginHandler([]string{"kubectl"}),
		Arguments:     append([]string{"kubectl"}, args...),
		IOStreams:     ioStreams(),
	})
	// Verbosity flags, as the upstream kubectl binary has them.
	klogFlags := goflag.NewFlagSet("klog", goflag.ContinueOnError)
	klog.InitFlags(klogFlags)
	klogFlags.VisitAll(func(f *goflag.Flag) {
		if f.Name == "v" || f.Name == "vmodule" {
			pf := pflag.PFlagFromGoFlag(f)
			if f.Name == "v" {
				pf.Shorthand = "v"
			}
			cmd.PersistentFlags().AddFlag(pf)
		}
	})
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		cmdutil.CheckErr(err)
		return 1
	}
	return 0
}

func hasKubeconfigFlag(args []string) bool {
	for _, a := range args {
		if a == "--kubeconfig" || len(a) > 13 && a[:13] == "--kubeconfig=" {
			return true
		}
	}
	return false
}
