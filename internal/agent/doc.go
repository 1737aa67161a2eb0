// Package agent wires a node: the container runtime (an embedded containerd unless an
// endpoint is given), the built-in images, the CNI configuration, the VXLAN overlay to
// other nodes' pods (internal/network/overlay), the kubelet and its server. It is to a
// node what package server is to the control plane.
package agent
