package printers

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func running() corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(time.Hour)}}
}

func waiting(reason string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
}

func terminated(reason string, exitCode int32) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: exitCode}}
}

// podWith builds a pod with the given containers, created 10 minutes ago.
func podWith(phase corev1.PodPhase, containers ...string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default", CreationTimestamp: ago(10 * time.Minute)},
		Status:     corev1.PodStatus{Phase: phase},
	}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: c + ":1"})
	}
	return p
}

func TestPodCells(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways

	tests := []struct {
		name string
		pod  func() *corev1.Pod
		want []interface{} // Name, Ready, Status, Restarts, Age, IP, Node, Nominated Node, Readiness Gates
	}{
		{
			name: "pending, not scheduled",
			pod:  func() *corev1.Pod { return podWith(corev1.PodPending, "app") },
			want: []interface{}{"web-1", "0/1", "Pending", "0", "10m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "running and ready",
			pod: func() *corev1.Pod {
				p := podWith(corev1.PodRunning, "app", "sidecar")
				p.Spec.NodeName = "node-a"
				p.Status.PodIPs = []corev1.PodIP{{IP: "10.244.0.5"}, {IP: "fd00::5"}}
				p.Status.PodIP = "10.244.0.5"
				p.Status.ContainerStatuses = []corev1.ContainerStatus{
					{Name: "app", Ready: true, State: running()},
					{Name: "sidecar", Ready: true, State: running()},
				}
				return p
			},
			want: []interface{}{"web-1", "2/2", "Running", "0", "10m", "10.244.0.5", "node-a", "<none>", "<none>"},
		},
		{
			name: "pod IP without podIPs",
			pod: func() *corev1.Pod {
				p := podWith(corev1.PodRunning, "app")
				p.Status.PodIP = "10.0.0.9"
				return p
			},
			want: []interface{}{"web-1", "0/1", "Running", "0", "10m", "10.0.0.9", "<none>", "<none>", "<none>"},
		},
		{
			name: "container creating",
			pod: func() *corev1.Pod {
				p := podWith(corev1.PodPending, "app")
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: waiting("ContainerCreating")}}
				return p
			},
			want: []interface{}{"web-1", "0/1", "ContainerCreating", "0", "10m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "crash loop with restarts",
			pod: func() *corev1.Pod {
				p := podWith(corev1.PodRunning, "app")
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{
					Name: "app", State: waiting("CrashLoopBackOff"), RestartCount: 3,
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
						ExitCode: 1, Reason: "Error", FinishedAt: ago(5 * time.Minute),
					}},
				}}
				return p
			},
			want: []interface{}{"web-1", "0/1", "CrashLoopBackOff", "3 (5m ago)", "10m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "restarts without a termination time",
			pod: func() *corev1.Pod {
				p := podWith(corev1.PodRunning, "app")
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Ready: true, State: running(), RestartCount: 2}}
				return p
			},
			want: []interface{}{"web-1", "1/1", "Running", "2", "10m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "completed",
			pod: func() *corev1.Pod {
				p := podWith(corev1.PodSucceeded, "app")
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: terminated("Completed", 0)}}
				return p
			},
			want: []interface{}{"web-1", "0/1", "Completed", "0", "10m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "one container completed while another runs",
			pod: func() *corev1.Pod {
				p := podWith(corev1.PodRunning, "app", "job")
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{
					{Name: "app", Ready: true, State: running()},
					{Name: "job", State: terminated("Completed", 0)},
				}
				return p
			},
			want: []interface{}{"web-1", "1/2", "Running", "0", "10m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "completed container beside a running one, pod not ready",
			pod: func() *corev1.Pod {
				p := podWith(corev1.PodRunning, "app", "job")
				p.Status.ContainerStatuses = []corev1.ContainerStatus{
					{Name: "app", Ready: true, State: running()},
					{Name: "job", State: terminated("Completed", 0)},
				}
				return p
			},
			want: []interface{}{"web-1", "1/2", "NotReady", "0", "10m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "error exit code without reason",
			pod: func() *corev1.Pod {
				p := podWith(corev1.PodFailed, "app")
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: terminated("", 137)}}
				return p
			},
			want: []interface{}{"web-1", "0/1", "ExitCode:137", "0", "10m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "init container running",
			pod: func() *corev1.Pod {
				p := podWith(corev1.PodPending, "app")
				p.Spec.InitContainers = []corev1.Container{{Name: "init"}}
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "init", State: running()}}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: waiting("PodInitializing")}}
				return p
			},
			want: []interface{}{"web-1", "0/1", "Init:0/1", "0", "10m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "second init container waiting on an image",
			pod: func() *corev1.Pod {
				p := podWith(corev1.PodPending, "app")
				p.Spec.InitContainers = []corev1.Container{{Name: "a"}, {Name: "b"}}
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{
					{Name: "a", State: terminated("Completed", 0)},
					{Name: "b", State: waiting("ImagePullBackOff")},
				}
				return p
			},
			want: []interface{}{"web-1", "0/1", "Init:ImagePullBackOff", "0", "10m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "init container failed",
			pod: func() *corev1.Pod {
				p := podWith(corev1.PodPending, "app")
				p.Spec.InitContainers = []corev1.Container{{Name: "init"}}
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "init", State: terminated("Error", 1), RestartCount: 4}}
				return p
			},
			want: []interface{}{"web-1", "0/1", "Init:Error", "4", "10m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "started sidecar counts as a ready container",
			pod: func() *corev1.Pod {
				p := podWith(corev1.PodRunning, "app")
				p.Spec.InitContainers = []corev1.Container{{Name: "proxy", RestartPolicy: &always}}
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "proxy", Ready: true, Started: ptr(true), State: running(), RestartCount: 1}}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Ready: true, State: running(), RestartCount: 1}}
				return p
			},
			want: []interface{}{"web-1", "2/2", "Running", "2", "10m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "terminating",
			pod: func() *corev1.Pod {
				p := podWith(corev1.PodRunning, "app")
				p.DeletionTimestamp = agoPtr(time.Second)
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Ready: true, State: running()}}
				return p
			},
			want: []interface{}{"web-1", "1/1", "Terminating", "0", "10m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "deleted after completing stays completed",
			pod: func() *corev1.Pod {
				p := podWith(corev1.PodSucceeded, "app")
				p.DeletionTimestamp = agoPtr(time.Second)
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: terminated("Completed", 0)}}
				return p
			},
			want: []interface{}{"web-1", "0/1", "Completed", "0", "10m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "node lost",
			pod: func() *corev1.Pod {
				p := podWith(corev1.PodRunning, "app")
				p.DeletionTimestamp = agoPtr(time.Second)
				p.Status.Reason = "NodeLost"
				return p
			},
			want: []interface{}{"web-1", "0/1", "Unknown", "0", "10m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "evicted",
			pod: func() *corev1.Pod {
				p := podWith(corev1.PodFailed, "app")
				p.Status.Reason = "Evicted"
				return p
			},
			want: []interface{}{"web-1", "0/1", "Evicted", "0", "10m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "scheduling gated",
			pod: func() *corev1.Pod {
				p := podWith(corev1.PodPending, "app")
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "SchedulingGated"}}
				return p
			},
			want: []interface{}{"web-1", "0/1", "SchedulingGated", "0", "10m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "nominated node and readiness gates",
			pod: func() *corev1.Pod {
				p := podWith(corev1.PodPending, "app")
				p.Status.NominatedNodeName = "node-b"
				p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}, {ConditionType: "example.com/dns"}}
				p.Status.Conditions = []corev1.PodCondition{{Type: "example.com/lb", Status: corev1.ConditionTrue}}
				return p
			},
			want: []interface{}{"web-1", "0/1", "Pending", "0", "10m", "<none>", "<none>", "node-b", "1/2"},
		},
		{
			name: "zero creation time",
			pod: func() *corev1.Pod {
				p := podWith(corev1.PodRunning)
				p.CreationTimestamp = metav1.Time{}
				return p
			},
			want: []interface{}{"web-1", "0/0", "Running", "0", "<unknown>", "<none>", "<none>", "<none>", "<none>"},
		},
	}
	p := mustFor(t, "", "pods")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Cells(tt.pod(), now); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("cells\n got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestPodTemplateCells(t *testing.T) {
	pt := &corev1.PodTemplate{ObjectMeta: metav1.ObjectMeta{Name: "tmpl"}}
	pt.Template.Labels = map[string]string{"app": "web"}
	pt.Template.Spec.Containers = []corev1.Container{{Name: "a", Image: "nginx"}, {Name: "b", Image: "busybox"}}
	got := mustFor(t, "", "podtemplates").Cells(pt, now)
	want := []interface{}{"tmpl", "a,b", "nginx,busybox", "app=web"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cells = %#v, want %#v", got, want)
	}
}
