package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kijabi/kijabi/internal/apiserver"
)

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and the Kubernetes version kijabi is compatible with",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "kijabi %s (Kubernetes %s.%s)\n", apiserver.Version.GitVersion, apiserver.Version.Major, apiserver.Version.Minor)
		},
	}
}
