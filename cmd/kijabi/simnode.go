package main

import (
	"fmt"
	"github.com/kijabi/kijabi/internal/procmem"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kijabi/kijabi/internal/simnode"
)

func newSimnodeCommand() *cobra.Command {
	var kubeconfig, prefix, cpu, memory, labels, logLevel string
	var nodes, pods int
	cmd := &cobra.Command{
		Use:   "simnode",
		Short: "Run simulated nodes (no containers) that behave like kubelets towards the API server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return err
			}
			rc.QPS, rc.Burst = 1000, 2000
			rc.UserAgent = "kijabi-simnode"
			rc.ContentType, rc.AcceptContentTypes = "application/vnd.kubernetes.protobuf", "application/vnd.kubernetes.protobuf,application/json"
			client, err := kubernetes.NewForConfig(rc)
			if err != nil {
				return err
			}
			capacity, err := parseCapacity(cpu, memory, pods)
			if err != nil {
				return err
			}
			lbls, err := parseLabels(labels)
			if err != nil {
				return err
			}
			log := newLogger(logLevel)
			c, err := simnode.New(simnode.Config{Client: client, Nodes: nodes, NamePrefix: prefix, Capacity: capacity, Labels: lbls, Log: log})
			if err != nil {
				return err
			}
			procmem.TrimAfterStart(cmd.Context(), log)
			return c.Run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&kubeconfig, "kubeconfig", defaultKubeconfig(), "kubeconfig of the API server")
	fl.IntVar(&nodes, "nodes", 3, "how many nodes to simulate")
	fl.StringVar(&prefix, "name-prefix", "sim-", "node name prefix")
	fl.StringVar(&cpu, "cpu", "32", "cpu capacity of each node")
	fl.StringVar(&memory, "memory", "256Gi", "memory capacity of each node")
	fl.IntVar(&pods, "max-pods", 110, "pod capacity of each node")
	fl.StringVar(&labels, "node-labels", "", "extra node labels, k=v,k2=v2")
	fl.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}

func parseCapacity(cpu, memory string, pods int) (corev1.ResourceList, error) {
	c, err := resource.ParseQuantity(cpu)
	if err != nil {
		return nil, fmt.Errorf("--cpu: %w", err)
	}
	m, err := resource.ParseQuantity(memory)
	if err != nil {
		return nil, fmt.Errorf("--memory: %w", err)
	}
	return corev1.ResourceList{corev1.ResourceCPU: c, corev1.ResourceMemory: m, corev1.ResourcePods: *resource.NewQuantity(int64(pods), resource.DecimalSI)}, nil
}

func parseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("label %q: want key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}
