package resourcequota

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/quota"
	"github.com/kijabi/kijabi/internal/testutil"
)

const ns = "team"

func list(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i+1 < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func mkQuota(name string, hard corev1.ResourceList, scopes ...corev1.ResourceQuotaScope) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ResourceQuotaSpec{Hard: hard, Scopes: scopes}}
}

func mkPod(name, namespace string, requests, limits corev1.ResourceList) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app",
			Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}}}}}
}

func mkService(name string, typ corev1.ServiceType, ports int) *corev1.Service {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: corev1.ServiceSpec{Type: typ}}
	for i := range ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Port: int32(80 + i)})
	}
	return svc
}

func mkClaim(name, class, size string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To(class),
			Resources: corev1.VolumeResourceRequirements{Requests: list("storage", size)}}}
}

type fixture struct {
	client  *fake.Clientset
	ctrl    *Controller
	factory informers.SharedInformerFactory
	ctx     context.Context
}

// newFixture builds a controller on a fake clientset holding objs and starts its informers,
// without running it.
func newFixture(t *testing.T, objs []runtime.Object, opts ...Option) *fixture {
	t.Helper()
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	core := f.Core().V1()
	c := New(client, core.ResourceQuotas(), core.Pods(), core.Services(), core.PersistentVolumeClaims(), core.ConfigMaps(),
		core.Secrets(), core.ReplicationControllers(), opts...)
	ctx, cancel := context.WithCancel(context.Background())
	f.Start(ctx.Done())
	t.Cleanup(func() { cancel(); f.Shutdown() })
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		t.Fatal("caches did not sync")
	}
	return &fixture{client: client, ctrl: c, factory: f, ctx: ctx}
}

// run runs the controller until the test ends.
func (f *fixture) run(t *testing.T) {
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan struct{})
	go func() { defer close(done); f.ctrl.Run(ctx, 2) }()
	t.Cleanup(func() { cancel(); <-done })
}

// waitUsed waits until the stored quota's status has hard equal to its spec and used equal
// to want.
func (f *fixture) waitUsed(t *testing.T, name string, want corev1.ResourceList) {
	t.Helper()
	testutil.Poll(t, 15*time.Second, fmt.Sprintf("quota %s used %v", name, want), func() (bool, error) {
		q, err := f.client.CoreV1().ResourceQuotas(ns).Get(f.ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if !quota.Equals(q.Status.Hard, q.Spec.Hard) || !quota.Equals(q.Status.Used, want) {
			return false, fmt.Errorf("status hard %v used %v", q.Status.Hard, q.Status.Used)
		}
		return true, nil
	})
}

func TestCalculate(t *testing.T) {
	running := mkPod("running", ns, list("cpu", "100m", "memory", "64Mi"), list("cpu", "200m", "memory", "128Mi"))
	bestEffort := mkPod("besteffort", ns, nil, nil)
	done := mkPod("done", ns, list("cpu", "1"), nil)
	done.Status.Phase = corev1.PodSucceeded
	elsewhere := mkPod("elsewhere", "other", list("cpu", "8"), nil)
	lb := mkService("lb", corev1.ServiceTypeLoadBalancer, 2)
	plain := mkService("plain", corev1.ServiceTypeClusterIP, 1)
	objs := []runtime.Object{
		running, bestEffort, done, elsewhere, lb, plain,
		mkClaim("gold-1", "gold", "10Gi"), mkClaim("silver-1", "silver", "5Gi"),
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: ns}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: ns}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "other"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: ns}},
		&corev1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Name: "rc", Namespace: ns}},
		mkQuota("existing", list("pods", "1")),
	}
	counted := map[schema.GroupResource]int64{{Group: "apps", Resource: "deployments"}: 3}
	counter := func(_ context.Context, gr schema.GroupResource, namespace string) (int64, error) {
		if namespace != ns {
			return 0, fmt.Errorf("counted namespace %q", namespace)
		}
		if gr.Resource == "broken" {
			return 0, errors.New("boom")
		}
		n, ok := counted[gr]
		if !ok {
			return 0, fmt.Errorf("%v: %w", gr, ErrUnknownResource)
		}
		return n, nil
	}
	f := newFixture(t, objs, WithCounter(counter))

	gold := "gold.storageclass.storage.k8s.io/"
	tests := []struct {
		name    string
		quota   *corev1.ResourceQuota
		want    corev1.ResourceList
		wantErr bool
	}{
		{name: "compute", quota: mkQuota("compute", list("pods", "10", "count/pods", "10", "requests.cpu", "4", "cpu", "4",
			"limits.cpu", "8", "requests.memory", "1Gi", "limits.memory", "2Gi", "requests.example.com/gpu", "2")),
			want: list("pods", "2", "count/pods", "3", "requests.cpu", "100m", "cpu", "100m", "limits.cpu", "200m",
				"requests.memory", "64Mi", "limits.memory", "128Mi", "requests.example.com/gpu", "0")},
		{name: "services", quota: mkQuota("svc", list("services", "5", "count/services", "5", "services.nodeports", "5", "services.loadbalancers", "1")),
			want: list("services", "2", "count/services", "2", "services.nodeports", "2", "services.loadbalancers", "1")},
		{name: "storage", quota: mkQuota("storage", list("persistentvolumeclaims", "5", "requests.storage", "100Gi",
			gold+"requests.storage", "20Gi", gold+"persistentvolumeclaims", "2", "bronze.storageclass.storage.k8s.io/requests.storage", "1Gi")),
			want: list("persistentvolumeclaims", "2", "requests.storage", "15Gi", gold+"requests.storage", "10Gi",
				gold+"persistentvolumeclaims", "1", "bronze.storageclass.storage.k8s.io/requests.storage", "0")},
		{name: "object counts", quota: mkQuota("objects", list("configmaps", "10", "count/configmaps", "10", "secrets", "10",
			"count/secrets", "10", "replicationcontrollers", "1", "count/replicationcontrollers", "1",
			"resourcequotas", "3", "count/resourcequotas", "3", "count/deployments.apps", "5")),
			want: list("configmaps", "2", "count/configmaps", "2", "secrets", "1", "count/secrets", "1",
				"replicationcontrollers", "1", "count/replicationcontrollers", "1",
				"resourcequotas", "1", "count/resourcequotas", "1", "count/deployments.apps", "3")},
		{name: "scoped", quota: mkQuota("besteffort", list("pods", "5", "count/pods", "5", "count/configmaps", "5", "count/deployments.apps", "5"),
			corev1.ResourceQuotaScopeBestEffort),
			want: list("pods", "1", "count/pods", "1", "count/configmaps", "0", "count/deployments.apps", "0")},
		{name: "uncountable names left out", quota: mkQuota("unknown", list("count/widgets.example.com", "5", "foo", "1", "pods", "5")),
			want: list("pods", "2")},
		{name: "counter failure", quota: mkQuota("broken", list("count/broken.example.com", "5", "pods", "5")),
			want: list("pods", "2"), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.ctrl.calculate(f.ctx, tc.quota)
			if (err != nil) != tc.wantErr {
				t.Errorf("error %v, want error %v", err, tc.wantErr)
			}
			if !quota.Equals(got, tc.want) {
				t.Errorf("usage:\ngot  %v\nwant %v", got, tc.want)
			}
		})
	}

	// Without a counter, other count/ names are left out.
	f.ctrl.counter = nil
	got, err := f.ctrl.calculate(f.ctx, mkQuota("nocounter", list("count/deployments.apps", "5", "count/configmaps", "5")))
	if err != nil || !quota.Equals(got, list("count/configmaps", "2")) {
		t.Errorf("without a counter: %v, %v", got, err)
	}
}

func TestStatus(t *testing.T) {
	q := mkQuota("q", list("pods", "10", "count/widgets.example.com", "5", "requests.cpu", "2"))
	q.Status = corev1.ResourceQuotaStatus{Hard: list("pods", "5", "secrets", "1"),
		Used: list("pods", "3", "secrets", "1", "count/widgets.example.com", "4")}
	got := Status(q, list("pods", "2", "requests.cpu", "500m", "configmaps", "9"))
	want := corev1.ResourceQuotaStatus{Hard: list("pods", "10", "count/widgets.example.com", "5", "requests.cpu", "2"),
		Used: list("pods", "2", "requests.cpu", "500m", "count/widgets.example.com", "4")}
	if !quota.Equals(got.Hard, want.Hard) || !quota.Equals(got.Used, want.Used) {
		t.Errorf("Status = %+v, want %+v", got, want)
	}
}

func TestNeedsRecalculation(t *testing.T) {
	synced := mkQuota("q", list("pods", "10"))
	synced.Status = corev1.ResourceQuotaStatus{Hard: list("pods", "10"), Used: list("pods", "1")}
	change := func(mod func(q *corev1.ResourceQuota)) *corev1.ResourceQuota {
		q := synced.DeepCopy()
		mod(q)
		return q
	}
	for _, tc := range []struct {
		name string
		cur  *corev1.ResourceQuota
		want bool
	}{
		{"nothing changed", synced, false},
		{"used charged", change(func(q *corev1.ResourceQuota) { q.Status.Used = list("pods", "2") }), false},
		{"labels changed", change(func(q *corev1.ResourceQuota) { q.Labels = map[string]string{"a": "b"} }), false},
		{"hard changed", change(func(q *corev1.ResourceQuota) { q.Spec.Hard = list("pods", "20") }), true},
		{"scopes changed", change(func(q *corev1.ResourceQuota) { q.Spec.Scopes = []corev1.ResourceQuotaScope{"BestEffort"} }), true},
		{"status hard differs", change(func(q *corev1.ResourceQuota) { q.Status.Hard = list("pods", "5") }), true},
		{"used lacks a name", change(func(q *corev1.ResourceQuota) { q.Status.Used = nil }), false},
	} {
		if got := NeedsRecalculation(synced, tc.cur); got != tc.want {
			t.Errorf("%s: NeedsRecalculation = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// statusWrites counts the UpdateStatus calls on resourcequotas.
func statusWrites(client *fake.Clientset) int {
	n := 0
	for _, a := range client.Actions() {
		if a.Matches("update", "resourcequotas") && a.GetSubresource() == "status" {
			n++
		}
	}
	return n
}

func TestSyncWritesOnlyChanges(t *testing.T) {
	q := mkQuota("q", list("pods", "10", "count/configmaps", "3"))
	f := newFixture(t, []runtime.Object{q, mkPod("a", ns, nil, nil)})
	key := ns + "/q"
	if err := f.ctrl.sync(f.ctx, key); err != nil {
		t.Fatal(err)
	}
	if n := statusWrites(f.client); n != 1 {
		t.Fatalf("%d status writes, want 1", n)
	}
	testutil.Poll(t, 15*time.Second, "the informer to see the status", func() (bool, error) {
		cur, err := f.ctrl.quotas.ResourceQuotas(ns).Get("q")
		return err == nil && quota.Equals(cur.Status.Used, list("pods", "1", "count/configmaps", "0")), err
	})
	if err := f.ctrl.sync(f.ctx, key); err != nil {
		t.Fatal(err)
	}
	if n := statusWrites(f.client); n != 1 {
		t.Errorf("%d status writes after an unchanged sync, want 1", n)
	}
	// A quota that is gone is no error.
	if err := f.ctrl.sync(f.ctx, ns+"/gone"); err != nil {
		t.Errorf("sync of a deleted quota: %v", err)
	}
}

func TestController(t *testing.T) {
	web := mkPod("web", ns, list("cpu", "500m"), nil)
	batch := mkPod("batch", ns, list("cpu", "1"), nil)
	svc := mkService("svc", corev1.ServiceTypeClusterIP, 2)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: ns}}
	f := newFixture(t, []runtime.Object{web, batch, svc, cm}, WithResyncPeriod(0))
	f.run(t)
	ctx := f.ctx
	quotas := f.client.CoreV1().ResourceQuotas(ns)

	// A new quota gets its status.
	hard := list("pods", "10", "requests.cpu", "4", "services.nodeports", "4", "configmaps", "5", "resourcequotas", "5")
	if _, err := quotas.Create(ctx, mkQuota("q", hard), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.waitUsed(t, "q", list("pods", "2", "requests.cpu", "1500m", "services.nodeports", "0", "configmaps", "1", "resourcequotas", "1"))

	// A pod that turns terminal stops counting.
	done := batch.DeepCopy()
	done.Status.Phase = corev1.PodSucceeded
	if _, err := f.client.CoreV1().Pods(ns).UpdateStatus(ctx, done, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.waitUsed(t, "q", list("pods", "1", "requests.cpu", "500m", "services.nodeports", "0", "configmaps", "1", "resourcequotas", "1"))

	// A service turned NodePort counts its ports.
	np := svc.DeepCopy()
	np.Spec.Type = corev1.ServiceTypeNodePort
	if _, err := f.client.CoreV1().Services(ns).Update(ctx, np, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.waitUsed(t, "q", list("pods", "1", "requests.cpu", "500m", "services.nodeports", "2", "configmaps", "1", "resourcequotas", "1"))

	// Deletions give quota back.
	if err := f.client.CoreV1().Pods(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.client.CoreV1().ConfigMaps(ns).Delete(ctx, "cm", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.waitUsed(t, "q", list("pods", "0", "requests.cpu", "0", "services.nodeports", "2", "configmaps", "0", "resourcequotas", "1"))

	// A change of spec.hard is reflected in status.hard and status.used.
	cur, err := quotas.Get(ctx, "q", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Spec.Hard = list("pods", "3", "count/services", "2", "resourcequotas", "5")
	if _, err := quotas.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.waitUsed(t, "q", list("pods", "0", "count/services", "1", "resourcequotas", "1"))

	// Quotas count quotas; a deleted one is given back.
	if _, err := quotas.Create(ctx, mkQuota("other", list("pods", "1")), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.waitUsed(t, "other", list("pods", "0"))
	// The creation was charged by admission (there is none here): recalculating on a
	// creation is not the controller's job, so charge it as admission would.
	cur, err = quotas.Get(ctx, "q", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Status.Used = list("pods", "0", "count/services", "1", "resourcequotas", "2")
	if _, err := quotas.UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := quotas.Delete(ctx, "other", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.waitUsed(t, "q", list("pods", "0", "count/services", "1", "resourcequotas", "1"))
}

func TestTerminatingPodStopsCounting(t *testing.T) {
	pod := mkPod("p", ns, list("memory", "1Gi"), nil)
	f := newFixture(t, []runtime.Object{pod, mkQuota("q", list("requests.memory", "4Gi", "count/pods", "4"))}, WithResyncPeriod(0))
	f.run(t)
	f.waitUsed(t, "q", list("requests.memory", "1Gi", "count/pods", "1"))

	// Deleted with a grace period that ends in two seconds: the pod counts until then, even
	// if nothing else happens to it.
	deleting := pod.DeepCopy()
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now().Add(-28 * time.Second)}
	deleting.DeletionGracePeriodSeconds = ptr.To[int64](30)
	if _, err := f.client.CoreV1().Pods(ns).Update(f.ctx, deleting, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.waitUsed(t, "q", list("requests.memory", "0", "count/pods", "1"))
}

func TestScopedQuotas(t *testing.T) {
	f := newFixture(t, []runtime.Object{
		mkPod("be", ns, nil, nil),
		mkPod("burst", ns, list("cpu", "1"), nil),
		mkQuota("besteffort", list("pods", "5"), corev1.ResourceQuotaScopeBestEffort),
		mkQuota("notbesteffort", list("pods", "5", "requests.cpu", "4"), corev1.ResourceQuotaScopeNotBestEffort),
	}, WithResyncPeriod(0))
	f.run(t)
	f.waitUsed(t, "besteffort", list("pods", "1"))
	f.waitUsed(t, "notbesteffort", list("pods", "1", "requests.cpu", "1"))
	if err := f.client.CoreV1().Pods(ns).Delete(f.ctx, "be", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.waitUsed(t, "besteffort", list("pods", "0"))
	f.waitUsed(t, "notbesteffort", list("pods", "1", "requests.cpu", "1"))
}

// queued drains the controller's queue (which must not be running) and returns its keys.
func queued(c *Controller) []string {
	var keys []string
	for c.queue.Len() > 0 {
		k, _ := c.queue.Get()
		c.queue.Done(k)
		c.queue.Forget(k)
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestUpdateHandler(t *testing.T) {
	objs := []runtime.Object{
		mkQuota("pods", list("pods", "10")),
		mkQuota("cpu", list("requests.cpu", "10")),
		mkQuota("count", list("count/pods", "10")),
		mkQuota("terminating", list("pods", "10"), corev1.ResourceQuotaScopeTerminating),
		mkQuota("services", list("services.nodeports", "10")),
		mkQuota("configmaps", list("configmaps", "10")),
	}
	f := newFixture(t, objs)
	queued(f.ctrl) // the quotas' additions

	pod := mkPod("p", ns, list("cpu", "1"), nil)
	with := func(mod func(p *corev1.Pod)) *corev1.Pod {
		p := pod.DeepCopy()
		mod(p)
		return p
	}
	svc := mkService("s", corev1.ServiceTypeClusterIP, 2)
	nodePort := svc.DeepCopy()
	nodePort.Spec.Type = corev1.ServiceTypeNodePort
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: ns}}
	cm2 := cm.DeepCopy()
	cm2.Data = map[string]string{"a": "b"}
	podsGR := schema.GroupResource{Resource: "pods"}
	for _, tc := range []struct {
		name     string
		gr       schema.GroupResource
		old, cur runtime.Object
		want     []string
	}{
		{"labels only", podsGR, pod, with(func(p *corev1.Pod) { p.Labels = map[string]string{"a": "b"} }), nil},
		{"pod succeeded", podsGR, pod, with(func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
			[]string{ns + "/cpu", ns + "/pods"}},
		{"pod resized", podsGR, pod, with(func(p *corev1.Pod) { p.Spec.Containers[0].Resources.Requests = list("cpu", "2") }),
			[]string{ns + "/cpu"}},
		{"pod becomes terminating", podsGR, pod, with(func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](10) }),
			[]string{ns + "/terminating"}},
		{"service type", schema.GroupResource{Resource: "services"}, svc, nodePort, []string{ns + "/services"}},
		{"service unchanged", schema.GroupResource{Resource: "services"}, svc, svc.DeepCopy(), nil},
		{"configmap data", schema.GroupResource{Resource: "configmaps"}, cm, cm2, nil},
		{"other namespace", podsGR, mkPod("x", "other", nil, nil), with(func(p *corev1.Pod) {
			p.Namespace = "other"
			p.Status.Phase = corev1.PodFailed
		}), nil},
	} {
		f.ctrl.updated(tc.gr, tc.old, tc.cur)
		if got := queued(f.ctrl); !slices.Equal(got, tc.want) {
			t.Errorf("%s: queued %v, want %v", tc.name, got, tc.want)
		}
	}

	// Deletions queue the quotas tracking the resource.
	f.ctrl.replenish(podsGR, ns)
	if got, want := queued(f.ctrl), []string{ns + "/count", ns + "/cpu", ns + "/pods", ns + "/terminating"}; !slices.Equal(got, want) {
		t.Errorf("pod deleted: queued %v, want %v", got, want)
	}
}

func TestResync(t *testing.T) {
	var deployments atomic.Int64
	f := newFixture(t, []runtime.Object{mkQuota("q", list("count/secrets", "5", "count/deployments.apps", "5"))},
		WithResyncPeriod(100*time.Millisecond),
		WithCounter(func(_ context.Context, gr schema.GroupResource, _ string) (int64, error) {
			if gr != (schema.GroupResource{Group: "apps", Resource: "deployments"}) {
				return 0, ErrUnknownResource
			}
			return deployments.Load(), nil
		}))
	f.run(t)
	f.waitUsed(t, "q", list("count/secrets", "0", "count/deployments.apps", "0"))
	// Creations do not trigger a recalculation, but the periodic resync does.
	if _, err := f.client.CoreV1().Secrets(ns).Create(f.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: ns}},
		metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deployments.Store(2)
	f.waitUsed(t, "q", list("count/secrets", "1", "count/deployments.apps", "2"))
}
