// Package volume holds the persistent volume controllers: the binder, which binds
// PersistentVolumeClaims to PersistentVolumes as Kubernetes' PV controller does, and the
// built-in local-path provisioner.
//
// # Binder
//
// For every claim the binder
//
//  1. finds a volume: the one named by spec.volumeName (checked against the claim: class,
//     size, volume mode, access modes, attributes class; VolumeMismatch otherwise), else one
//     whose claimRef names the claim (pre-bound by a user or created by a provisioner), else
//     the Available volume of the claim's class, volume mode and attributes class, with all
//     requested access modes, capacity ≥ the request and labels matching spec.selector that
//     offers the fewest access modes and then the least capacity;
//  2. binds: the volume first (spec.claimRef, annotation pv.kubernetes.io/bound-by-controller
//     unless the user pre-bound it, phase Bound), then the claim (spec.volumeName,
//     pv.kubernetes.io/bind-completed, bound-by-controller unless pre-bound, and the status:
//     phase Bound, the volume's access modes and capacity). Each step is idempotent and
//     guarded by resourceVersion, so a conflict just means another pass;
//  3. when no volume fits: a claim of a class with a provisioner is handed to it (annotations
//     volume.kubernetes.io/storage-provisioner and its beta form, event ExternalProvisioning);
//     a claim without class gets FailedBinding "no persistent volumes available for this claim
//     and no storage class is set"; a missing class gives ProvisioningFailed;
//  4. WaitForFirstConsumer classes: nothing is bound or provisioned (event
//     WaitForFirstConsumer, or WaitForPodScheduled while a consumer pod waits for a node)
//     until a pod using the claim (as persistentVolumeClaim or generic ephemeral volume) has
//     spec.nodeName. The binder then records that node in volume.kubernetes.io/selected-node
//     (the scheduler's job in Kubernetes; ours does not know volumes yet) and binds only
//     volumes whose node affinity allows that node, or provisions there;
//  5. a claim whose binding completed but whose volume is gone, unbound from it or bound to
//     another claim becomes Lost (events ClaimLost, ClaimMisbound).
//
// For every volume: without claimRef (or with a claimRef without UID, a user's pre-binding)
// it is Available; bound to an existing claim that names it, Bound; when its claim is gone
// (or was recreated with a new UID) it becomes Released and its reclaim policy applies:
// Retain keeps it Released; Delete deletes the PersistentVolume object, except for volumes
// annotated pv.kubernetes.io/provisioned-by, which their provisioner deletes; Recycle is not
// supported (phase Failed, event VolumeFailedRecycle). A claim missing from the informer is
// read from the API server before a volume is released. status.lastPhaseTransitionTime is
// set on every phase change.
//
// # Local-path provisioner
//
// LocalPath ensures at start the StorageClass local-path (provisioner kijabi.io/local-path,
// WaitForFirstConsumer, reclaim policy Delete, the default class), unless it exists. It
// provisions claims of classes with its provisioner that the binder handed to it: on the
// selected node (WaitForFirstConsumer), or for Immediate classes on a Ready node chosen by a
// hash of the claim's UID (so that every instance chooses the same). The volume is named
// pvc-<claim UID>, is a hostPath (type DirectoryOrCreate) volume in
// <baseDir>/<namespace>_<claim>_<volume>, pinned by node affinity to the node's
// kubernetes.io/hostname, with the request as capacity, the claim's access modes, the class's
// reclaim policy and mount options, a claimRef to the claim and pv.kubernetes.io/provisioned-by.
// The provisioner creates the directory (mode 0777) only when the node is its own
// (LocalPathConfig.NodeName); elsewhere the kubelet creates it when mounting. Selectors,
// data sources, block mode and access modes other than ReadWriteOnce(Pod) are refused
// (ProvisioningFailed).
//
// A Released volume it provisioned with reclaim policy Delete is deleted: its directory is
// removed first when it is on this node (and only when it is directly inside BaseDir). With
// LocalPathConfig.LocalOnly (one provisioner per node) an instance handles only volumes of its
// own node and of nodes that no longer exist; otherwise one instance deletes volumes of other
// nodes too, leaving their directories.
//
// Defaulting the class of claims without storageClassName is the API server's job (the
// DefaultStorageClass admission plugin), not this package's.
//
// # Usage
//
//	factory := informers.NewSharedInformerFactory(client, 0)
//	core := factory.Core().V1()
//	b := volume.NewBinder(client, core.PersistentVolumes(), core.PersistentVolumeClaims(),
//		factory.Storage().V1().StorageClasses(), core.Pods())
//	lp := volume.NewLocalPath(client, core.PersistentVolumes(), core.PersistentVolumeClaims(),
//		factory.Storage().V1().StorageClasses(), core.Nodes(),
//		volume.LocalPathConfig{BaseDir: "/var/lib/kijabi/local-path", NodeName: nodeName})
//	factory.Start(ctx.Done())
//	go b.Run(ctx, 2)
//	go lp.Run(ctx, 2)
//
// Options: WithClock, WithEventRecorder, WithResyncPeriod. The decisions are pure functions
// in decide.go and localpath_decide.go.
package volume
