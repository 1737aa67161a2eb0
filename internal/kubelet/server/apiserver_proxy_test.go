package server_test

import (
	"context"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubeletserver "github.com/kijabi/kijabi/internal/kubelet/server"
	"github.com/kijabi/kijabi/internal/testserver"
)

// TestAPIServerKubeletRequests checks, against a fake kubelet, what the API server sends
// a kubelet for pods/log, pods/exec and nodes/proxy, and the errors it answers itself.
// It needs no container runtime.
func TestAPIServerKubeletRequests(t *testing.T) {
	srv := testserver.Start(t)
	ctx := context.Background()
	caPEM, err := os.ReadFile(filepath.Join(srv.DataDir, "tls", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	certPEM, keyPEM, err := kubeletserver.SelfSignedCert("127.0.0.1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "k.crt"), certPEM, 0o644)
	os.WriteFile(filepath.Join(dir, "k.key"), keyPEM, 0o600)
	cert, err := kubeletserver.LoadOrCreateServingCert(filepath.Join(dir, "k.crt"), filepath.Join(dir, "k.key"), "ignored", nil, nil)
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var seen []string
	fake := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			http.Error(w, "no client certificate", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.RequestURI()+" user="+r.TLS.PeerCertificates[0].Subject.CommonName)
		mu.Unlock()
		switch {
		case strings.HasPrefix(r.URL.Path, "/containerLogs/default/web/b"):
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`container "b" in pod "web" is waiting to start: ContainerCreating`))
		case strings.HasPrefix(r.URL.Path, "/containerLogs/"):
			w.Write([]byte("a log line\n"))
		default:
			w.Write([]byte("proxied " + r.URL.Path))
		}
	}))
	fake.TLS = kubeletserver.TLSConfig(cert, pool)
	fake.StartTLS()
	t.Cleanup(fake.Close)
	_, portStr, _ := net.SplitHostPort(fake.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)

	node, err := srv.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "localhost"}, {Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(port)
	if _, err := srv.Client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: corev1.PodSpec{NodeName: "node-1",
			Containers: []corev1.Container{{Name: "a", Image: "x"}, {Name: "b", Image: "x"}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "pending", Namespace: "default"}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "a", Image: "x"}}}},
	} {
		if _, err := srv.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	logs := srv.Client.CoreV1().Pods("default").GetLogs("web", &corev1.PodLogOptions{Container: "a", Follow: true, TailLines: ptr(int64(3)), Timestamps: true})
	if data, err := logs.DoRaw(ctx); err != nil || string(data) != "a log line\n" {
		t.Errorf("logs: %q, %v", data, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"logs", "web", "-c", "b"}, `Error from server (BadRequest): container "b" in pod "web" is waiting to start: ContainerCreating`},
		{[]string{"get", "--raw", "/api/v1/namespaces/default/pods/web/log"}, "a container name must be specified for pod web, choose one of: [a b]"},
		{[]string{"logs", "web", "-c", "zzz"}, "container zzz is not valid for pod web"},
		{[]string{"get", "--raw", "/api/v1/namespaces/default/pods/web/log?container=a&tailLines=-2"},
			`PodLogOptions "web" is invalid: tailLines: Invalid value: -2: must be greater than or equal to 0`},
		{[]string{"exec", "pending", "--", "true"}, "pod pending does not have a host assigned"},
	} {
		r := srv.Kubectl(t, tc.args...)
		if r.Err == nil || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("kubectl %v: %v %q, want %q", tc.args, r.Err, r.Stderr, tc.want)
		}
	}
	if r := srv.Kubectl(t, "logs", "pending"); r.Err != nil || r.Stdout != "" {
		t.Errorf("logs of a pod without a node: %v %q %q", r.Err, r.Stdout, r.Stderr)
	}
	// A plain request to exec is refused: it must upgrade.
	body, _ := srv.Client.CoreV1().RESTClient().Post().Namespace("default").Resource("pods").Name("web").SubResource("exec").
		Param("container", "a").Param("command", "true").Param("stdout", "true").DoRaw(ctx)
	if !strings.Contains(string(body), `"message":"Upgrade request required","reason":"BadRequest","code":400`) {
		t.Errorf("exec without an upgrade: %s", body)
	}
	if out := srv.MustKubectl(t, "get", "--raw", "/api/v1/nodes/node-1/proxy/stats/summary?x=1"); out != "proxied /stats/summary" {
		t.Errorf("node proxy: %q", out)
	}

	mu.Lock()
	defer mu.Unlock()
	want := []string{
		"GET /containerLogs/default/web/a?follow=true&tailLines=3&timestamps=true user=kube-apiserver-kubelet-client",
		"GET /containerLogs/default/web/b user=kube-apiserver-kubelet-client",
		"GET /stats/summary?x=1 user=kube-apiserver-kubelet-client",
	}
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Errorf("kubelet requests:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
}

func ptr[T any](v T) *T { return &v }
