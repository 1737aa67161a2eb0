// Package pki creates the cluster's certificate authority, the API server's serving
// certificate and client certificates, and writes kubeconfig files that use them.
//
// Everything lives as PEM files in one directory. Existing files are reused, so restarts keep
// the cluster's identity; a serving certificate whose names no longer cover the server's
// addresses is issued again.
package pki
