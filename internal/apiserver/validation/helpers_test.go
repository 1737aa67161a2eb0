package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// wantErr names one expected error by path and type; detail, when set, must
// be a substring of the error's detail.
type wantErr struct {
	path   string
	typ    field.ErrorType
	detail string
}

// checkErrs asserts that errs contains every expected error (and, when want
// is empty, that there are none).
func checkErrs(t *testing.T, errs field.ErrorList, want ...wantErr) {
	t.Helper()
	if len(want) == 0 {
		if len(errs) != 0 {
			t.Fatalf("expected no errors, got:\n%s", dumpErrs(errs))
		}
		return
	}
	for _, w := range want {
		found := false
		for _, e := range errs {
			if e.Field == w.path && e.Type == w.typ && strings.Contains(e.Detail, w.detail) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("missing error %s %s %q; got:\n%s", w.path, w.typ, w.detail, dumpErrs(errs))
		}
	}
}

func dumpErrs(errs field.ErrorList) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString("  " + e.Field + ": " + string(e.Type) + ": " + e.Detail + "\n")
	}
	return b.String()
}

func meta(name, ns string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: ns, ResourceVersion: "1"}
}

func validPodSpec() corev1.PodSpec {
	return corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyAlways,
		DNSPolicy:     corev1.DNSClusterFirst,
		Volumes: []corev1.Volume{
			{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		},
		Containers: []corev1.Container{{
			Name:                     "app",
			Image:                    "nginx:1.27",
			ImagePullPolicy:          corev1.PullIfNotPresent,
			Ports:                    []corev1.ContainerPort{{Name: "http", ContainerPort: 80, Protocol: corev1.ProtocolTCP}},
			Env:                      []corev1.EnvVar{{Name: "MODE", Value: "prod"}},
			VolumeMounts:             []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		}},
		TerminationGracePeriodSeconds: ptr.To[int64](30),
	}
}

func validPod() *corev1.Pod {
	return &corev1.Pod{ObjectMeta: meta("web", "default"), Spec: validPodSpec()}
}

func validTemplate(lbls map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: lbls}, Spec: validPodSpec()}
}

func TestUnknownTypeIsNotValidated(t *testing.T) {
	obj := &metav1.Status{}
	if errs := ValidateCreate(obj); errs != nil {
		t.Fatalf("unexpected errors: %v", errs)
	}
	if errs := ValidateUpdate(obj, obj); errs != nil {
		t.Fatalf("unexpected errors: %v", errs)
	}
	if errs := ValidateStatusUpdate(obj, obj); errs != nil {
		t.Fatalf("unexpected errors: %v", errs)
	}
}

func TestMismatchedOldTypeIsAnError(t *testing.T) {
	errs := ValidateUpdate(validPod(), &corev1.Service{})
	if len(errs) != 1 || errs[0].Type != field.ErrorTypeInternal {
		t.Fatalf("want one internal error, got %v", errs)
	}
}

func TestCronSchedule(t *testing.T) {
	for _, tc := range []struct {
		spec string
		ok   bool
	}{
		{"*/5 * * * *", true},
		{"0 0 * * MON-FRI", true},
		{"15 3 1,15 JAN,jul *", true},
		{"0 0 ? * 0", true},
		{"5/10 * * * *", true},
		{"@hourly", true},
		{"@every 1h30m", true},
		{"* * * *", false},
		{"60 * * * *", false},
		{"* 24 * * *", false},
		{"* * 0 * *", false},
		{"* * * 13 *", false},
		{"* * * * 7", false},
		{"5-1 * * * *", false},
		{"*/0 * * * *", false},
		{"1-2-3 * * * *", false},
		{"a * * * *", false},
		{"@fortnightly", false},
		{"", false},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			err := parseCronSchedule(tc.spec)
			if (err == nil) != tc.ok {
				t.Fatalf("parseCronSchedule(%q) = %v, want ok=%v", tc.spec, err, tc.ok)
			}
		})
	}
}

func mustQ(s string) resource.Quantity { return resource.MustParse(s) }
