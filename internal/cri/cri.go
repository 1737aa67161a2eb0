package cri

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Labels the kubelet sets on every sandbox and container it creates, the same keys the
// upstream kubelet uses so that crictl output reads the same.
const (
	LabelPodName       = "io.kubernetes.pod.name"
	LabelPodNamespace  = "io.kubernetes.pod.namespace"
	LabelPodUID        = "io.kubernetes.pod.uid"
	LabelContainerName = "io.kubernetes.container.name"
	// LabelManagedBy marks what kijabi's kubelet created, so it never touches anything
	// else that shares the runtime.
	LabelManagedBy = "io.kijabi.managed"
)

// Annotations on containers that let a restarted kubelet rebuild its view.
const (
	AnnotationRestartCount       = "io.kubernetes.container.restartCount"
	AnnotationContainerHash      = "io.kubernetes.container.hash"
	AnnotationTerminationMessage = "io.kubernetes.container.terminationMessagePath"
	AnnotationInit               = "io.kijabi.container.init"
)

// Runtime is a connection to a CRI runtime.
type Runtime struct {
	Runtime runtimeapi.RuntimeServiceClient
	Images  runtimeapi.ImageServiceClient
	conn    *grpc.ClientConn
}

// Dial connects to the CRI endpoint (unix:///path or a bare path) and checks it answers
// Version within timeout.
func Dial(ctx context.Context, endpoint string, timeout time.Duration) (*Runtime, error) {
	target := endpoint
	if !strings.Contains(target, "://") {
		target = "unix://" + target
	}
	conn, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20)))
	if err != nil {
		return nil, fmt.Errorf("dialing CRI endpoint %s: %w", endpoint, err)
	}
	r := &Runtime{Runtime: runtimeapi.NewRuntimeServiceClient(conn), Images: runtimeapi.NewImageServiceClient(conn), conn: conn}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		_, err = r.Runtime.Version(ctx, &runtimeapi.VersionRequest{})
		if err == nil {
			return r, nil
		}
		select {
		case <-ctx.Done():
			conn.Close()
			return nil, fmt.Errorf("CRI endpoint %s does not answer: %w", endpoint, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Close closes the connection.
func (r *Runtime) Close() error { return r.conn.Close() }
