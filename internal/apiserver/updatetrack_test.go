package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand"
	"net"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
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
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kijabi/kijabi/internal/storage"
)

// updateTracker runs updates through trackUpdate, through upstream's managers as upstream
// builds them and through the resource's own managers, and compares what they record.
type updateTracker struct {
	t  *testing.T
	s  *Server
	up map[*resource]map[string]*managedfields.FieldManager
	// old is the time of the entries the tests make: an hour ago, so that an entry stamped
	// by the update under test is told apart.
	old metav1.Time
}

func newUpdateTracker(t *testing.T) *updateTracker {
	s, err := New(Config{Storage: &storage.Backend{}})
	if err != nil {
		t.Fatal(err)
	}
	return &updateTracker{t: t, s: s, up: map[*resource]map[string]*managedfields.FieldManager{},
		old: metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))}
}

func (u *updateTracker) res(group, version, name string) *resource {
	r := u.s.resources[schema.GroupVersionResource{Group: group, Version: version, Resource: name}]
	if r == nil {
		u.t.Fatalf("no resource %s/%s/%s", group, version, name)
	}
	return r
}

// upstream returns upstream's manager of res for subresource, as trackUpdate picks it.
func (u *updateTracker) upstream(res *resource, subresource string) *managedfields.FieldManager {
	if u.up[res] == nil {
		u.up[res] = upstreamManagers(u.t, u.s, res)
	}
	if fm := u.up[res][subresource]; fm != nil {
		return fm
	}
	return u.up[res][""]
}

// write tracks an update with upstream's manager, and ages the entries: the way the
// objects of the tests are made.
func (u *updateTracker) write(res *resource, subresource string, live, obj runtime.Object, manager string) runtime.Object {
	u.t.Helper()
	if live == nil {
		live = res.newObj()
	}
	out, err := u.upstream(res, subresource).Update(live.DeepCopyObject(), obj.DeepCopyObject(), manager)
	if err != nil {
		u.t.Fatal(err)
	}
	return u.aged(out)
}

// aged sets the time of obj's entries to u.old.
func (u *updateTracker) aged(obj runtime.Object) runtime.Object {
	a, err := meta.Accessor(obj)
	if err != nil {
		u.t.Fatal(err)
	}
	mf := a.GetManagedFields()
	for i := range mf {
		mf[i].Time = &u.old
	}
	return obj
}

// check tracks the update of live to obj by manager through subresource both ways and
// compares the results; direct tells whether updatetrack.go is expected to answer (rather
// than leave it to the manager). It returns our result.
func (u *updateTracker) check(name string, res *resource, subresource string, live, obj runtime.Object, manager string, direct bool) runtime.Object {
	t := u.t
	t.Helper()
	liveCopy, objCopy := live.DeepCopyObject(), obj.DeepCopyObject()
	if projLive, projObj, ok := projectUnchanged(live, objCopy, res.gvk.GroupVersion().String()); !ok {
		if direct {
			t.Errorf("%s: not projected", name)
		}
	} else if _, ok := res.trackUpdateDirect(subresource, live, objCopy, projLive, projObj, manager); ok != direct {
		t.Errorf("%s: answered by updatetrack.go: %v, want %v", name, ok, direct)
	}
	got, gotErr := res.trackUpdate(subresource, live, obj.DeepCopyObject(), manager)
	want, wantErr := u.upstream(res, subresource).Update(live.DeepCopyObject(), obj.DeepCopyObject(), manager)
	own, ownErr := res.manager(subresource).Update(live.DeepCopyObject(), obj.DeepCopyObject(), manager)
	if !apiequality.Semantic.DeepEqual(liveCopy, live) {
		t.Errorf("%s: the live object changed", name)
	}
	if (gotErr == nil) != (wantErr == nil) || (ownErr == nil) != (wantErr == nil) {
		t.Errorf("%s: error %v, upstream %v, the resource's manager %v", name, gotErr, wantErr, ownErr)
		return nil
	}
	if gotErr != nil {
		return nil
	}
	sameTracking(t, name, got, want, "upstream")
	sameTracking(t, name, got, own, "the resource's manager")
	return got
}

// sameTracking compares objects tracked two ways: equal objects, and byte-identical
// managedFields but for the times each stamped now (the last minute), which must be those of
// the same entries.
func sameTracking(t *testing.T, name string, got, want runtime.Object, what string) {
	t.Helper()
	got, want = got.DeepCopyObject(), want.DeepCopyObject()
	entries := func(obj runtime.Object) ([]metav1.ManagedFieldsEntry, int64) {
		a, err := meta.Accessor(obj)
		if err != nil {
			t.Fatal(err)
		}
		mf := a.GetManagedFields()
		a.SetManagedFields(nil)
		var now int64
		for i := range mf {
			if mf[i].Time != nil && time.Since(mf[i].Time.Time) < time.Minute {
				now = mf[i].Time.Unix()
				mf[i].Time = nil
			}
		}
		return mf, now
	}
	g, gNow := entries(got)
	w, wNow := entries(want)
	if gNow != wNow {
		// Entries are ordered by their times: apart from the one stamped now when a second
		// ticked over between the runs.
		sortEntries(g)
		sortEntries(w)
	}
	gj, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	wj, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	if string(gj) != string(wj) {
		t.Errorf("%s: managedFields differ\nours %s\n%s %s", name, gj, what, wj)
	}
	if (g == nil) != (w == nil) {
		t.Errorf("%s: managedFields %#v, %s %#v", name, g, what, w)
	}
	if !apiequality.Semantic.DeepEqual(got, want) {
		t.Errorf("%s: objects differ\nours %#v\n%s %#v", name, got, what, want)
	}
}

// TestUpdateTrackingAsUpstream checks updates answered by updatetrack.go (and some it
// leaves to the manager) against upstream's manager.
func TestUpdateTrackingAsUpstream(t *testing.T) {
	u := newUpdateTracker(t)
	pods := u.res("", "v1", "pods")
	entry := func(manager, subresource string, op metav1.ManagedFieldsOperationType, fields string) metav1.ManagedFieldsEntry {
		e := metav1.ManagedFieldsEntry{Manager: manager, Operation: op, APIVersion: "v1", Time: &u.old, Subresource: subresource, FieldsType: "FieldsV1"}
		if fields != "-" {
			e.FieldsV1 = &metav1.FieldsV1{Raw: []byte(fields)}
		}
		return e
	}

	// A pod's life: created by the controller manager, bound by the scheduler, started and
	// restarted by the kubelet.
	p := benchPod("web-1")
	p.TypeMeta = metav1.TypeMeta{}
	p.Namespace, p.UID = "default", "0c5f3a2e-6f1b-4c43-9d54-5f1b8e2a7c11"
	p.Annotations = map[string]string{"example.com/a": "1"}
	p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "sidecar", Image: "envoy"})
	u.s.scheme.Default(p)
	created := u.write(pods, "", nil, p, "kube-controller-manager").(*corev1.Pod)
	created.UID = p.UID
	scheduled := created.DeepCopy()
	scheduled.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: u.old}}
	scheduled.Status.Phase = corev1.PodPending
	scheduled = u.write(pods, "status", created, scheduled, "kube-scheduler").(*corev1.Pod)
	bound := scheduled.DeepCopy()
	bound.Spec.NodeName = "node-1"
	bound = u.write(pods, "", scheduled, bound, "kube-scheduler").(*corev1.Pod)
	running := bound.DeepCopy()
	running.Status = benchRunningStatus(bound)
	running.Status.Conditions = append(running.Status.Conditions[:4:4], bound.Status.Conditions[0])
	running.Status.ContainerStatuses = running.Status.ContainerStatuses[:1]

	type update struct {
		name        string
		res         *resource
		subresource string
		live, obj   runtime.Object
		manager     string
		direct      bool
	}
	var updates []update
	add := func(name string, res *resource, sub string, live, obj runtime.Object, manager string, direct bool) {
		updates = append(updates, update{name, res, sub, live, obj, manager, direct})
	}
	add("pod status: pending to running", pods, "status", bound, running, "kubelet", true)
	started := u.write(pods, "status", bound, running, "kubelet").(*corev1.Pod)
	restarted := started.DeepCopy()
	restarted.Status.ContainerStatuses[0].RestartCount = 1
	restarted.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}}
	add("pod status: a restart, by the same manager", pods, "status", started, restarted, "kubelet", true)
	conditions := started.DeepCopy()
	conditions.Status.Conditions[2].Status = corev1.ConditionFalse
	conditions.Status.Conditions[2].Reason = "ContainersNotReady"
	add("pod status: a condition changes", pods, "status", started, conditions, "kubelet", true)
	sidecar := started.DeepCopy()
	sidecar.Status.ContainerStatuses = append(sidecar.Status.ContainerStatuses, corev1.ContainerStatus{Name: "sidecar", Image: "envoy", Ready: true})
	add("pod status: another container's status", pods, "status", started, sidecar, "kubelet", true)
	unscheduled := started.DeepCopy()
	unscheduled.Status.Conditions = unscheduled.Status.Conditions[:4]
	add("pod status: the scheduler's condition removed", pods, "status", started, unscheduled, "kubelet", true)
	takeover := started.DeepCopy()
	takeover.Status.Conditions[4].Message = "again"
	add("pod status: the scheduler's condition changed by the kubelet", pods, "status", started, takeover, "kubelet", true)
	bySched := started.DeepCopy()
	bySched.Status.Conditions[4].LastTransitionTime = metav1.NewTime(u.old.Add(time.Second))
	add("pod status: the scheduler changes its condition", pods, "status", started, bySched, "kube-scheduler", true)
	add("pod status that changes nothing", pods, "status", started, started.DeepCopy(), "kubelet", true)
	add("pod status that changes nothing, by a new writer", pods, "status", started, started.DeepCopy(), "someone", true)
	withSpec := restarted.DeepCopy()
	withSpec.Spec.Containers[0].Image = "kijabi.local/busybox:2"
	add("pod status writing the spec", pods, "status", started, withSpec, "kubelet", true)
	statusMF := restarted.DeepCopy()
	statusMF.ManagedFields = []metav1.ManagedFieldsEntry{entry("someone", "", metav1.ManagedFieldsOperationUpdate, `{"f:status":{}}`)}
	add("pod status with other managedFields in the request", pods, "status", started, statusMF, "kubelet", true)
	add("pod status through a subresource without a manager", pods, "ephemeralcontainers", started, restarted, "kubelet", true)

	relabel := started.DeepCopy()
	relabel.Labels["tier"] = "front"
	add("pod labelled", pods, "", started, relabel, "kubectl-label", true)
	annotate := started.DeepCopy()
	annotate.Annotations["example.com/b"] = "2"
	annotate.Annotations["example.com/a"] = "changed"
	add("pod annotated, another manager's annotation changed", pods, "", started, annotate, "kubectl-annotate", true)
	unlabel := started.DeepCopy()
	delete(unlabel.Labels, "app")
	add("pod label removed", pods, "", started, unlabel, "kubectl-edit", true)
	image := started.DeepCopy()
	image.Spec.Containers[0].Image = "kijabi.local/busybox:2"
	add("pod image changed", pods, "", started, image, "kubectl-edit", true)
	add("pod image changed by its owner", pods, "", started, image, "kube-controller-manager", true)
	add("pod update that changes nothing", pods, "", started, started.DeepCopy(), "kubectl-edit", true)
	add("pod update without manager", pods, "", started, relabel, "", true)
	add("pod update by the kubelet (another subresource)", pods, "", started, relabel, "kubelet", true)
	add("pod update by a manager of invalid UTF-8", pods, "", started, relabel, "bad\xffname", false)
	sameMF := relabel.DeepCopy()
	sameMF.ManagedFields = append([]metav1.ManagedFieldsEntry(nil), started.ManagedFields...)
	add("pod update bringing the live managedFields", pods, "", started, sameMF, "kubectl-label", true)
	otherMF := relabel.DeepCopy()
	otherMF.ManagedFields = []metav1.ManagedFieldsEntry{entry("importer", "", metav1.ManagedFieldsOperationUpdate, `{"f:metadata":{"f:labels":{"f:tier":{}}}}`)}
	add("pod update bringing other managedFields", pods, "", started, otherMF, "kubectl-label", false)
	resetMF := relabel.DeepCopy()
	resetMF.ManagedFields = []metav1.ManagedFieldsEntry{}
	add("pod update resetting managedFields", pods, "", started, resetMF, "kubectl-label", false)

	// Live objects without entries: tracked only without a UID.
	untracked := started.DeepCopy()
	untracked.ManagedFields = nil
	untrackedLabel := untracked.DeepCopy()
	untrackedLabel.Labels["tier"] = "front"
	add("pod without managedFields", pods, "", untracked, untrackedLabel, "kubectl-label", true)
	add("pod status without managedFields", pods, "status", untracked, restarted.DeepCopy(), "kubelet", true)
	noUID, noUIDLabel := untracked.DeepCopy(), untrackedLabel.DeepCopy()
	noUID.UID, noUIDLabel.UID = "", ""
	add("pod without managedFields or UID", pods, "", noUID, noUIDLabel, "kubectl-label", true)

	// Unusual entries: an applier's, empty ones, bytes that are not the set's encoding,
	// entries of other subresources, another version, an unknown operation, duplicates.
	odd := started.DeepCopy()
	odd.ManagedFields = append(odd.ManagedFields,
		entry("kubectl", "", metav1.ManagedFieldsOperationApply, `{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{".":{},"f:image":{},"f:name":{}}}}}`),
		entry("empty", "", metav1.ManagedFieldsOperationUpdate, `{}`),
		entry("nil", "", metav1.ManagedFieldsOperationUpdate, "-"),
		entry("spaced", "", metav1.ManagedFieldsOperationUpdate, `{ "f:metadata" : {"f:annotations":{"f:example.com/a":{}}}}`),
		entry("unordered", "status", metav1.ManagedFieldsOperationUpdate, `{"f:status":{"f:phase":{},"f:hostIP":{}}}`),
		entry("owner", "", metav1.ManagedFieldsOperationUpdate, `{"f:metadata":{"f:managedFields":{}},"f:spec":{"f:nodeName":{}}}`))
	oddImage := odd.DeepCopy()
	oddImage.Spec.Containers[0].Image = "other"
	add("pod image an applier owns, among odd entries", pods, "", odd, oddImage, "kubectl-edit", true)
	oddStatus := odd.DeepCopy()
	oddStatus.Status.Phase = corev1.PodFailed
	add("pod phase among odd entries", pods, "status", odd, oddStatus, "kubelet", true)
	add("pod unchanged among odd entries", pods, "status", odd, odd.DeepCopy(), "spaced", true)
	for _, bad := range []struct {
		name string
		e    metav1.ManagedFieldsEntry
	}{
		{"another version", func() metav1.ManagedFieldsEntry {
			e := entry("old", "", metav1.ManagedFieldsOperationUpdate, `{"f:metadata":{"f:labels":{"f:app":{}}}}`)
			e.APIVersion = "v1beta1"
			return e
		}()},
		{"an unknown operation", entry("op", "", "Patch", `{"f:metadata":{"f:labels":{"f:app":{}}}}`)},
		{"no fields type", func() metav1.ManagedFieldsEntry {
			e := entry("type", "", metav1.ManagedFieldsOperationUpdate, `{"f:metadata":{"f:labels":{"f:app":{}}}}`)
			e.FieldsType = ""
			return e
		}()},
		{"a duplicate", entry("kube-controller-manager", "", metav1.ManagedFieldsOperationUpdate, `{"f:metadata":{"f:labels":{"f:app":{}}}}`)},
		{"undecodable fields", entry("garbage", "", metav1.ManagedFieldsOperationUpdate, `{"f:metadata":`)},
		{"a manager of invalid UTF-8", entry("bad\xff", "", metav1.ManagedFieldsOperationUpdate, `{"f:metadata":{"f:labels":{"f:app":{}}}}`)},
	} {
		live := started.DeepCopy()
		live.ManagedFields = append(live.ManagedFields, bad.e)
		obj := live.DeepCopy()
		obj.Labels["tier"] = "front"
		add("pod with an entry of "+bad.name, pods, "", live, obj, "kubectl-label", false)
	}

	// More update managers than the cap: eleven annotators of distinct times (two alike),
	// then a new writer; and again with an "ancient-changes" entry already there, and an
	// applier (not counted).
	many := started.DeepCopy()
	for i := 0; i < 11; i++ {
		name := fmt.Sprintf("writer-%02d", i)
		ts := metav1.NewTime(u.old.Add(time.Duration(i/2) * time.Second))
		e := entry(name, "", metav1.ManagedFieldsOperationUpdate, fmt.Sprintf(`{"f:metadata":{"f:annotations":{"f:a%d":{}}}}`, i))
		e.Time = &ts
		many.ManagedFields = append(many.ManagedFields, e)
		metav1.SetMetaDataAnnotation(&many.ObjectMeta, fmt.Sprintf("a%d", i), "x")
	}
	manyLabel := many.DeepCopy()
	manyLabel.Labels["tier"] = "front"
	add("pod update beyond the cap", pods, "", many, manyLabel, "kubectl-label", true)
	add("pod status beyond the cap", pods, "status", many, func() *corev1.Pod { p := many.DeepCopy(); p.Status.Phase = corev1.PodFailed; return p }(), "kubelet", true)
	add("pod update beyond the cap by one of them", pods, "", many, manyLabel, "writer-03", true)
	capped := u.write(pods, "", many, manyLabel, "kubectl-label").(*corev1.Pod)
	capped.ManagedFields = append(capped.ManagedFields, entry("kubectl", "", metav1.ManagedFieldsOperationApply, `{"f:metadata":{"f:labels":{"f:tier":{}}}}`))
	for i := 11; i < 14; i++ {
		e := entry(fmt.Sprintf("writer-%02d", i), "", metav1.ManagedFieldsOperationUpdate, fmt.Sprintf(`{"f:metadata":{"f:annotations":{"f:a%d":{}}}}`, i))
		capped.ManagedFields = append(capped.ManagedFields, e)
		metav1.SetMetaDataAnnotation(&capped.ObjectMeta, fmt.Sprintf("a%d", i), "x")
	}
	cappedLabel := capped.DeepCopy()
	cappedLabel.Labels["zone"] = "a"
	add("pod update beyond the cap with an ancient-changes entry", pods, "", capped, cappedLabel, "kubectl-label-2", true)
	cappedEdit := capped.DeepCopy()
	delete(cappedEdit.Annotations, "a0")
	delete(cappedEdit.Annotations, "a12")
	add("pod update beyond the cap removing annotations", pods, "", capped, cappedEdit, "kubectl-edit", true)

	// An "ancient-changes" entry younger than another update entry: upstream's cap merges
	// it into itself, and drops it, before moving the older entry into its place.
	ancient := started.DeepCopy()
	for i := 0; i < 11; i++ {
		name, ts := fmt.Sprintf("writer-%02d", i), metav1.NewTime(u.old.Add(time.Duration(i)*time.Second))
		if i == 1 {
			name = ancientChanges
		}
		e := entry(name, "", metav1.ManagedFieldsOperationUpdate, fmt.Sprintf(`{"f:metadata":{"f:annotations":{"f:a%d":{}}}}`, i))
		e.Time = &ts
		ancient.ManagedFields = append(ancient.ManagedFields, e)
		metav1.SetMetaDataAnnotation(&ancient.ObjectMeta, fmt.Sprintf("a%d", i), "x")
	}
	ancientLabel := ancient.DeepCopy()
	ancientLabel.Labels["tier"] = "front"
	add("pod update beyond the cap with a young ancient-changes entry", pods, "", ancient, ancientLabel, "kubectl-label", true)

	// The untracked metadata changes too (as the server bumps the generation).
	generation := started.DeepCopy()
	generation.Generation, generation.ResourceVersion = 7, "99"
	generation.Spec.ActiveDeadlineSeconds = new(int64)
	add("pod update with a new generation and resourceVersion", pods, "", started, generation, "kubectl-edit", true)
	generationOnly := started.DeepCopy()
	generationOnly.Generation, generationOnly.ResourceVersion = 7, "99"
	add("pod update of the untracked metadata only", pods, "", started, generationOnly, "kubectl-edit", true)

	// Other kinds: a Deployment's spec and status, ConfigMaps, a Service, a Node's status.
	deployments := u.res("apps", "v1", "deployments")
	replicas := int32(2)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "a"}}}}}}
	u.s.scheme.Default(dep)
	dep = u.write(deployments, "", nil, dep, "kubectl-create").(*appsv1.Deployment)
	dep.UID = "u-dep"
	scaled := dep.DeepCopy()
	*scaled.Spec.Replicas = 5
	add("deployment scaled", deployments, "", dep, scaled, "kubectl-scale", true)
	rolled := dep.DeepCopy()
	rolled.Spec.Template.Spec.Containers[0].Image = "b"
	rolled.Spec.Template.Annotations = map[string]string{"kubectl.kubernetes.io/restartedAt": "now"}
	add("deployment template changed", deployments, "", dep, rolled, "kubectl-rollout", true)
	depStatus := dep.DeepCopy()
	depStatus.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, ReadyReplicas: 2,
		Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, LastUpdateTime: u.old, LastTransitionTime: u.old}}}
	add("deployment status", deployments, "status", dep, depStatus, "kube-controller-manager", true)
	depStatused := u.write(deployments, "status", dep, depStatus, "kube-controller-manager").(*appsv1.Deployment)
	depStatus2 := depStatused.DeepCopy()
	depStatus2.Status.ReadyReplicas, depStatus2.Status.Conditions = 1, nil
	add("deployment status again, conditions removed", deployments, "status", depStatused, depStatus2, "kube-controller-manager", true)

	configmaps := u.res("", "v1", "configmaps")
	cm := u.write(configmaps, "", nil, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"}, Data: map[string]string{"a": "1", "b": "2"}}, "kubectl-create").(*corev1.ConfigMap)
	cm.UID = "u-cm"
	cmEdit := cm.DeepCopy()
	cmEdit.Data["a"] = "changed"
	cmEdit.Data["c"] = "3"
	add("configmap data changed and added", configmaps, "", cm, cmEdit, "kubectl-edit", true)
	cmEmptied := cm.DeepCopy()
	cmEmptied.Data = map[string]string{"c": "3"}
	add("configmap: the creator's fields all gone", configmaps, "", cm, cmEmptied, "kubectl-edit", true)
	cmTaken := cm.DeepCopy()
	cmTaken.Data = map[string]string{"a": "x", "b": "y"}
	add("configmap: the creator's fields all taken", configmaps, "", cm, cmTaken, "kubectl-edit", true)

	services := u.res("", "v1", "services")
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
		Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}, Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10"}}}
	u.s.scheme.Default(svc)
	svc = u.write(services, "", nil, svc, "kubectl-create").(*corev1.Service)
	svc.UID = "u-svc"
	svcEdit := svc.DeepCopy()
	svcEdit.Spec.Ports = append(svcEdit.Spec.Ports, corev1.ServicePort{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8443)})
	svcEdit.Spec.Selector = map[string]string{"app": "web2"}
	add("service ports and selector changed", services, "", svc, svcEdit, "kubectl-edit", true)

	nodes := u.res("", "v1", "nodes")
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1", Labels: map[string]string{"kubernetes.io/hostname": "node-1"}},
		Spec: corev1.NodeSpec{PodCIDR: "10.128.0.0/24"}}
	node = u.write(nodes, "", nil, node, "kubelet").(*corev1.Node)
	node.UID = "u-node"
	nodeStatus := node.DeepCopy()
	nodeStatus.Status = corev1.NodeStatus{Capacity: corev1.ResourceList{corev1.ResourceCPU: apiresource.MustParse("4"), corev1.ResourcePods: apiresource.MustParse("110")},
		Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.1"}, {Type: corev1.NodeHostName, Address: "node-1"}},
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: u.old, LastTransitionTime: u.old}}}
	add("node status", nodes, "status", node, nodeStatus, "kubelet", true)
	nodeStatused := u.write(nodes, "status", node, nodeStatus, "kubelet").(*corev1.Node)
	heartbeat := nodeStatused.DeepCopy()
	heartbeat.Status.Conditions[0].LastHeartbeatTime = metav1.NewTime(u.old.Add(10 * time.Second))
	add("node heartbeat", nodes, "status", nodeStatused, heartbeat, "kubelet", true)
	add("node heartbeat by another writer", nodes, "status", nodeStatused, heartbeat, "node-controller", true)

	for _, c := range updates {
		u.check(c.name, c.res, c.subresource, c.live, c.obj, c.manager, c.direct)
	}
}

// TestUpdateTrackingRandomAsUpstream updates random objects of several kinds, tracked by a
// few managers, with parts of other random objects, through the object and its status,
// against upstream's manager.
func TestUpdateTrackingRandomAsUpstream(t *testing.T) {
	u := newUpdateTracker(t)
	n := 40
	if testing.Short() {
		n = 8
	}
	rnd := rand.New(rand.NewSource(2))
	f := fuzzer.FuzzerFor(metafuzzer.Funcs, rand.NewSource(2), u.s.codecs).NilChance(0.3).NumElements(0, 2).MaxDepth(12)
	managers := []string{"creator", "editor", "kubelet", "controller"}
	for _, gvr := range []schema.GroupVersionResource{
		{Version: "v1", Resource: "pods"}, {Group: "apps", Version: "v1", Resource: "deployments"},
		{Version: "v1", Resource: "services"}, {Version: "v1", Resource: "configmaps"},
		{Group: "batch", Version: "v1", Resource: "jobs"}, {Version: "v1", Resource: "nodes"},
	} {
		res := u.s.resources[gvr]
		random := func() runtime.Object {
			obj := res.newObj()
			f.Fill(obj)
			u.s.scheme.Default(obj)
			a, _ := meta.Accessor(obj)
			a.SetManagedFields(nil)
			return obj
		}
		// mix returns a copy of base with each of its top-level fields (metadata's labels
		// and annotations counting as fields) taken from other at random.
		mix := func(base, other runtime.Object) runtime.Object {
			out := base.DeepCopyObject()
			ov, bv := reflect.ValueOf(other).Elem(), reflect.ValueOf(out).Elem()
			for i := 0; i < bv.NumField(); i++ {
				if f := bv.Type().Field(i); f.Anonymous || rnd.Intn(2) == 0 {
					continue
				}
				bv.Field(i).Set(ov.Field(i))
			}
			oa, _ := meta.Accessor(other)
			ba, _ := meta.Accessor(out)
			if rnd.Intn(2) == 0 {
				ba.SetLabels(oa.GetLabels())
			}
			if rnd.Intn(2) == 0 {
				ba.SetAnnotations(oa.GetAnnotations())
			}
			return out
		}
		var direct, errs int
		for i := 0; i < n; i++ {
			// A live object: created, then updated by others.
			live := u.write(res, "", nil, random(), managers[0])
			la, _ := meta.Accessor(live)
			la.SetUID("u-1")
			for j := rnd.Intn(3); j > 0; j-- {
				sub := []string{"", "status"}[rnd.Intn(2)]
				if out, err := u.upstream(res, sub).Update(live.DeepCopyObject(), mix(live, random()), managers[rnd.Intn(len(managers))]); err == nil {
					live = u.aged(out)
				}
			}
			obj := mix(live, random())
			if rnd.Intn(3) == 0 {
				obj = mix(live, live) // changing little, or nothing
			}
			sub := []string{"", "status"}[rnd.Intn(2)]
			manager := managers[rnd.Intn(len(managers))]
			name := fmt.Sprintf("%s %d (%q by %s)", gvr.Resource, i, sub, manager)
			answered := false
			if projLive, projObj, ok := projectUnchanged(live, obj.DeepCopyObject(), res.gvk.GroupVersion().String()); ok {
				_, answered = res.trackUpdateDirect(sub, live, obj.DeepCopyObject(), projLive, projObj, manager)
			}
			if answered {
				direct++
			}
			if u.check(name, res, sub, live, obj, manager, answered) == nil {
				errs++
			}
		}
		t.Logf("%s: %d of %d answered by updatetrack.go, %d errors", gvr.Resource, direct, n, errs)
		if direct < n/2 {
			t.Errorf("%s: %d of %d answered by updatetrack.go (%d errors)", gvr.Resource, direct, n, errs)
		}
	}
}

// TestUpdateTrackingCache checks that fieldsCache stays within its bounds and shares the
// sets of equal encodings.
func TestUpdateTrackingCache(t *testing.T) {
	u := newUpdateTracker(t)
	pods := u.res("", "v1", "pods")
	tv, err := pods.creates.tc.ObjectToTyped(&corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}})
	if err != nil {
		t.Fatal(err)
	}
	raw := func(i int) []byte { return []byte(fmt.Sprintf(`{"f:metadata":{"f:labels":{"f:l%d":{}}}}`, i)) }
	first := lookupFields(pods.gvk, raw(0), tv)
	if first == nil || first.enc != nil || lookupFields(pods.gvk, raw(0), tv) != first {
		t.Fatalf("the same encoding decoded twice, or not canonical: %+v", first)
	}
	for i := 1; i < 3*fieldsCacheSize; i++ {
		if lookupFields(pods.gvk, raw(i), tv) == nil {
			t.Fatalf("%s not decoded", raw(i))
		}
	}
	remembered := func() (n, bytes int) {
		fieldsCache.mu.RLock()
		defer fieldsCache.mu.RUnlock()
		for _, m := range []map[string]*decodedFields{fieldsCache.cur, fieldsCache.old} {
			for k := range m {
				n, bytes = n+1, bytes+len(k)
			}
		}
		return n, bytes
	}
	if n, _ := remembered(); n > 2*fieldsCacheSize {
		t.Errorf("%d encodings remembered, at most %d expected", n, 2*fieldsCacheSize)
	}
	// Large encodings (a pod's entry is ≈ 1 KiB, its set ≈ 30 KiB) are bounded by their bytes.
	big := func(i int) []byte {
		var b strings.Builder
		fmt.Fprintf(&b, `{"f:metadata":{"f:labels":{"f:big%d":{}`, i)
		for j := 0; j < 40; j++ {
			fmt.Fprintf(&b, `,"f:label-number-%02d":{}`, j)
		}
		b.WriteString(`}}}`)
		return []byte(b.String())
	}
	for i := 0; i < 3*fieldsCacheSize; i++ {
		if lookupFields(pods.gvk, big(i), tv) == nil {
			t.Fatalf("%s not decoded", big(i))
		}
	}
	if _, b := remembered(); b > 2*fieldsCacheBytes {
		t.Errorf("%d bytes of encodings remembered, at most %d expected", b, 2*fieldsCacheBytes)
	}
	if d := lookupFields(pods.gvk, []byte(`{ "f:metadata":{}}`), tv); d == nil || string(d.enc) != `{"f:metadata":{}}` {
		t.Errorf("a non-canonical encoding: %+v", d)
	}
	if d := lookupFields(pods.gvk, []byte(`{"f:metadata":`), tv); d != nil {
		t.Errorf("an undecodable encoding decoded: %+v", d)
	}
}

// TestUpdateTrackingThroughTheServer updates a pod's status twice through the API with
// client-go, and checks the managedFields stored against upstream's manager's tracking of
// the same updates.
func TestUpdateTrackingThroughTheServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	backend, err := storage.OpenEmbedded(ctx, storage.EmbeddedConfig{Dir: t.TempDir(), UnsafeNoFsync: true}, slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		backend.Close()
	})
	s, err := New(Config{Storage: backend, Log: slog.New(slog.DiscardHandler), CompactionInterval: -1,
		AdvertiseAddress: net.ParseIP("10.0.0.1"), Port: 6443})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	client, err := kubernetes.NewForConfig(&rest.Config{Host: hs.URL})
	if err != nil {
		t.Fatal(err)
	}
	pods := client.CoreV1().Pods("default")
	pod := benchPod("web-1")
	pod.TypeMeta = metav1.TypeMeta{}
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "sidecar", Image: "envoy"})
	created, err := pods.Create(ctx, pod, metav1.CreateOptions{FieldManager: "kube-controller-manager"})
	if err != nil {
		t.Fatal(err)
	}
	res := s.resources[schema.GroupVersionResource{Version: "v1", Resource: "pods"}]
	up := upstreamManagers(t, s, res)
	live := created
	for i, edit := range []func(p *corev1.Pod){
		func(p *corev1.Pod) { p.Status = benchRunningStatus(p) },
		func(p *corev1.Pod) {
			p.Status.ContainerStatuses[0].RestartCount = 1
			p.Status.Conditions = p.Status.Conditions[1:]
		},
	} {
		obj := live.DeepCopy()
		edit(obj)
		obj.ManagedFields = nil
		updated, err := pods.UpdateStatus(ctx, obj, metav1.UpdateOptions{FieldManager: "kubelet"})
		if err != nil {
			t.Fatal(err)
		}
		// What the server stored, tracked by upstream from the live object.
		stored := updated.DeepCopy()
		stored.ManagedFields = live.ManagedFields
		want, err := up["status"].Update(live.DeepCopy(), stored, "kubelet")
		if err != nil {
			t.Fatal(err)
		}
		sameTracking(t, fmt.Sprintf("status update %d", i+1), updated, want, "upstream")
		if len(updated.ManagedFields) != 2 || updated.ManagedFields[1].Manager != "kubelet" || updated.ManagedFields[1].Subresource != "status" {
			t.Errorf("status update %d: managedFields %+v", i+1, updated.ManagedFields)
		}
		live = updated
	}
}

// TestUpdateTrackingConcurrent tracks updates of one object from several goroutines (the
// cache's sets are shared between them), for the race detector, against upstream's result.
func TestUpdateTrackingConcurrent(t *testing.T) {
	u := newUpdateTracker(t)
	pods := u.res("", "v1", "pods")
	p := benchPod("web-1")
	p.TypeMeta = metav1.TypeMeta{}
	p.Namespace = "default"
	u.s.scheme.Default(p)
	live := u.write(pods, "", nil, p, "kube-controller-manager").(*corev1.Pod)
	live.UID = "u-1"
	obj := live.DeepCopy()
	obj.Status = benchRunningStatus(live)
	want, err := u.upstream(pods, "status").Update(live.DeepCopy(), obj.DeepCopy(), "kubelet")
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan runtime.Object, 64)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 8; i++ {
				got, err := pods.trackUpdate("status", live, obj.DeepCopy(), "kubelet")
				if err != nil {
					t.Error(err)
				}
				results <- got
			}
		}()
	}
	for i := 0; i < 64; i++ {
		if got := <-results; got != nil {
			sameTracking(t, fmt.Sprintf("update %d", i), got, want, "upstream")
		}
	}
}
