// Package testserver starts a real control plane (embedded etcd and the API server, on
// ephemeral loopback ports in a temporary directory) for tests, and runs the real kubectl and
// helm against it.
package testserver
