// Package volume materialises a pod's volumes on the node the way the Kubernetes kubelet's
// in-tree plugins do, and turns a container's volumeMounts into CRI mounts.
//
// # Layout
//
// Everything of a pod lives under <Root>/<podUID>:
//
//	volumes/kubernetes.io~empty-dir/<name>     emptyDir (a tmpfs mount for medium Memory)
//	volumes/kubernetes.io~configmap/<name>     configMap        (atomic writer, on disk)
//	volumes/kubernetes.io~secret/<name>        secret           (atomic writer, on tmpfs)
//	volumes/kubernetes.io~downward-api/<name>  downwardAPI      (atomic writer, on disk)
//	volumes/kubernetes.io~projected/<name>     projected        (atomic writer, on tmpfs)
//	containers/<container>/<attempt>           termination-message files
//
// hostPath volumes and persistentVolumeClaims bound to hostPath or local volumes (what the
// built-in local-path provisioner creates) are used in place; nothing is created for them
// under the pod directory except what their hostPath type asks for.
//
// # Atomic writer
//
// configMap, secret, downwardAPI and projected volumes are written like the kubelet's
// AtomicWriter: the payload goes into a fresh hidden directory `..<timestamp>.<random>`,
// the `..data` symlink is pointed at it by renaming a `..data_tmp` symlink over it (an
// atomic rename), every top-level user-visible name is a symlink `name -> ..data/name`,
// and the previous timestamped directory is removed after the swap. A container reading
// through the volume thus sees either the old or the new content, never a mix. A write
// whose content equals what is there changes nothing.
//
// # Calls
//
// The kubelet core calls Setup before creating a pod's sandbox or containers (it is
// idempotent and cheap once a volume is set up), Mounts when creating each container,
// Refresh periodically and on pod updates to propagate ConfigMap, Secret, downward API and
// token changes, Cleanup once the pod is gone and its containers removed, and Orphans to
// find pod directories left by pods that no longer exist. Calls for different pods may run
// concurrently; calls for one pod are serialised.
package volume
