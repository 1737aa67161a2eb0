// Package testserver starts a real control plane (embedded etcd and the API server, on
// ephemeral loopback ports in a temporary directory) for tests, and runs the real kubectl and
// helm against it.
//
// Tests of a component that the server itself runs (controllers, the scheduler, simulated
// nodes) must import this package from an external test package (package foo_test): the
// server imports those components, so an in-package test would be an import cycle.
package testserver
