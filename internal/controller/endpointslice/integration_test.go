package endpointslice_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/kijabi/kijabi/internal/controller/endpointslice"
	"github.com/kijabi/kijabi/internal/testserver"
	"github.com/kijabi/kijabi/internal/testutil"
)

func start(t *testing.T) kubernetes.Interface {
	s := testserver.Start(t)
	f := informers.NewSharedInformerFactory(s.Client, 0)
	c := endpointslice.New(s.Client, f.Core().V1().Pods(), f.Core().V1().Services(), f.Core().V1().Nodes(), f.Discovery().V1().EndpointSlices())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	f.Start(ctx.Done())
	go func() { defer close(done); c.Run(ctx, 2) }()
	t.Cleanup(func() { cancel(); <-done; f.Shutdown() })
	return s.Client
}

// createReadyPod creates a pod on node n1 and reports it running and ready at ip.
func createReadyPod(t *testing.T, client kubernetes.Interface, name, ip string) {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "img",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
	}
	pod, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	setReady(t, client, pod, ip, corev1.ConditionTrue)
}

func setReady(t *testing.T, client kubernetes.Interface, pod *corev1.Pod, ip string, ready corev1.ConditionStatus) {
	t.Helper()
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: ready, LastTransitionTime: metav1.Now()}}}
	if _, err := client.CoreV1().Pods("default").UpdateStatus(context.Background(), pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func readyAddresses(client kubernetes.Interface) (map[string]bool, int, error) {
	list, err := client.DiscoveryV1().EndpointSlices("default").List(context.Background(),
		metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web," + discoveryv1.LabelManagedBy + "=" + endpointslice.ControllerName})
	if err != nil {
		return nil, 0, err
	}
	out := map[string]bool{}
	for _, s := range list.Items {
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
				out[ep.Addresses[0]] = true
			}
		}
	}
	return out, len(list.Items), nil
}

func TestIntegrationEndpointSlices(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	client := start(t)
	ctx := context.Background()
	if _, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
	if _, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		createReadyPod(t, client, fmt.Sprintf("web-%d", i), fmt.Sprintf("10.244.0.%d", i+10))
	}
	testutil.Poll(t, 30*time.Second, "3 ready endpoints", func() (bool, error) {
		addrs, n, err := readyAddresses(client)
		return len(addrs) == 3 && n == 1, err
	})
	list, err := client.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
	if err != nil {
		t.Fatal(err)
	}
	s := list.Items[0]
	if len(s.Ports) != 1 || *s.Ports[0].Port != 8080 || s.AddressType != discoveryv1.AddressTypeIPv4 || len(s.OwnerReferences) != 1 || s.OwnerReferences[0].Name != "web" {
		t.Errorf("slice %+v", s)
	}

	pod, err := client.CoreV1().Pods("default").Get(ctx, "web-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	setReady(t, client, pod, "10.244.0.11", corev1.ConditionFalse)
	testutil.Poll(t, 30*time.Second, "the not-ready pod to drop out", func() (bool, error) {
		addrs, _, err := readyAddresses(client)
		return len(addrs) == 2 && !addrs["10.244.0.11"], err
	})
}
