package defaults

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestDefaultPullPolicy(t *testing.T) {
	tests := []struct {
		image string
		want  corev1.PullPolicy
	}{
		{"nginx", corev1.PullAlways},
		{"nginx:latest", corev1.PullAlways},
		{"nginx:1.27", corev1.PullIfNotPresent},
		{"library/nginx:LATEST", corev1.PullIfNotPresent},
		{"docker.io/library/nginx", corev1.PullAlways},
		{"localhost:5000/app", corev1.PullAlways},
		{"localhost:5000/app:v1", corev1.PullIfNotPresent},
		{"registry.example.com:5000/team/app:latest", corev1.PullAlways},
		{"[2001:db8::1]:5000/app:v2", corev1.PullIfNotPresent},
		{"nginx@sha256:" + hex64, corev1.PullIfNotPresent},
		{"nginx:latest@sha256:" + hex64, corev1.PullAlways},
		{"nginx:1.0@sha256:" + hex64, corev1.PullIfNotPresent},
		{"Registry.Example.com/app", corev1.PullAlways},
		// Unparsable references fall back to IfNotPresent.
		{"", corev1.PullIfNotPresent},
		{"Nginx", corev1.PullIfNotPresent},
		{"nginx@sha256:abc", corev1.PullIfNotPresent},
		{"nginx@md5:" + hex64, corev1.PullIfNotPresent},
		{"nginx:bad tag", corev1.PullIfNotPresent},
		{hex64, corev1.PullIfNotPresent},
		{"a/" + strings.Repeat("b", 260), corev1.PullIfNotPresent},
	}
	for _, tc := range tests {
		t.Run(tc.image, func(t *testing.T) {
			if got := defaultPullPolicy(tc.image); got != tc.want {
				t.Errorf("defaultPullPolicy(%q) = %s, want %s", tc.image, got, tc.want)
			}
		})
	}
}
