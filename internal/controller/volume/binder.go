package volume

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
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
	"k8s.io/utils/clock"
)

// Binder binds PersistentVolumeClaims to PersistentVolumes and applies the reclaim policy
// of volumes whose claim is gone.
type Binder struct {
	client kubernetes.Interface

	pvLister    corelisters.PersistentVolumeLister
	pvcLister   corelisters.PersistentVolumeClaimLister
	classLister storagelisters.StorageClassLister
	podLister   corelisters.PodLister
	synced      []cache.InformerSynced

	claimQueue  workqueue.TypedRateLimitingInterface[string]
	volumeQueue workqueue.TypedRateLimitingInterface[string]
	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder
	clock       clock.Clock
	resync      time.Duration
}

// NewBinder returns a binder that reads from the given informers and writes through client.
func NewBinder(client kubernetes.Interface, pvInformer coreinformers.PersistentVolumeInformer, pvcInformer coreinformers.PersistentVolumeClaimInformer,
	classInformer storageinformers.StorageClassInformer, podInformer coreinformers.PodInformer, opts ...Option) *Binder {
	o := buildOptions(opts)
	b := &Binder{
		client:      client,
		pvLister:    pvInformer.Lister(),
		pvcLister:   pvcInformer.Lister(),
		classLister: classInformer.Lister(),
		podLister:   podInformer.Lister(),
		synced: []cache.InformerSynced{pvInformer.Informer().HasSynced, pvcInformer.Informer().HasSynced,
			classInformer.Informer().HasSynced, podInformer.Informer().HasSynced},
		claimQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "volume-binder-claims"}),
		volumeQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "volume-binder-volumes"}),
		recorder: o.recorder,
		clock:    o.clock,
		resync:   o.resync,
	}
	if b.recorder == nil {
		b.broadcaster = record.NewBroadcaster()
		b.recorder = b.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "persistentvolume-controller"})
	}
	add := func(inf cache.SharedIndexInformer, h cache.ResourceEventHandler) {
		if _, err := inf.AddEventHandler(h); err != nil {
			utilruntime.HandleError(fmt.Errorf("volume binder: adding event handler: %w", err))
		}
	}
	add(pvInformer.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    b.addVolume,
		UpdateFunc: func(_, cur any) { b.addVolume(cur) },
		DeleteFunc: b.deleteVolume,
	})
	add(pvcInformer.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    b.enqueueClaim,
		UpdateFunc: func(_, cur any) { b.enqueueClaim(cur) },
		DeleteFunc: b.deleteClaim,
	})
	add(podInformer.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    b.addPod,
		UpdateFunc: b.updatePod,
	})
	add(classInformer.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    b.addClass,
		UpdateFunc: func(_, cur any) { b.addClass(cur) },
	})
	return b
}

// Run runs workers workers for claims and as many for volumes until ctx ends.
func (b *Binder) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	defer b.claimQueue.ShutDown()
	defer b.volumeQueue.ShutDown()
	logger := klog.FromContext(ctx)
	if b.broadcaster != nil {
		b.broadcaster.StartStructuredLogging(3)
		b.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: b.client.CoreV1().Events("")})
		defer b.broadcaster.Shutdown()
	}
	logger.Info("Starting persistent volume binder")
	defer logger.Info("Shutting down persistent volume binder")
	if !cache.WaitForCacheSync(ctx.Done(), b.synced...) {
		return
	}
	for range max(workers, 1) {
		go wait.UntilWithContext(ctx, func(ctx context.Context) { runQueue(ctx, b.claimQueue, "claim", b.syncClaim) }, time.Second)
		go wait.UntilWithContext(ctx, func(ctx context.Context) { runQueue(ctx, b.volumeQueue, "volume", b.syncVolume) }, time.Second)
	}
	if b.resync > 0 {
		go wait.UntilWithContext(ctx, func(context.Context) { b.resyncAll() }, b.resync)
	}
	<-ctx.Done()
}

// runQueue processes keys of queue with sync until the queue shuts down.
func runQueue(ctx context.Context, queue workqueue.TypedRateLimitingInterface[string], kind string, sync func(context.Context, string) error) {
	for {
		key, quit := queue.Get()
		if quit {
			return
		}
		func() {
			defer queue.Done(key)
			if err := sync(ctx, key); err != nil {
				if apierrors.IsConflict(err) {
					// Our informer lags behind a write (often our own): just look again.
					klog.FromContext(ctx).V(4).Info("Conflict, retrying", kind, key, "err", err)
				} else {
					utilruntime.HandleErrorWithContext(ctx, err, "Syncing failed", kind, key)
				}
				queue.AddRateLimited(key)
				return
			}
			queue.Forget(key)
		}()
	}
}

func (b *Binder) resyncAll() {
	pvs, _ := b.pvLister.List(labels.Everything())
	for _, pv := range pvs {
		b.volumeQueue.Add(pv.Name)
	}
	pvcs, _ := b.pvcLister.List(labels.Everything())
	for _, pvc := range pvcs {
		b.enqueueClaim(pvc)
	}
}

// --- event handlers: they only enqueue keys.

func (b *Binder) addVolume(obj any) {
	if pv, ok := obj.(*corev1.PersistentVolume); ok {
		b.volumeQueue.Add(pv.Name)
	}
}

func (b *Binder) deleteVolume(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pv, ok := obj.(*corev1.PersistentVolume)
	if !ok {
		return
	}
	// A bound claim whose volume went away becomes Lost.
	if ref := pv.Spec.ClaimRef; ref != nil {
		b.claimQueue.Add(ref.Namespace + "/" + ref.Name)
	}
}

func (b *Binder) enqueueClaim(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	b.claimQueue.Add(key)
}

func (b *Binder) deleteClaim(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	claim, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return
	}
	// Release the volume at once rather than at the next resync; look for volumes bound to
	// the claim that it did not name yet too.
	if claim.Spec.VolumeName != "" {
		b.volumeQueue.Add(claim.Spec.VolumeName)
	}
	pvs, _ := b.pvLister.List(labels.Everything())
	for _, pv := range pvs {
		if ref := pv.Spec.ClaimRef; ref != nil && ref.UID == claim.UID {
			b.volumeQueue.Add(pv.Name)
		}
	}
}

func (b *Binder) addPod(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	for _, name := range podClaimNames(pod) {
		b.claimQueue.Add(pod.Namespace + "/" + name)
	}
}

func (b *Binder) updatePod(old, cur any) {
	o, c := old.(*corev1.Pod), cur.(*corev1.Pod)
	if o.Spec.NodeName != c.Spec.NodeName {
		b.addPod(c)
	}
}

func (b *Binder) addClass(obj any) {
	class, ok := obj.(*storagev1.StorageClass)
	if !ok {
		return
	}
	pvcs, _ := b.pvcLister.List(labels.Everything())
	for _, pvc := range pvcs {
		if pvc.Spec.VolumeName == "" && claimClass(pvc) == class.Name {
			b.enqueueClaim(pvc)
		}
	}
}

// --- claims

func (b *Binder) syncClaim(ctx context.Context, key string) error {
	err := b.syncClaimKey(ctx, key)
	if apierrors.IsNotFound(err) {
		return nil // the claim (or its volume) went away meanwhile; its deletion is handled
	}
	return err
}

func (b *Binder) syncClaimKey(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	claim, err := b.pvcLister.PersistentVolumeClaims(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	unbound := !metav1.HasAnnotation(claim.ObjectMeta, AnnBindCompleted) && claim.Spec.VolumeName == ""
	if unbound && claim.DeletionTimestamp != nil {
		return nil // going away: nothing to bind or provision
	}
	var in claimInput
	if c := claimClass(claim); c != "" {
		in.class, err = b.classLister.Get(c)
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	if unbound && isDelayBinding(in.class) {
		selected := claim.Annotations[AnnSelectedNode]
		if selected == "" {
			pods, err := b.podLister.Pods(namespace).List(labels.Everything())
			if err != nil {
				return err
			}
			node, unscheduled := selectedNodeFor(claim, pods)
			if node != "" {
				return b.selectNode(ctx, claim, node)
			}
			in.unscheduledConsumer = unscheduled
		} else if in.node, err = b.getNode(ctx, selected); err != nil {
			return err
		}
	}
	if claim.Spec.VolumeName != "" {
		in.volume, err = b.pvLister.Get(claim.Spec.VolumeName)
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	if unbound {
		if in.volumes, err = b.pvLister.List(labels.Everything()); err != nil {
			return err
		}
	}
	d := decideClaim(claim, in)
	switch d.action {
	case claimBind:
		return b.bind(ctx, d.volume, claim)
	case claimLost:
		if claim.Status.Phase == corev1.ClaimLost {
			return nil
		}
		updated, err := b.updateClaimStatus(ctx, claim, corev1.ClaimLost, nil)
		if err == nil {
			b.recorder.Event(updated, d.eventType, d.reason, d.message)
		}
		return err
	case claimProvision:
		if claim, err = b.setProvisioner(ctx, claim, d.provisioner); err != nil {
			return err
		}
	case claimError:
		return d.err
	}
	if d.reason != "" {
		b.recorder.Event(claim, d.eventType, d.reason, d.message)
	}
	_, err = b.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
	return err
}

// getNode returns the node name, or a stand-in carrying only its name and hostname label
// when there is no such Node.
func (b *Binder) getNode(ctx context.Context, name string) (*corev1.Node, error) {
	node, err := b.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}}}, nil
	}
	return node, err
}

// annotationPatch returns a merge patch setting annotations.
func annotationPatch(ann map[string]string) []byte {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": ann}})
	return patch
}

// selectNode records node as the claim's selected node (what Kubernetes' scheduler does for
// WaitForFirstConsumer claims of a pod it schedules).
func (b *Binder) selectNode(ctx context.Context, claim *corev1.PersistentVolumeClaim, node string) error {
	klog.FromContext(ctx).V(2).Info("Selected node for claim", "claim", klog.KObj(claim), "node", node)
	_, err := b.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Patch(ctx, claim.Name, types.MergePatchType,
		annotationPatch(map[string]string{AnnSelectedNode: node}), metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// setProvisioner hands the claim to provisioner.
func (b *Binder) setProvisioner(ctx context.Context, claim *corev1.PersistentVolumeClaim, provisioner string) (*corev1.PersistentVolumeClaim, error) {
	if claim.Annotations[AnnStorageProvisioner] == provisioner && claim.Annotations[AnnBetaStorageProvisioner] == provisioner {
		return claim, nil
	}
	claim = claim.DeepCopy()
	metav1.SetMetaDataAnnotation(&claim.ObjectMeta, AnnStorageProvisioner, provisioner)
	metav1.SetMetaDataAnnotation(&claim.ObjectMeta, AnnBetaStorageProvisioner, provisioner)
	return b.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, claim, metav1.UpdateOptions{})
}

// updateClaimStatus writes the claim's phase (with the volume's capacity and access modes
// when bound), if it changed.
func (b *Binder) updateClaimStatus(ctx context.Context, claim *corev1.PersistentVolumeClaim, phase corev1.PersistentVolumeClaimPhase, pv *corev1.PersistentVolume) (*corev1.PersistentVolumeClaim, error) {
	st := claimStatus(claim, phase, pv)
	if claimStatusEqual(st, claim.Status) {
		return claim, nil
	}
	claim = claim.DeepCopy()
	claim.Status = st
	updated, err := b.client.CoreV1().PersistentVolumeClaims(claim.Namespace).UpdateStatus(ctx, claim, metav1.UpdateOptions{})
	if err != nil {
		return nil, err
	}
	klog.FromContext(ctx).V(2).Info("Claim entered phase", "claim", klog.KObj(claim), "phase", phase)
	return updated, nil
}

// bind binds volume and claim to each other and marks both Bound, saving the volume first.
func (b *Binder) bind(ctx context.Context, pv *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) error {
	var err error
	if next, changed := bindVolume(pv, claim); changed {
		if pv, err = b.client.CoreV1().PersistentVolumes().Update(ctx, next, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("binding volume %s to claim %s/%s: %w", next.Name, claim.Namespace, claim.Name, err)
		}
	}
	if pv, err = b.setVolumePhase(ctx, pv, corev1.VolumeBound, ""); err != nil {
		return err
	}
	if next, changed := bindClaim(claim, pv); changed {
		if claim, err = b.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, next, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("binding claim %s/%s to volume %s: %w", next.Namespace, next.Name, pv.Name, err)
		}
		klog.FromContext(ctx).V(2).Info("Bound claim to volume", "claim", klog.KObj(claim), "volume", pv.Name)
	}
	_, err = b.updateClaimStatus(ctx, claim, corev1.ClaimBound, pv)
	return err
}

// --- volumes

func (b *Binder) syncVolume(ctx context.Context, name string) error {
	pv, err := b.pvLister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var claim *corev1.PersistentVolumeClaim
	if ref := pv.Spec.ClaimRef; ref != nil && ref.UID != "" {
		if claim, err = b.findClaim(ctx, ref); err != nil {
			return err
		}
	}
	switch decideVolume(pv, claim) {
	case volumeAvailable:
		_, err = b.setVolumePhase(ctx, pv, corev1.VolumeAvailable, "")
	case volumeBound:
		_, err = b.setVolumePhase(ctx, pv, corev1.VolumeBound, "")
	case volumeSyncClaim:
		b.claimQueue.Add(claim.Namespace + "/" + claim.Name)
	case volumeModeMismatchEvent:
		b.recorder.Event(pv, corev1.EventTypeWarning, reasonVolumeMismatch, "Cannot bind PersistentVolume to requested PersistentVolumeClaim due to incompatible volumeMode.")
	case volumeUnbind:
		var updated *corev1.PersistentVolume
		if updated, err = b.client.CoreV1().PersistentVolumes().Update(ctx, unbindVolume(pv), metav1.UpdateOptions{}); err == nil {
			_, err = b.setVolumePhase(ctx, updated, corev1.VolumeAvailable, "")
		}
	case volumeRelease:
		if pv.Status.Phase != corev1.VolumeReleased && pv.Status.Phase != corev1.VolumeFailed {
			klog.FromContext(ctx).V(2).Info("Volume is released", "volume", pv.Name, "reclaimPolicy", pv.Spec.PersistentVolumeReclaimPolicy)
			if pv, err = b.setVolumePhase(ctx, pv, corev1.VolumeReleased, ""); err != nil {
				return err
			}
		}
		err = b.reclaim(ctx, pv)
	}
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// findClaim returns the claim ref names, nil when it does not exist. A claim missing from
// the informer is looked up on the API server, so that a lagging cache never releases a
// volume whose claim exists.
func (b *Binder) findClaim(ctx context.Context, ref *corev1.ObjectReference) (*corev1.PersistentVolumeClaim, error) {
	claim, err := b.pvcLister.PersistentVolumeClaims(ref.Namespace).Get(ref.Name)
	if err == nil && claim.UID == ref.UID {
		return claim, nil
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, err
	}
	claim, err = b.client.CoreV1().PersistentVolumeClaims(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return claim, err
}

// setVolumePhase writes the volume's phase and message, if the phase changed.
func (b *Binder) setVolumePhase(ctx context.Context, pv *corev1.PersistentVolume, phase corev1.PersistentVolumePhase, message string) (*corev1.PersistentVolume, error) {
	if pv.Status.Phase == phase {
		return pv, nil
	}
	pv = pv.DeepCopy()
	now := metav1.NewTime(b.clock.Now())
	pv.Status.Phase, pv.Status.Message, pv.Status.LastPhaseTransitionTime = phase, message, &now
	updated, err := b.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, pv, metav1.UpdateOptions{})
	if err != nil {
		return nil, err
	}
	klog.FromContext(ctx).V(2).Info("Volume entered phase", "volume", pv.Name, "phase", phase)
	return updated, nil
}

// reclaim applies a released volume's reclaim policy.
func (b *Binder) reclaim(ctx context.Context, pv *corev1.PersistentVolume) error {
	action, reason, message := decideReclaim(pv)
	switch action {
	case reclaimFail:
		if pv.Status.Phase == corev1.VolumeFailed {
			return nil
		}
		updated, err := b.setVolumePhase(ctx, pv, corev1.VolumeFailed, message)
		if err == nil {
			b.recorder.Event(updated, corev1.EventTypeWarning, reason, message)
		}
		return err
	case reclaimDelete:
		// Only the version we decided on: if anyone rebound it meanwhile, look again.
		uid, rv := pv.UID, pv.ResourceVersion
		err := b.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rv}})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			if !apierrors.IsConflict(err) {
				b.recorder.Event(pv, corev1.EventTypeWarning, reasonVolumeFailedDelete, err.Error())
			}
			return err
		}
		klog.FromContext(ctx).V(2).Info("Deleted released volume", "volume", pv.Name)
	case reclaimExternal:
		klog.FromContext(ctx).V(4).Info("Released volume waits for its provisioner to delete it", "volume", pv.Name, "provisioner", pv.Annotations[AnnDynamicallyProvisioned])
	}
	return nil
}
