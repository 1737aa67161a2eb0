package e2e

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kijabi/kijabi/internal/testserver"
)

// TestAPIServerMetrics: /metrics speaks Prometheus with kube-apiserver's metric names and
// labels, for those allowed to read it; unknown paths get kube-apiserver's 404.
func TestAPIServerMetrics(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	s.MustKubectl(t, "create", "configmap", "counted", "--from-literal=a=b")
	s.MustKubectl(t, "get", "configmap", "counted")
	out := s.MustKubectl(t, "get", "--raw", "/metrics")
	for _, want := range []string{
		`apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="configmaps",scope="namespace",subresource="",verb="POST",version="v1"} 1`,
		`apiserver_request_duration_seconds_bucket{component="apiserver",dry_run="",group="",resource="configmaps",scope="resource",subresource="",verb="GET",version="v1",le="+Inf"} 1`,
		`apiserver_storage_objects{resource="configmaps"}`,
		`apiserver_current_inflight_requests{request_kind="readOnly"}`,
		"go_goroutines ", "process_resident_memory_bytes ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// A service account without the system:monitoring role may not read it.
	s.MustKubectl(t, "create", "serviceaccount", "nobody")
	token := strings.TrimSpace(s.MustKubectl(t, "create", "token", "nobody"))
	client, err := kubernetes.NewForConfig(&rest.Config{Host: s.Config.Host, BearerToken: token,
		TLSClientConfig: rest.TLSClientConfig{CAData: s.Config.CAData}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background()); !apierrors.IsForbidden(err) {
		t.Errorf("a service account reading /metrics: %v, want 403", err)
	}

	// Component statuses (deprecated, still served): etcd answers; this server runs no
	// scheduler or controller manager, so nobody holds their leases.
	r := s.Kubectl(t, "get", "componentstatuses", "-o", `jsonpath={range .items[*]}{.metadata.name}={.conditions[0].status} {end}`)
	if r.Err != nil || r.Stdout != "controller-manager=False etcd-0=True scheduler=False " || !strings.Contains(r.Stderr, "v1 ComponentStatus is deprecated in v1.19+") {
		t.Errorf("kubectl get componentstatuses: %v %q %q", r.Err, r.Stdout, r.Stderr)
	}

	r = s.Kubectl(t, "get", "--raw", "/no/such/path")
	if r.Err == nil || !strings.Contains(r.Stderr, "Error from server (NotFound): the server could not find the requested resource") {
		t.Errorf("unknown path: %v %q", r.Err, r.Stderr)
	}
}
