package volume

import (
	"context"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	coreinformers "k8s.io/client-go/informers/core/v1"
	storageinformers "k8s.io/client-go/informers/storage/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// LocalPath is the local-path provisioner: it provisions hostPath volumes in directories
// under a base directory on a node, and deletes them once released.
type LocalPath struct {
	client kubernetes.Interface
	cfg    LocalPathConfig

	pvLister    corelisters.PersistentVolumeLister
	pvcLister   corelisters.PersistentVolumeClaimLister
	classLister storagelisters.StorageClassLister
	nodeLister  corelisters.NodeLister
	synced      []cache.InformerSynced

	claimQueue  workqueue.TypedRateLimitingInterface[string]
	volumeQueue workqueue.TypedRateLimitingInterface[string]
	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder
	resync      time.Duration
}

// NewLocalPath returns a local-path provisioner that reads from the given informers and
// writes through client.
func NewLocalPath(client kubernetes.Interface, pvInformer coreinformers.PersistentVolumeInformer, pvcInformer coreinformers.PersistentVolumeClaimInformer,
	classInformer storageinformers.StorageClassInformer, nodeInformer coreinformers.NodeInformer, cfg LocalPathConfig, opts ...Option) *LocalPath {
	o := buildOptions(opts)
	cfg = cfg.withDefaults()
	p := &LocalPath{
		client:      client,
		cfg:         cfg,
		pvLister:    pvInformer.Lister(),
		pvcLister:   pvcInformer.Lister(),
		classLister: classInformer.Lister(),
		nodeLister:  nodeInformer.Lister(),
		synced: []cache.InformerSynced{pvInformer.Informer().HasSynced, pvcInformer.Informer().HasSynced,
			classInformer.Informer().HasSynced, nodeInformer.Informer().HasSynced},
		claimQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "local-path-claims"}),
		volumeQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "local-path-volumes"}),
		recorder: o.recorder,
		resync:   o.resync,
	}
	if p.recorder == nil {
		p.broadcaster = record.NewBroadcaster()
		p.recorder = p.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: cfg.Provisioner, Host: cfg.NodeName})
	}
	add := func(inf cache.SharedIndexInformer, h cache.ResourceEventHandler) {
		if _, err := inf.AddEventHandler(h); err != nil {
			utilruntime.HandleError(fmt.Errorf("local-path provisioner: adding event handler: %w", err))
		}
	}
	add(pvcInformer.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    p.enqueueClaim,
		UpdateFunc: func(_, cur any) { p.enqueueClaim(cur) },
	})
	add(pvInformer.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    p.enqueueVolume,
		UpdateFunc: func(_, cur any) { p.enqueueVolume(cur) },
	})
	return p
}

// Run ensures the provisioner's StorageClass and runs workers workers for claims and as many
// for volumes until ctx ends.
func (p *LocalPath) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	defer p.claimQueue.ShutDown()
	defer p.volumeQueue.ShutDown()
	logger := klog.FromContext(ctx)
	if p.broadcaster != nil {
		p.broadcaster.StartStructuredLogging(3)
		p.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: p.client.CoreV1().Events("")})
		defer p.broadcaster.Shutdown()
	}
	logger.Info("Starting local-path provisioner", "provisioner", p.cfg.Provisioner, "node", p.cfg.NodeName, "baseDir", p.cfg.BaseDir)
	defer logger.Info("Shutting down local-path provisioner")
	go func() {
		_ = wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
			if err := p.ensureClass(ctx); err != nil {
				utilruntime.HandleErrorWithContext(ctx, err, "Ensuring the local-path StorageClass failed", "class", p.cfg.ClassName)
				return false, nil
			}
			return true, nil
		})
	}()
	if !cache.WaitForCacheSync(ctx.Done(), p.synced...) {
		return
	}
	for range max(workers, 1) {
		go wait.UntilWithContext(ctx, func(ctx context.Context) { runQueue(ctx, p.claimQueue, "claim", p.syncClaim) }, time.Second)
		go wait.UntilWithContext(ctx, func(ctx context.Context) { runQueue(ctx, p.volumeQueue, "volume", p.syncVolume) }, time.Second)
	}
	if p.resync > 0 {
		go wait.UntilWithContext(ctx, func(context.Context) { p.resyncAll() }, p.resync)
	}
	<-ctx.Done()
}

// ensureClass creates the provisioner's StorageClass unless it exists (an existing one is
// left as the administrator made it).
func (p *LocalPath) ensureClass(ctx context.Context) error {
	if _, err := p.classLister.Get(p.cfg.ClassName); err == nil {
		return nil
	}
	_, err := p.client.StorageV1().StorageClasses().Create(ctx, LocalPathStorageClass(p.cfg), metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

func (p *LocalPath) resyncAll() {
	pvcs, _ := p.pvcLister.List(labels.Everything())
	for _, pvc := range pvcs {
		p.enqueueClaim(pvc)
	}
	pvs, _ := p.pvLister.List(labels.Everything())
	for _, pv := range pvs {
		p.enqueueVolume(pv)
	}
}

func (p *LocalPath) enqueueClaim(obj any) {
	claim, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok || claim.Spec.VolumeName != "" {
		return
	}
	p.claimQueue.Add(claim.Namespace + "/" + claim.Name)
}

func (p *LocalPath) enqueueVolume(obj any) {
	pv, ok := obj.(*corev1.PersistentVolume)
	if !ok || pv.Annotations[AnnDynamicallyProvisioned] != p.cfg.Provisioner {
		return
	}
	p.volumeQueue.Add(pv.Name)
}

// --- provisioning

func (p *LocalPath) syncClaim(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	claim, err := p.pvcLister.PersistentVolumeClaims(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	class, err := p.classLister.Get(claimClass(claim))
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !wantsProvisioning(claim, class, p.cfg.Provisioner) {
		return nil
	}
	pvName := provisionedVolumeName(claim)
	if _, err := p.pvLister.Get(pvName); err == nil {
		return nil // provisioned already; the binder binds it
	}
	if err := checkLocalPathClaim(claim); err != nil {
		p.recorder.Eventf(claim, corev1.EventTypeWarning, reasonProvisioningFailed, "failed to provision volume with StorageClass %q: %v", class.Name, err)
		return nil
	}
	nodes, err := p.nodeLister.List(labels.Everything())
	if err != nil {
		return err
	}
	nodeName := provisionNode(claim, class, nodes)
	if nodeName == "" {
		if !isDelayBinding(class) {
			p.recorder.Eventf(claim, corev1.EventTypeWarning, reasonProvisioningFailed, "failed to provision volume with StorageClass %q: no ready node to provision on", class.Name)
		}
		return nil // WaitForFirstConsumer without a selected node yet, or no ready node: the resync retries
	}
	local := p.cfg.NodeName != "" && nodeName == p.cfg.NodeName
	if p.cfg.LocalOnly && !local {
		return nil // the provisioner on that node does it
	}
	hostname := nodeName
	if node, err := p.nodeLister.Get(nodeName); err == nil && node.Labels[corev1.LabelHostname] != "" {
		hostname = node.Labels[corev1.LabelHostname]
	}
	dir := volumeDir(p.cfg.BaseDir, claim, pvName)
	p.recorder.Eventf(claim, corev1.EventTypeNormal, reasonProvisioning, "External provisioner is provisioning volume for claim %q", namespace+"/"+name)
	if local {
		if err := makeDir(dir); err != nil {
			p.recorder.Eventf(claim, corev1.EventTypeWarning, reasonProvisioningFailed, "failed to provision volume with StorageClass %q: %v", class.Name, err)
			return err
		}
	}
	pv := localPathVolume(claim, class, p.cfg.Provisioner, hostname, dir)
	if _, err := p.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		p.recorder.Eventf(claim, corev1.EventTypeWarning, reasonProvisioningFailed, "failed to provision volume with StorageClass %q: %v", class.Name, err)
		return err
	}
	klog.FromContext(ctx).V(2).Info("Provisioned volume", "claim", klog.KObj(claim), "volume", pvName, "node", nodeName, "path", dir)
	p.recorder.Eventf(claim, corev1.EventTypeNormal, reasonProvisioningSucceeded, "Successfully provisioned volume %s", pvName)
	return nil
}

// makeDir creates a volume directory writable by any container user, as local-path does.
func makeDir(dir string) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	return os.Chmod(dir, 0o777)
}

// --- deletion

func (p *LocalPath) syncVolume(ctx context.Context, name string) error {
	pv, err := p.pvLister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if decideDelete(pv, p.cfg, true, true) == deleteNothing {
		return nil // cheap check before reading anything else
	}
	// Act on the stored volume only, never on a stale cached copy.
	pv, err = p.client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	local, exists := p.whereIs(volumeHost(pv))
	switch decideDelete(pv, p.cfg, local, exists) {
	case deleteNothing:
		return nil
	case deleteDirAndVolume:
		dir := volumePath(pv)
		if !dirUnder(dir, p.cfg.BaseDir) {
			p.recorder.Eventf(pv, corev1.EventTypeWarning, reasonVolumeFailedDelete, "not removing %q: it is not a directory in %q", dir, p.cfg.BaseDir)
			return nil
		}
		if err := os.RemoveAll(dir); err != nil {
			p.recorder.Eventf(pv, corev1.EventTypeWarning, reasonVolumeFailedDelete, "removing %q: %v", dir, err)
			return err
		}
		klog.FromContext(ctx).V(2).Info("Removed volume directory", "volume", pv.Name, "path", dir)
	case deleteVolumeOnly:
		klog.FromContext(ctx).Info("Deleting volume of another node; its directory stays there", "volume", pv.Name, "node", volumeHost(pv), "path", volumePath(pv))
	}
	uid, rv := pv.UID, pv.ResourceVersion
	err = p.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rv}})
	if err != nil && !apierrors.IsNotFound(err) {
		if !apierrors.IsConflict(err) {
			p.recorder.Eventf(pv, corev1.EventTypeWarning, reasonVolumeFailedDelete, "deleting volume: %v", err)
		}
		return err
	}
	p.recorder.Eventf(pv, corev1.EventTypeNormal, reasonVolumeDelete, "Deleted volume %s", pv.Name)
	return nil
}

// whereIs reports whether the node with kubernetes.io/hostname host is this provisioner's
// node, and whether it exists.
func (p *LocalPath) whereIs(host string) (local, exists bool) {
	nodes, _ := p.nodeLister.List(labels.Everything())
	for _, n := range nodes {
		if n.Name == host || n.Labels[corev1.LabelHostname] == host {
			return p.cfg.NodeName != "" && n.Name == p.cfg.NodeName, true
		}
	}
	return p.cfg.NodeName != "" && host == p.cfg.NodeName, false
}
