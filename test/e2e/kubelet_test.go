package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/cri"
	"github.com/kijabi/kijabi/internal/cri/containerd"
	"github.com/kijabi/kijabi/internal/cri/image"
	"github.com/kijabi/kijabi/internal/scheduler"
	"github.com/kijabi/kijabi/internal/testserver"
	"github.com/kijabi/kijabi/internal/testserver/registry"
	"github.com/kijabi/kijabi/internal/testutil"
)

const busybox = "kijabi.local/busybox:latest"

// nodeCluster is a control plane with one real node (kubelet on containerd).
type nodeCluster struct {
	*testserver.Server
	t *testing.T
}

func startNode(t *testing.T, insecureRegistries ...string) *nodeCluster {
	t.Helper()
	srv := testserver.Start(t, testserver.Options{Agent: true, InsecureRegistries: insecureRegistries})
	c := &nodeCluster{Server: srv, t: t}
	waitNodeReady(t, srv.Client)
	return c
}

func (c *nodeCluster) create(pod *corev1.Pod) *corev1.Pod {
	c.t.Helper()
	if pod.Namespace == "" {
		pod.Namespace = "default"
	}
	p, err := c.Client.CoreV1().Pods(pod.Namespace).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	return p
}

func (c *nodeCluster) get(name string) *corev1.Pod {
	c.t.Helper()
	p, err := c.Client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	return p
}

// waitPod polls pod name until cond holds.
func (c *nodeCluster) waitPod(name, what string, timeout time.Duration, cond func(*corev1.Pod) bool) *corev1.Pod {
	c.t.Helper()
	var last *corev1.Pod
	err := pollErr(timeout, func() (bool, error) {
		p, err := c.Client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = p
		return cond(p), nil
	})
	if err != nil {
		c.t.Fatalf("waiting for pod %s to be %s: %v; last status: %+v", name, what, err, statusSummary(last))
	}
	return last
}

func pollErr(timeout time.Duration, cond func() (bool, error)) error {
	return wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		return cond()
	})
}

func statusSummary(p *corev1.Pod) string {
	if p == nil {
		return "<none>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "phase=%s ip=%s", p.Status.Phase, p.Status.PodIP)
	for _, cs := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
		fmt.Fprintf(&b, " [%s ready=%v restarts=%d state=%+v last=%+v]", cs.Name, cs.Ready, cs.RestartCount, cs.State, cs.LastTerminationState)
	}
	for _, cond := range p.Status.Conditions {
		fmt.Fprintf(&b, " %s=%s", cond.Type, cond.Status)
	}
	return b.String()
}

func running(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning }

func findCondition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func hasCondition(p *corev1.Pod, t corev1.PodConditionType) bool { return findCondition(p, t) != nil }

// containerCgroup reads the cpu quota and memory limit of the first container of pod
// name from inside it (cgroup v2, or v1).
func containerCgroup(t *testing.T, c *nodeCluster, name string) (cpu, mem string) {
	t.Helper()
	cpu = c.Kubectl(t, "exec", name, "--", "sh", "-c", "cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us").Stdout
	mem = c.Kubectl(t, "exec", name, "--", "sh", "-c", "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes").Stdout
	if f := strings.Fields(cpu); len(f) > 0 {
		cpu = f[0]
	}
	return cpu, strings.TrimSpace(mem)
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func shPod(name, script string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](2),
			Containers:                    []corev1.Container{{Name: "main", Image: busybox, Command: []string{"sh", "-c", script}}},
		},
	}
}

// httpGet fetches url, retrying until the deadline.
func httpGet(t *testing.T, url string, timeout time.Duration) string {
	t.Helper()
	var body string
	client := &http.Client{Timeout: 2 * time.Second}
	err := pollErr(timeout, func() (bool, error) {
		resp, err := client.Get(url)
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return body
}

// httpdScript serves the pod's own name on :8080, from /www (with whatever is mounted in it).
const httpdScript = `mkdir -p /www; hostname > /www/index.html; exec httpd -f -p 8080 -h /www`

// TestKubelet runs real pods through the kubelet, containerd and runc, and checks what
// users rely on: pod IPs, shared localhost, restarts, probes, volumes, limits and
// graceful termination — then that a kubelet restart leaves running containers alone.
func TestKubelet(t *testing.T) {
	reg := registry.Start(t)
	c := startNode(t, reg.Addr)
	ctx := context.Background()

	t.Run("PullWithImagePullSecrets", func(t *testing.T) {
		c.t = t
		src := filepath.Join(t.TempDir(), "hello.txt")
		if err := os.WriteFile(src, []byte("hello from the registry\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		img, err := image.Build(image.Spec{Files: []image.File{{Src: src, Dest: "/hello.txt"}}, Cmd: []string{"cat", "/hello.txt"}})
		if err != nil {
			t.Fatal(err)
		}
		ref := reg.Push(t, "test/hello:v1", img)
		nocred := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "nocred"}, Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "hello", Image: ref}},
		}}
		c.create(nocred)
		c.waitPod("nocred", "failing to pull", 60*time.Second, func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses
			return len(cs) == 1 && cs[0].State.Waiting != nil &&
				(cs[0].State.Waiting.Reason == "ErrImagePull" || cs[0].State.Waiting.Reason == "ImagePullBackOff")
		})
		c.MustKubectl(t, "create", "secret", "docker-registry", "regcred", "--docker-server="+reg.Addr,
			"--docker-username="+reg.User, "--docker-password="+reg.Password)
		withcred := nocred.DeepCopy()
		withcred.Name, withcred.ResourceVersion = "withcred", ""
		withcred.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}}
		c.create(withcred)
		c.waitPod("withcred", "Succeeded", 60*time.Second, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
		poll(t, 30*time.Second, "the pulled image's output in the logs", func() (bool, error) {
			r := c.Kubectl(t, "logs", "withcred")
			return r.Stdout == "hello from the registry\n", nil
		})
	})

	t.Run("DeploymentPodIPs", func(t *testing.T) {
		c.t = t
		c.MustKubectl(t, "create", "deployment", "web", "--image="+busybox, "--replicas=3", "--", "sh", "-c", httpdScript)
		var pods *corev1.PodList
		poll(t, 90*time.Second, "3 web pods Running", func() (bool, error) {
			var err error
			pods, err = c.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
			if err != nil || len(pods.Items) != 3 {
				return false, nil
			}
			for _, p := range pods.Items {
				if !running(&p) || !ready(&p) || p.Status.PodIP == "" {
					return false, nil
				}
			}
			return true, nil
		})
		seen := map[string]bool{}
		for _, p := range pods.Items {
			if seen[p.Status.PodIP] {
				t.Fatalf("two pods share IP %s", p.Status.PodIP)
			}
			seen[p.Status.PodIP] = true
			body := httpGet(t, "http://"+p.Status.PodIP+":8080/", 20*time.Second)
			if strings.TrimSpace(body) != p.Name {
				t.Errorf("pod %s at %s answered %q", p.Name, p.Status.PodIP, body)
			}
			if p.Status.HostIP != "127.0.0.1" || p.Status.StartTime == nil || p.Status.ContainerStatuses[0].ContainerID == "" {
				t.Errorf("pod %s status incomplete: %s", p.Name, statusSummary(&p))
			}
		}
		c.MustKubectl(t, "delete", "deployment", "web")
	})

	t.Run("SharedLocalhost", func(t *testing.T) {
		c.t = t
		p := shPod("pair", httpdScript)
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{
			Name: "client", Image: busybox,
			Command: []string{"sh", "-c", "until wget -qO /tmp/got http://localhost:8080/; do sleep 0.2; done; sleep 3600"},
			ReadinessProbe: &corev1.Probe{
				ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"grep", "-q", "pair", "/tmp/got"}}},
				PeriodSeconds: 1,
			},
		})
		c.create(p)
		c.waitPod("pair", "Ready (the client container fetched the server over localhost)", 60*time.Second, ready)
	})

	t.Run("CrashLoopBackOff", func(t *testing.T) {
		c.t = t
		c.create(shPod("crash", "echo going down; exit 3"))
		p := c.waitPod("crash", "in CrashLoopBackOff", 60*time.Second, func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses
			return len(cs) == 1 && cs[0].RestartCount >= 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "CrashLoopBackOff"
		})
		last := p.Status.ContainerStatuses[0].LastTerminationState.Terminated
		if last == nil || last.ExitCode != 3 || last.Reason != "Error" {
			t.Errorf("last state = %+v", last)
		}
		if p.Status.Phase != corev1.PodRunning {
			t.Errorf("phase = %s, want Running (restartPolicy Always)", p.Status.Phase)
		}
		out := c.MustKubectl(t, "get", "pod", "crash")
		if !strings.Contains(out, "CrashLoopBackOff") {
			t.Errorf("kubectl get pod shows:\n%s", out)
		}
	})

	t.Run("LivenessProbeRestarts", func(t *testing.T) {
		c.t = t
		p := shPod("unhealthy", "touch /tmp/healthy; sleep 2; rm /tmp/healthy; sleep 3600")
		p.Spec.Containers[0].LivenessProbe = &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-f", "/tmp/healthy"}}},
			PeriodSeconds: 1, FailureThreshold: 1,
		}
		c.create(p)
		c.waitPod("unhealthy", "restarted by its liveness probe", 60*time.Second, func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses
			return len(cs) == 1 && cs[0].RestartCount >= 1
		})
		poll(t, 30*time.Second, "an Unhealthy event", func() (bool, error) {
			evs, err := c.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{
				FieldSelector: fields.OneTermEqualSelector("involvedObject.name", "unhealthy").String()})
			if err != nil {
				return false, nil
			}
			for _, e := range evs.Items {
				if e.Reason == "Unhealthy" && strings.HasPrefix(e.Message, "Liveness probe failed") {
					return true, nil
				}
			}
			return false, nil
		})
	})

	t.Run("ReadinessGatesReady", func(t *testing.T) {
		c.t = t
		p := shPod("late", "sleep 3; touch /tmp/ready; sleep 3600")
		p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-f", "/tmp/ready"}}},
			PeriodSeconds: 1,
		}
		c.create(p)
		got := c.waitPod("late", "Running", 60*time.Second, running)
		if ready(got) {
			t.Fatalf("pod Ready before its readiness probe could pass: %s", statusSummary(got))
		}
		c.waitPod("late", "Ready", 60*time.Second, ready)
	})

	t.Run("ConfigMapAndSecretVolumes", func(t *testing.T) {
		c.t = t
		cm, err := c.Client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "site"}, Data: map[string]string{"greeting": "v1"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Client.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "creds"}, StringData: map[string]string{"password": "s3cret"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p := shPod("vols", "exec httpd -f -p 8080 -h /www")
		p.Spec.Volumes = []corev1.Volume{
			{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "site"}}}},
			{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}},
		}
		p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "cfg", MountPath: "/www/cfg"}, {Name: "sec", MountPath: "/www/sec"}}
		p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "password"}}}}
		c.create(p)
		ip := c.waitPod("vols", "Running", 60*time.Second, running).Status.PodIP
		if got := httpGet(t, "http://"+ip+":8080/cfg/greeting", 20*time.Second); got != "v1" {
			t.Errorf("configMap file = %q", got)
		}
		if got := httpGet(t, "http://"+ip+":8080/sec/password", 20*time.Second); got != "s3cret" {
			t.Errorf("secret file = %q", got)
		}
		cm.Data["greeting"] = "v2"
		if _, err := c.Client.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		poll(t, 60*time.Second, "the configMap update to reach the running pod", func() (bool, error) {
			return httpGet(t, "http://"+ip+":8080/cfg/greeting", 5*time.Second) == "v2", nil
		})
	})

	t.Run("OOMKilled", func(t *testing.T) {
		c.t = t
		p := shPod("hog", `x=0123456789abcdef; while :; do x="$x$x"; done`)
		p.Spec.RestartPolicy = corev1.RestartPolicyNever
		p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")}
		c.create(p)
		got := c.waitPod("hog", "killed", 60*time.Second, func(p *corev1.Pod) bool {
			return p.Status.Phase == corev1.PodFailed
		})
		term := got.Status.ContainerStatuses[0].State.Terminated
		if term == nil || term.Reason != "OOMKilled" || term.ExitCode != 137 {
			t.Errorf("terminated = %+v, want OOMKilled with exit code 137", term)
		}
	})

	t.Run("GracefulTermination", func(t *testing.T) {
		c.t = t
		marks := t.TempDir()
		p := shPod("graceful", `trap 'echo term >> /marks/log; exit 0' TERM; echo started >> /marks/log; while :; do sleep 0.2; done`)
		p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](20)
		p.Spec.Volumes = []corev1.Volume{{Name: "marks", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: marks}}}}
		p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "marks", MountPath: "/marks"}}
		p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo prestop >> /marks/log"}}}}
		c.create(p)
		c.waitPod("graceful", "Running", 60*time.Second, running)
		poll(t, 30*time.Second, "the container to start", func() (bool, error) {
			b, _ := os.ReadFile(filepath.Join(marks, "log"))
			return strings.Contains(string(b), "started"), nil
		})
		if err := c.Client.CoreV1().Pods("default").Delete(ctx, "graceful", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		poll(t, 30*time.Second, "the pod to be gone", func() (bool, error) {
			_, err := c.Client.CoreV1().Pods("default").Get(ctx, "graceful", metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		b, _ := os.ReadFile(filepath.Join(marks, "log"))
		if got := strings.Fields(string(b)); strings.Join(got, " ") != "started prestop term" {
			t.Errorf("container saw %q, want started, prestop, term in that order", got)
		}
	})

	t.Run("KubectlLogsExecCpPortForward", func(t *testing.T) {
		c.t = t
		c.create(shPod("tools", `echo line1; echo line2 >&2; mkdir -p /www; echo hello-from-tools > /www/index.html; exec httpd -f -p 8080 -h /www`))
		c.waitPod("tools", "Running", 60*time.Second, running)
		// stdout and stderr reach the log through separate pipes: their order is not fixed.
		poll(t, 30*time.Second, "both log lines", func() (bool, error) {
			r := c.Kubectl(t, "logs", "tools")
			return r.Err == nil && (r.Stdout == "line1\nline2\n" || r.Stdout == "line2\nline1\n"), nil
		})
		all := c.MustKubectl(t, "logs", "tools")
		if got := c.MustKubectl(t, "logs", "tools", "--tail=1"); got != all[strings.Index(all, "\n")+1:] {
			t.Errorf("logs --tail=1 = %q, all: %q", got, all)
		}
		if got := c.MustKubectl(t, "exec", "tools", "--", "cat", "/www/index.html"); got != "hello-from-tools\n" {
			t.Errorf("exec cat = %q", got)
		}
		if r := c.Kubectl(t, "exec", "tools", "--", "sh", "-c", "exit 7"); exitCode(r.Err) != 7 {
			t.Errorf("exec exit code = %v (%s)", r.Err, r.Stderr)
		}
		r := c.KubectlIn(t, strings.NewReader("from stdin"), nil, "exec", "-i", "tools", "--", "sh", "-c", "cat > /tmp/in; wc -c < /tmp/in")
		if r.Err != nil || strings.TrimSpace(r.Stdout) != "10" {
			t.Errorf("exec -i = %q, %v %s", r.Stdout, r.Err, r.Stderr)
		}
		local := filepath.Join(t.TempDir(), "payload.txt")
		if err := os.WriteFile(local, []byte(strings.Repeat("kijabi ", 3000)), 0o644); err != nil {
			t.Fatal(err)
		}
		c.MustKubectl(t, "cp", local, "default/tools:/tmp/payload.txt")
		if got := c.MustKubectl(t, "exec", "tools", "--", "wc", "-c", "/tmp/payload.txt"); !strings.HasPrefix(strings.TrimSpace(got), "21000") {
			t.Errorf("copied file size: %q", got)
		}
		back := filepath.Join(t.TempDir(), "back.txt")
		c.MustKubectl(t, "cp", "default/tools:/tmp/payload.txt", back)
		if b, _ := os.ReadFile(back); len(b) != 21000 {
			t.Errorf("copied back %d bytes", len(b))
		}
		k := &kubectlSession{t: t, s: c.Server, dir: t.TempDir()}
		pf := k.startKubectl("port-forward", "pod/tools", ":8080")
		defer pf.stop()
		var local8080 string
		select {
		case line := <-pf.lines:
			// Forwarding from 127.0.0.1:NNNNN -> 8080
			f := strings.Fields(line)
			if len(f) < 3 {
				t.Fatalf("port-forward said %q", line)
			}
			local8080 = f[2]
		case <-time.After(30 * time.Second):
			t.Fatal("port-forward did not start")
		}
		if got := httpGet(t, "http://"+local8080+"/", 20*time.Second); got != "hello-from-tools\n" {
			t.Errorf("through port-forward: %q", got)
		}
	})

	t.Run("StatefulSetVolumeOutlivesPod", func(t *testing.T) {
		c.t = t
		manifest := `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: db
        image: ` + busybox + `
        command: [sh, -c, 'test -f /data/first || hostname > /data/first; date >> /data/boots; exec sleep 3600']
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 64Mi}}
`
		if r := c.KubectlIn(t, strings.NewReader(manifest), nil, "apply", "-f", "-"); r.Err != nil {
			t.Fatalf("apply: %v %s", r.Err, r.Stderr)
		}
		first := c.waitPod("db-0", "Running", 90*time.Second, running)
		poll(t, 30*time.Second, "the first boot to be written", func() (bool, error) {
			r := c.Kubectl(t, "exec", "db-0", "--", "cat", "/data/boots")
			return r.Err == nil && strings.Count(r.Stdout, "\n") == 1, nil
		})
		c.MustKubectl(t, "delete", "pod", "db-0")
		c.waitPod("db-0", "Running again", 90*time.Second, func(p *corev1.Pod) bool { return p.UID != first.UID && running(p) })
		poll(t, 30*time.Second, "the new pod to see the old pod's data", func() (bool, error) {
			r := c.Kubectl(t, "exec", "db-0", "--", "sh", "-c", "cat /data/first; wc -l < /data/boots")
			return r.Err == nil && strings.Fields(r.Stdout)[0] == "db-0" && strings.TrimSpace(strings.Fields(r.Stdout)[1]) == "2", nil
		})
	})

	t.Run("KubectlAttach", func(t *testing.T) {
		c.t = t
		p := shPod("attached", `read line; echo "$line" > /tmp/got; while :; do echo "tick $line"; sleep 1; done`)
		p.Spec.Containers[0].Stdin = true
		c.create(p)
		c.waitPod("attached", "Running", 60*time.Second, running)
		// Input reaches the container's stdin...
		if r := c.KubectlIn(t, strings.NewReader("hello\n"), nil, "attach", "-i", "attached"); r.Err != nil {
			t.Fatalf("attach -i: %v %s", r.Err, r.Stderr)
		}
		poll(t, 30*time.Second, "the container to read attach's input", func() (bool, error) {
			r := c.Kubectl(t, "exec", "attached", "--", "cat", "/tmp/got")
			return r.Stdout == "hello\n", nil
		})
		// ...and its output streams back.
		k := &kubectlSession{t: t, s: c.Server, dir: t.TempDir()}
		att := k.startKubectl("attach", "attached")
		defer att.stop()
		select {
		case line := <-att.lines:
			if line != "tick hello" {
				t.Errorf("attach streamed %q", line)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("attach streamed nothing")
		}
	})

	t.Run("Crictl", func(t *testing.T) {
		c.t = t
		testCrictl(t, c)
	})

	t.Run("KubectlDebugEphemeralContainer", func(t *testing.T) {
		c.t = t
		c.create(shPod("debugged", "exec sleep 3600"))
		before := c.waitPod("debugged", "Running", 60*time.Second, running)
		// kubectl debug adds an ephemeral container through pods/ephemeralcontainers; with
		// --target it shares the main container's process namespace, so its ps sees sleep.
		c.MustKubectl(t, "debug", "debugged", "-c", "dbg", "--image="+busybox, "--target=main", "--", "ps")
		p := c.waitPod("debugged", "with its ephemeral container finished", 60*time.Second, func(p *corev1.Pod) bool {
			st := p.Status.EphemeralContainerStatuses
			return len(st) == 1 && st[0].Name == "dbg" && st[0].State.Terminated != nil
		})
		if term := p.Status.EphemeralContainerStatuses[0].State.Terminated; term.ExitCode != 0 {
			t.Errorf("ephemeral container exited %d (%s)", term.ExitCode, term.Reason)
		}
		if logs := c.MustKubectl(t, "logs", "debugged", "-c", "dbg"); !strings.Contains(logs, "sleep 3600") {
			t.Errorf("ps in the ephemeral container did not see the target's process:\n%s", logs)
		}
		// The pod itself is untouched: still Running, its container not restarted, and the
		// ephemeral container is not started again.
		if p.Status.Phase != corev1.PodRunning || p.Status.ContainerStatuses[0].RestartCount != 0 ||
			p.Status.ContainerStatuses[0].ContainerID != before.Status.ContainerStatuses[0].ContainerID {
			t.Errorf("pod after debug: phase %s, container %+v", p.Status.Phase, p.Status.ContainerStatuses[0])
		}
		// Ephemeral containers cannot be removed or changed, and need a valid target.
		if r := c.Kubectl(t, "debug", "debugged", "-c", "dbg2", "--image="+busybox, "--target=nope", "--", "true"); r.Err == nil ||
			!strings.Contains(r.Stderr, "targetContainerName") {
			t.Errorf("debug with a missing target: %v %s", r.Err, r.Stderr)
		}
		patch := `{"spec":{"ephemeralContainers":[]}}`
		r := c.Kubectl(t, "patch", "pod", "debugged", "--subresource=ephemeralcontainers", "--type=merge", "-p", patch)
		if r.Err == nil || !strings.Contains(r.Stderr, `existing ephemeral containers "dbg" may not be removed`) {
			t.Errorf("removing an ephemeral container: %v %s", r.Err, r.Stderr)
		}
	})

	t.Run("InPlaceResize", func(t *testing.T) {
		c.t = t
		p := shPod("resized", "exec sleep 3600")
		p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		}
		c.create(p)
		// Its last resize asks for 64 cpus: gone, it leaves the node to the tests after it.
		defer c.Kubectl(t, "delete", "pod", "resized", "--grace-period=1")
		before := c.waitPod("resized", "Running", 60*time.Second, running)
		if cpu, mem := containerCgroup(t, c, "resized"); cpu != "20000" || mem != strconv.Itoa(64<<20) {
			t.Fatalf("cgroup before the resize: cpu quota %q, memory limit %q", cpu, mem)
		}
		c.MustKubectl(t, "patch", "pod", "resized", "--subresource=resize", "--type=strategic", "-p",
			`{"spec":{"containers":[{"name":"main","resources":{"limits":{"cpu":"300m","memory":"96Mi"}}}]}}`)
		after := c.waitPod("resized", "resized in place", 60*time.Second, func(p *corev1.Pod) bool {
			r := p.Status.ContainerStatuses[0].Resources
			return r != nil && r.Limits.Cpu().MilliValue() == 300 && r.Limits.Memory().Value() == 96<<20 && !hasCondition(p, corev1.PodResizeInProgress)
		})
		if cs := after.Status.ContainerStatuses[0]; cs.ContainerID != before.Status.ContainerStatuses[0].ContainerID || cs.RestartCount != 0 {
			t.Errorf("the container was restarted: %+v", cs)
		}
		if after.Generation != before.Generation+1 {
			t.Errorf("generation %d after the resize, want %d", after.Generation, before.Generation+1)
		}
		testutil.Poll(t, 30*time.Second, "the new limits in the container's cgroup", func() (bool, error) {
			cpu, mem := containerCgroup(t, c, "resized")
			return cpu == "30000" && mem == strconv.Itoa(96<<20), fmt.Errorf("cpu quota %s, memory limit %s", cpu, mem)
		})
		// A resize may not change the QoS class, nor anything but cpu and memory.
		r := c.Kubectl(t, "patch", "pod", "resized", "--subresource=resize", "--type=strategic", "-p",
			`{"spec":{"containers":[{"name":"main","resources":{"requests":{"cpu":"300m","memory":"96Mi"}}}]}}`)
		if r.Err == nil || !strings.Contains(r.Stderr, "Pod QOS Class may not change as a result of resizing") {
			t.Errorf("resize to Guaranteed: %v %s", r.Err, r.Stderr)
		}
		// A memory limit goes down in place too (resizePolicy NotRequired) while the
		// container uses less than the new limit.
		c.MustKubectl(t, "patch", "pod", "resized", "--subresource=resize", "--type=strategic", "-p",
			`{"spec":{"containers":[{"name":"main","resources":{"limits":{"memory":"80Mi"}}}]}}`)
		c.waitPod("resized", "with its memory limit lowered", 60*time.Second, func(p *corev1.Pod) bool {
			r := p.Status.ContainerStatuses[0].Resources
			return r != nil && r.Limits.Memory().Value() == 80<<20 && p.Status.ContainerStatuses[0].RestartCount == 0
		})
		testutil.Poll(t, 30*time.Second, "the lower memory limit in the container's cgroup", func() (bool, error) {
			_, mem := containerCgroup(t, c, "resized")
			return mem == strconv.Itoa(80<<20), fmt.Errorf("memory limit %s", mem)
		})
		// One the node can never hold stays pending, Infeasible.
		c.MustKubectl(t, "patch", "pod", "resized", "--subresource=resize", "--type=strategic", "-p",
			`{"spec":{"containers":[{"name":"main","resources":{"requests":{"cpu":"64"},"limits":{"cpu":"64"}}}]}}`)
		c.waitPod("resized", "with its resize pending as Infeasible", 60*time.Second, func(p *corev1.Pod) bool {
			cond := findCondition(p, corev1.PodResizePending)
			return cond != nil && cond.Reason == corev1.PodReasonInfeasible &&
				strings.HasPrefix(cond.Message, "Node didn't have enough capacity: cpu, requested: 64000, capacity: ")
		})
		// A restarted kubelet reports what the container runs with, not what it was
		// created with: it writes the status again for the next infeasible resize.
		c.StopAgent()
		c.StartAgent()
		c.MustKubectl(t, "patch", "pod", "resized", "--subresource=resize", "--type=strategic", "-p",
			`{"spec":{"containers":[{"name":"main","resources":{"requests":{"cpu":"63"},"limits":{"cpu":"63"}}}]}}`)
		restarted := c.waitPod("resized", "with its new resize pending after a kubelet restart", 90*time.Second, func(p *corev1.Pod) bool {
			cond := findCondition(p, corev1.PodResizePending)
			return cond != nil && strings.Contains(cond.Message, "requested: 63000")
		})
		cs := restarted.Status.ContainerStatuses[0]
		if cs.ContainerID != before.Status.ContainerStatuses[0].ContainerID || cs.RestartCount != 0 || cs.State.Running == nil {
			t.Errorf("the container changed across the kubelet restart: %+v", cs)
		}
		if r := cs.Resources; r == nil || r.Limits.Cpu().MilliValue() != 300 || r.Limits.Memory().Value() != 80<<20 || r.Requests.Cpu().MilliValue() != 100 {
			t.Errorf("resources after a kubelet restart: %+v, want limits 300m cpu and 80Mi memory, requests 100m cpu", r)
		}
		if q := cs.AllocatedResources[corev1.ResourceCPU]; q.MilliValue() != 100 {
			t.Errorf("allocated cpu after a kubelet restart: %s, want 100m", q.String())
		}
		// The scheduler counts what the pod was given, not the 63 cpus it cannot get: a
		// new pod with a cpu request still finds room on the node.
		next := shPod("after-infeasible", "exec sleep 3600")
		next.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}
		c.create(next)
		defer c.Kubectl(t, "delete", "pod", "after-infeasible", "--grace-period=1")
		c.waitPod("after-infeasible", "Running next to the infeasible resize", 60*time.Second, running)
	})

	t.Run("ResizeRestartContainer", func(t *testing.T) {
		c.t = t
		p := shPod("restart-resized", "exec sleep 3600")
		p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		}
		p.Spec.Containers[0].ResizePolicy = []corev1.ContainerResizePolicy{
			{ResourceName: corev1.ResourceCPU, RestartPolicy: corev1.RestartContainer},
			{ResourceName: corev1.ResourceMemory, RestartPolicy: corev1.NotRequired},
		}
		c.create(p)
		defer c.Kubectl(t, "delete", "pod", "restart-resized", "--grace-period=1")
		before := c.waitPod("restart-resized", "Running", 60*time.Second, running).Status.ContainerStatuses[0]
		// Memory is NotRequired: resized in place.
		c.MustKubectl(t, "patch", "pod", "restart-resized", "--subresource=resize", "--type=strategic", "-p",
			`{"spec":{"containers":[{"name":"main","resources":{"limits":{"memory":"96Mi"}}}]}}`)
		inPlace := c.waitPod("restart-resized", "with its memory resized in place", 60*time.Second, func(p *corev1.Pod) bool {
			r := p.Status.ContainerStatuses[0].Resources
			return r != nil && r.Limits.Memory().Value() == 96<<20 && !hasCondition(p, corev1.PodResizeInProgress)
		}).Status.ContainerStatuses[0]
		if inPlace.ContainerID != before.ContainerID || inPlace.RestartCount != 0 {
			t.Errorf("a NotRequired resize restarted the container: before %+v, after %+v", before, inPlace)
		}
		// CPU is RestartContainer: the container is stopped and started again with the
		// new limit.
		c.MustKubectl(t, "patch", "pod", "restart-resized", "--subresource=resize", "--type=strategic", "-p",
			`{"spec":{"containers":[{"name":"main","resources":{"limits":{"cpu":"300m"}}}]}}`)
		after := c.waitPod("restart-resized", "restarted with the new cpu limit", 90*time.Second, func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses[0]
			return cs.RestartCount == 1 && cs.State.Running != nil && cs.Resources != nil && cs.Resources.Limits.Cpu().MilliValue() == 300 &&
				!hasCondition(p, corev1.PodResizeInProgress) && !hasCondition(p, corev1.PodResizePending)
		}).Status.ContainerStatuses[0]
		if after.ContainerID == before.ContainerID || after.LastTerminationState.Terminated == nil {
			t.Errorf("not a new container instance: before %+v, after %+v", before, after)
		}
		if q := after.AllocatedResources[corev1.ResourceCPU]; q.MilliValue() != 100 {
			t.Errorf("allocated cpu request %s, want 100m", q.String())
		}
		testutil.Poll(t, 30*time.Second, "the restarted container's cgroup limits", func() (bool, error) {
			cpu, mem := containerCgroup(t, c, "restart-resized")
			return cpu == "30000" && mem == strconv.Itoa(96<<20), fmt.Errorf("cpu quota %s, memory limit %s", cpu, mem)
		})
		testutil.Poll(t, 30*time.Second, "the Killing event of the restart", func() (bool, error) {
			r := c.Kubectl(t, "get", "events", "--field-selector", "involvedObject.name=restart-resized,reason=Killing", "-o", "jsonpath={.items[*].message}")
			return strings.Contains(r.Stdout, "Container main resize requires restart"), fmt.Errorf("events: %s %s", r.Stdout, r.Stderr)
		})
	})

	t.Run("DeferredResize", func(t *testing.T) {
		c.t = t
		nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil || len(nodes.Items) == 0 {
			t.Fatalf("listing nodes: %v", err)
		}
		node := nodes.Items[0]
		allocatable := node.Status.Allocatable.Cpu().MilliValue()
		// What the node's other pods count for, as the scheduler counts them (at least
		// what the kubelet allocated them).
		pods, err := c.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node.Name})
		if err != nil {
			t.Fatal(err)
		}
		var others int64
		for i := range pods.Items {
			if p := &pods.Items[i]; p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
				others += scheduler.PodRequests(p).MilliCPU
			}
		}
		// The filler takes more than the others: the grower's resize to everything the
		// others leave waits for it to go, whatever else goes meanwhile.
		filler := others + 100
		grow := allocatable - others
		if others+100+filler > allocatable {
			t.Fatalf("the node's %dm cpu has no room for the test next to the %dm its pods request", allocatable, others)
		}
		mk := func(name string, request, limit int64) *corev1.Pod {
			p := shPod(name, "exec sleep 3600")
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: *resource.NewMilliQuantity(request, resource.DecimalSI)}
			if limit > 0 {
				p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: *resource.NewMilliQuantity(limit, resource.DecimalSI)}
			}
			return p
		}
		c.create(mk("grower", 100, 200))
		defer c.Kubectl(t, "delete", "pod", "grower", "--grace-period=1")
		c.create(mk("filler", filler, 0))
		defer c.Kubectl(t, "delete", "pod", "filler", "--grace-period=1", "--ignore-not-found")
		before := c.waitPod("grower", "Running", 60*time.Second, running).Status.ContainerStatuses[0]
		c.waitPod("filler", "Running", 60*time.Second, running)

		c.MustKubectl(t, "patch", "pod", "grower", "--subresource=resize", "--type=strategic", "-p",
			fmt.Sprintf(`{"spec":{"containers":[{"name":"main","resources":{"requests":{"cpu":"%dm"},"limits":{"cpu":"%dm"}}}]}}`, grow, grow))
		deferred := c.waitPod("grower", "with its resize Deferred", 60*time.Second, func(p *corev1.Pod) bool {
			cond := findCondition(p, corev1.PodResizePending)
			return cond != nil && cond.Reason == corev1.PodReasonDeferred
		})
		wantMsg := fmt.Sprintf("Node didn't have enough resource: cpu, requested: %d, used: ", grow)
		if cond := findCondition(deferred, corev1.PodResizePending); !strings.HasPrefix(cond.Message, wantMsg) || !strings.HasSuffix(cond.Message, fmt.Sprintf(", capacity: %d", allocatable)) {
			t.Errorf("deferred message %q, want %q...capacity: %d", cond.Message, wantMsg, allocatable)
		}
		if q := deferred.Status.ContainerStatuses[0].AllocatedResources[corev1.ResourceCPU]; q.MilliValue() != 100 {
			t.Errorf("a deferred resize is allocated: cpu %s", q.String())
		}

		// The filler goes; the resize goes through, in place.
		c.MustKubectl(t, "delete", "pod", "filler", "--grace-period=1")
		after := c.waitPod("grower", "resized once the filler is gone", 60*time.Second, func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses[0]
			return cs.Resources != nil && cs.Resources.Requests.Cpu().MilliValue() == grow && !hasCondition(p, corev1.PodResizePending) &&
				!hasCondition(p, corev1.PodResizeInProgress)
		}).Status.ContainerStatuses[0]
		if q := after.AllocatedResources[corev1.ResourceCPU]; q.MilliValue() != grow {
			t.Errorf("allocated cpu %s, want %dm", q.String(), grow)
		}
		if after.ContainerID != before.ContainerID || after.RestartCount != 0 {
			t.Errorf("the container was restarted: before %+v, after %+v", before, after)
		}
		testutil.Poll(t, 30*time.Second, "the new cpu limit in the container's cgroup", func() (bool, error) {
			cpu, _ := containerCgroup(t, c, "grower")
			return cpu == strconv.FormatInt(grow*100, 10), fmt.Errorf("cpu quota %s", cpu)
		})
	})

	t.Run("ResourceMetricsAndAutoscaling", func(t *testing.T) {
		c.t = t
		// A Deployment whose pods spin within a 200m CPU limit, against a 100m request: twice
		// the request, ten times the autoscaler's 20 % target (a low target, so that the test
		// holds on a machine busy enough to starve the pod: its 100m request gives it little
		// CPU weight).
		burner := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: burner
spec:
  replicas: 1
  selector:
    matchLabels: {app: burner}
  template:
    metadata:
      labels: {app: burner}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: burner
        image: ` + busybox + `
        command: ["sh", "-c", "while true; do :; done"]
        resources:
          requests: {cpu: 100m, memory: 16Mi}
          limits: {cpu: 200m, memory: 64Mi}
`
		if r := c.KubectlIn(t, strings.NewReader(burner), nil, "apply", "-f", "-"); r.Err != nil {
			t.Fatalf("creating the burner: %v %s", r.Err, r.Stderr)
		}
		defer c.Kubectl(t, "delete", "deployment/burner", "--wait=false")

		// kubectl top reads metrics.k8s.io; the spinning container shows its CPU use.
		poll(t, 90*time.Second, "kubectl top pod to show the spinning pod's CPU use", func() (bool, error) {
			r := c.Kubectl(t, "top", "pod", "-l", "app=burner", "--no-headers")
			f := strings.Fields(r.Stdout)
			if r.Err != nil || len(f) != 3 || !strings.HasPrefix(f[0], "burner-") {
				return false, nil
			}
			q, err := resource.ParseQuantity(f[1])
			return err == nil && q.MilliValue() >= 20, nil
		})
		r := c.MustKubectl(t, "top", "node", "--no-headers")
		if f := strings.Fields(r); len(f) != 5 || !strings.HasSuffix(f[2], "%") {
			t.Errorf("kubectl top node: %q", r)
		}
		if r := c.Kubectl(t, "top", "pod", "no-such-pod"); r.Err == nil || !strings.Contains(r.Stderr, `podmetrics.metrics.k8s.io "no-such-pod" not found`) {
			t.Errorf("kubectl top of a missing pod: %v %q", r.Err, r.Stderr)
		}

		// The autoscaler reads the same metrics and scales the Deployment up to its maximum.
		c.MustKubectl(t, "autoscale", "deployment/burner", "--min=1", "--max=3", "--cpu=20%")
		defer c.Kubectl(t, "delete", "hpa/burner", "--wait=false")
		poll(t, 180*time.Second, "the autoscaler to scale burner to 3 replicas", func() (bool, error) {
			d, err := c.Client.AppsV1().Deployments("default").Get(ctx, "burner", metav1.GetOptions{})
			return err == nil && d.Spec.Replicas != nil && *d.Spec.Replicas == 3, nil
		})
		// The autoscaler writes its status after the rescale, and the event is recorded
		// asynchronously: both are waited for.
		poll(t, 60*time.Second, "the autoscaler's status to show the utilization it acted on", func() (bool, error) {
			hpa, err := c.Client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, "burner", metav1.GetOptions{})
			if err != nil || len(hpa.Status.CurrentMetrics) != 1 || hpa.Status.CurrentMetrics[0].Resource == nil {
				return false, err
			}
			u := hpa.Status.CurrentMetrics[0].Resource.Current.AverageUtilization
			return u != nil && *u > 20 && hpa.Status.DesiredReplicas == 3, nil
		})
		poll(t, 60*time.Second, "the SuccessfulRescale event", func() (bool, error) {
			r := c.Kubectl(t, "get", "events", "--field-selector", "involvedObject.name=burner,reason=SuccessfulRescale", "-o", "jsonpath={.items[*].message}")
			return strings.Contains(r.Stdout, "New size: 3; reason: cpu resource utilization (percentage of request) above target"), nil
		})
	})

	t.Run("KubeletRestartAdoptsContainers", func(t *testing.T) {
		c.t = t
		c.create(shPod("steady", "sleep 3600"))
		before := c.waitPod("steady", "Running", 60*time.Second, running).Status.ContainerStatuses[0]
		c.create(shPod("doomed", "sleep 3600"))
		doomed := c.waitPod("doomed", "Running", 60*time.Second, running)

		c.StopAgent()
		// While the kubelet is away, a pod is force-deleted from the API.
		if err := c.Client.CoreV1().Pods("default").Delete(ctx, "doomed", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
		c.StartAgent()

		rt, err := cri.Dial(ctx, containerd.SocketPath(containerd.DefaultDir(c.DataDir)), 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer rt.Close()
		poll(t, 60*time.Second, "the force-deleted pod's sandbox to be removed", func() (bool, error) {
			sbs, err := rt.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{
				LabelSelector: map[string]string{cri.LabelPodUID: string(doomed.UID)}}})
			return err == nil && len(sbs.Items) == 0, nil
		})
		after := c.get("steady").Status.ContainerStatuses[0]
		if after.ContainerID != before.ContainerID || after.RestartCount != 0 || after.State.Running == nil {
			t.Errorf("container changed across a kubelet restart: before %+v, after %+v", before, after)
		}
	})
}
