package resourcequota_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/metadata"

	"github.com/kijabi/kijabi/internal/controller/resourcequota"
	"github.com/kijabi/kijabi/internal/quota"
	"github.com/kijabi/kijabi/internal/testserver"
)

func TestIntegrationResourceQuota(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	s := testserver.Start(t)
	client := s.Client
	meta, err := metadata.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	f := informers.NewSharedInformerFactory(client, 0)
	core := f.Core().V1()
	c := resourcequota.New(client, core.ResourceQuotas(), core.Pods(), core.Services(), core.PersistentVolumeClaims(),
		core.ConfigMaps(), core.Secrets(), core.ReplicationControllers(),
		resourcequota.WithCounter(resourcequota.MetadataCounter(meta, memory.NewMemCacheClient(client.Discovery()))),
		resourcequota.WithResyncPeriod(time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	f.Start(ctx.Done())
	go func() { defer close(done); c.Run(ctx, 2) }()
	t.Cleanup(func() { cancel(); <-done; f.Shutdown() })

	const ns = "quota-it"
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q"}, Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
		"pods":                           resource.MustParse("10"),
		"requests.cpu":                   resource.MustParse("4"),
		"count/configmaps":               resource.MustParse("10"),
		"count/serviceaccounts":          resource.MustParse("10"),
		"count/deployments.apps":         resource.MustParse("10"),
		"count/widgets.example.com":      resource.MustParse("10"),
		corev1.ResourceServicesNodePorts: resource.MustParse("2"),
	}}}
	if _, err := client.CoreV1().ResourceQuotas(ns).Create(ctx, q, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUsed := func(want corev1.ResourceList) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			cur, err := client.CoreV1().ResourceQuotas(ns).Get(ctx, "q", metav1.GetOptions{})
			if err == nil && quota.Equals(cur.Status.Hard, cur.Spec.Hard) && quota.Equals(quota.Mask(cur.Status.Used, want), want) {
				if _, ok := cur.Status.Used["count/widgets.example.com"]; ok {
					t.Fatalf("an unknown resource is counted: %v", cur.Status.Used)
				}
				return
			}
			if time.Now().After(deadline) {
				var st any = err
				if err == nil {
					st = cur.Status
				}
				t.Fatalf("timed out waiting for used %v (last: %v)", want, st)
			}
			<-time.After(50 * time.Millisecond)
		}
	}
	// The root CA configmap and default service account come from controllers that do not
	// run here: the namespace has one configmap and no service account.
	waitUsed(corev1.ResourceList{"pods": resource.MustParse("0"), "requests.cpu": resource.MustParse("0"),
		"count/configmaps": resource.MustParse("1"), "count/serviceaccounts": resource.MustParse("0"),
		"count/deployments.apps": resource.MustParse("0"), "services.nodeports": resource.MustParse("0")})

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name: "app", Image: "busybox",
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{"cpu": resource.MustParse("250m")}}}}}}
	if _, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "sa"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "svc"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort,
		Ports: []corev1.ServicePort{{Port: 80}}}}
	if _, err := client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Admission (or the next resync) charges them.
	waitUsed(corev1.ResourceList{"pods": resource.MustParse("1"), "requests.cpu": resource.MustParse("250m"),
		"count/serviceaccounts": resource.MustParse("1"), "services.nodeports": resource.MustParse("1")})

	// Deletions give quota back.
	zero := int64(0)
	if err := client.CoreV1().Pods(ns).Delete(ctx, "p", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	if err := client.CoreV1().Services(ns).Delete(ctx, "svc", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := client.CoreV1().ConfigMaps(ns).Delete(ctx, "cm", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUsed(corev1.ResourceList{"pods": resource.MustParse("0"), "requests.cpu": resource.MustParse("0"),
		"count/configmaps": resource.MustParse("0"), "services.nodeports": resource.MustParse("0")})
}
