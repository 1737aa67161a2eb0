package apiserver

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsac "k8s.io/apiextensions-apiserver/pkg/client/applyconfiguration"
	"k8s.io/apimachinery/pkg/api/apitesting/fuzzer"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metafuzzer "k8s.io/apimachinery/pkg/apis/meta/fuzzer"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/applyconfigurations"

	"github.com/kijabi/kijabi/internal/storage"
)

// upstreamManagers builds, for a resource, the field managers exactly as upstream's
// defaults make them: upstream's type converter (which checks every object) and the scheme
// as object converter.
func upstreamManagers(t *testing.T, s *Server, res *resource) map[string]*managedfields.FieldManager {
	t.Helper()
	tc := applyconfigurations.NewTypeConverter(s.scheme)
	if res.gvk.Group == crdGR.Group {
		tc = apiextensionsac.NewTypeConverter(s.scheme)
	}
	out := map[string]*managedfields.FieldManager{}
	for sub := range res.managers {
		fm, err := managedfields.NewDefaultFieldManager(tc, s.scheme, s.scheme, s.scheme, res.gvk, res.gvk.GroupVersion(), sub, nil)
		if err != nil {
			t.Fatal(err)
		}
		out[sub] = fm
	}
	return out
}

// trackedAs compares the object our tracking wrote with upstream's: equal objects, and
// byte-identical managedFields but for the time of the entry the write stamped now.
func trackedAs(t *testing.T, name string, got, want runtime.Object, manager, subresource string) {
	t.Helper()
	got, want = got.DeepCopyObject(), want.DeepCopyObject()
	entries := func(obj runtime.Object) []byte {
		a, err := meta.Accessor(obj)
		if err != nil {
			t.Fatal(err)
		}
		mf := a.GetManagedFields()
		for i := range mf {
			if mf[i].Manager == manager && mf[i].Subresource == subresource && mf[i].Operation == metav1.ManagedFieldsOperationUpdate {
				if mf[i].Time == nil || time.Since(mf[i].Time.Time) > time.Minute {
					t.Errorf("%s: the writer's entry is not stamped now: %v", name, mf[i].Time)
				}
				mf[i].Time = nil
			}
		}
		// Entries are ordered by their times: the writer's differ between the runs when a
		// second ticks over between them.
		sortEntries(mf)
		a.SetManagedFields(mf)
		data, err := json.Marshal(mf)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	g, w := entries(got), entries(want)
	if string(g) != string(w) {
		t.Errorf("%s: managedFields differ\nours     %s\nupstream %s", name, g, w)
	}
	if !apiequality.Semantic.DeepEqual(got, want) {
		t.Errorf("%s: objects differ\nours     %#v\nupstream %#v", name, got, want)
	}
}

// TestFieldTrackingAsUpstream runs writes through trackCreate and trackUpdate (the
// shortcuts of fieldtrack.go) and through upstream's FieldManager as upstream builds it:
// the objects, their managedFields included, must be the same.
func TestFieldTrackingAsUpstream(t *testing.T) {
	s, err := New(Config{Storage: &storage.Backend{}})
	if err != nil {
		t.Fatal(err)
	}
	pods := s.resources[schema.GroupVersionResource{Version: "v1", Resource: "pods"}]
	deployments := s.resources[schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}]
	events := s.resources[schema.GroupVersionResource{Version: "v1", Resource: "events"}]
	hpas := s.resources[schema.GroupVersionResource{Group: "autoscaling", Version: "v1", Resource: "horizontalpodautoscalers"}]
	ts := metav1.NewTime(time.Date(2026, 11, 27, 1, 2, 3, 0, time.UTC))
	entry := func(manager, apiVersion, subresource string, op metav1.ManagedFieldsOperationType, fields string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: op, APIVersion: apiVersion, Time: &ts, Subresource: subresource,
			FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)}}
	}

	newPod := func() *corev1.Pod {
		p := benchPod("web-1")
		p.TypeMeta = metav1.TypeMeta{}
		p.Namespace, p.UID, p.ResourceVersion = "default", "0c5f3a2e-6f1b-4c43-9d54-5f1b8e2a7c11", "10"
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}}
		p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "A", Value: "duplicate"}}
		s.scheme.Default(p)
		return p
	}
	// created is a pod as stored after its create (tracked by upstream).
	up := upstreamManagers(t, s, pods)
	createdObj, err := up[""].Update(&corev1.Pod{}, newPod(), "kube-controller-manager")
	if err != nil {
		t.Fatal(err)
	}
	created := createdObj.(*corev1.Pod)
	bound := created.DeepCopy()
	bound.Spec.NodeName = "node-1"
	bound.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: ts}}
	running := bound.DeepCopy()
	running.Status = benchRunningStatus(bound)
	runningObj, err := up["status"].Update(bound, running.DeepCopy(), "kubelet")
	if err != nil {
		t.Fatal(err)
	}
	running = runningObj.(*corev1.Pod)

	type write struct {
		name        string
		res         *resource
		subresource string
		live, obj   runtime.Object // live nil: a create
		manager     string
	}
	var writes []write
	add := func(name string, res *resource, sub string, live, obj runtime.Object, manager string) {
		writes = append(writes, write{name, res, sub, live, obj, manager})
	}

	// Creates: without managedFields, with managedFields the client set, with the reset
	// marker (an empty entry).
	add("pod create", pods, "", nil, newPod(), "kube-controller-manager")
	withMF := newPod()
	withMF.ManagedFields = []metav1.ManagedFieldsEntry{entry("importer", "v1", "", metav1.ManagedFieldsOperationUpdate, `{"f:metadata":{"f:labels":{"f:app":{}}}}`)}
	add("pod create with managedFields", pods, "", nil, withMF, "kubectl")
	reset := newPod()
	reset.ManagedFields = []metav1.ManagedFieldsEntry{{}}
	add("pod create with reset managedFields", pods, "", nil, reset, "kubectl")

	// Updates of the object: metadata only (spec and status are the same: both skipped),
	// spec, nothing, a field another manager owns removed, the client's own managedFields,
	// the reset marker.
	relabel := bound.DeepCopy()
	relabel.Labels["tier"] = "front"
	add("pod update of labels", pods, "", bound, relabel, "kubectl-label")
	image := bound.DeepCopy()
	image.Spec.Containers[0].Image = "kijabi.local/busybox:2"
	image.Spec.Containers[0].Env = image.Spec.Containers[0].Env[:1]
	add("pod update of the image", pods, "", bound, image, "kubectl-edit")
	add("pod update that changes nothing", pods, "", bound, bound.DeepCopy(), "kubectl-edit")
	add("pod update by the creator", pods, "", bound, relabel.DeepCopy(), "kube-controller-manager")
	unlabel := bound.DeepCopy()
	delete(unlabel.Labels, "app")
	add("pod update removing another manager's label", pods, "", bound, unlabel, "kubectl-edit")
	ownMF := relabel.DeepCopy()
	ownMF.ManagedFields = []metav1.ManagedFieldsEntry{entry("importer", "v1", "", metav1.ManagedFieldsOperationUpdate, `{"f:metadata":{"f:labels":{"f:tier":{}}}}`)}
	add("pod update with the client's managedFields", pods, "", bound, ownMF, "kubectl")
	resetUpdate := relabel.DeepCopy()
	resetUpdate.ManagedFields = []metav1.ManagedFieldsEntry{}
	add("pod update with reset managedFields", pods, "", bound, resetUpdate, "kubectl")
	oddMF := relabel.DeepCopy()
	oddMF.ManagedFields = []metav1.ManagedFieldsEntry{entry("importer", "v1", "", metav1.ManagedFieldsOperationUpdate, `{"f:metadata":{"f:managedFields":{}},"f:spec":{}}`)}
	add("pod update with managedFields owning managedFields", pods, "", bound, oddMF, "kubectl")
	manyLive := bound.DeepCopy()
	for i := 0; i < 10; i++ {
		manyLive.ManagedFields = append(manyLive.ManagedFields, entry(fmt.Sprintf("writer-%d", i), "v1", "", metav1.ManagedFieldsOperationUpdate,
			fmt.Sprintf(`{"f:metadata":{"f:annotations":{"f:a%d":{}}}}`, i)))
		metav1.SetMetaDataAnnotation(&manyLive.ObjectMeta, fmt.Sprintf("a%d", i), "x")
	}
	many := manyLive.DeepCopy()
	many.Labels["tier"] = "front"
	add("pod update beyond the cap on update managers", pods, "", manyLive, many, "kubectl-label")
	applied := bound.DeepCopy()
	applied.ManagedFields = append(applied.ManagedFields, entry("kubectl", "v1", "", metav1.ManagedFieldsOperationApply, `{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{".":{},"f:image":{},"f:name":{}}}}}`))
	appliedImage := applied.DeepCopy()
	appliedImage.Spec.Containers[0].Image = "other"
	add("pod update of a field an applier owns", pods, "", applied, appliedImage, "kubectl-edit")
	otherVersion := bound.DeepCopy()
	otherVersion.ManagedFields = append(otherVersion.ManagedFields, entry("old-client", "v1beta1", "", metav1.ManagedFieldsOperationUpdate, `{"f:metadata":{"f:labels":{"f:app":{}}}}`))
	otherVersionRelabel := otherVersion.DeepCopy()
	otherVersionRelabel.Labels["tier"] = "front"
	add("pod update with an entry of another version", pods, "", otherVersion, otherVersionRelabel, "kubectl-label")

	// The status subresource: the node's first status, a later one, one that removes
	// conditions, and one whose request carries other managedFields (ignored for
	// subresources).
	add("pod status: running", pods, "status", bound, running.DeepCopy(), "kubelet")
	later := running.DeepCopy()
	later.Status.ContainerStatuses[0].RestartCount = 1
	later.Status.Conditions = later.Status.Conditions[:2]
	add("pod status: restarted", pods, "status", running, later, "kubelet")
	statusMF := later.DeepCopy()
	statusMF.ManagedFields = []metav1.ManagedFieldsEntry{entry("someone", "v1", "", metav1.ManagedFieldsOperationUpdate, `{"f:status":{}}`)}
	add("pod status with managedFields in the request", pods, "status", running, statusMF, "kubelet")
	add("pod status by another writer", pods, "status", running, later.DeepCopy(), "scheduler")
	add("pod status that changes nothing", pods, "status", running, running.DeepCopy(), "kubelet")

	// Other kinds: a Deployment (object and status), core Events, and HPAs in v1 (stored
	// as v2: their entries may be of the other version).
	replicas := int32(2)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "u2", Labels: map[string]string{"app": "web"}},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "a"}}}}}}
	s.scheme.Default(dep)
	add("deployment create", deployments, "", nil, dep.DeepCopy(), "kubectl-create")
	depObj, err := upstreamManagers(t, s, deployments)[""].Update(&appsv1.Deployment{}, dep.DeepCopy(), "kubectl-create")
	if err != nil {
		t.Fatal(err)
	}
	dep = depObj.(*appsv1.Deployment)
	scaled := dep.DeepCopy()
	*scaled.Spec.Replicas = 5
	add("deployment scale", deployments, "", dep, scaled, "kubectl-scale")
	depStatus := dep.DeepCopy()
	depStatus.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, ReadyReplicas: 2,
		Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, LastUpdateTime: ts, LastTransitionTime: ts}}}
	add("deployment status", deployments, "status", dep, depStatus, "kube-controller-manager")

	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "web-1.1", Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: "default", Name: "web-1", UID: "u1"},
		Reason:         "Scheduled", Message: "Successfully assigned default/web-1 to node-1", Type: corev1.EventTypeNormal,
		Source: corev1.EventSource{Component: "default-scheduler"}, FirstTimestamp: ts, LastTimestamp: ts, Count: 1,
		ReportingController: "default-scheduler", ReportingInstance: "sched-1", Action: "Scheduling"}
	add("event create", events, "", nil, ev.DeepCopy(), "kube-scheduler")
	evObj, err := upstreamManagers(t, s, events)[""].Update(&corev1.Event{}, ev.DeepCopy(), "kube-scheduler")
	if err != nil {
		t.Fatal(err)
	}
	ev = evObj.(*corev1.Event)
	again := ev.DeepCopy()
	again.Count, again.LastTimestamp = 2, metav1.NewTime(ts.Add(time.Minute))
	add("event count update", events, "", ev, again, "kube-scheduler")

	minReplicas := int32(1)
	hpa := &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "u3",
		ManagedFields: []metav1.ManagedFieldsEntry{entry("kubectl-autoscale", "autoscaling/v2", "", metav1.ManagedFieldsOperationUpdate, `{"f:spec":{"f:maxReplicas":{}}}`)}},
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{MinReplicas: &minReplicas, MaxReplicas: 5,
			ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{Kind: "Deployment", Name: "web", APIVersion: "apps/v1"}}}
	hpaMore := hpa.DeepCopy()
	hpaMore.Spec.MaxReplicas = 10
	add("hpa v1 update with a v2 entry", hpas, "", hpa, hpaMore, "kubectl-edit")

	for _, w := range writes {
		up := upstreamManagers(t, s, w.res)
		var liveCopy runtime.Object
		if w.live != nil {
			liveCopy = w.live.DeepCopyObject()
		}
		var got, want runtime.Object
		var gotErr, wantErr error
		if w.live == nil {
			got, gotErr = w.res.trackCreate(w.obj.DeepCopyObject(), w.manager)
			want, wantErr = up[""].Update(w.res.newObj(), w.obj.DeepCopyObject(), w.manager)
		} else {
			got, gotErr = w.res.trackUpdate(w.subresource, w.live, w.obj.DeepCopyObject(), w.manager)
			fm := up[w.subresource]
			if fm == nil {
				fm = up[""]
			}
			want, wantErr = fm.Update(w.live.DeepCopyObject(), w.obj.DeepCopyObject(), w.manager)
			if !apiequality.Semantic.DeepEqual(liveCopy, w.live) {
				t.Errorf("%s: the live object changed", w.name)
			}
		}
		if (gotErr == nil) != (wantErr == nil) {
			t.Errorf("%s: error %v, upstream %v", w.name, gotErr, wantErr)
			continue
		}
		if gotErr != nil {
			continue
		}
		trackedAs(t, w.name, got, want, w.manager, w.subresource)
	}
}

// TestFieldTrackingApplyAsUpstream checks server-side apply (which goes through the
// managers' Apply, with the shallow object converter) and then an update tracked by
// trackUpdate, against upstream's managers.
func TestFieldTrackingApplyAsUpstream(t *testing.T) {
	s, err := New(Config{Storage: &storage.Backend{}})
	if err != nil {
		t.Fatal(err)
	}
	pods := s.resources[schema.GroupVersionResource{Version: "v1", Resource: "pods"}]
	up := upstreamManagers(t, s, pods)
	patch := func(image string) *corev1.Pod {
		return &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default", Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image,
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: apiresource.MustParse("10m")}}}}}}
	}
	run := func(fms func(string) *managedfields.FieldManager, update func(sub string, live, obj runtime.Object, manager string) (runtime.Object, error)) []runtime.Object {
		var steps []runtime.Object
		live, err := fms("").Apply(&corev1.Pod{}, patch("a"), "kubectl", false)
		if err != nil {
			t.Fatal(err)
		}
		live.(*corev1.Pod).UID = "u1"
		steps = append(steps, live.DeepCopyObject())
		status := live.DeepCopyObject().(*corev1.Pod)
		status.Status.Phase = corev1.PodRunning
		if live, err = update("status", live, status, "kubelet"); err != nil {
			t.Fatal(err)
		}
		steps = append(steps, live.DeepCopyObject())
		if live, err = fms("").Apply(live, patch("b"), "kubectl", false); err != nil {
			t.Fatal(err)
		}
		steps = append(steps, live.DeepCopyObject())
		edit := live.DeepCopyObject().(*corev1.Pod)
		edit.Spec.Containers[0].Image = "c"
		if live, err = update("", live, edit, "kubectl-edit"); err != nil {
			t.Fatal(err)
		}
		steps = append(steps, live.DeepCopyObject())
		if _, err := fms("").Apply(live, patch("d"), "kubectl", false); err == nil {
			t.Fatal("applying over another manager's field: no conflict")
		}
		if live, err = fms("").Apply(live, patch("d"), "kubectl", true); err != nil {
			t.Fatal(err)
		}
		return append(steps, live)
	}
	ours := run(pods.manager, pods.trackUpdate)
	theirs := run(func(sub string) *managedfields.FieldManager {
		if fm := up[sub]; fm != nil {
			return fm
		}
		return up[""]
	}, func(sub string, live, obj runtime.Object, manager string) (runtime.Object, error) {
		return up[sub].Update(live, obj, manager)
	})
	for i := range ours {
		// Every step stamps the time of its writer: compare them apart from it.
		for _, m := range []string{"kubectl", "kubelet", "kubectl-edit"} {
			for _, o := range []runtime.Object{ours[i], theirs[i]} {
				for j := range o.(*corev1.Pod).ManagedFields {
					if o.(*corev1.Pod).ManagedFields[j].Manager == m {
						o.(*corev1.Pod).ManagedFields[j].Time = nil
					}
				}
			}
		}
		// Entries are ordered by their times, which differ between the runs when a
		// second ticks over between them.
		sortEntries(ours[i].(*corev1.Pod).ManagedFields)
		sortEntries(theirs[i].(*corev1.Pod).ManagedFields)
		g, _ := json.Marshal(ours[i])
		w, _ := json.Marshal(theirs[i])
		if string(g) != string(w) {
			t.Errorf("step %d differs:\nours     %s\nupstream %s", i, g, w)
		}
	}
}

// TestNoCopyConverter checks the shallow conversion: the version's kind set on a copy, the
// input untouched, and real conversions still done.
func TestNoCopyConverter(t *testing.T) {
	scheme := NewScheme()
	c := noCopyConverter{ObjectConvertor: scheme, scheme: scheme}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"a": "b"}}}
	out, err := c.ConvertToVersion(pod, corev1.SchemeGroupVersion)
	if err != nil {
		t.Fatal(err)
	}
	if out == runtime.Object(pod) || out.GetObjectKind().GroupVersionKind() != corev1.SchemeGroupVersion.WithKind("Pod") ||
		!pod.GetObjectKind().GroupVersionKind().Empty() {
		t.Fatalf("shallow conversion: %v (input kind %v)", out.GetObjectKind().GroupVersionKind(), pod.GetObjectKind().GroupVersionKind())
	}
	want, err := scheme.ConvertToVersion(pod, corev1.SchemeGroupVersion)
	if err != nil {
		t.Fatal(err)
	}
	if !apiequality.Semantic.DeepEqual(out, want) {
		t.Fatalf("shallow conversion %#v, scheme %#v", out, want)
	}
	hpa := &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "h"}, Spec: autoscalingv1.HorizontalPodAutoscalerSpec{MaxReplicas: 3}}
	got, err := c.ConvertToVersion(hpa, hpaV2GVK.GroupVersion())
	if err != nil {
		t.Fatal(err)
	}
	want, err = scheme.ConvertToVersion(hpa, hpaV2GVK.GroupVersion())
	if err != nil {
		t.Fatal(err)
	}
	if !apiequality.Semantic.DeepEqual(got, want) {
		t.Fatalf("conversion to v2: %#v, scheme %#v", got, want)
	}
}

// sortEntries orders managedFields entries by manager, operation and subresource, for
// comparisons where their stamped times (which order them) may differ.
func sortEntries(mf []metav1.ManagedFieldsEntry) {
	slices.SortFunc(mf, func(a, b metav1.ManagedFieldsEntry) int {
		return cmp.Or(cmp.Compare(a.Manager, b.Manager), cmp.Compare(a.Operation, b.Operation), cmp.Compare(a.Subresource, b.Subresource))
	})
}

// TestCreateTrackingAsUpstream checks the creates that createCache answers (an object equal
// to one created before but for its untracked metadata) and those it leaves to the manager
// against upstream's manager, for objects of many kinds.
func TestCreateTrackingAsUpstream(t *testing.T) {
	s, err := New(Config{Storage: &storage.Backend{}})
	if err != nil {
		t.Fatal(err)
	}
	gvr := func(group, resource string) *resource {
		r := s.resources[schema.GroupVersionResource{Group: group, Version: "v1", Resource: resource}]
		if r == nil {
			t.Fatalf("no resource %s/%s", group, resource)
		}
		return r
	}
	ts := metav1.NewTime(time.Date(2026, 11, 27, 1, 2, 3, 0, time.UTC))
	yes, port, replicas := true, int32(8080), int32(3)
	grace := int64(30)

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "web-", Labels: map[string]string{"app": "web", "pod-template-hash": "5d4f"},
		Annotations: map[string]string{"example.com/a": "1"}, Finalizers: []string{"example.com/f"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-5d4f", UID: "u-rs", Controller: &yes, BlockOwnerDeletion: &yes}}},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox", Command: []string{"sh", "-c", "true"}}},
			Containers: []corev1.Container{{Name: "c", Image: "kijabi.local/busybox", Args: []string{"a", "b"},
				Ports: []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}, {ContainerPort: 80, Protocol: corev1.ProtocolUDP}, {Name: "metrics", ContainerPort: 9090}},
				Env:   []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "A", Value: "duplicate"}, {Name: "B", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: apiresource.MustParse("10m"), corev1.ResourceMemory: apiresource.MustParse("64Mi")},
					Limits: corev1.ResourceList{corev1.ResourceMemory: apiresource.MustParse("128Mi")}},
				VolumeMounts:    []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
				ReadinessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(80)}}, PeriodSeconds: 5},
				SecurityContext: &corev1.SecurityContext{RunAsNonRoot: &yes, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}},
				{Name: "sidecar", Image: "envoy"}},
			Volumes:                       []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}, {Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}},
			NodeSelector:                  map[string]string{"disk": "ssd"},
			Tolerations:                   []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
			Affinity:                      &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 1, PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: "zone", LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}}}},
			TerminationGracePeriodSeconds: &grace,
			HostAliases:                   []corev1.HostAlias{{IP: "10.0.0.1", Hostnames: []string{"a"}}},
		}}
	bare := benchPod("bench")
	bare.TypeMeta = metav1.TypeMeta{}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "web"}},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}, Spec: *pod.Spec.DeepCopy()}}}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
		Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}, {Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}}, Type: corev1.ServiceTypeNodePort}}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg"}, Data: map[string]string{"a": "1", "b": ""}, BinaryData: map[string][]byte{"c": {1, 2}}}
	emptyCM := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "empty"}} // nothing tracked: no entry
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}, Type: corev1.SecretTypeOpaque, StringData: map[string]string{"k": "v"}, Data: map[string][]byte{"d": []byte("x")}}
	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "web-1.1"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Name: "web-1", UID: "u1"},
		Reason:         "Scheduled", Message: "Successfully assigned default/web-1 to node-1", Type: corev1.EventTypeNormal,
		Source: corev1.EventSource{Component: "default-scheduler"}, FirstTimestamp: ts, LastTimestamp: ts, Count: 1}
	minReplicas := int32(1)
	hpa := &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{MinReplicas: &minReplicas, MaxReplicas: 5, TargetCPUUtilizationPercentage: &port,
			ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{Kind: "Deployment", Name: "web", APIVersion: "apps/v1"}}}
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j"}, Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "i"}}}}}}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"kubernetes.io/metadata.name": "team-a"}},
		Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1", Labels: map[string]string{"kubernetes.io/hostname": "node-1"}},
		Spec: corev1.NodeSpec{PodCIDR: "10.128.0.0/24", Taints: []corev1.Taint{{Key: "a", Effect: corev1.TaintEffectNoSchedule}}},
		Status: corev1.NodeStatus{Capacity: corev1.ResourceList{corev1.ResourceCPU: apiresource.MustParse("4"), corev1.ResourcePods: apiresource.MustParse("110")},
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.1"}, {Type: corev1.NodeHostName, Address: "node-1"}},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: ts, LastTransitionTime: ts}}}}
	crd := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: "widgets.example.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{Group: "example.com", Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "widgets", Kind: "Widget"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{Type: "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{"spec": {Type: "object", XPreserveUnknownFields: &yes}}}}}}}}

	for _, c := range []struct {
		name string
		res  *resource
		obj  runtime.Object
	}{
		{"pod", gvr("", "pods"), pod},
		{"bare pod", gvr("", "pods"), bare},
		{"pod with status", gvr("", "pods"), func() runtime.Object {
			p := bare.DeepCopy()
			p.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBurstable}
			return p
		}()},
		{"deployment", gvr("apps", "deployments"), dep},
		{"service", gvr("", "services"), svc},
		{"configmap", gvr("", "configmaps"), cm},
		{"configmap with nothing tracked", gvr("", "configmaps"), emptyCM},
		{"secret", gvr("", "secrets"), secret},
		{"event", gvr("", "events"), ev},
		{"hpa v1", gvr("autoscaling", "horizontalpodautoscalers"), hpa},
		{"job", gvr("batch", "jobs"), job},
		{"namespace", gvr("", "namespaces"), ns},
		{"node", gvr("", "nodes"), node},
		{"crd", gvr("apiextensions.k8s.io", "customresourcedefinitions"), crd},
	} {
		obj := c.obj.DeepCopyObject()
		s.scheme.Default(obj)
		a, _ := meta.Accessor(obj)
		a.SetNamespace("default")
		a.SetUID("u-1")
		a.SetCreationTimestamp(ts)
		a.SetGeneration(1)
		// Equal but for the untracked metadata, and the reset markers: from the cache.
		renamed := obj.DeepCopyObject()
		ra, _ := meta.Accessor(renamed)
		ra.SetName("other")
		ra.SetNamespace("team-a")
		ra.SetUID("u-2")
		ra.SetResourceVersion("7")
		ra.SetGeneration(2)
		ra.SetSelfLink("/x")
		ra.SetCreationTimestamp(metav1.NewTime(ts.Add(time.Hour)))
		resetEmpty := renamed.DeepCopyObject()
		ra, _ = meta.Accessor(resetEmpty)
		ra.SetManagedFields([]metav1.ManagedFieldsEntry{})
		resetEntry := renamed.DeepCopyObject()
		ra, _ = meta.Accessor(resetEntry)
		ra.SetManagedFields([]metav1.ManagedFieldsEntry{{}})
		// The client's managedFields, a changed label and a changed field: the manager's.
		clientMF := renamed.DeepCopyObject()
		ra, _ = meta.Accessor(clientMF)
		ra.SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: "importer", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: c.res.gvk.GroupVersion().String(),
			Time: &ts, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{"f:x":{}}}}`)}}})
		relabelled := renamed.DeepCopyObject()
		ra, _ = meta.Accessor(relabelled)
		ra.SetLabels(map[string]string{"x": "y"})

		for _, w := range []struct {
			name    string
			obj     runtime.Object
			manager string
			cached  bool
		}{
			{"first", obj, "kube-controller-manager", false},
			{"renamed", renamed, "kube-controller-manager", true},
			{"by another manager", renamed, "kubectl", true},
			{"without manager", renamed, "", true},
			{"with a manager of invalid UTF-8", renamed, "bad\xffname", true}, // found, but left to the manager
			{"with an empty managedFields", resetEmpty, "kubectl", true},
			{"with an empty entry", resetEntry, "kubectl", true},
			{"with the client's managedFields", clientMF, "kubectl", true}, // found, but left to the manager
			{"relabelled", relabelled, "kubectl", false},
			{"relabelled again", relabelled, "kubectl", true},
		} {
			name := c.name + " " + w.name
			if hit := c.res.creates.plan != nil && c.res.creates.lookup(reflect.ValueOf(w.obj).Elem()) != nil; hit != w.cached {
				t.Errorf("%s: in the cache: %v, want %v", name, hit, w.cached)
			}
			got, gotErr := c.res.trackCreate(w.obj.DeepCopyObject(), w.manager)
			want, wantErr := upstreamManagers(t, s, c.res)[""].Update(c.res.newObj(), w.obj.DeepCopyObject(), w.manager)
			if (gotErr == nil) != (wantErr == nil) {
				t.Errorf("%s: error %v, upstream %v", name, gotErr, wantErr)
				continue
			}
			if gotErr != nil {
				continue
			}
			manager := strings.ToValidUTF8(w.manager, "\uFFFD")
			if manager == "" {
				manager = "unknown"
			}
			trackedAs(t, name, got, want, manager, "")
		}
	}
}

// TestCreateTrackingRandomAsUpstream creates random objects, and copies of them that differ
// only in their untracked metadata (answered from the cache), and compares the fields
// tracked with upstream's manager's.
func TestCreateTrackingRandomAsUpstream(t *testing.T) {
	s, err := New(Config{Storage: &storage.Backend{}})
	if err != nil {
		t.Fatal(err)
	}
	n := 60
	if testing.Short() {
		n = 10
	}
	f := fuzzer.FuzzerFor(metafuzzer.Funcs, rand.NewSource(1), s.codecs).NilChance(0.3).NumElements(0, 2).MaxDepth(12)
	for _, gvr := range []schema.GroupVersionResource{
		{Version: "v1", Resource: "pods"}, {Group: "apps", Version: "v1", Resource: "deployments"},
		{Version: "v1", Resource: "services"}, {Version: "v1", Resource: "configmaps"}, {Version: "v1", Resource: "events"},
		{Group: "batch", Version: "v1", Resource: "jobs"}, {Group: "apps", Version: "v1", Resource: "statefulsets"},
		{Version: "v1", Resource: "nodes"}, {Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"},
	} {
		res := s.resources[gvr]
		up := upstreamManagers(t, s, res)
		var hits, errs int
		for i := 0; i < n; i++ {
			obj := res.newObj()
			f.Fill(obj)
			s.scheme.Default(obj)
			a, _ := meta.Accessor(obj)
			a.SetManagedFields(nil)
			renamed := obj.DeepCopyObject()
			ra, _ := meta.Accessor(renamed)
			ra.SetName(a.GetName() + "-2")
			ra.SetUID("u-2")
			ra.SetResourceVersion("")
			ra.SetGeneration(a.GetGeneration() + 1)
			ra.SetCreationTimestamp(metav1.Time{})
			for j, o := range []runtime.Object{obj, renamed} {
				name := fmt.Sprintf("%s %d/%d", gvr.Resource, i, j)
				if j == 1 && res.creates.lookup(reflect.ValueOf(o).Elem()) != nil {
					hits++
				}
				got, gotErr := res.trackCreate(o.DeepCopyObject(), "writer")
				want, wantErr := up[""].Update(res.newObj(), o.DeepCopyObject(), "writer")
				if (gotErr == nil) != (wantErr == nil) {
					t.Fatalf("%s: error %v, upstream %v", name, gotErr, wantErr)
				}
				if gotErr != nil {
					errs++
					continue
				}
				trackedAs(t, name, got, want, "writer", "")
			}
		}
		t.Logf("%s: %d of %d copies found in the cache, %d errors", gvr.Resource, hits, n, errs)
		if hits < n/2 {
			t.Errorf("%s: %d of %d copies found in the cache (%d errors)", gvr.Resource, hits, n, errs)
		}
	}
}

// TestCreateTrackingTokenVolumeAsUpstream creates pods with a service account token volume
// of a different name each (found in the cache under the volume's placeholder name), and
// pods where the name is found elsewhere too (not remembered), against upstream's manager.
func TestCreateTrackingTokenVolumeAsUpstream(t *testing.T) {
	s, err := New(Config{Storage: &storage.Backend{}})
	if err != nil {
		t.Fatal(err)
	}
	pods := s.resources[schema.GroupVersionResource{Version: "v1", Resource: "pods"}]
	up := upstreamManagers(t, s, pods)
	withToken := func(name string, edit func(p *corev1.Pod, token string)) *corev1.Pod {
		p := benchPod("web")
		p.TypeMeta = metav1.TypeMeta{}
		p.Namespace = "default"
		p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "i"}}
		p.Spec.Volumes = []corev1.Volume{{Name: name, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}}}
		mount := corev1.VolumeMount{Name: name, MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}
		p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "other", MountPath: "/data"}, mount}
		p.Spec.InitContainers[0].VolumeMounts = []corev1.VolumeMount{mount}
		if edit != nil {
			edit(p, name)
		}
		s.scheme.Default(p)
		p.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBurstable}
		return p
	}
	for _, c := range []struct {
		name     string
		edit     func(p *corev1.Pod, token string)
		hitsFrom int // the first pod found in the cache (0: none)
	}{
		{"token volume", nil, 1},
		{"token volume mounted by an ephemeral container", func(p *corev1.Pod, token string) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "d",
				VolumeMounts: []corev1.VolumeMount{{Name: token, MountPath: "/t"}}}}}
		}, 1},
		{"token name in a label too", func(p *corev1.Pod, token string) { p.Labels[token] = "x" }, 0},
		// The first pod's entry is not remembered: its token's name is found twice.
		{"a label of the first token's name", func(p *corev1.Pod, token string) { p.Labels["kube-api-access-abcde"] = "x" }, 2},
		{"token name as a container's", func(p *corev1.Pod, token string) { p.Spec.Containers[0].Name = token }, 0},
		{"two volumes", func(p *corev1.Pod, token string) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "other", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		}, 0},
		{"the placeholder's name", func(p *corev1.Pod, token string) {
			p.Spec.Volumes[0].Name = tokenVolumePlaceholder
		}, 0},
	} {
		pods.creates.entries.Store(nil)
		pods.creates.misses.Store(0)
		for i, token := range []string{"kube-api-access-abcde", "kube-api-access-zz9zz", "kube-api-access-00000", "kube-api-access-b"} {
			name := fmt.Sprintf("%s %d", c.name, i)
			p := withToken(token, c.edit)
			if renamed, _, ok := renameTokenVolume(p); ok {
				hit := pods.creates.lookup(reflect.ValueOf(renamed).Elem()) != nil
				if want := c.hitsFrom > 0 && i >= c.hitsFrom; hit != want {
					t.Errorf("%s: in the cache: %v, want %v", name, hit, want)
				}
			}
			got, gotErr := pods.trackCreate(p.DeepCopy(), "kubelet")
			want, wantErr := up[""].Update(pods.newObj(), p.DeepCopy(), "kubelet")
			if gotErr != nil || wantErr != nil {
				t.Fatalf("%s: error %v, upstream %v", name, gotErr, wantErr)
			}
			trackedAs(t, name, got, want, "kubelet", "")
		}
	}
	// The renamed copy leaves the pod as it was.
	p := withToken("kube-api-access-abcde", nil)
	before := p.DeepCopy()
	if _, _, ok := renameTokenVolume(p); !ok || !apiequality.Semantic.DeepEqual(p, before) {
		t.Errorf("renameTokenVolume changed the pod (renamed: %v)", ok)
	}
}
