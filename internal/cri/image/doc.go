// Package image makes container images without a registry or a Docker daemon: it builds
// small deterministic images from Debian's static busybox plus host files (Build), writes
// them as docker-archive tarballs (WriteTarball) and loads tarballs into the embedded
// containerd's k8s.io namespace (Import), the one image operation CRI has no call for.
//
// EnsureBuiltins makes the node's built-in images (PauseImage, the sandbox image, and
// BusyboxImage) present, so that a node runs pods with no network access at all.
package image
