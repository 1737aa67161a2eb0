package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

func TestPodLevelResourceDefaults(t *testing.T) {
	q := resource.MustParse
	rl := func(kv ...string) corev1.ResourceList {
		l := corev1.ResourceList{}
		for i := 0; i < len(kv); i += 2 {
			l[corev1.ResourceName(kv[i])] = q(kv[i+1])
		}
		return l
	}
	container := func(name string, req, lim corev1.ResourceList) corev1.Container {
		return corev1.Container{Name: name, Image: "app:v1", Resources: corev1.ResourceRequirements{Requests: req, Limits: lim}}
	}
	pod := func(podRes *corev1.ResourceRequirements, init []corev1.Container, cs ...corev1.Container) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{Resources: podRes, InitContainers: init, Containers: cs}}
	}
	// want applies the ordinary pod defaults to p.
	want := func(p *corev1.Pod) *corev1.Pod {
		p.Spec = wantTemplateSpec(p.Spec)
		p.Spec.EnableServiceLinks = ptr.To(true)
		for i := range p.Spec.InitContainers {
			p.Spec.InitContainers[i] = wantContainer(p.Spec.InitContainers[i], corev1.PullIfNotPresent)
		}
		for i := range p.Spec.Containers {
			p.Spec.Containers[i] = wantContainer(p.Spec.Containers[i], corev1.PullIfNotPresent)
		}
		return p
	}
	sidecar := container("sidecar", rl("cpu", "100m"), nil)
	sidecar.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)

	runDefaultCases(t, []defaultCase{
		{
			name: "no pod-level resources: nothing added",
			in:   pod(nil, nil, container("a", rl("cpu", "1"), nil)),
			want: want(pod(nil, nil, container("a", rl("cpu", "1"), nil))),
		},
		{
			name: "pod limits, container requests: requests aggregate containers and sidecars",
			in: pod(&corev1.ResourceRequirements{Limits: rl("cpu", "4", "memory", "4Gi")},
				[]corev1.Container{container("init", rl("cpu", "3"), nil), sidecar},
				container("a", rl("cpu", "500m"), nil), container("b", rl("cpu", "250m"), nil)),
			want: want(pod(&corev1.ResourceRequirements{
				Limits:   rl("cpu", "4", "memory", "4Gi"),
				Requests: rl("cpu", "3", "memory", "4Gi"),
			},
				[]corev1.Container{container("init", rl("cpu", "3"), nil), sidecar},
				container("a", rl("cpu", "500m"), nil), container("b", rl("cpu", "250m"), nil))),
		},
		{
			name: "pod requests, every container limits: limits aggregate containers",
			in: pod(&corev1.ResourceRequirements{Requests: rl("memory", "1Gi")}, nil,
				container("a", nil, rl("memory", "1Gi")), container("b", nil, rl("memory", "512Mi"))),
			want: want(pod(&corev1.ResourceRequirements{
				Requests: rl("memory", "1Gi"),
				Limits:   rl("memory", "1536Mi"),
			}, nil,
				container("a", rl("memory", "1Gi"), rl("memory", "1Gi")),
				container("b", rl("memory", "512Mi"), rl("memory", "512Mi")))),
		},
		{
			name: "hugepage limits aggregate from containers",
			in: pod(&corev1.ResourceRequirements{Limits: rl("memory", "1Gi")}, nil,
				container("a", nil, rl("hugepages-2Mi", "4Mi")), container("b", nil, rl("hugepages-2Mi", "2Mi"))),
			want: want(pod(&corev1.ResourceRequirements{
				Limits:   rl("memory", "1Gi", "hugepages-2Mi", "6Mi"),
				Requests: rl("memory", "1Gi", "hugepages-2Mi", "6Mi"),
			}, nil,
				container("a", rl("hugepages-2Mi", "4Mi"), rl("hugepages-2Mi", "4Mi")),
				container("b", rl("hugepages-2Mi", "2Mi"), rl("hugepages-2Mi", "2Mi")))),
		},
	})
}
