package simnode

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/testutil"
)

func (e *fakeEnv) createPod(t *testing.T, p *corev1.Pod) {
	t.Helper()
	if _, err := e.client.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (e *fakeEnv) waitPhase(t *testing.T, ns, name string, phase corev1.PodPhase) *corev1.Pod {
	t.Helper()
	var p *corev1.Pod
	testutil.Poll(t, 10*time.Second, name+" "+string(phase), func() (bool, error) {
		var err error
		p, err = getPod(e.client, ns, name)
		return err == nil && p.Status.Phase == phase, err
	})
	return p
}

func TestPodRunning(t *testing.T) {
	e := startFake(t, Config{Nodes: 2}, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "sim-0001"},
		Spec:       corev1.NodeSpec{PodCIDR: "10.99.1.0/24"},
	})
	e.run(t)
	p := testPod("ns", "web", "sim-0000")
	p.Spec.InitContainers = []corev1.Container{
		{Name: "init", Image: "busybox"},
		{Name: "sidecar", Image: "proxy:2", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)},
	}
	p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "aaa", Image: "helper@sha256:abc"})
	e.createPod(t, p)
	e.createPod(t, testPod("ns", "web2", "sim-0000"))
	e.createPod(t, testPod("ns", "cidr", "sim-0001"))
	host := testPod("ns", "host", "sim-0001")
	host.Spec.HostNetwork = true
	e.createPod(t, host)
	e.createPod(t, testPod("ns", "elsewhere", "real-node"))

	got := e.waitPhase(t, "ns", "web", corev1.PodRunning)
	st := got.Status
	if st.HostIP != "10.200.0.1" || len(st.HostIPs) != 1 || st.HostIPs[0].IP != "10.200.0.1" {
		t.Errorf("hostIP = %q %v", st.HostIP, st.HostIPs)
	}
	if st.StartTime == nil || !st.StartTime.Time.Equal(testStart) {
		t.Errorf("startTime = %v", st.StartTime)
	}
	for _, typ := range []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady, corev1.PodScheduled} {
		if c := podCondition(got, typ); c == nil || c.Status != corev1.ConditionTrue {
			t.Errorf("condition %s = %+v", typ, c)
		}
	}
	if len(st.ContainerStatuses) != 2 || st.ContainerStatuses[0].Name != "aaa" || st.ContainerStatuses[1].Name != "app" {
		t.Fatalf("containerStatuses = %+v", st.ContainerStatuses)
	}
	app := st.ContainerStatuses[1]
	if app.State.Running == nil || !app.Ready || !ptr.Deref(app.Started, false) || app.ContainerID != "sim://uid-web-app" ||
		app.Image != "registry.example/app:1.2" || app.ImageID == "" || app.ImageID[:len("registry.example/app@sha256:")] != "registry.example/app@sha256:" {
		t.Errorf("app status = %+v", app)
	}
	if st.ContainerStatuses[0].ImageID != "helper@sha256:abc" {
		t.Errorf("digest image ID = %q", st.ContainerStatuses[0].ImageID)
	}
	if len(st.InitContainerStatuses) != 2 {
		t.Fatalf("initContainerStatuses = %+v", st.InitContainerStatuses)
	}
	if term := st.InitContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 0 || term.Reason != "Completed" {
		t.Errorf("init container state = %+v", st.InitContainerStatuses[0].State)
	}
	if s := st.InitContainerStatuses[1]; s.State.Running == nil || !s.Ready {
		t.Errorf("sidecar status = %+v", s)
	}

	// Pod IPs: from the node's own /24 of PodCIDR, or from spec.podCIDR; host network pods
	// share the node's IP.
	ips := map[string]string{}
	for _, name := range []string{"web", "web2", "cidr", "host"} {
		ips[name] = e.waitPhase(t, "ns", name, corev1.PodRunning).Status.PodIP
	}
	if ips["web"] == ips["web2"] || ips["web"][:9] != "10.128.0." || ips["web2"][:9] != "10.128.0." {
		t.Errorf("pod IPs on sim-0000: %q %q", ips["web"], ips["web2"])
	}
	if ips["cidr"] != "10.99.1.2" {
		t.Errorf("pod IP from spec.podCIDR = %q", ips["cidr"])
	}
	if ips["host"] != "10.200.0.2" {
		t.Errorf("host network pod IP = %q", ips["host"])
	}
	if p, _ := getPod(e.client, "ns", "elsewhere"); p.Status.Phase != "" {
		t.Errorf("pod on another node touched: %+v", p.Status)
	}

	// Nothing changes: no more writes.
	before := len(e.client.Actions())
	e.c.podQueue.Add("ns/web")
	testutil.Poll(t, 5*time.Second, "queue drained", func() (bool, error) { return e.c.podQueue.Len() == 0, nil })
	for _, a := range e.client.Actions()[before:] {
		if a.GetVerb() == "update" && a.GetResource().Resource == "pods" {
			t.Errorf("unneeded pod update: %v", a)
		}
	}
}

func TestJobPods(t *testing.T) {
	e := startFake(t, Config{})
	e.run(t)
	job := testPod("ns", "job-pod", "sim-0000")
	job.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: "job", UID: "job-uid", Controller: ptr.To(true)}}
	job.Spec.RestartPolicy = corev1.RestartPolicyNever
	e.createPod(t, job)
	failing := testPod("ns", "failing", "sim-0000")
	failing.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	failing.Annotations = map[string]string{AnnotationRunSeconds: "5", AnnotationExitCode: "3"}
	e.createPod(t, failing)
	forever := testPod("ns", "forever", "sim-0000")
	forever.Annotations = map[string]string{AnnotationRunSeconds: "1"} // restartPolicy Always: ignored
	e.createPod(t, forever)

	e.waitPhase(t, "ns", "job-pod", corev1.PodRunning)
	e.waitPhase(t, "ns", "failing", corev1.PodRunning)
	var got *corev1.Pod
	e.stepUntil(t, 500*time.Millisecond, "job pod Succeeded", func() (bool, error) {
		var err error
		got, err = getPod(e.client, "ns", "job-pod")
		return err == nil && got.Status.Phase == corev1.PodSucceeded, err
	})
	if d := e.clock.Since(testStart); d < 2*time.Second {
		t.Errorf("job pod finished after %v, want 2s (JobRunTime)", d)
	}
	term := got.Status.ContainerStatuses[0].State.Terminated
	if term == nil || term.ExitCode != 0 || term.Reason != "Completed" || !term.FinishedAt.Time.Equal(testStart.Add(2*time.Second)) ||
		got.Status.ContainerStatuses[0].Ready {
		t.Errorf("job container status = %+v", got.Status.ContainerStatuses[0])
	}
	if c := podCondition(got, corev1.PodReady); c == nil || c.Status != corev1.ConditionFalse || c.Reason != "PodCompleted" {
		t.Errorf("Ready condition = %+v", c)
	}
	if got.Status.PodIP == "" {
		t.Error("finished pod lost its podIP")
	}

	e.stepUntil(t, 500*time.Millisecond, "failing pod Failed", func() (bool, error) {
		var err error
		got, err = getPod(e.client, "ns", "failing")
		return err == nil && got.Status.Phase == corev1.PodFailed, err
	})
	if d := e.clock.Since(testStart); d < 5*time.Second {
		t.Errorf("failing pod finished after %v, want 5s", d)
	}
	if term := got.Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 3 || term.Reason != "Error" {
		t.Errorf("failing container status = %+v", got.Status.ContainerStatuses[0])
	}
	if p, _ := getPod(e.client, "ns", "forever"); p.Status.Phase != corev1.PodRunning {
		t.Errorf("restartPolicy Always pod phase = %s", p.Status.Phase)
	}
}

func TestTerminatingPods(t *testing.T) {
	e := startFake(t, Config{})
	e.run(t)
	first := e.waitPhaseAfterCreate(t, testPod("ns", "a", "sim-0000"))

	// Mark it for deletion, as the API server does for a graceful delete of a bound pod.
	p := first.DeepCopy()
	p.DeletionTimestamp = ptr.To(metav1.NewTime(testStart.Add(30 * time.Second)))
	p.DeletionGracePeriodSeconds = ptr.To[int64](30)
	if _, err := e.client.CoreV1().Pods("ns").Update(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	testutil.Poll(t, 10*time.Second, "pod gone", func() (bool, error) {
		_, err := getPod(e.client, "ns", "a")
		return apierrors.IsNotFound(err), nil
	})
	var del *metav1.DeleteOptions
	for _, a := range e.client.Actions() {
		if d, ok := a.(interface{ GetDeleteOptions() metav1.DeleteOptions }); ok && a.GetResource().Resource == "pods" {
			o := d.GetDeleteOptions()
			del = &o
		}
	}
	if del == nil || ptr.Deref(del.GracePeriodSeconds, -1) != 0 || del.Preconditions == nil || ptr.Deref(del.Preconditions.UID, "") != first.UID {
		t.Errorf("delete options = %+v", del)
	}

	// Its IP is free again.
	second := e.waitPhaseAfterCreate(t, testPod("ns", "b", "sim-0000"))
	if second.Status.PodIP != first.Status.PodIP {
		t.Errorf("IP not reused: %s then %s", first.Status.PodIP, second.Status.PodIP)
	}

	// A pod with a finalizer is given a terminal status first.
	f := testPod("ns", "fin", "sim-0000")
	f.Finalizers = []string{"batch.kubernetes.io/job-tracking"}
	f.DeletionTimestamp = ptr.To(metav1.NewTime(testStart))
	f.DeletionGracePeriodSeconds = ptr.To[int64](30)
	e.createPod(t, f)
	testutil.Poll(t, 10*time.Second, "finalized pod deleted", func() (bool, error) {
		for _, a := range e.client.Actions() {
			if d, ok := a.(interface{ GetName() string }); ok && a.GetVerb() == "delete" && d.GetName() == "fin" {
				return true, nil
			}
		}
		return false, nil
	})
	sawFailed := false
	for _, a := range e.client.Actions() {
		if u, ok := a.(interface{ GetObject() runtime.Object }); ok && a.GetVerb() == "update" && a.GetSubresource() == "status" {
			if p, ok := u.GetObject().(*corev1.Pod); ok && p.Name == "fin" && p.Status.Phase == corev1.PodFailed {
				sawFailed = true
				if s := p.Status.ContainerStatuses[0].State.Terminated; s == nil || s.ExitCode != killedExitCode {
					t.Errorf("killed container status = %+v", p.Status.ContainerStatuses[0].State)
				}
			}
		}
	}
	if !sawFailed {
		t.Error("pod with finalizer was not marked Failed before its deletion")
	}
}

func (e *fakeEnv) waitPhaseAfterCreate(t *testing.T, p *corev1.Pod) *corev1.Pod {
	t.Helper()
	e.createPod(t, p)
	return e.waitPhase(t, p.Namespace, p.Name, corev1.PodRunning)
}
