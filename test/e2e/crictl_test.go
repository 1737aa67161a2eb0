package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kijabi/kijabi/internal/cri/containerd"
	"github.com/kijabi/kijabi/internal/testserver"
)

var crictlTool = testserver.NewTool("sigs.k8s.io/cri-tools/cmd/crictl", "crictl")

// crictl runs the real crictl (a Go tool dependency of the module) against the node's
// embedded containerd, through the configuration file the node writes for it.
func (c *nodeCluster) crictl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := containerd.CrictlConfigPath(containerd.DefaultDir(c.DataDir))
	cmd := exec.CommandContext(ctx, crictlTool.Path(t), append([]string{"--config", cfg}, args...)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), &crictlError{args: args, err: err, stderr: errb.String()}
	}
	return out.String(), nil
}

type crictlError struct {
	args   []string
	err    error
	stderr string
}

func (e *crictlError) Error() string {
	return "crictl " + strings.Join(e.args, " ") + ": " + e.err.Error() + ": " + e.stderr
}

func (c *nodeCluster) mustCrictl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := c.crictl(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// testCrictl checks what an administrator sees on a node with crictl: the pod's sandbox
// and container under their Kubernetes names and labels, the container's logs, exec into
// it, the built-in images — and that a container stopped behind the kubelet's back is
// restarted by it, as on any Kubernetes node.
func testCrictl(t *testing.T, c *nodeCluster) {
	ctx := context.Background()
	p := shPod("cri", "echo hello-cri; exec sleep 3600")
	p.Labels = map[string]string{"app": "cri"}
	c.create(p)
	pod := c.waitPod("cri", "Running", 60*time.Second, running)

	var pods struct {
		Items []struct {
			ID       string `json:"id"`
			Metadata struct {
				Name, UID, Namespace string
			} `json:"metadata"`
			State  string            `json:"state"`
			Labels map[string]string `json:"labels"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(c.mustCrictl(t, "pods", "--name", "^cri$", "--namespace", "default", "-o", "json")), &pods); err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 1 {
		t.Fatalf("crictl pods --name cri: %d sandboxes, want 1: %+v", len(pods.Items), pods.Items)
	}
	sb := pods.Items[0]
	if sb.Metadata.UID != string(pod.UID) || sb.State != "SANDBOX_READY" || sb.Labels["app"] != "cri" ||
		sb.Labels["io.kubernetes.pod.name"] != "cri" || sb.Labels["io.kubernetes.pod.namespace"] != "default" {
		t.Errorf("crictl pods: sandbox %+v does not match pod %s (uid %s)", sb, pod.Name, pod.UID)
	}

	var inspect struct {
		Status struct {
			Network struct {
				IP string `json:"ip"`
			} `json:"network"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(c.mustCrictl(t, "inspectp", "-o", "json", sb.ID)), &inspect); err != nil {
		t.Fatal(err)
	}
	if inspect.Status.Network.IP != pod.Status.PodIP {
		t.Errorf("crictl inspectp: sandbox IP %q, pod IP %q", inspect.Status.Network.IP, pod.Status.PodIP)
	}

	var ctrs struct {
		Containers []struct {
			ID       string `json:"id"`
			Metadata struct {
				Name    string `json:"name"`
				Attempt uint32 `json:"attempt"`
			} `json:"metadata"`
			State string `json:"state"`
		} `json:"containers"`
	}
	if err := json.Unmarshal([]byte(c.mustCrictl(t, "ps", "--pod", sb.ID, "-o", "json")), &ctrs); err != nil {
		t.Fatal(err)
	}
	if len(ctrs.Containers) != 1 {
		t.Fatalf("crictl ps --pod: %d containers, want 1: %+v", len(ctrs.Containers), ctrs.Containers)
	}
	ctr := ctrs.Containers[0]
	if ctr.Metadata.Name != "main" || ctr.State != "CONTAINER_RUNNING" ||
		pod.Status.ContainerStatuses[0].ContainerID != "containerd://"+ctr.ID {
		t.Errorf("crictl ps: container %+v does not match the pod's status %s", ctr, statusSummary(pod))
	}
	if out := c.mustCrictl(t, "logs", ctr.ID); out != "hello-cri\n" {
		t.Errorf("crictl logs: %q", out)
	}
	if out := c.mustCrictl(t, "exec", ctr.ID, "cat", "/etc/hostname"); strings.TrimSpace(out) != "cri" {
		t.Errorf("crictl exec cat /etc/hostname: %q", out)
	}
	if out := c.mustCrictl(t, "images"); !strings.Contains(out, "kijabi.local/busybox") || !strings.Contains(out, "kijabi.local/pause") {
		t.Errorf("crictl images lacks the built-in images:\n%s", out)
	}

	// A container stopped on the node is restarted by the kubelet (restartPolicy Always).
	c.mustCrictl(t, "stop", "--timeout", "0", ctr.ID)
	restarted := c.waitPod("cri", "restarted", 60*time.Second, func(p *corev1.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].RestartCount == 1 && cs[0].State.Running != nil
	})
	if id := restarted.Status.ContainerStatuses[0].ContainerID; id == "containerd://"+ctr.ID {
		t.Errorf("the restarted container kept the stopped one's ID %s", id)
	}
	poll(t, 30*time.Second, "crictl to list the new attempt", func() (bool, error) {
		out, err := c.crictl(t, "ps", "--pod", sb.ID, "--state", "running", "-q")
		return err == nil && "containerd://"+strings.TrimSpace(out) == restarted.Status.ContainerStatuses[0].ContainerID, nil
	})
	if err := c.Client.CoreV1().Pods("default").Delete(ctx, "cri", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, 60*time.Second, "the pod's sandbox to leave the node", func() (bool, error) {
		out, err := c.crictl(t, "pods", "--name", "^cri$", "-q")
		return err == nil && strings.TrimSpace(out) == "", nil
	})
}
