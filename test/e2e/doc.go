// Package e2e holds end-to-end tests: a real control plane (embedded or external etcd and the
// API server) driven by the clients users run — client-go, the upstream kubectl and Helm.
package e2e
