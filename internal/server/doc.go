// Package server wires the control plane into one process: etcd (embedded unless external
// endpoints are given), the API server on HTTPS, the certificates and the admin kubeconfig.
// It is the only package that knows all components; each component only knows the API.
package server
