package statefulset

import (
	"fmt"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newSet(replicas int32, opts ...func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
	s := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "set-uid", Generation: 1},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To(replicas),
			ServiceName: "svc",
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}},
			},
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](0), MaxUnavailable: ptr.To(intstr.FromInt32(1))}},
		},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func parallel(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement }

func withRevs(set *appsv1.StatefulSet, current, update string) revisions {
	return revisions{currentSet: set, updateSet: set, current: current, update: update}
}

type podState int

const (
	pending  podState = iota
	running           // Running, not ready
	readyPod          // Running and Ready
	failed
	terminating
)

// pod is the set's pod with ordinal in state at revision.
func pod(set *appsv1.StatefulSet, ord int, st podState, rev string) *corev1.Pod {
	p := newPod(set, ord, rev)
	p.UID = types.UID(fmt.Sprintf("uid-%d", ord))
	switch st {
	case pending:
		p.Status.Phase = corev1.PodPending
	case running:
		p.Status.Phase = corev1.PodRunning
	case readyPod, terminating:
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0)}}
		if st == terminating {
			p.DeletionTimestamp = ptr.To(metav1.NewTime(t0))
		}
	case failed:
		p.Status.Phase = corev1.PodFailed
	}
	return p
}

func summary(acts []action) []string {
	var out []string
	for _, a := range acts {
		s := fmt.Sprintf("%s %d", a.kind, a.ordinal)
		if a.kind == actCreate {
			s += " " + revisionOf(a.pod)
		}
		out = append(out, s)
	}
	return out
}

func TestPlan(t *testing.T) {
	ordered := newSet(3)
	par := newSet(3, parallel)
	one := newSet(1)
	oneParallel := newSet(1, parallel)
	partitioned := newSet(3, func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](2) })
	maxTwo := newSet(3, func(s *appsv1.StatefulSet) {
		s.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(2))
	})
	onDelete := newSet(3, func(s *appsv1.StatefulSet) {
		s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	})
	start5 := newSet(2, func(s *appsv1.StatefulSet) { s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 5} })
	withClaims := newSet(2, func(s *appsv1.StatefulSet) {
		s.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}}
	})

	cases := []struct {
		name string
		set  *appsv1.StatefulSet
		revs revisions
		pods func(*appsv1.StatefulSet) []*corev1.Pod
		want []string
	}{
		{name: "ordered: first pod only", set: ordered, want: []string{"create 0 rev1"}},
		{name: "ordered: wait for web-0 to be ready", set: ordered,
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod { return []*corev1.Pod{pod(s, 0, running, "rev1")} }},
		{name: "ordered: web-1 after web-0 is ready", set: ordered,
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod { return []*corev1.Pod{pod(s, 0, readyPod, "rev1")} },
			want: []string{"create 1 rev1"}},
		{name: "ordered: a gap is filled first", set: ordered,
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, readyPod, "rev1"), pod(s, 2, readyPod, "rev1")}
			},
			want: []string{"create 1 rev1"}},
		{name: "parallel: all at once", set: par, want: []string{"create 0 rev1", "create 1 rev1", "create 2 rev1"}},
		{name: "parallel: does not wait", set: par,
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod { return []*corev1.Pod{pod(s, 0, pending, "rev1")} },
			want: []string{"create 1 rev1", "create 2 rev1"}},
		{name: "failed pod is deleted (then recreated)", set: ordered,
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, readyPod, "rev1"), pod(s, 1, failed, "rev1"), pod(s, 2, readyPod, "rev1")}
			},
			want: []string{"delete 1"}},
		{name: "ordered: scale down from the highest ordinal, one at a time", set: one,
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, readyPod, "rev1"), pod(s, 1, readyPod, "rev1"), pod(s, 2, readyPod, "rev1")}
			},
			want: []string{"delete 2"}},
		{name: "ordered: scale down waits for the terminating pod", set: one,
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, readyPod, "rev1"), pod(s, 1, readyPod, "rev1"), pod(s, 2, terminating, "rev1")}
			}},
		{name: "ordered: scale down waits for unhealthy replicas", set: one,
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, running, "rev1"), pod(s, 1, readyPod, "rev1")}
			}},
		{name: "parallel: scale down all at once", set: oneParallel,
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, readyPod, "rev1"), pod(s, 1, readyPod, "rev1"), pod(s, 2, running, "rev1")}
			},
			want: []string{"delete 2", "delete 1"}},
		{name: "rolling update starts at the highest ordinal", set: ordered, revs: withRevs(ordered, "rev1", "rev2"),
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, readyPod, "rev1"), pod(s, 1, readyPod, "rev1"), pod(s, 2, readyPod, "rev1")}
			},
			want: []string{"delete 2"}},
		{name: "rolling update: recreated at the update revision", set: ordered, revs: withRevs(ordered, "rev1", "rev2"),
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, readyPod, "rev1"), pod(s, 1, readyPod, "rev1")}
			},
			want: []string{"create 2 rev2"}},
		{name: "rolling update: waits for the updated pod", set: ordered, revs: withRevs(ordered, "rev1", "rev2"),
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, readyPod, "rev1"), pod(s, 1, readyPod, "rev1"), pod(s, 2, running, "rev2")}
			}},
		{name: "rolling update: next one down", set: ordered, revs: withRevs(ordered, "rev1", "rev2"),
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, readyPod, "rev1"), pod(s, 1, readyPod, "rev1"), pod(s, 2, readyPod, "rev2")}
			},
			want: []string{"delete 1"}},
		{name: "rolling update: maxUnavailable 2", set: maxTwo, revs: withRevs(maxTwo, "rev1", "rev2"),
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, readyPod, "rev1"), pod(s, 1, readyPod, "rev1"), pod(s, 2, readyPod, "rev1")}
			},
			want: []string{"delete 2", "delete 1"}},
		{name: "partition: ordinals below it are not updated", set: partitioned, revs: withRevs(partitioned, "rev1", "rev2"),
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, readyPod, "rev1"), pod(s, 1, readyPod, "rev1"), pod(s, 2, readyPod, "rev2")}
			}},
		{name: "partition: missing pod below it comes back at the current revision", set: partitioned, revs: withRevs(partitioned, "rev1", "rev2"),
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, readyPod, "rev1"), pod(s, 2, readyPod, "rev2")}
			},
			want: []string{"create 1 rev1"}},
		{name: "OnDelete: no automatic update", set: onDelete, revs: withRevs(onDelete, "rev1", "rev2"),
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, readyPod, "rev1"), pod(s, 1, readyPod, "rev1"), pod(s, 2, readyPod, "rev1")}
			}},
		{name: "OnDelete: deleted pod comes back updated", set: onDelete, revs: withRevs(onDelete, "rev1", "rev2"),
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, readyPod, "rev1"), pod(s, 2, readyPod, "rev1")}
			},
			want: []string{"create 1 rev2"}},
		{name: "ordinals.start", set: start5, want: []string{"create 5 rev1"}},
		{name: "ordinals.start: pods outside the range are condemned", set: start5,
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{pod(s, 0, readyPod, "rev1"), pod(s, 5, readyPod, "rev1"), pod(s, 6, readyPod, "rev1")}
			},
			want: []string{"delete 0"}},
		{name: "pending pod gets its claims", set: withClaims,
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod { return []*corev1.Pod{pod(s, 0, pending, "rev1")} },
			want: []string{"ensure-claims 0"}},
		{name: "identity labels are fixed", set: newSet(1),
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				p := pod(s, 0, readyPod, "rev1")
				delete(p.Labels, appsv1.PodIndexLabel)
				return []*corev1.Pod{p}
			},
			want: []string{"fix-identity 0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.revs
			if r.current == "" {
				r = withRevs(tc.set, "rev1", "rev1")
			}
			var pods []*corev1.Pod
			if tc.pods != nil {
				pods = tc.pods(tc.set)
			}
			if got := summary(plan(tc.set, r, pods, t0.Add(time.Minute))); !slices.Equal(got, tc.want) {
				t.Errorf("plan %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNewPodIdentityAndStorage(t *testing.T) {
	set := newSet(3, func(s *appsv1.StatefulSet) {
		s.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data", Labels: map[string]string{"tier": "db"}}}}
	})
	p := newPod(set, 2, "web-abc")
	if p.Name != "web-2" || p.Spec.Hostname != "web-2" || p.Spec.Subdomain != "svc" ||
		p.Labels[appsv1.StatefulSetPodNameLabel] != "web-2" || p.Labels[appsv1.PodIndexLabel] != "2" ||
		p.Labels[appsv1.ControllerRevisionHashLabelKey] != "web-abc" || p.Labels["app"] != "web" {
		t.Errorf("pod %+v hostname %q subdomain %q", p.ObjectMeta, p.Spec.Hostname, p.Spec.Subdomain)
	}
	if len(p.Spec.Volumes) != 1 || p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "data-web-2" {
		t.Errorf("volumes %+v", p.Spec.Volumes)
	}
	if !identityMatches(set, p) {
		t.Error("identity does not match")
	}
	claims := newClaims(set, 2)
	if len(claims) != 1 || claims[0].Name != "data-web-2" || claims[0].Labels["app"] != "web" || claims[0].Labels["tier"] != "db" {
		t.Errorf("claims %+v", claims)
	}
}

func TestClaimOwnerRefs(t *testing.T) {
	claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data-web-2",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: "web-2", UID: "old"}, {APIVersion: "x/v1", Kind: "Other", Name: "o", UID: "o"}}}}
	victim := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-2", UID: "p2"}}
	kinds := func(refs []metav1.OwnerReference) []string {
		var out []string
		for _, r := range refs {
			out = append(out, r.Kind+"/"+string(r.UID))
		}
		return out
	}
	retain := newSet(1)
	if got := kinds(claimOwnerRefs(retain, claim, victim)); !slices.Equal(got, []string{"Other/o"}) {
		t.Errorf("retain: %v", got)
	}
	del := newSet(1, func(s *appsv1.StatefulSet) {
		s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
			WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType, WhenScaled: appsv1.DeletePersistentVolumeClaimRetentionPolicyType}
	})
	if got := kinds(claimOwnerRefs(del, claim, victim)); !slices.Equal(got, []string{"Other/o", "StatefulSet/set-uid", "Pod/p2"}) {
		t.Errorf("delete, scaled: %v", got)
	}
	if got := kinds(claimOwnerRefs(del, claim, nil)); !slices.Equal(got, []string{"Other/o", "StatefulSet/set-uid"}) {
		t.Errorf("delete, in range: %v", got)
	}
}

func TestComputeStatus(t *testing.T) {
	set := newSet(3)
	set.Generation = 7
	pods := []*corev1.Pod{pod(set, 0, readyPod, "rev1"), pod(set, 1, readyPod, "rev2"), pod(set, 2, pending, "rev2")}
	st := computeStatus(set, "rev1", "rev2", 0, pods, t0.Add(time.Minute))
	if st.ObservedGeneration != 7 || st.Replicas != 3 || st.ReadyReplicas != 2 || st.AvailableReplicas != 2 ||
		st.CurrentReplicas != 1 || st.UpdatedReplicas != 2 || st.CurrentRevision != "rev1" || st.UpdateRevision != "rev2" {
		t.Errorf("status %+v", st)
	}
	// Everything updated and ready: the update revision becomes current.
	pods = []*corev1.Pod{pod(set, 0, readyPod, "rev2"), pod(set, 1, readyPod, "rev2"), pod(set, 2, readyPod, "rev2")}
	st = computeStatus(set, "rev1", "rev2", 0, pods, t0.Add(time.Minute))
	if st.CurrentRevision != "rev2" || st.CurrentReplicas != 3 || st.UpdatedReplicas != 3 {
		t.Errorf("completed status %+v", st)
	}
}

func TestRevisionsToDeleteKeepsLive(t *testing.T) {
	var rs []*appsv1.ControllerRevision
	for i := 1; i <= 5; i++ {
		rs = append(rs, &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("r%d", i)}, Revision: int64(i)})
	}
	set := newSet(1)
	pods := []*corev1.Pod{pod(set, 0, readyPod, "r2")}
	if got := revisionsToDelete(rs, pods, "r4", "r5", 1); !slices.Equal(got, []string{"r1"}) {
		t.Errorf("got %v, want [r1]", got)
	}
}

func TestHashRevision(t *testing.T) {
	a, b := hashRevision([]byte(`{"a":1}`), nil), hashRevision([]byte(`{"a":1}`), ptr.To[int32](1))
	if a == b || a != hashRevision([]byte(`{"a":1}`), nil) || a == hashRevision([]byte(`{"a":2}`), nil) {
		t.Errorf("hashes %q %q", a, b)
	}
}
