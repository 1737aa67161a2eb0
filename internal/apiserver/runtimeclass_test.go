package apiserver

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestApplyRuntimeClass(t *testing.T) {
	overhead := corev1.ResourceList{corev1.ResourceCPU: apiresource.MustParse("250m"), corev1.ResourceMemory: apiresource.MustParse("120Mi")}
	class := &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "kata"}, Handler: "kata",
		Overhead: &nodev1.Overhead{PodFixed: overhead},
		Scheduling: &nodev1.Scheduling{NodeSelector: map[string]string{"runtime": "kata"},
			Tolerations: []corev1.Toleration{{Key: "runtime", Operator: corev1.TolerationOpEqual, Value: "kata", Effect: corev1.TaintEffectNoSchedule}}}}
	for _, tc := range []struct {
		name    string
		class   *nodev1.RuntimeClass
		pod     func(*corev1.Pod)
		wantErr string
		check   func(t *testing.T, p *corev1.Pod)
	}{
		{name: "no class", class: nil, pod: func(*corev1.Pod) {}, check: func(t *testing.T, p *corev1.Pod) {
			if p.Spec.Overhead != nil || p.Spec.NodeSelector != nil {
				t.Errorf("changed: %+v", p.Spec)
			}
		}},
		{name: "overhead without a class", class: nil, pod: func(p *corev1.Pod) { p.Spec.Overhead = overhead },
			wantErr: `pods "p" is forbidden: pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead`},
		{name: "class applied", class: class, pod: func(p *corev1.Pod) {
			p.Spec.NodeSelector = map[string]string{"zone": "a"}
			p.Spec.Tolerations = []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)}}
		}, check: func(t *testing.T, p *corev1.Pod) {
			if diff := cmp.Diff(map[string]string{"zone": "a", "runtime": "kata"}, p.Spec.NodeSelector); diff != "" {
				t.Errorf("selector: %s", diff)
			}
			if p.Spec.Overhead.Cpu().String() != "250m" || p.Spec.Overhead.Memory().String() != "120Mi" {
				t.Errorf("overhead: %v", p.Spec.Overhead)
			}
			if len(p.Spec.Tolerations) != 2 || p.Spec.Tolerations[1].Key != "runtime" {
				t.Errorf("tolerations: %+v", p.Spec.Tolerations)
			}
		}},
		{name: "same overhead given", class: class, pod: func(p *corev1.Pod) {
			p.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: apiresource.MustParse("0.25"), corev1.ResourceMemory: apiresource.MustParse("120Mi")}
		}},
		{name: "other overhead given", class: class, pod: func(p *corev1.Pod) {
			p.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: apiresource.MustParse("1")}
		}, wantErr: `pods "p" is forbidden: pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead`},
		{name: "conflicting selector", class: class, pod: func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"runtime": "runc"} },
			wantErr: `pods "p" is forbidden: conflict: runtimeClass.scheduling.nodeSelector[runtime] = kata; pod.spec.nodeSelector[runtime] = runc`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"}}
			tc.pod(p)
			err := applyRuntimeClass(p, tc.class)
			switch {
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.check != nil {
				tc.check(t, p)
			}
		})
	}
}

func TestMergeTolerations(t *testing.T) {
	exists := func(key string, effect corev1.TaintEffect, secs *int64) corev1.Toleration {
		return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: effect, TolerationSeconds: secs}
	}
	equal := func(key, value string, effect corev1.TaintEffect) corev1.Toleration {
		return corev1.Toleration{Key: key, Operator: corev1.TolerationOpEqual, Value: value, Effect: effect}
	}
	for _, tc := range []struct {
		name             string
		pod, class, want []corev1.Toleration
	}{
		{"disjoint", []corev1.Toleration{equal("a", "1", "")}, []corev1.Toleration{equal("b", "2", corev1.TaintEffectNoSchedule)},
			[]corev1.Toleration{equal("a", "1", ""), equal("b", "2", corev1.TaintEffectNoSchedule)}},
		{"equal kept once", []corev1.Toleration{equal("a", "1", "")}, []corev1.Toleration{equal("a", "1", "")},
			[]corev1.Toleration{equal("a", "1", "")}},
		{"the class's covers the pod's", []corev1.Toleration{equal("a", "1", corev1.TaintEffectNoSchedule)}, []corev1.Toleration{exists("a", "", nil)},
			[]corev1.Toleration{exists("a", "", nil)}},
		{"everything tolerated", []corev1.Toleration{equal("a", "1", "")}, []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			[]corev1.Toleration{{Operator: corev1.TolerationOpExists}}},
		{"a shorter time does not cover a longer one", []corev1.Toleration{exists("n", corev1.TaintEffectNoExecute, ptr.To[int64](300))},
			[]corev1.Toleration{exists("n", corev1.TaintEffectNoExecute, ptr.To[int64](60))},
			[]corev1.Toleration{exists("n", corev1.TaintEffectNoExecute, ptr.To[int64](300))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, mergeTolerations(tc.pod, tc.class)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
