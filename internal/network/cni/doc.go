// Package cni writes the node's CNI configuration: a bridge network on the node's pod CIDR
// with host-local IP allocation, masquerading and port mapping. containerd's CRI plugin
// reads it and runs the CNI plugins for every pod sandbox; the kubelet only writes the
// file (WriteConfig) and makes sure the host forwards packets (EnableForwarding).
package cni
