package deployment

import (
	"fmt"
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

func rolling(n int32, surge, unavailable intstr.IntOrString) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "d-uid", Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(n),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:2"}}},
			},
			RevisionHistoryLimit:    ptr.To[int32](10),
			ProgressDeadlineSeconds: ptr.To[int32](600),
		},
	}
}

// rs builds a ReplicaSet created age minutes after t0 with spec/available replicas.
func rs(name string, minute int, spec, available int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name),
			CreationTimestamp: metav1.NewTime(t0.Add(time.Duration(minute) * time.Minute))},
		Spec:   appsv1.ReplicaSetSpec{Replicas: ptr.To(spec)},
		Status: appsv1.ReplicaSetStatus{Replicas: spec, ReadyReplicas: available, AvailableReplicas: available},
	}
}

func TestResolveFenceposts(t *testing.T) {
	for _, tc := range []struct {
		surge, unavailable intstr.IntOrString
		desired            int32
		wantS, wantU       int32
	}{
		{intstr.FromString("25%"), intstr.FromString("25%"), 10, 3, 2}, // surge rounds up, unavailable down
		{intstr.FromString("25%"), intstr.FromString("25%"), 3, 1, 0},
		{intstr.FromString("25%"), intstr.FromString("25%"), 1, 1, 0},
		{intstr.FromInt32(0), intstr.FromInt32(0), 5, 0, 1}, // both zero: one may be unavailable
		{intstr.FromInt32(2), intstr.FromString("50%"), 5, 2, 2},
		{intstr.FromString("100%"), intstr.FromInt32(0), 4, 4, 0},
		{intstr.FromString("0%"), intstr.FromString("0%"), 0, 0, 1},
	} {
		s, u, err := resolveFenceposts(&tc.surge, &tc.unavailable, tc.desired)
		if err != nil || s != tc.wantS || u != tc.wantU {
			t.Errorf("resolveFenceposts(%s, %s, %d) = %d, %d, %v; want %d, %d", tc.surge.String(), tc.unavailable.String(), tc.desired, s, u, err, tc.wantS, tc.wantU)
		}
	}
	// maxUnavailable never exceeds replicas.
	d := rolling(2, intstr.FromInt32(0), intstr.FromInt32(5))
	if got := maxUnavailable(d); got != 2 {
		t.Errorf("maxUnavailable = %d, want 2", got)
	}
}

func TestPlanNewRS(t *testing.T) {
	for _, tc := range []struct {
		name               string
		replicas           int32
		surge, unavailable intstr.IntOrString
		newRS, oldRS       int32
		oldActual          int32 // old RS status.replicas (defaults to spec)
		want               int32
		scale              bool
	}{
		{"surge 1 from scratch", 3, intstr.FromInt32(1), intstr.FromInt32(0), 0, 3, -1, 1, true},
		{"surge 25% of 10", 10, intstr.FromString("25%"), intstr.FromString("25%"), 0, 10, -1, 3, true},
		{"no room", 3, intstr.FromInt32(1), intstr.FromInt32(0), 1, 3, -1, 1, false},
		{"room after old shrank", 3, intstr.FromInt32(1), intstr.FromInt32(0), 1, 2, -1, 2, true},
		{"old shrink not yet observed", 3, intstr.FromInt32(1), intstr.FromInt32(0), 1, 2, 3, 1, false},
		{"never above replicas", 3, intstr.FromInt32(5), intstr.FromInt32(0), 2, 0, -1, 3, true},
		{"too big: straight down", 3, intstr.FromInt32(1), intstr.FromInt32(0), 5, 0, -1, 3, true},
		{"done", 3, intstr.FromInt32(1), intstr.FromInt32(0), 3, 0, -1, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := rolling(tc.replicas, tc.surge, tc.unavailable)
			newRS, oldRS := rs("new", 1, tc.newRS, 0), rs("old", 0, tc.oldRS, tc.oldRS)
			if tc.oldActual >= 0 {
				oldRS.Status.Replicas = tc.oldActual
			}
			got, scale := planNewRS(d, []*appsv1.ReplicaSet{oldRS, newRS}, newRS)
			if got != tc.want || scale != tc.scale {
				t.Errorf("planNewRS = %d, %v; want %d, %v", got, scale, tc.want, tc.scale)
			}
		})
	}
}

func TestPlanOldRSs(t *testing.T) {
	type size struct{ spec, available int32 }
	for _, tc := range []struct {
		name               string
		replicas           int32
		surge, unavailable intstr.IntOrString
		newRS              size
		olds               []size // oldest first
		want               map[string]int32
	}{
		{"maxUnavailable 0 waits for new pods", 3, intstr.FromInt32(1), intstr.FromInt32(0), size{1, 0}, []size{{3, 3}}, nil},
		{"maxUnavailable 0 scales down one per available new pod", 3, intstr.FromInt32(1), intstr.FromInt32(0), size{1, 1}, []size{{3, 3}}, map[string]int32{"old0": 2}},
		{"maxUnavailable 1 scales down at once", 4, intstr.FromInt32(0), intstr.FromInt32(1), size{0, 0}, []size{{4, 4}}, map[string]int32{"old0": 3}},
		{"unhealthy old pods go first and oldest first", 4, intstr.FromInt32(1), intstr.FromInt32(1), size{1, 1}, []size{{2, 0}, {2, 2}},
			map[string]int32{"old0": 0}},
		{"healthy pods across old sets", 4, intstr.FromInt32(0), intstr.FromInt32(2), size{2, 2}, []size{{1, 1}, {3, 3}},
			map[string]int32{"old0": 0, "old1": 0}}, // 6 available, 2 needed
		{"stale old status cannot cause a second scale down", 3, intstr.FromInt32(1), intstr.FromInt32(0), size{1, 1}, []size{{2, 3}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := rolling(tc.replicas, tc.surge, tc.unavailable)
			newRS := rs("new", 10, tc.newRS.spec, tc.newRS.available)
			var olds []*appsv1.ReplicaSet
			for i, o := range tc.olds {
				olds = append(olds, rs(fmt.Sprintf("old%d", i), i, o.spec, o.available))
			}
			got := map[string]int32{}
			for _, a := range planOldRSs(d, olds, newRS) {
				got[a.RS.Name] = a.Replicas
			}
			if len(got) != len(tc.want) {
				t.Fatalf("planOldRSs = %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("planOldRSs = %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func annotated(r *appsv1.ReplicaSet, desired, maxReplicas int32) *appsv1.ReplicaSet {
	setReplicasAnnotations(r, desired, maxReplicas)
	return r
}

func TestPlanScale(t *testing.T) {
	// Mid-rollout 10 replicas (maxSurge 3): new has 5, old 8 → scale to 15 (max 18).
	d := rolling(15, intstr.FromInt32(3), intstr.FromInt32(2))
	newRS := annotated(rs("new", 1, 5, 0), 10, 13)
	oldRS := annotated(rs("old", 0, 8, 8), 10, 13)
	got := map[string]int32{}
	for _, a := range planScale(d, newRS, []*appsv1.ReplicaSet{oldRS}) {
		got[a.RS.Name] = a.Replicas
	}
	// 5 to add: old gets round(8*18/13)-8 = 3, new gets round(5*18/13)-5 = 2.
	if got["old"] != 11 || got["new"] != 7 {
		t.Errorf("scale up: %v", got)
	}

	// Scale down to 5 (max 8) from the same state: 5 to remove.
	d = rolling(5, intstr.FromInt32(3), intstr.FromInt32(2))
	got = map[string]int32{}
	for _, a := range planScale(d, newRS, []*appsv1.ReplicaSet{oldRS}) {
		got[a.RS.Name] = a.Replicas
	}
	if got["old"]+got["new"] != 8 || got["old"] != 5 || got["new"] != 3 {
		t.Errorf("scale down: %v", got)
	}

	// A single active ReplicaSet takes spec.replicas.
	only := annotated(rs("only", 0, 3, 3), 3, 4)
	acts := planScale(d, only, []*appsv1.ReplicaSet{rs("dead", 0, 0, 0)})
	if len(acts) != 1 || acts[0].RS.Name != "only" || acts[0].Replicas != 5 {
		t.Errorf("single active: %+v", acts)
	}
	// A saturated new ReplicaSet makes old ones go to 0.
	sat := annotated(rs("new", 1, 5, 5), 5, 8)
	acts = planScale(d, sat, []*appsv1.ReplicaSet{rs("old", 0, 2, 2)})
	if len(acts) != 1 || acts[0].RS.Name != "old" || acts[0].Replicas != 0 {
		t.Errorf("saturated: %+v", acts)
	}
	if !isScalingEvent(d, []*appsv1.ReplicaSet{newRS}) || isScalingEvent(d, []*appsv1.ReplicaSet{sat}) {
		t.Error("isScalingEvent")
	}
}

func withRevision(r *appsv1.ReplicaSet, rev string) *appsv1.ReplicaSet {
	if r.Annotations == nil {
		r.Annotations = map[string]string{}
	}
	r.Annotations[RevisionAnnotation] = rev
	return r
}

func TestRevisions(t *testing.T) {
	d := rolling(3, intstr.FromInt32(1), intstr.FromInt32(0))
	d.Annotations = map[string]string{"kubernetes.io/change-cause": "kubectl set image", RevisionAnnotation: "7", corev1.LastAppliedConfigAnnotation: "{}"}
	olds := []*appsv1.ReplicaSet{withRevision(rs("a", 0, 0, 0), "3"), withRevision(rs("b", 1, 0, 0), "5"), rs("c", 2, 0, 0)}
	if got := maxRevision(olds); got != 5 {
		t.Fatalf("maxRevision = %d", got)
	}

	// A new ReplicaSet gets the next revision, the change cause and the replica annotations.
	fresh := buildNewRS(d, olds, "6")
	if a := fresh.Annotations; a[RevisionAnnotation] != "6" || a["kubernetes.io/change-cause"] != "kubectl set image" ||
		a[DesiredReplicasAnnotation] != "3" || a[MaxReplicasAnnotation] != "4" || a[corev1.LastAppliedConfigAnnotation] != "" || a[RevisionHistoryAnnotation] != "" {
		t.Errorf("new ReplicaSet annotations = %v", a)
	}
	hash := fresh.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
	if hash == "" || fresh.Name != "web-"+hash || fresh.Spec.Selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] != hash ||
		fresh.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != hash || *fresh.Spec.Replicas != 3 {
		t.Errorf("new ReplicaSet = %+v", fresh.ObjectMeta)
	}
	if d.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != "" || d.Spec.Selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] != "" {
		t.Error("building the ReplicaSet changed the Deployment")
	}
	if computeHash(&d.Spec.Template, ptr.To[int32](1)) == hash {
		t.Error("collisionCount does not change the hash")
	}
	if !equalIgnoreHash(&fresh.Spec.Template, &d.Spec.Template) {
		t.Error("equalIgnoreHash")
	}

	// Rolling back to an existing ReplicaSet moves its revision up and remembers the old one.
	back := withRevision(rs("a", 0, 0, 0), "3")
	back.Annotations[RevisionHistoryAnnotation] = "1"
	if !setNewReplicaSetAnnotations(d, back, "6", true) {
		t.Fatal("no change reported")
	}
	if back.Annotations[RevisionAnnotation] != "6" || back.Annotations[RevisionHistoryAnnotation] != "1,3" {
		t.Errorf("rolled back annotations = %v", back.Annotations)
	}
	if setNewReplicaSetAnnotations(d, back, "6", true) {
		t.Error("second call reported a change")
	}
}

func TestPlanCleanup(t *testing.T) {
	d := rolling(3, intstr.FromInt32(1), intstr.FromInt32(0))
	d.Spec.RevisionHistoryLimit = ptr.To[int32](1)
	busy := withRevision(rs("busy", 0, 1, 1), "1")
	stale := withRevision(rs("stale", 1, 0, 0), "2")
	stale.Generation = 2
	oldest := withRevision(rs("oldest", 2, 0, 0), "3")
	keep := withRevision(rs("keep", 3, 0, 0), "4")
	got := planCleanup(d, []*appsv1.ReplicaSet{keep, oldest, busy, stale})
	if len(got) != 1 || got[0].Name != "oldest" {
		t.Errorf("planCleanup = %v", got)
	}
	d.Spec.RevisionHistoryLimit = nil
	if got := planCleanup(d, []*appsv1.ReplicaSet{keep, oldest}); got != nil {
		t.Errorf("no limit: %v", got)
	}
}

func TestRolloutStatus(t *testing.T) {
	d := rolling(3, intstr.FromInt32(1), intstr.FromInt32(0))
	now := t0.Add(time.Hour)
	newRS, oldRS := rs("web-new", 1, 2, 1), rs("web-old", 0, 2, 2)
	d.Status = appsv1.DeploymentStatus{Conditions: []appsv1.DeploymentCondition{
		newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonNewRSCreated, `Created new replica set "web-new"`, t0)}}
	st, _ := rolloutStatus(d, []*appsv1.ReplicaSet{oldRS, newRS}, newRS, now)
	if st.Replicas != 4 || st.UpdatedReplicas != 2 || st.AvailableReplicas != 3 || st.UnavailableReplicas != 1 || st.ObservedGeneration != 1 {
		t.Errorf("status = %+v", st)
	}
	if c := getCondition(st, appsv1.DeploymentProgressing); c.Reason != reasonRSUpdated || c.Message != `ReplicaSet "web-new" is progressing.` || !c.LastTransitionTime.Time.Equal(t0) {
		t.Errorf("Progressing = %+v", c)
	}
	if c := getCondition(st, appsv1.DeploymentAvailable); c.Status != corev1.ConditionTrue || c.Reason != reasonMinimumAvailable || c.Message != messageMinimumAvailable {
		t.Errorf("Available = %+v", c)
	}

	// No progress for longer than the deadline.
	d.Status = st
	getCondition(d.Status, appsv1.DeploymentProgressing).LastUpdateTime = metav1.NewTime(now.Add(-11 * time.Minute))
	st, _ = rolloutStatus(d, []*appsv1.ReplicaSet{oldRS, newRS}, newRS, now)
	if c := getCondition(st, appsv1.DeploymentProgressing); c.Reason != reasonTimedOut || c.Status != corev1.ConditionFalse || c.Message != `ReplicaSet "web-new" has timed out progressing.` {
		t.Errorf("Progressing = %+v", c)
	}

	// Not yet past the deadline: requeue for when it would be.
	getCondition(d.Status, appsv1.DeploymentProgressing).LastUpdateTime = metav1.NewTime(now.Add(-time.Minute))
	if _, after := rolloutStatus(d, []*appsv1.ReplicaSet{oldRS, newRS}, newRS, now); after != 9*time.Minute {
		t.Errorf("requeue after %v, want 9m", after)
	}

	// Complete.
	done := rs("web-new", 1, 3, 3)
	st, after := rolloutStatus(d, []*appsv1.ReplicaSet{rs("web-old", 0, 0, 0), done}, done, now)
	if c := getCondition(st, appsv1.DeploymentProgressing); c.Reason != reasonNewRSAvailable || c.Message != `ReplicaSet "web-new" has successfully progressed.` {
		t.Errorf("Progressing = %+v", c)
	}
	if after >= 0 {
		t.Errorf("complete rollout requeued after %v", after)
	}

	// Too few available.
	st = calculateStatus(d, []*appsv1.ReplicaSet{rs("web-new", 1, 3, 1)}, nil, now)
	if c := getCondition(st, appsv1.DeploymentAvailable); c.Status != corev1.ConditionFalse || c.Reason != reasonMinimumUnavailable || c.Message != messageMinimumUnavailable {
		t.Errorf("Available = %+v", c)
	}

	// Pause and resume.
	d.Spec.Paused = true
	c := pausedCondition(d, now)
	if c == nil || c.Reason != reasonPaused || c.Status != corev1.ConditionUnknown || c.Message != "Deployment is paused" {
		t.Fatalf("paused = %+v", c)
	}
	setCondition(&d.Status, *c)
	if pausedCondition(d, now) != nil {
		t.Error("paused condition set twice")
	}
	d.Spec.Paused = false
	if c := pausedCondition(d, now); c == nil || c.Reason != reasonResumed || c.Message != "Deployment is resumed" {
		t.Errorf("resumed = %+v", c)
	}
}
