package apiserver

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
)

func rl(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = apiresource.MustParse(kv[i+1])
	}
	return out
}

func TestApplyContainerDefaults(t *testing.T) {
	lr := &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
		Type: corev1.LimitTypeContainer, Default: rl("cpu", "500m", "memory", "256Mi"), DefaultRequest: rl("cpu", "100m", "memory", "128Mi"),
	}}}}
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "init"}},
		Containers: []corev1.Container{
			{Name: "bare"},
			{Name: "own", Resources: corev1.ResourceRequirements{Limits: rl("cpu", "2"), Requests: rl("memory", "1Gi")}},
		}}}
	applyContainerDefaults(pod, lr)
	for _, c := range []corev1.Container{pod.Spec.InitContainers[0], pod.Spec.Containers[0]} {
		if got := c.Resources.Limits.Cpu().String() + "/" + c.Resources.Requests.Memory().String(); got != "500m/128Mi" {
			t.Errorf("%s: defaults = %s, want 500m/128Mi", c.Name, got)
		}
	}
	own := pod.Spec.Containers[1].Resources
	if own.Limits.Cpu().String() != "2" || own.Requests.Memory().String() != "1Gi" || own.Limits.Memory().String() != "256Mi" || own.Requests.Cpu().String() != "100m" {
		t.Errorf("a container's own values were not kept, or missing ones not filled: %+v", own)
	}
}

func TestCheckItemMessages(t *testing.T) {
	item := corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Min: rl("cpu", "100m"), Max: rl("memory", "1Gi"), MaxLimitRequestRatio: rl("cpu", "2")}
	for _, tc := range []struct {
		name        string
		req, lim    corev1.ResourceList
		wantErrPart []string
	}{
		{"within", rl("cpu", "200m"), rl("cpu", "400m", "memory", "512Mi"), nil},
		{"below min", rl("cpu", "50m"), rl("cpu", "100m", "memory", "1Gi"), []string{"minimum cpu usage per Container is 100m, but request is 50m"}},
		{"no request", nil, rl("cpu", "1", "memory", "1Gi"), []string{"minimum cpu usage per Container is 100m.  No request is specified",
			"cpu max limit to request ratio per Container is 2, but no request is specified or request is 0"}},
		{"over max", rl("cpu", "200m"), rl("cpu", "200m", "memory", "2Gi"), []string{"maximum memory usage per Container is 1Gi, but limit is 2Gi"}},
		{"no limit", rl("cpu", "200m"), rl("cpu", "200m"), []string{"maximum memory usage per Container is 1Gi.  No limit is specified"}},
		{"ratio", rl("cpu", "100m"), rl("cpu", "300m", "memory", "1Gi"), []string{"cpu max limit to request ratio per Container is 2, but provided ratio is 3.000000"}},
	} {
		errs := checkItem("Container", item, tc.req, tc.lim)
		if len(errs) != len(tc.wantErrPart) {
			t.Errorf("%s: errors %v, want %q", tc.name, errs, tc.wantErrPart)
			continue
		}
		for i, e := range errs {
			if !strings.Contains(e.Error(), tc.wantErrPart[i]) {
				t.Errorf("%s: error %q, want %q", tc.name, e, tc.wantErrPart[i])
			}
		}
	}
}

func TestPodTotals(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: rl("cpu", "2")}}},
		Containers: []corev1.Container{
			{Resources: corev1.ResourceRequirements{Requests: rl("cpu", "300m", "memory", "64Mi")}},
			{Resources: corev1.ResourceRequirements{Requests: rl("cpu", "200m")}},
		}}}
	req, _ := podTotals(pod)
	if req.Cpu().String() != "2" || req.Memory().String() != "64Mi" {
		t.Errorf("pod requests = %v, want cpu 2 (the init container) and memory 64Mi", req)
	}
}
