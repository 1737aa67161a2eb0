package deployment_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/controller/deployment"
	"github.com/kijabi/kijabi/internal/controller/replicaset"
	"github.com/kijabi/kijabi/internal/testserver"
	"github.com/kijabi/kijabi/internal/testutil"
)

// startControllers runs the ReplicaSet and Deployment controllers, and a fake kubelet,
// against a real API server until the test ends.
func startControllers(t *testing.T) kubernetes.Interface {
	t.Helper()
	s := testserver.Start(t)
	factory := informers.NewSharedInformerFactory(s.Client, 0)
	rsc := replicaset.New(s.Client, factory.Core().V1().Pods(), factory.Apps().V1().ReplicaSets())
	dc := deployment.New(s.Client, factory.Apps().V1().Deployments(), factory.Apps().V1().ReplicaSets(), factory.Core().V1().Pods())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	factory.Start(ctx.Done())
	wg.Go(func() { rsc.Run(ctx, 2) })
	wg.Go(func() { dc.Run(ctx, 2) })
	wg.Go(func() { fakeKubelet(ctx, s.Client) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		factory.Shutdown()
	})
	return s.Client
}

// fakeKubelet marks every pod Running and Ready shortly after it appears.
func fakeKubelet(ctx context.Context, client kubernetes.Interface) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(30 * time.Millisecond):
		}
		pods, err := client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodRunning {
				continue
			}
			now := metav1.Now()
			p.Status.Phase = corev1.PodRunning
			p.Status.StartTime = &now
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}
			_, _ = client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		}
	}
}

type podCounts struct{ total, available int }

func countPods(ctx context.Context, client kubernetes.Interface, ns string) (podCounts, error) {
	pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		return podCounts{}, err
	}
	var c podCounts
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		c.total++
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				c.available++
			}
		}
	}
	return c, nil
}

func TestDeploymentRollout(t *testing.T) {
	client := startControllers(t)
	ctx := context.Background()
	const ns = "default"
	deployments := client.AppsV1().Deployments(ns)

	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxSurge: ptr.To(intstr.FromInt32(1)), MaxUnavailable: ptr.To(intstr.FromInt32(0)),
				},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.0"}}},
			},
		},
	}
	if _, err := deployments.Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitAvailable := func(n int32, revision string) {
		t.Helper()
		testutil.Poll(t, 60*time.Second, fmt.Sprintf("%d available replicas at revision %s", n, revision), func() (bool, error) {
			d, err := deployments.Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			st := d.Status
			if st.ObservedGeneration < d.Generation || st.AvailableReplicas != n || st.UpdatedReplicas != n || st.Replicas != n || d.Annotations[deployment.RevisionAnnotation] != revision {
				return false, fmt.Errorf("status %+v, revision %q", st, d.Annotations[deployment.RevisionAnnotation])
			}
			c, err := countPods(ctx, client, ns)
			if err != nil || c.total != int(n) {
				return false, fmt.Errorf("pods %+v (%v)", c, err)
			}
			return true, nil
		})
	}
	waitAvailable(3, "1")

	cur, err := deployments.Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := getCond(cur, appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionTrue || c.Reason != "MinimumReplicasAvailable" {
		t.Errorf("Available condition = %+v", c)
	}

	// Roll out a new image while sampling the pods: never more than replicas+maxSurge (4),
	// never fewer than replicas-maxUnavailable (3) available.
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var (
		mu         sync.Mutex
		violations []string
		samples    int
		sampler    sync.WaitGroup
	)
	sampler.Go(func() {
		for sampleCtx.Err() == nil {
			c, err := countPods(sampleCtx, client, ns)
			if err == nil {
				mu.Lock()
				samples++
				if c.total > 4 || c.available < 3 {
					violations = append(violations, fmt.Sprintf("%+v", c))
				}
				mu.Unlock()
			}
			select {
			case <-sampleCtx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
	})
	cur.Spec.Template.Spec.Containers[0].Image = "nginx:2.0"
	if _, err := deployments.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitAvailable(3, "2")
	stopSampling()
	sampler.Wait()
	if len(violations) > 0 {
		t.Errorf("rollout bounds exceeded in %d of %d samples: %v", len(violations), samples, violations)
	}

	rss, err := client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rss.Items) != 2 {
		t.Fatalf("want 2 ReplicaSets, got %d", len(rss.Items))
	}
	for _, rs := range rss.Items {
		image := rs.Spec.Template.Spec.Containers[0].Image
		rev := rs.Annotations[deployment.RevisionAnnotation]
		switch {
		case image == "nginx:1.0" && (*rs.Spec.Replicas != 0 || rev != "1"):
			t.Errorf("old ReplicaSet %s: replicas %d, revision %q", rs.Name, *rs.Spec.Replicas, rev)
		case image == "nginx:2.0" && (*rs.Spec.Replicas != 3 || rev != "2"):
			t.Errorf("new ReplicaSet %s: replicas %d, revision %q", rs.Name, *rs.Spec.Replicas, rev)
		}
		if rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey] == "" || rs.Spec.Selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] == "" {
			t.Errorf("ReplicaSet %s lacks the pod-template-hash label", rs.Name)
		}
	}
	cur, err = deployments.Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := getCond(cur, appsv1.DeploymentProgressing); c == nil || c.Reason != "NewReplicaSetAvailable" {
		t.Errorf("Progressing condition = %+v", c)
	}

	// Scale up and down (a merge patch of spec.replicas, as kubectl scale would do through
	// the scale subresource).
	for _, n := range []int32{5, 2} {
		patch := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, n)
		if _, err := deployments.Patch(ctx, "web", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		waitAvailable(n, "2")
	}
}

func getCond(d *appsv1.Deployment, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == t {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}
