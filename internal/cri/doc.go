// Package cri is the glue between kijabi's node agent and a container runtime spoken to
// over the Container Runtime Interface: dialing the runtime's gRPC socket, and the label
// names the kubelet puts on sandboxes and containers so that it (and its server) can find
// them again after a restart.
//
// Subpackages run the embedded containerd (containerd) and build and import images
// (image), the one thing CRI has no call for.
package cri
