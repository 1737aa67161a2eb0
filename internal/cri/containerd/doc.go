// Package containerd runs and supervises the node's embedded containerd, the way k3s does:
// kijabi writes a private config.toml under one directory (its own root, state, gRPC
// socket, CNI directories and sandbox image), starts Debian's containerd binary as a child
// process, waits until its CRI service answers, and restarts it with backoff if it dies.
//
// Everything containerd keeps lives under Config.Dir (DefaultDir for a data directory), so
// several nodes, or several test clusters, can run side by side on one host. Containers'
// shims are deliberately not stopped with containerd: a restarted kubelet adopts the
// running containers through CRI.
package containerd
