package kubelet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/kijabi/kijabi/internal/cri"
	"github.com/kijabi/kijabi/internal/kubelet/volume"
)

// Kubelet is one node agent.
type Kubelet struct {
	cfg      Config
	log      *slog.Logger
	recorder record.EventRecorder
	machine  *machine
	pods     listerscorev1.PodLister

	// crashBackoff and pullBackoff are the kubelet's restart and image pull back-offs,
	// keyed by pod UID and container name (or image).
	crashBackoff *flowcontrol.Backoff
	pullBackoff  *flowcontrol.Backoff
	probes       *probeResults
	objects      *apiObjects
	// allocs holds the pods' allocated and actuated resources (in-place resize);
	// allocMu serialises resize decisions, and pendingResizes holds the pods whose
	// resize waits (Deferred or Infeasible), to look at again when room is made.
	allocs         allocations
	allocMu        sync.Mutex
	pendingResizes map[types.UID]bool
	volumes        *volume.Manager

	// cidrMu serialises configuring the pod network (from the node informer and the
	// status loop).
	cidrMu           sync.Mutex
	mu               sync.Mutex
	workers          map[types.UID]*podWorker
	podCIDR          string
	notReady         string
	lastStatusReport time.Time
	networkReady     chan struct{}
	wg               sync.WaitGroup
}

// New makes a kubelet; Run starts it.
func New(cfg Config) (*Kubelet, error) {
	cfg.setDefaults()
	if cfg.NodeName == "" || cfg.Client == nil || cfg.Runtime == nil || cfg.RootDir == "" || cfg.NodeIP == nil {
		return nil, errors.New("kubelet: NodeName, Client, Runtime, RootDir and NodeIP are required")
	}
	objects := &apiObjects{client: cfg.Client}
	k := &Kubelet{
		cfg:            cfg,
		objects:        objects,
		log:            cfg.Log.With("component", "kubelet", "node", cfg.NodeName),
		crashBackoff:   flowcontrol.NewBackOff(10*time.Second, 300*time.Second),
		pullBackoff:    flowcontrol.NewBackOff(10*time.Second, 300*time.Second),
		probes:         newProbeResults(),
		workers:        map[types.UID]*podWorker{},
		allocs:         allocations{root: cfg.RootDir},
		pendingResizes: map[types.UID]bool{},
		networkReady:   make(chan struct{}),
		notReady:       "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized",
	}
	k.volumes = &volume.Manager{
		Root: filepath.Join(cfg.RootDir, "pods"), Sources: objects, Log: k.log,
		Allocatable: func() corev1.ResourceList {
			if k.machine == nil {
				return nil
			}
			return k.machine.allocatable
		},
	}
	return k, nil
}

// Run registers the node and runs its pods until ctx ends. Containers are left running
// when it returns, so that a restarted kubelet adopts them.
func (k *Kubelet) Run(ctx context.Context) error {
	m, err := k.readMachine(ctx)
	if err != nil {
		return err
	}
	k.machine = m
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	events := k.cfg.EventClient
	if events == nil {
		events = k.cfg.Client
	}
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: events.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	k.recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: k.cfg.NodeName})

	if err := k.register(ctx); err != nil {
		return err
	}
	k.recorder.Eventf(&corev1.ObjectReference{Kind: "Node", Name: k.cfg.NodeName, UID: types.UID(k.cfg.NodeName)}, corev1.EventTypeNormal, "Starting", "Starting kubelet.")
	k.wg.Add(1)
	go func() { defer k.wg.Done(); k.runHeartbeats(ctx) }()

	// Only this node's pods, without their managedFields (the kubelet never reads them,
	// and a status write without them keeps the stored ones).
	factory := informers.NewSharedInformerFactoryWithOptions(k.cfg.Client, 0,
		informers.WithTransform(stripManagedFields),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", k.cfg.NodeName).String()
		}))
	podInformer := factory.Core().V1().Pods()
	services := k.cfg.Informers
	if services == nil {
		services = informers.NewSharedInformerFactoryWithOptions(k.cfg.Client, 0, informers.WithTransform(stripManagedFields))
		defer services.Shutdown()
	}
	k.objects.services = services.Core().V1().Services().Lister()
	services.Start(ctx.Done())
	k.pods = podInformer.Lister()
	_, _ = podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.podChanged(ctx, obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj any) { k.podChanged(ctx, obj.(*corev1.Pod)) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				k.podGone(ctx, pod.UID)
			}
		},
	})
	// The own Node, to pick up the podCIDR as soon as node IPAM assigns it: the cache
	// keeps only that (a Node's status, with its image list, is large).
	nodes := informers.NewSharedInformerFactoryWithOptions(k.cfg.Client, 0,
		informers.WithTransform(podCIDROnly),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", k.cfg.NodeName).String()
		}))
	_, _ = nodes.Core().V1().Nodes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.observePodCIDR(obj.(*corev1.Node)) },
		UpdateFunc: func(_, obj any) { k.observePodCIDR(obj.(*corev1.Node)) },
	})
	nodes.Start(ctx.Done())
	defer nodes.Shutdown()
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), podInformer.Informer().HasSynced) {
		return ctx.Err()
	}
	k.log.Info("kubelet started")
	k.wg.Add(2)
	go func() { defer k.wg.Done(); k.relist(ctx) }()
	go func() { defer k.wg.Done(); k.rotateLogs(ctx) }()
	<-ctx.Done()
	k.wg.Wait()
	k.probes.stopAll()
	return nil
}

// stripManagedFields is an informer transform that drops objects' managedFields.
func stripManagedFields(obj any) (any, error) {
	if o, ok := obj.(metav1.Object); ok && o.GetManagedFields() != nil {
		o.SetManagedFields(nil)
	}
	return obj, nil
}

// podCIDROnly is an informer transform that keeps of a Node what the kubelet watches it
// for: its name and podCIDR.
func podCIDROnly(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, UID: n.UID, ResourceVersion: n.ResourceVersion},
		Spec:       corev1.NodeSpec{PodCIDR: n.Spec.PodCIDR, PodCIDRs: n.Spec.PodCIDRs},
	}, nil
}

// Pods lists the pods bound to this node (for the kubelet server's /pods).
func (k *Kubelet) Pods() ([]*corev1.Pod, error) {
	if k.pods == nil {
		return nil, nil
	}
	return k.pods.List(labelsEverything())
}

// podWorker owns one pod: every action on its sandbox and containers happens on its
// goroutine.
type podWorker struct {
	uid  types.UID
	poke chan struct{}
	mu   sync.Mutex
	pod  *corev1.Pod // latest from the informer; nil once gone from the API
	gone bool
	// written is the status this worker last wrote: the informer's echo of that write
	// needs no sync.
	written *corev1.PodStatus
	// observed holds the state of each of the pod's containers as the last sync left
	// them, and busy is set while a sync runs: the relist wakes the worker only for
	// changes it has not seen itself.
	observed map[string]runtimeapi.ContainerState
	busy     bool
	// terminating is set once the pod's containers were stopped for its deletion.
	terminating bool
	// refreshed is when the pod's volumes were last (set up or) refreshed; only the
	// worker's goroutine uses it.
	refreshed time.Time
}

func (w *podWorker) latest() (*corev1.Pod, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod, w.gone
}

func (w *podWorker) wake() {
	select {
	case w.poke <- struct{}{}:
	default:
	}
}

// podChanged hands a new version of a pod to its worker, starting one if needed. The
// echo of the worker's own status write changes nothing the worker does not know, so it
// does not wake it.
func (k *Kubelet) podChanged(ctx context.Context, pod *corev1.Pod) {
	w := k.worker(ctx, pod.UID)
	w.mu.Lock()
	echo := w.pod != nil && w.written != nil && statusEcho(w.pod, pod, w.written)
	w.pod = pod
	w.mu.Unlock()
	if !echo {
		w.wake()
	}
}

// statusEcho reports whether cur differs from old only in its status (and resource
// version), and that status is written: the update a worker's own status write causes.
func statusEcho(old, cur *corev1.Pod, written *corev1.PodStatus) bool {
	if old.UID != cur.UID || old.Generation != cur.Generation || !old.DeletionTimestamp.Equal(cur.DeletionTimestamp) {
		return false
	}
	a, b := old.ObjectMeta, cur.ObjectMeta
	a.ResourceVersion, b.ResourceVersion = "", ""
	a.ManagedFields, b.ManagedFields = nil, nil
	return apiequality.Semantic.DeepEqual(a, b) && apiequality.Semantic.DeepEqual(old.Spec, cur.Spec) &&
		apiequality.Semantic.DeepEqual(&cur.Status, written)
}

// setBusy marks the start (true) or end of a sync.
func (w *podWorker) setBusy(b bool) {
	w.mu.Lock()
	w.busy = b
	w.mu.Unlock()
}

// observe records the containers' states a sync left the pod in.
func (w *podWorker) observe(st *podState) {
	seen := map[string]runtimeapi.ContainerState{}
	for _, l := range st.containers {
		for _, c := range l {
			seen[c.Id] = c.State
		}
	}
	w.mu.Lock()
	w.observed = seen
	w.mu.Unlock()
}

// sawAlready reports whether the worker is syncing, and whether its last sync left the
// pod's containers as states says they are now.
func (w *podWorker) sawAlready(states map[string]runtimeapi.ContainerState) (busy, seen bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.busy {
		return true, false
	}
	if w.observed == nil || len(w.observed) != len(states) {
		return false, false
	}
	for id, s := range states {
		if o, ok := w.observed[id]; !ok || o != s {
			return false, false
		}
	}
	return false, true
}

// podGone tells a pod's worker that the pod left the API.
func (k *Kubelet) podGone(ctx context.Context, uid types.UID) {
	w := k.worker(ctx, uid)
	w.mu.Lock()
	w.gone = true
	w.mu.Unlock()
	w.wake()
	k.retryPendingResizes() // its room may let a deferred resize through
}

// worker returns the worker of uid, starting it if there is none.
func (k *Kubelet) worker(ctx context.Context, uid types.UID) *podWorker {
	k.mu.Lock()
	defer k.mu.Unlock()
	if w, ok := k.workers[uid]; ok {
		return w
	}
	w := &podWorker{uid: uid, poke: make(chan struct{}, 1)}
	k.workers[uid] = w
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		k.runWorker(ctx, w)
	}()
	return w
}

// runWorker syncs w's pod whenever poked, and again when the sync asks to be called back.
func (k *Kubelet) runWorker(ctx context.Context, w *podWorker) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.poke:
		case <-timer.C:
		}
		pod, gone := w.latest()
		var again time.Duration
		if gone || pod == nil {
			if err := k.teardown(ctx, w.uid, 2); err != nil {
				k.log.Warn("removing pod", "uid", w.uid, "err", err)
				again = 5 * time.Second
			} else {
				k.mu.Lock()
				delete(k.workers, w.uid)
				k.mu.Unlock()
				return
			}
		} else {
			w.setBusy(true)
			again = k.syncPod(ctx, w, pod)
			w.setBusy(false)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(again)
	}
}

// relist is the kubelet's pod lifecycle event generator: it lists the runtime's
// containers every second and wakes the workers of pods whose containers changed, and
// removes what belongs to pods the API no longer has. A change the worker made itself
// (it started a container, and saw it running when its sync ended) wakes nobody; a
// change seen while the worker syncs is checked again on the next relist.
func (k *Kubelet) relist(ctx context.Context) {
	last := map[string]runtimeapi.ContainerState{}
	pending := map[types.UID]bool{}
	ticker := k.cfg.Clock.NewTicker(time.Second)
	defer ticker.Stop()
	for {
		cs, err := k.cfg.Runtime.Runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{
			Filter: &runtimeapi.ContainerFilter{LabelSelector: map[string]string{cri.LabelManagedBy: "true"}}})
		if err == nil {
			sbs, _ := k.cfg.Runtime.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{
				Filter: &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{cri.LabelManagedBy: "true"}}})
			now := map[string]runtimeapi.ContainerState{}
			byPod := map[types.UID]map[string]runtimeapi.ContainerState{}
			present := map[types.UID]bool{}
			for _, c := range cs.Containers {
				uid := types.UID(c.Labels[cri.LabelPodUID])
				present[uid] = true
				now[c.Id] = c.State
				if byPod[uid] == nil {
					byPod[uid] = map[string]runtimeapi.ContainerState{}
				}
				byPod[uid][c.Id] = c.State
				if prev, ok := last[c.Id]; !ok || prev != c.State {
					pending[uid] = true
				}
			}
			if sbs != nil {
				for _, sb := range sbs.Items {
					present[types.UID(sb.Labels[cri.LabelPodUID])] = true
				}
			}
			last = now
			for uid := range present {
				k.mu.Lock()
				w, ok := k.workers[uid]
				k.mu.Unlock()
				switch {
				case ok && pending[uid]:
					busy, seen := w.sawAlready(byPod[uid])
					if busy {
						continue // looked at again on the next relist
					}
					delete(pending, uid)
					if !seen {
						w.wake()
					}
				case !ok && !k.podKnown(uid):
					// Left over from a pod deleted while the kubelet was away.
					k.podGone(ctx, uid)
				}
			}
			for uid := range pending {
				if !present[uid] {
					delete(pending, uid)
				}
			}
		} else if ctx.Err() == nil {
			k.log.Warn("listing containers", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
		}
	}
}

// podKnown reports whether the API has a pod with this UID bound here.
func (k *Kubelet) podKnown(uid types.UID) bool {
	pods, _ := k.Pods()
	return slices.ContainsFunc(pods, func(p *corev1.Pod) bool { return p.UID == uid })
}

func podDesc(pod *corev1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}
