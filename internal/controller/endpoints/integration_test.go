package endpoints_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/kijabi/kijabi/internal/controller/endpoints"
	"github.com/kijabi/kijabi/internal/testserver"
	"github.com/kijabi/kijabi/internal/testutil"
)

func setReady(t *testing.T, client kubernetes.Interface, pod *corev1.Pod, ip string, ready corev1.ConditionStatus) {
	t.Helper()
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: ready, LastTransitionTime: metav1.Now()}}}
	if _, err := client.CoreV1().Pods(pod.Namespace).UpdateStatus(context.Background(), pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestIntegrationEndpoints(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	s := testserver.Start(t)
	client := s.Client
	f := informers.NewSharedInformerFactory(client, 0)
	c := endpoints.New(client, f.Core().V1().Pods(), f.Core().V1().Services(), f.Core().V1().Endpoints())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	f.Start(ctx.Done())
	go func() { defer close(done); c.Run(ctx, 2) }()
	t.Cleanup(func() { cancel(); <-done; f.Shutdown() })

	before, err := client.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"team": "x"}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
	if _, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%d", i), Namespace: "default", Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "img",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		}
		pod, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		setReady(t, client, pod, fmt.Sprintf("10.244.0.%d", 10+i), corev1.ConditionTrue)
	}
	var ep *corev1.Endpoints
	counts := func(ready, notReady int) func() (bool, error) {
		return func() (bool, error) {
			ep, err = client.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			r, n := 0, 0
			for _, s := range ep.Subsets {
				r += len(s.Addresses)
				n += len(s.NotReadyAddresses)
			}
			return r == ready && n == notReady, nil
		}
	}
	testutil.Poll(t, 30*time.Second, "3 ready addresses", counts(3, 0))
	if ep.Labels["team"] != "x" || ep.Annotations[corev1.EndpointsLastChangeTriggerTime] == "" || ep.Subsets[0].Ports[0].Port != 8080 {
		t.Errorf("endpoints %+v", ep)
	}
	pod, err := client.CoreV1().Pods("default").Get(ctx, "web-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	setReady(t, client, pod, "10.244.0.11", corev1.ConditionFalse)
	testutil.Poll(t, 30*time.Second, "web-1 to become not ready", counts(2, 1))
	if a := ep.Subsets[0].NotReadyAddresses[0]; a.IP != "10.244.0.11" {
		t.Errorf("not ready address %+v", a)
	}

	// The Service goes: so do its endpoints. The API server's own are untouched throughout.
	if err := client.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testutil.Poll(t, 30*time.Second, "endpoints to go with the service", func() (bool, error) {
		_, err := client.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{})
		return err != nil, nil
	})
	after, err := client.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil || after.ResourceVersion != before.ResourceVersion {
		t.Errorf("default/kubernetes endpoints changed: %v", err)
	}
}
