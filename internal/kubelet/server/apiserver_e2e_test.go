package server_test

import (
	"bufio"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	kubeletserver "github.com/kijabi/kijabi/internal/kubelet/server"
	"github.com/kijabi/kijabi/internal/testserver"
)

// apiPods lists pods by asking the API server, as the kubelet's pod manager would know
// them.
type apiPods struct{ client kubernetes.Interface }

func (p apiPods) Pods() ([]*corev1.Pod, error) {
	list, err := p.client.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{FieldSelector: "spec.nodeName=node-1"})
	if err != nil {
		return nil, err
	}
	var pods []*corev1.Pod
	for i := range list.Items {
		pods = append(pods, &list.Items[i])
	}
	return pods, nil
}

// TestKubectl runs the real kubectl against an API server whose node "node-1" is a
// kubelet server over a real containerd.
func TestKubectl(t *testing.T) {
	rt := startContainerd(t)
	srv := testserver.Start(t)
	ctx := context.Background()

	// The kubelet: a self-signed serving certificate, clients verified against the
	// cluster CA (which signs the API server's kubelet client certificate).
	caPEM, err := os.ReadFile(filepath.Join(srv.DataDir, "tls", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := kubeletserver.LoadOrCreateServingCert(filepath.Join(t.TempDir(), "kubelet.crt"), filepath.Join(t.TempDir(), "kubelet.key"), "127.0.0.1", nil, []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := kubeletserver.NewHandler(kubeletserver.Config{Runtime: rt.Runtime, Pods: apiPods{srv.Client}, Log: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	kubelet := httptest.NewUnstartedServer(h)
	kubelet.TLS = kubeletserver.TLSConfig(cert, pool)
	kubelet.StartTLS()
	t.Cleanup(kubelet.Close)
	_, portStr, _ := net.SplitHostPort(kubelet.Listener.Addr().String())
	kubeletPort, _ := strconv.Atoi(portStr)

	node, err := srv.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}, {Type: corev1.NodeHostName, Address: "node-1"}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(kubeletPort)
	if _, err := srv.Client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The pod "web", bound to node-1, whose containers are made through CRI.
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: corev1.PodSpec{
		NodeName: "node-1",
		Containers: []corev1.Container{
			{Name: "app", Image: busyboxImage},
			{Name: "logger", Image: busyboxImage},
			{Name: "counter", Image: busyboxImage},
		},
	}}
	pod, err = srv.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sandbox := rt.runPod(t, "default", "web", string(pod.UID))
	ids := map[string]string{
		"app":     rt.startContainer(t, sandbox, containerSpec{name: "app", command: []string{"sleep", "100000"}}),
		"logger":  rt.startContainer(t, sandbox, containerSpec{name: "logger", command: []string{"sh", "-c", "echo hello; echo world; exec sleep 100000"}}),
		"counter": rt.startContainer(t, sandbox, containerSpec{name: "counter", command: []string{"sh", "-c", "for i in 1 2 3; do echo c$i; sleep 0.3; done"}}),
	}
	pod.Status.Phase = corev1.PodRunning
	for _, c := range pod.Spec.Containers {
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: busyboxImage, ContainerID: "containerd://" + ids[c.Name], Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}},
		})
	}
	if _, err := srv.Client.CoreV1().Pods("default").UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("logs", func(t *testing.T) {
		waitUntil(t, "the logger's output", func() bool {
			return srv.Kubectl(t, "logs", "web", "-c", "logger").Stdout == "hello\nworld\n"
		})
		if out := srv.MustKubectl(t, "logs", "web", "-c", "logger", "--tail=1"); out != "world\n" {
			t.Errorf("--tail=1: %q", out)
		}
		if out := srv.MustKubectl(t, "logs", "web", "-c", "logger", "--limit-bytes=3"); out != "hel" {
			t.Errorf("--limit-bytes=3: %q", out)
		}
		if out := srv.MustKubectl(t, "logs", "web", "-c", "logger", "--since=1h"); out != "hello\nworld\n" {
			t.Errorf("--since=1h: %q", out)
		}
		if out := srv.MustKubectl(t, "logs", "web", "-c", "logger", "--since-time="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)); out != "" {
			t.Errorf("--since-time in the future: %q", out)
		}
		out := srv.MustKubectl(t, "logs", "web", "-c", "logger", "--timestamps")
		if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT[0-9:.]+Z hello\n\S+ world\n$`).MatchString(out) {
			t.Errorf("--timestamps: %q", out)
		}
		// -f ends when the container exits.
		if out := srv.MustKubectl(t, "logs", "-f", "web", "-c", "counter"); out != "c1\nc2\nc3\n" {
			t.Errorf("-f: %q", out)
		}
		r := srv.Kubectl(t, "logs", "web", "-c", "app", "--previous")
		if r.Err == nil || !strings.Contains(r.Stderr, `previous terminated container "app" in pod "web" not found`) {
			t.Errorf("--previous: %v %q", r.Err, r.Stderr)
		}
		r = srv.Kubectl(t, "logs", "web", "-c", "nothere")
		if r.Err == nil || !strings.Contains(r.Stderr, "container nothere is not valid for pod web") {
			t.Errorf("unknown container: %v %q", r.Err, r.Stderr)
		}
	})

	t.Run("exec", func(t *testing.T) {
		if out := srv.MustKubectl(t, "exec", "web", "-c", "app", "--", "sh", "-c", "echo hi; echo there"); out != "hi\nthere\n" {
			t.Errorf("exec: %q", out)
		}
		r := srv.KubectlIn(t, strings.NewReader("from stdin"), nil, "exec", "-i", "web", "-c", "app", "--", "cat")
		if r.Err != nil || r.Stdout != "from stdin" {
			t.Errorf("exec -i: %v %q %q", r.Err, r.Stdout, r.Stderr)
		}
		r = srv.Kubectl(t, "exec", "web", "-c", "app", "--", "sh", "-c", "echo bad >&2; exit 7")
		var exitErr *exec.ExitError
		if !errorsAs(r.Err, &exitErr) || exitErr.ExitCode() != 7 || !strings.Contains(r.Stderr, "bad") {
			t.Errorf("exit code: %v %q", r.Err, r.Stderr)
		}
	})

	t.Run("exec -it", func(t *testing.T) {
		// script(1) gives kubectl a terminal, sized with stty, whose size kubectl sends.
		if _, err := exec.LookPath("script"); err != nil {
			t.Skip("script(1) not installed")
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// The command may start before its terminal has a size: it polls.
		wrapper := filepath.Join(t.TempDir(), "exec-it.sh")
		script := fmt.Sprintf("#!/bin/sh\nstty cols 123 rows 45\nexec %s kubectl --kubeconfig %s exec -it web -c app -- sh -c %s\n",
			testserver.Binary(t), srv.Kubeconfig, `'until s=$(stty size 2>/dev/null) && [ -n "$s" ] && [ "$s" != "0 0" ]; do :; done; echo "$s"; tty'`)
		if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		out, err := exec.CommandContext(ctx, "script", "-qec", wrapper, "/dev/null").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "45 123") || !strings.Contains(string(out), "/dev/pts/") {
			t.Errorf("exec -it: %v %q", err, out)
		}
	})

	t.Run("cp", func(t *testing.T) {
		dir := t.TempDir()
		src := filepath.Join(dir, "in.txt")
		content := strings.Repeat("kijabi copies files\n", 1000)
		if err := os.WriteFile(src, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		srv.MustKubectl(t, "cp", src, "default/web:/tmp/in.txt", "-c", "app")
		if out := srv.MustKubectl(t, "exec", "web", "-c", "app", "--", "cat", "/tmp/in.txt"); out != content {
			t.Fatalf("copied into the pod: %d bytes, want %d", len(out), len(content))
		}
		dst := filepath.Join(dir, "out.txt")
		srv.MustKubectl(t, "cp", "default/web:/tmp/in.txt", dst, "-c", "app")
		if data, err := os.ReadFile(dst); err != nil || string(data) != content {
			t.Fatalf("copied from the pod: %d bytes, %v", len(data), err)
		}
	})

	t.Run("port-forward", func(t *testing.T) {
		port := echoServer(t)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, testserver.Binary(t), "kubectl", "--kubeconfig", srv.Kubeconfig, "port-forward", "pod/web", fmt.Sprintf(":%d", port))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr syncBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			cmd.Process.Kill()
			cmd.Wait()
		}()
		lines := bufio.NewScanner(stdout)
		re := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) ->`)
		var local string
		for lines.Scan() {
			if m := re.FindStringSubmatch(lines.Text()); m != nil {
				local = m[1]
				break
			}
		}
		if local == "" {
			t.Fatalf("no forwarding line; stderr: %s", stderr.String())
		}
		go io.Copy(io.Discard, stdout)
		for i := range 2 {
			c, err := net.Dial("tcp", "127.0.0.1:"+local)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(30 * time.Second))
			fmt.Fprintf(c, "hello %d\n", i)
			line, err := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if err != nil || line != fmt.Sprintf("echo: hello %d\n", i) {
				t.Fatalf("connection %d: %q, %v (stderr %s)", i, line, err, stderr.String())
			}
		}
	})

	t.Run("errors", func(t *testing.T) {
		pending := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pending", Namespace: "default"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: busyboxImage}}}}
		if _, err := srv.Client.CoreV1().Pods("default").Create(ctx, pending, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		r := srv.Kubectl(t, "exec", "pending", "--", "true")
		if r.Err == nil || !strings.Contains(r.Stderr, "pod pending does not have a host assigned") {
			t.Errorf("exec in a pending pod: %v %q", r.Err, r.Stderr)
		}
		waiting := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "waiting", Namespace: "default"},
			Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "c", Image: busyboxImage}}}}
		if _, err := srv.Client.CoreV1().Pods("default").Create(ctx, waiting, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		r = srv.Kubectl(t, "logs", "waiting")
		if want := `Error from server (BadRequest): container "c" in pod "waiting" is waiting to start: ContainerCreating`; r.Err == nil || strings.TrimSpace(r.Stderr) != want {
			t.Errorf("logs of a waiting container: %v %q, want %q", r.Err, r.Stderr, want)
		}
	})

	t.Run("node proxy", func(t *testing.T) {
		if out := srv.MustKubectl(t, "get", "--raw", "/api/v1/nodes/node-1/proxy/healthz"); out != "ok" {
			t.Errorf("healthz: %q", out)
		}
		out := srv.MustKubectl(t, "get", "--raw", "/api/v1/nodes/node-1/proxy/pods")
		if !strings.Contains(out, `"kind":"PodList"`) || !strings.Contains(out, `"name":"web"`) {
			t.Errorf("pods: %.300s", out)
		}
		out = srv.MustKubectl(t, "get", "--raw", "/api/v1/nodes/node-1/proxy/stats/summary")
		if !strings.Contains(out, `"nodeName"`) || !strings.Contains(out, `"name":"web"`) {
			t.Errorf("stats/summary: %.300s", out)
		}
		out = srv.MustKubectl(t, "get", "--raw", "/api/v1")
		for _, want := range []string{`"nodes/proxy"`, `"pods/proxy"`, `"services/proxy"`, `"pods/exec"`, `"pods/log"`, `"pods/portforward"`} {
			if !strings.Contains(out, want) {
				t.Errorf("api-resources lacks %s: %q", want, out)
			}
		}
	})
}
