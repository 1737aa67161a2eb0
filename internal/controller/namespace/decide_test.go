package namespace

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
)

func TestNeedsFinalization(t *testing.T) {
	now := metav1.Now()
	cases := []struct {
		name string
		ns   corev1.Namespace
		want bool
	}{
		{"active", corev1.Namespace{Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"kubernetes"}}}, false},
		{"terminating", corev1.Namespace{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"kubernetes"}}}, true},
		{"finalized", corev1.Namespace{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}}, false},
		{"other finalizer", corev1.Namespace{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"example.com/x"}}}, false},
	}
	for _, c := range cases {
		if got := needsFinalization(&c.ns); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestWithoutFinalizer(t *testing.T) {
	got := withoutFinalizer([]corev1.FinalizerName{"a", "kubernetes", "b"}, "kubernetes")
	if diff := cmp.Diff([]corev1.FinalizerName{"a", "b"}, got); diff != "" {
		t.Error(diff)
	}
	if got := withoutFinalizer(nil, "kubernetes"); got == nil || len(got) != 0 {
		t.Errorf("%#v, want an empty, non-nil slice", got)
	}
}

func TestDeletableResources(t *testing.T) {
	lists := []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "pods", Namespaced: true, Verbs: []string{"delete", "deletecollection", "list"}},
			{Name: "pods/log", Namespaced: true, Verbs: []string{"get"}},
			{Name: "pods/eviction", Namespaced: true, Verbs: []string{"create", "delete"}},
			{Name: "configmaps", Namespaced: true, Verbs: []string{"delete", "list"}},
			{Name: "bindings", Namespaced: true, Verbs: []string{"create"}},
			{Name: "nodes", Namespaced: false, Verbs: []string{"delete", "list"}},
			{Name: "configmaps", Namespaced: true, Verbs: []string{"delete", "list"}},
		}},
		{GroupVersion: "a/b/c", APIResources: []metav1.APIResource{{Name: "bad", Namespaced: true, Verbs: []string{"delete"}}}},
		nil,
		{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
			{Name: "deployments", Namespaced: true, Verbs: []string{"delete", "deletecollection", "list"}},
			{Name: "tokens", Namespaced: true, Verbs: []string{"delete"}},
		}},
	}
	got, errs := deletableResources(lists)
	want := []deletableResource{
		{gvr: schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, list: true},
		{gvr: schema.GroupVersionResource{Version: "v1", Resource: "pods"}, list: true, deleteCollection: true},
		{gvr: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, list: true, deleteCollection: true},
		{gvr: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "tokens"}},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(deletableResource{})); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}
	if len(errs) != 1 || errs[0].Error() != "unexpected GroupVersion string: a/b/c" {
		t.Errorf("errors %v", errs)
	}

	// A group version that does not parse becomes the parsing condition.
	r := newContentReport()
	r.parseErrs = errs
	conds := failingConditions(r, time.Now())
	if len(conds) != 1 || conds[0].Type != corev1.NamespaceDeletionGVParsingFailure || conds[0].Reason != "GroupVersionParsingFailed" ||
		conds[0].Message != "unexpected GroupVersion string: a/b/c" {
		t.Errorf("conditions %+v", conds)
	}
}

func TestAssessRemaining(t *testing.T) {
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	item := func(finalizers ...string) metav1.PartialObjectMetadata {
		return metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Finalizers: finalizers}}
	}
	o, err := assessRemaining("ns", gvr, nil, 0)
	if err != nil || o.remaining != 0 || o.estimate != 0 {
		t.Errorf("nothing left: %+v %v", o, err)
	}
	o, err = assessRemaining("ns", gvr, []metav1.PartialObjectMetadata{item("a", "b"), item("a"), item()}, 0)
	if err != nil || o.remaining != 3 || o.estimate != finalizerEstimateSeconds || !cmp.Equal(o.finalizers, map[string]int{"a": 2, "b": 1}) {
		t.Errorf("finalizers: %+v %v", o, err)
	}
	o, err = assessRemaining("ns", gvr, []metav1.PartialObjectMetadata{item()}, 30)
	if err != nil || o.estimate != 30 || o.remaining != 1 {
		t.Errorf("grace: %+v %v", o, err)
	}
	o, err = assessRemaining("ns", gvr, []metav1.PartialObjectMetadata{item()}, 0)
	if err == nil || err.Error() != "unexpected items still remain in namespace: ns for gvr: /v1, Resource=configmaps" || o.remaining != 1 {
		t.Errorf("unexplained: %+v %v", o, err)
	}
}

func TestPodGraceEstimate(t *testing.T) {
	g := func(n int64) *int64 { return &n }
	pods := []corev1.Pod{
		{Spec: corev1.PodSpec{TerminationGracePeriodSeconds: g(30)}, Status: corev1.PodStatus{Phase: corev1.PodRunning}},
		{Spec: corev1.PodSpec{TerminationGracePeriodSeconds: g(90)}, Status: corev1.PodStatus{Phase: corev1.PodSucceeded}},
		{Spec: corev1.PodSpec{}},
	}
	deleted := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := podGraceEstimate(pods, deleted, deleted.Add(10*time.Second)); got != 30 {
		t.Errorf("within the grace period: %d, want 30", got)
	}
	if got := podGraceEstimate(pods, deleted, deleted.Add(30*time.Second)); got != 0 {
		t.Errorf("after the grace period: %d, want 0", got)
	}
	if got := podGraceEstimate(nil, deleted, deleted); got != 0 {
		t.Errorf("no pods: %d", got)
	}
}

func TestRequeueDelay(t *testing.T) {
	for est, want := range map[int64]time.Duration{0: time.Second, 1: time.Second, 15: 8 * time.Second, 30: 16 * time.Second, -4: time.Second} {
		if got := requeueDelay(est); got != want {
			t.Errorf("requeueDelay(%d) = %v, want %v", est, got, want)
		}
	}
}

func TestContentReport(t *testing.T) {
	r := newContentReport()
	pods := schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	widgets := schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
	r.add(pods, gvrOutcome{estimate: 30, remaining: 2, finalizers: map[string]int{"a": 1}}, nil)
	r.add(widgets, gvrOutcome{estimate: 15, remaining: 1, finalizers: map[string]int{"a": 1, "b": 1, "z": 0}}, errors.New("nope"))
	r.add(widgets, gvrOutcome{}, nil)
	if r.estimate != 30 {
		t.Errorf("estimate %d", r.estimate)
	}
	if !cmp.Equal(r.remaining, map[schema.GroupVersionResource]int{pods: 2, widgets: 1}) || !cmp.Equal(r.finalizers, map[string]int{"a": 2, "b": 1}) {
		t.Errorf("remaining %v, finalizers %v", r.remaining, r.finalizers)
	}
	if r.err() == nil || r.err().Error() != "nope" {
		t.Errorf("err %v", r.err())
	}

	conds := failingConditions(r, time.Now())
	msgs := map[corev1.NamespaceConditionType]string{}
	for _, c := range conds {
		if c.Status != corev1.ConditionTrue {
			t.Errorf("%s is %s", c.Type, c.Status)
		}
		msgs[c.Type] = c.Message
	}
	want := map[corev1.NamespaceConditionType]string{
		corev1.NamespaceDeletionContentFailure: "Failed to delete all resource types, 1 remaining: nope",
		corev1.NamespaceContentRemaining:       "Some resources are remaining: pods. has 2 resource instances, widgets.example.com has 1 resource instances",
		corev1.NamespaceFinalizersRemaining:    "Some content in the namespace has finalizers remaining: a in 2 resource instances, b in 1 resource instances",
	}
	if diff := cmp.Diff(want, msgs); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

func TestDiscoveryConditionMessage(t *testing.T) {
	r := newContentReport()
	r.discoveryErr = errors.New("connection refused")
	conds := failingConditions(r, time.Now())
	if len(conds) != 1 || conds[0].Type != corev1.NamespaceDeletionDiscoveryFailure || conds[0].Message != "connection refused" || conds[0].Reason != "DiscoveryFailed" {
		t.Errorf("plain error: %+v", conds)
	}
	r.discoveryErr = &discovery.ErrGroupDiscoveryFailed{Groups: map[schema.GroupVersion]error{
		{Group: "a.example.com", Version: "v1"}: errors.New("x"),
		{Group: "b.example.com", Version: "v1"}: errors.New("y"),
	}}
	conds = failingConditions(r, time.Now())
	want := "Discovery failed for some groups, 2 failing: unable to retrieve the complete list of server APIs: a.example.com/v1: x, b.example.com/v1: y"
	if len(conds) != 1 || conds[0].Message != want {
		t.Errorf("group failure: %+v", conds)
	}
}

func TestMergeConditions(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Minute)
	t2 := t1.Add(time.Minute)
	var status corev1.NamespaceStatus
	status.Conditions = []corev1.NamespaceCondition{{Type: "SomethingElse", Status: corev1.ConditionTrue}}

	failing := []corev1.NamespaceCondition{{Type: corev1.NamespaceContentRemaining, Status: corev1.ConditionTrue, Reason: "SomeResourcesRemain", Message: "m1", LastTransitionTime: metav1.NewTime(t0)}}
	if !mergeConditions(&status, failing, t0) {
		t.Fatal("first merge reported no change")
	}
	if len(status.Conditions) != 1+len(conditionTypes) {
		t.Fatalf("conditions %+v", status.Conditions)
	}
	if c := findCondition(status.Conditions, "SomethingElse"); c == nil {
		t.Error("foreign condition dropped")
	}
	for _, ct := range conditionTypes {
		c := findCondition(status.Conditions, ct)
		wantStatus := corev1.ConditionFalse
		if ct == corev1.NamespaceContentRemaining {
			wantStatus = corev1.ConditionTrue
		}
		if c.Status != wantStatus || !c.LastTransitionTime.Time.Equal(t0) {
			t.Errorf("%s: %+v", ct, c)
		}
	}

	// The same outcome again changes nothing.
	if mergeConditions(&status, failing, t1) {
		t.Error("identical merge reported a change")
	}
	// A new message keeps the transition time; a new status moves it.
	failing[0].Message = "m2"
	if !mergeConditions(&status, failing, t1) {
		t.Error("new message: no change")
	}
	if c := findCondition(status.Conditions, corev1.NamespaceContentRemaining); c.Message != "m2" || !c.LastTransitionTime.Time.Equal(t0) {
		t.Errorf("after a new message: %+v", c)
	}
	if !mergeConditions(&status, nil, t2) {
		t.Error("recovery: no change")
	}
	c := findCondition(status.Conditions, corev1.NamespaceContentRemaining)
	if c.Status != corev1.ConditionFalse || c.Reason != "ContentRemoved" || c.Message != "All content successfully removed" || !c.LastTransitionTime.Time.Equal(t2) {
		t.Errorf("after recovery: %+v", c)
	}
}
