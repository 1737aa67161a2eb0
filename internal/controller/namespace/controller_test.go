package namespace

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	discoveryfake "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/informers"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/util/workqueue"
)

var configMapsGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// coreResources is what discovery serves in the unit tests: pods with every verb, configmaps
// without deletecollection (deleted one by one), nodes (cluster-scoped: never touched) and
// bindings (create only: never touched).
func coreResources() []*metav1.APIResourceList {
	all := []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	return []*metav1.APIResourceList{{
		GroupVersion: "v1",
		APIResources: []metav1.APIResource{
			{Name: "pods", Namespaced: true, Kind: "Pod", Verbs: all},
			{Name: "pods/status", Namespaced: true, Kind: "Pod", Verbs: []string{"get", "patch", "update"}},
			{Name: "configmaps", Namespaced: true, Kind: "ConfigMap", Verbs: []string{"create", "delete", "get", "list", "patch", "update", "watch"}},
			{Name: "nodes", Namespaced: false, Kind: "Node", Verbs: all},
			{Name: "bindings", Namespaced: true, Kind: "Binding", Verbs: []string{"create"}},
		},
	}}
}

func terminating(name string, deletedAgo time.Duration) *corev1.Namespace {
	ts := metav1.NewTime(time.Now().Add(-deletedAgo))
	return &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), DeletionTimestamp: &ts},
		Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating},
	}
}

func partial(apiVersion, kind, namespace, name string, finalizers ...string) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: apiVersion, Kind: kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Finalizers: finalizers},
	}
}

// recordingQueue records how the worker requeues keys.
type recordingQueue struct {
	workqueue.TypedRateLimitingInterface[string]
	mu          sync.Mutex
	after       map[string]time.Duration
	rateLimited []string
}

func (q *recordingQueue) AddAfter(key string, d time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.after[key] = d
}

func (q *recordingQueue) AddRateLimited(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.rateLimited = append(q.rateLimited, key)
}

type fixture struct {
	client *k8sfake.Clientset
	meta   *metadatafake.FakeMetadataClient
	disco  *discoveryfake.FakeDiscovery
	ctrl   *Controller
	queue  *recordingQueue
}

// brokenDiscovery fails discovery of one group version.
type brokenDiscovery struct {
	*discoveryfake.FakeDiscovery
	broken string
}

func (d brokenDiscovery) ServerResourcesForGroupVersion(gv string) (*metav1.APIResourceList, error) {
	return d.ServerResourcesForGroupVersionWithContext(context.Background(), gv)
}

func (d brokenDiscovery) ServerResourcesForGroupVersionWithContext(ctx context.Context, gv string) (*metav1.APIResourceList, error) {
	if gv == d.broken {
		return nil, errors.New("boom")
	}
	return d.FakeDiscovery.ServerResourcesForGroupVersionWithContext(ctx, gv)
}

func newFixture(t *testing.T, ns *corev1.Namespace, resources []*metav1.APIResourceList, content ...runtime.Object) *fixture {
	t.Helper()
	client := k8sfake.NewClientset(ns)
	scheme := runtime.NewScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	meta := metadatafake.NewSimpleMetadataClient(scheme, content...)
	serverLikeDeletes(meta)
	disco := client.Discovery().(*discoveryfake.FakeDiscovery)
	disco.Resources = resources

	factory := informers.NewSharedInformerFactory(client, 0)
	nsInformer := factory.Core().V1().Namespaces()
	ctrl := New(client, meta, disco, nsInformer)
	if err := nsInformer.Informer().GetIndexer().Add(ns); err != nil {
		t.Fatal(err)
	}
	q := &recordingQueue{TypedRateLimitingInterface: ctrl.queue, after: map[string]time.Duration{}}
	ctrl.queue = q
	t.Cleanup(q.ShutDown)
	return &fixture{client: client, meta: meta, disco: disco, ctrl: ctrl, queue: q}
}

// serverLikeDeletes makes the fake metadata client delete as the API server does: objects
// with finalizers are only marked, and deletecollection deletes every object of the namespace.
func serverLikeDeletes(meta *metadatafake.FakeMetadataClient) {
	tracker := meta.Tracker()
	del := func(gvr schema.GroupVersionResource, ns, name string) error {
		obj, err := tracker.Get(gvr, ns, name)
		if err != nil {
			return err
		}
		p := obj.(*metav1.PartialObjectMetadata)
		if len(p.Finalizers) == 0 {
			return tracker.Delete(gvr, ns, name)
		}
		if p.DeletionTimestamp == nil {
			p = p.DeepCopy()
			now := metav1.Now()
			p.DeletionTimestamp = &now
			return tracker.Update(gvr, p, ns)
		}
		return nil
	}
	meta.PrependReactor("delete", "*", func(a clienttesting.Action) (bool, runtime.Object, error) {
		d := a.(clienttesting.DeleteAction)
		return true, nil, del(d.GetResource(), d.GetNamespace(), d.GetName())
	})
	meta.PrependReactor("delete-collection", "*", func(a clienttesting.Action) (bool, runtime.Object, error) {
		gvr, ns := a.GetResource(), a.GetNamespace()
		obj, err := tracker.List(gvr, schema.GroupVersionKind{Group: "fake-metadata-client-group", Version: "v1"}, ns)
		if err != nil {
			return true, nil, err
		}
		for _, item := range obj.(*metav1.List).Items {
			p := item.Object.(*metav1.PartialObjectMetadata)
			if err := del(gvr, ns, p.Name); err != nil && !apierrors.IsNotFound(err) {
				return true, nil, err
			}
		}
		return true, nil, nil
	})
}

func (f *fixture) names(t *testing.T, gvr schema.GroupVersionResource, ns string) []string {
	t.Helper()
	list, err := f.meta.Resource(gvr).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, item := range list.Items {
		out = append(out, item.Name)
	}
	return out
}

// lastStatus is the namespace status last written through UpdateStatus.
func (f *fixture) lastStatus(t *testing.T) *corev1.NamespaceStatus {
	t.Helper()
	var status *corev1.NamespaceStatus
	for _, a := range f.client.Actions() {
		if u, ok := a.(clienttesting.UpdateAction); ok && a.GetResource().Resource == "namespaces" && a.GetSubresource() == "status" {
			status = &u.GetObject().(*corev1.Namespace).Status
		}
	}
	if status == nil {
		t.Fatal("no namespace status update")
	}
	return status
}

func conditionOf(t *testing.T, status *corev1.NamespaceStatus, ct corev1.NamespaceConditionType) corev1.NamespaceCondition {
	t.Helper()
	c := findCondition(status.Conditions, ct)
	if c == nil {
		t.Fatalf("no %s condition in %+v", ct, status.Conditions)
	}
	return *c
}

func wantCondition(t *testing.T, status *corev1.NamespaceStatus, ct corev1.NamespaceConditionType, s corev1.ConditionStatus, reason, msg string) {
	t.Helper()
	c := conditionOf(t, status, ct)
	if c.Status != s || c.Reason != reason || c.Message != msg {
		t.Errorf("%s: got %s %q %q, want %s %q %q", ct, c.Status, c.Reason, c.Message, s, reason, msg)
	}
}

func TestSyncDeletesContentThenFinalizes(t *testing.T) {
	ns := terminating("doomed", time.Hour)
	f := newFixture(t, ns, coreResources(),
		partial("v1", "ConfigMap", "doomed", "a"),
		partial("v1", "ConfigMap", "doomed", "b"),
		partial("v1", "Pod", "doomed", "p"),
		partial("v1", "ConfigMap", "other", "keep"),
	)
	if err := f.ctrl.sync(context.Background(), "doomed"); err != nil {
		t.Fatalf("sync: %v", err)
	}
	if got := f.names(t, configMapsGVR, "doomed"); len(got) != 0 {
		t.Errorf("configmaps left: %v", got)
	}
	if got := f.names(t, podsGVR, "doomed"); len(got) != 0 {
		t.Errorf("pods left: %v", got)
	}
	if got := f.names(t, configMapsGVR, "other"); len(got) != 1 {
		t.Errorf("other namespace's configmaps: %v, want [keep]", got)
	}

	// Pods by deletecollection, configmaps one by one, always in the background.
	var sawPodCollection, sawConfigMapDelete bool
	for _, a := range f.meta.Actions() {
		switch a.GetVerb() {
		case "delete-collection":
			if a.GetResource() == configMapsGVR {
				t.Errorf("deletecollection of configmaps, which discovery does not offer")
			}
			sawPodCollection = sawPodCollection || a.GetResource() == podsGVR
		case "delete":
			d := a.(clienttesting.DeleteAction)
			if a.GetResource() == configMapsGVR {
				sawConfigMapDelete = true
				if p := d.GetDeleteOptions().PropagationPolicy; p == nil || *p != metav1.DeletePropagationBackground {
					t.Errorf("delete %s without propagationPolicy=Background", d.GetName())
				}
			}
		}
		if a.GetResource().Resource == "nodes" || a.GetResource().Resource == "bindings" {
			t.Errorf("touched %s: %v", a.GetResource().Resource, a)
		}
	}
	if !sawPodCollection || !sawConfigMapDelete {
		t.Errorf("pods deletecollection %v, configmap deletes %v", sawPodCollection, sawConfigMapDelete)
	}

	// Every condition reports success.
	status := f.lastStatus(t)
	for _, ct := range conditionTypes {
		wantCondition(t, status, ct, corev1.ConditionFalse, okReasons[ct], okMessages[ct])
	}

	// The finalizer went through the finalize subresource, then the namespace was deleted.
	var finalized, deleted bool
	for _, a := range f.client.Actions() {
		if u, ok := a.(clienttesting.UpdateAction); ok && a.GetSubresource() == "finalize" {
			finalized = true
			if fs := u.GetObject().(*corev1.Namespace).Spec.Finalizers; len(fs) != 0 {
				t.Errorf("finalize left %v", fs)
			}
		}
		if a.GetVerb() == "delete" && a.GetResource().Resource == "namespaces" {
			d := a.(clienttesting.DeleteAction)
			deleted = true
			if p := d.GetDeleteOptions().Preconditions; p == nil || p.UID == nil || *p.UID != ns.UID {
				t.Errorf("namespace delete without UID precondition: %+v", d.GetDeleteOptions())
			}
		}
	}
	if !finalized || !deleted {
		t.Errorf("finalized %v, deleted %v", finalized, deleted)
	}
	if _, err := f.client.CoreV1().Namespaces().Get(context.Background(), "doomed", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace still there: %v", err)
	}
}

func TestSyncKeepsOtherSpecFinalizers(t *testing.T) {
	ns := terminating("shared", time.Hour)
	ns.Spec.Finalizers = []corev1.FinalizerName{"example.com/other", corev1.FinalizerKubernetes}
	f := newFixture(t, ns, coreResources())
	if err := f.ctrl.sync(context.Background(), "shared"); err != nil {
		t.Fatalf("sync: %v", err)
	}
	got, err := f.client.CoreV1().Namespaces().Get(context.Background(), "shared", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fs := got.Spec.Finalizers; len(fs) != 1 || fs[0] != "example.com/other" {
		t.Errorf("finalizers %v, want [example.com/other]", fs)
	}
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "delete" {
			t.Errorf("deleted a namespace another finalizer still holds")
		}
	}
}

func TestSyncWaitsForFinalizedContent(t *testing.T) {
	ns := terminating("held", time.Hour)
	f := newFixture(t, ns, coreResources(),
		partial("v1", "ConfigMap", "held", "stuck", "example.com/hold"),
		partial("v1", "ConfigMap", "held", "free"),
	)
	ctx := context.Background()

	err := f.ctrl.sync(ctx, "held")
	var remaining *contentRemainingError
	if !errors.As(err, &remaining) || remaining.estimate != finalizerEstimateSeconds {
		t.Fatalf("sync: %v, want content remaining with estimate %d", err, finalizerEstimateSeconds)
	}
	if got := f.names(t, configMapsGVR, "held"); len(got) != 1 || got[0] != "stuck" {
		t.Errorf("configmaps %v, want [stuck]", got)
	}
	cur, err := f.client.CoreV1().Namespaces().Get(ctx, "held", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cur.Spec.Finalizers) != 1 {
		t.Errorf("finalizer removed while content remains: %v", cur.Spec.Finalizers)
	}
	wantCondition(t, &cur.Status, corev1.NamespaceContentRemaining, corev1.ConditionTrue, "SomeResourcesRemain",
		"Some resources are remaining: configmaps. has 1 resource instances")
	wantCondition(t, &cur.Status, corev1.NamespaceFinalizersRemaining, corev1.ConditionTrue, "SomeFinalizersRemain",
		"Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances")
	wantCondition(t, &cur.Status, corev1.NamespaceDeletionContentFailure, corev1.ConditionFalse, "ContentDeleted", okMessages[corev1.NamespaceDeletionContentFailure])
	transitioned := conditionOf(t, &cur.Status, corev1.NamespaceContentRemaining).LastTransitionTime

	// The worker requeues after a delay, without counting it as a failure.
	f.queue.Add("held")
	if !f.ctrl.processNextItem(ctx) {
		t.Fatal("queue shut down")
	}
	if d, ok := f.queue.after["held"]; !ok || d != requeueDelay(finalizerEstimateSeconds) {
		t.Errorf("requeued after %v (%v), want %v", d, ok, requeueDelay(finalizerEstimateSeconds))
	}
	if len(f.queue.rateLimited) != 0 {
		t.Errorf("rate-limited requeue %v", f.queue.rateLimited)
	}

	// The finalizer goes: the next pass releases the namespace and clears the conditions.
	stuck, err := f.meta.Tracker().Get(configMapsGVR, "held", "stuck")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.meta.Tracker().Delete(configMapsGVR, "held", stuck.(*metav1.PartialObjectMetadata).Name); err != nil {
		t.Fatal(err)
	}
	f.ctrl.now = func() time.Time { return time.Now().Add(time.Minute) }
	if err := f.ctrl.sync(ctx, "held"); err != nil {
		t.Fatalf("second sync: %v", err)
	}
	status := f.lastStatus(t)
	wantCondition(t, status, corev1.NamespaceContentRemaining, corev1.ConditionFalse, "ContentRemoved", "All content successfully removed")
	wantCondition(t, status, corev1.NamespaceFinalizersRemaining, corev1.ConditionFalse, "ContentHasNoFinalizers", "All content-preserving finalizers finished")
	if got := conditionOf(t, status, corev1.NamespaceContentRemaining).LastTransitionTime; !got.After(transitioned.Time) {
		t.Errorf("lastTransitionTime %v did not move past %v", got, transitioned)
	}
	if _, err := f.client.CoreV1().Namespaces().Get(ctx, "held", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace still there: %v", err)
	}
}

func TestSyncDeletesPodsFirst(t *testing.T) {
	ns := terminating("ordered", time.Hour)
	f := newFixture(t, ns, coreResources(),
		partial("v1", "Pod", "ordered", "p", "example.com/hold"),
		partial("v1", "ConfigMap", "ordered", "c"),
	)
	err := f.ctrl.sync(context.Background(), "ordered")
	var remaining *contentRemainingError
	if !errors.As(err, &remaining) {
		t.Fatalf("sync: %v, want content remaining", err)
	}
	if got := f.names(t, configMapsGVR, "ordered"); len(got) != 1 {
		t.Errorf("configmaps deleted before the pods were gone: %v", got)
	}
	wantCondition(t, f.lastStatus(t), corev1.NamespaceContentRemaining, corev1.ConditionTrue, "SomeResourcesRemain",
		"Some resources are remaining: pods. has 1 resource instances")
}

func TestSyncWaitsForPodGracePeriod(t *testing.T) {
	ns := terminating("graceful", 0)
	grace := int64(30)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "graceful", Name: "p"},
		Spec:       corev1.PodSpec{NodeName: "n1", TerminationGracePeriodSeconds: &grace},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	f := newFixture(t, ns, coreResources(), partial("v1", "Pod", "graceful", "p", "example.com/kubelet"))
	if _, err := f.client.CoreV1().Pods("graceful").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := f.ctrl.sync(context.Background(), "graceful")
	var remaining *contentRemainingError
	if !errors.As(err, &remaining) || remaining.estimate != grace {
		t.Fatalf("sync: %v, want content remaining with estimate %d", err, grace)
	}
}

func TestSyncLeavesActiveNamespaceAlone(t *testing.T) {
	ns := &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: "alive"},
		Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
	}
	f := newFixture(t, ns, coreResources(), partial("v1", "ConfigMap", "alive", "c"))
	f.client.ClearActions()
	if err := f.ctrl.sync(context.Background(), "alive"); err != nil {
		t.Fatalf("sync: %v", err)
	}
	if a := f.client.Actions(); len(a) != 0 {
		t.Errorf("namespace actions: %v", a)
	}
	if a := f.meta.Actions(); len(a) != 0 {
		t.Errorf("content actions: %v", a)
	}
	// Nor is it queued.
	f.ctrl.enqueue(ns)
	if len(f.queue.after) != 0 {
		t.Errorf("queued an active namespace")
	}
}

func TestSyncIgnoresMissingAndFinalizedNamespaces(t *testing.T) {
	ns := terminating("done", time.Hour)
	ns.Spec.Finalizers = nil
	ns.Finalizers = []string{"example.com/meta"}
	f := newFixture(t, ns, coreResources(), partial("v1", "ConfigMap", "done", "c"))
	f.client.ClearActions()
	for _, key := range []string{"done", "gone"} {
		if err := f.ctrl.sync(context.Background(), key); err != nil {
			t.Errorf("sync %s: %v", key, err)
		}
	}
	if a := f.meta.Actions(); len(a) != 0 {
		t.Errorf("content actions: %v", a)
	}
}

func TestSyncDiscoveryFailure(t *testing.T) {
	ns := terminating("partial", time.Hour)
	resources := append(coreResources(), &metav1.APIResourceList{
		GroupVersion: "broken.example.com/v1",
		APIResources: []metav1.APIResource{{Name: "widgets", Namespaced: true, Kind: "Widget", Verbs: []string{"delete", "list"}}},
	})
	f := newFixture(t, ns, resources, partial("v1", "ConfigMap", "partial", "c"))
	f.ctrl.disco = brokenDiscovery{FakeDiscovery: f.disco, broken: "broken.example.com/v1"}

	err := f.ctrl.sync(context.Background(), "partial")
	if err == nil || errors.As(err, new(*contentRemainingError)) {
		t.Fatalf("sync: %v, want a discovery error", err)
	}
	// What could be discovered is deleted anyway.
	if got := f.names(t, configMapsGVR, "partial"); len(got) != 0 {
		t.Errorf("configmaps left: %v", got)
	}
	cur, err := f.client.CoreV1().Namespaces().Get(context.Background(), "partial", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cur.Spec.Finalizers) != 1 {
		t.Errorf("finalized despite failed discovery: %v", cur.Spec.Finalizers)
	}
	wantCondition(t, &cur.Status, corev1.NamespaceDeletionDiscoveryFailure, corev1.ConditionTrue, "DiscoveryFailed",
		"Discovery failed for some groups, 1 failing: unable to retrieve the complete list of server APIs: broken.example.com/v1: boom")

	// The worker retries with backoff.
	f.queue.Add("partial")
	f.ctrl.processNextItem(context.Background())
	if len(f.queue.rateLimited) != 1 {
		t.Errorf("rate-limited requeues %v, want [partial]", f.queue.rateLimited)
	}
}

func TestSyncContentFailure(t *testing.T) {
	ns := terminating("failing", time.Hour)
	f := newFixture(t, ns, coreResources(), partial("v1", "ConfigMap", "failing", "c"))
	f.meta.PrependReactor("delete", "configmaps", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewInternalError(errors.New("disk full"))
	})
	err := f.ctrl.sync(context.Background(), "failing")
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("sync: %v, want the delete error", err)
	}
	c := conditionOf(t, f.lastStatus(t), corev1.NamespaceDeletionContentFailure)
	if c.Status != corev1.ConditionTrue || c.Reason != "ContentDeletionFailed" ||
		!strings.HasPrefix(c.Message, "Failed to delete all resource types, 1 remaining: ") || !strings.Contains(c.Message, "disk full") {
		t.Errorf("condition %+v", c)
	}
}

func TestSyncMarksTerminating(t *testing.T) {
	ns := terminating("unmarked", time.Hour)
	ns.Status.Phase = corev1.NamespaceActive
	f := newFixture(t, ns, coreResources(), partial("v1", "ConfigMap", "unmarked", "c", "example.com/hold"))
	_ = f.ctrl.sync(context.Background(), "unmarked")
	cur, err := f.client.CoreV1().Namespaces().Get(context.Background(), "unmarked", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cur.Status.Phase != corev1.NamespaceTerminating {
		t.Errorf("phase %q", cur.Status.Phase)
	}
}

func TestSyncDeletesReleasedNamespace(t *testing.T) {
	ns := terminating("released", time.Hour)
	ns.Spec.Finalizers = nil
	f := newFixture(t, ns, coreResources())
	if err := f.ctrl.sync(context.Background(), "released"); err != nil {
		t.Fatalf("sync: %v", err)
	}
	if _, err := f.client.CoreV1().Namespaces().Get(context.Background(), "released", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace still there: %v", err)
	}
	if a := f.meta.Actions(); len(a) != 0 {
		t.Errorf("content actions: %v", a)
	}
}
