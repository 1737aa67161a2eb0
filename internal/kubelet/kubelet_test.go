package kubelet

import (
	"context"
	"encoding/base64"
	"net"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"
)

func TestRegistryHost(t *testing.T) {
	for in, want := range map[string]string{
		"busybox":                       "docker.io",
		"library/busybox:1":             "docker.io",
		"127.0.0.1:5000/x/y:z":          "127.0.0.1:5000",
		"kijabi.local/busybox:latest":   "kijabi.local",
		"localhost/img":                 "localhost",
		"registry.example.com/team/img": "registry.example.com",
	} {
		if got := registryHost(in); got != want {
			t.Errorf("registryHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAuthsFromSecret(t *testing.T) {
	auth := base64.StdEncoding.EncodeToString([]byte("bob:secret"))
	s := &corev1.Secret{Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{
		corev1.DockerConfigJsonKey: []byte(`{"auths":{"http://127.0.0.1:5000":{"auth":"` + auth + `"},"other.io":{"username":"a","password":"b"}}}`),
	}}
	got := authsFromSecret(s, "127.0.0.1:5000")
	if len(got) != 1 || got[0].Username != "bob" || got[0].Password != "secret" {
		t.Fatalf("auths = %v", got)
	}
	if got := authsFromSecret(s, "docker.io"); len(got) != 0 {
		t.Fatalf("auths for docker.io = %v", got)
	}
}

func TestDNSConfig(t *testing.T) {
	dir := t.TempDir()
	rc := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(rc, []byte("nameserver 192.0.2.53\nsearch example.org\noptions edns0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	k := &Kubelet{cfg: Config{ResolvConf: rc, ClusterDNS: []net.IP{net.ParseIP("10.96.0.10")}, ClusterDomain: "cluster.local"}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns"}}
	cfg, _ := k.dnsConfig(pod)
	if cfg.Servers[0] != "10.96.0.10" || cfg.Searches[0] != "ns.svc.cluster.local" || cfg.Searches[3] != "example.org" || cfg.Options[0] != "ndots:5" {
		t.Errorf("ClusterFirst = %v", cfg)
	}
	pod.Spec.DNSPolicy = corev1.DNSDefault
	cfg, _ = k.dnsConfig(pod)
	if cfg.Servers[0] != "192.0.2.53" || len(cfg.Searches) != 1 {
		t.Errorf("Default = %v", cfg)
	}
	pod.Spec.DNSPolicy = corev1.DNSNone
	pod.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"1.2.3.4"}, Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("2")}}}
	cfg, _ = k.dnsConfig(pod)
	if len(cfg.Servers) != 1 || cfg.Servers[0] != "1.2.3.4" || cfg.Options[0] != "ndots:2" {
		t.Errorf("None = %v", cfg)
	}
}

func TestLinuxResources(t *testing.T) {
	c := &corev1.Container{Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
	}}
	r := linuxResources(c)
	if r.CpuShares != 256 || r.CpuQuota != 50000 || r.CpuPeriod != 100000 || r.MemoryLimitInBytes != 64<<20 {
		t.Errorf("resources = %v", r)
	}
}

// TestPodPhase checks the phase and conditions derived from runtime states, for the
// cases the kubelet's getPhase distinguishes.
func TestPodPhase(t *testing.T) {
	running := func(name string, attempt uint32) *runtimeapi.ContainerStatus {
		return &runtimeapi.ContainerStatus{Id: name + "-id", Metadata: &runtimeapi.ContainerMetadata{Name: name, Attempt: attempt}, State: runtimeapi.ContainerState_CONTAINER_RUNNING, StartedAt: 1}
	}
	exited := func(name string, code int32) *runtimeapi.ContainerStatus {
		return &runtimeapi.ContainerStatus{Id: name + "-x", Metadata: &runtimeapi.ContainerMetadata{Name: name}, State: runtimeapi.ContainerState_CONTAINER_EXITED, ExitCode: code, FinishedAt: 2}
	}
	pod := func(policy corev1.RestartPolicy, names ...string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u"}, Spec: corev1.PodSpec{RestartPolicy: policy}}
		for _, n := range names {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: n, Image: "img"})
		}
		return p
	}
	k := &Kubelet{cfg: Config{NodeIP: net.ParseIP("192.0.2.1")}, probes: newProbeResults()}
	k.cfg.setDefaults()
	for _, tc := range []struct {
		name    string
		pod     *corev1.Pod
		cs      []*runtimeapi.ContainerStatus
		waiting map[string][2]string
		phase   corev1.PodPhase
		ready   bool
	}{
		{"nothing yet", pod(corev1.RestartPolicyAlways, "a"), nil, nil, corev1.PodPending, false},
		{"running", pod(corev1.RestartPolicyAlways, "a", "b"), []*runtimeapi.ContainerStatus{running("a", 0), running("b", 2)}, nil, corev1.PodRunning, true},
		{"one waiting", pod(corev1.RestartPolicyAlways, "a", "b"), []*runtimeapi.ContainerStatus{running("a", 0)}, nil, corev1.PodPending, false},
		{"all succeeded", pod(corev1.RestartPolicyNever, "a", "b"), []*runtimeapi.ContainerStatus{exited("a", 0), exited("b", 0)}, nil, corev1.PodSucceeded, false},
		{"one failed never", pod(corev1.RestartPolicyNever, "a", "b"), []*runtimeapi.ContainerStatus{exited("a", 0), exited("b", 1)}, nil, corev1.PodFailed, false},
		{"failed onfailure", pod(corev1.RestartPolicyOnFailure, "a"), []*runtimeapi.ContainerStatus{exited("a", 1)}, map[string][2]string{"a": {"CrashLoopBackOff", "back-off"}}, corev1.PodRunning, false},
		{"crashloop always", pod(corev1.RestartPolicyAlways, "a"), []*runtimeapi.ContainerStatus{exited("a", 0)}, map[string][2]string{"a": {"CrashLoopBackOff", "back-off"}}, corev1.PodRunning, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &podState{containers: map[string][]*runtimeapi.ContainerStatus{}}
			for _, c := range tc.cs {
				st.containers[c.Metadata.Name] = append(st.containers[c.Metadata.Name], c)
			}
			res := &syncResult{waiting: map[string][2]string{}}
			for n, w := range tc.waiting {
				res.waiting[n] = w
			}
			s := k.podStatus(context.Background(), tc.pod, st, res)
			if s.Phase != tc.phase {
				t.Errorf("phase = %s, want %s", s.Phase, tc.phase)
			}
			if got := findPodCondition(s.Conditions, corev1.PodReady).Status == corev1.ConditionTrue; got != tc.ready {
				t.Errorf("ready = %v, want %v", got, tc.ready)
			}
			if w := tc.waiting["a"]; w[0] != "" && s.ContainerStatuses[0].State.Waiting.Reason != w[0] {
				t.Errorf("state = %+v", s.ContainerStatuses[0].State)
			}
		})
	}
}

func TestStatusEcho(t *testing.T) {
	old := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", UID: "u", ResourceVersion: "1", Labels: map[string]string{"a": "b"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}},
	}
	written := corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.2"}
	echo := old.DeepCopy()
	echo.ResourceVersion = "2"
	echo.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}
	echo.Status = *written.DeepCopy()
	if !statusEcho(old, echo, &written) {
		t.Error("the echo of a status write wakes the worker")
	}
	other := echo.DeepCopy()
	other.Status.Conditions = append(other.Status.Conditions, corev1.PodCondition{Type: "example.com/gate", Status: corev1.ConditionTrue})
	if statusEcho(old, other, &written) {
		t.Error("a condition written by someone else does not wake the worker")
	}
	relabeled := echo.DeepCopy()
	relabeled.Labels["a"] = "c"
	if statusEcho(old, relabeled, &written) {
		t.Error("a label change does not wake the worker")
	}
	deleting := echo.DeepCopy()
	deleting.DeletionTimestamp = &metav1.Time{}
	if statusEcho(old, deleting, &written) {
		t.Error("a deletion does not wake the worker")
	}
}

func TestSawAlready(t *testing.T) {
	w := &podWorker{}
	running := map[string]runtimeapi.ContainerState{"a": runtimeapi.ContainerState_CONTAINER_RUNNING}
	if _, seen := w.sawAlready(running); seen {
		t.Error("a worker that never synced has seen the containers")
	}
	w.observe(&podState{containers: map[string][]*runtimeapi.ContainerStatus{
		"c": {{Id: "a", State: runtimeapi.ContainerState_CONTAINER_RUNNING}},
	}})
	if busy, seen := w.sawAlready(running); busy || !seen {
		t.Errorf("sawAlready = %v, %v after observing the same state", busy, seen)
	}
	exited := map[string]runtimeapi.ContainerState{"a": runtimeapi.ContainerState_CONTAINER_EXITED}
	if _, seen := w.sawAlready(exited); seen {
		t.Error("an exit the worker did not see counts as seen")
	}
	w.setBusy(true)
	if busy, _ := w.sawAlready(exited); !busy {
		t.Error("a syncing worker is not busy")
	}
}
