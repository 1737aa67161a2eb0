package defaults

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
)

// newScheme returns a scheme with all k8s.io/api types and our defaulters.
func newScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatalf("AddToScheme: %v", err)
	}
	Register(s)
	return s
}

// quantityCmp compares quantities by value, ignoring their cached form.
var quantityCmp = cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })

// defaultCase is one input object and the object it must default to.
type defaultCase struct {
	name string
	in   runtime.Object
	want runtime.Object
}

// runDefaultCases defaults a copy of each input, compares it with want, and
// checks that defaulting the result again changes nothing.
func runDefaultCases(t *testing.T, cases []defaultCase) {
	t.Helper()
	s := newScheme(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.in.DeepCopyObject()
			s.Default(got)
			if diff := cmp.Diff(tc.want, got, quantityCmp); diff != "" {
				t.Errorf("defaulted object mismatch (-want +got):\n%s", diff)
			}
			again := got.DeepCopyObject()
			s.Default(again)
			if diff := cmp.Diff(got, again, quantityCmp); diff != "" {
				t.Errorf("defaulting is not idempotent (-once +twice):\n%s", diff)
			}
		})
	}
}

// wantContainer is c with the container defaults every PodSpec gets.
func wantContainer(c corev1.Container, pull corev1.PullPolicy) corev1.Container {
	c.ImagePullPolicy = pull
	c.TerminationMessagePath = "/dev/termination-log"
	c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	return c
}

// wantTemplateSpec is spec with the PodSpec-level defaults applied (no
// container defaults; callers set containers explicitly).
func wantTemplateSpec(spec corev1.PodSpec) corev1.PodSpec {
	spec.RestartPolicy = corev1.RestartPolicyAlways
	spec.DNSPolicy = corev1.DNSClusterFirst
	spec.TerminationGracePeriodSeconds = ptr.To[int64](30)
	spec.SchedulerName = "default-scheduler"
	spec.SecurityContext = &corev1.PodSecurityContext{}
	return spec
}

// simpleTemplate is a pod template with one nginx container.
func simpleTemplate() corev1.PodTemplateSpec {
	t := corev1.PodTemplateSpec{}
	t.Labels = map[string]string{"app": "web"}
	t.Spec.Containers = []corev1.Container{{Name: "web", Image: "nginx:1.27"}}
	return t
}

// wantSimpleTemplate is simpleTemplate after defaulting as a template.
func wantSimpleTemplate() corev1.PodTemplateSpec {
	t := simpleTemplate()
	t.Spec = wantTemplateSpec(t.Spec)
	t.Spec.Containers[0] = wantContainer(t.Spec.Containers[0], corev1.PullIfNotPresent)
	return t
}
