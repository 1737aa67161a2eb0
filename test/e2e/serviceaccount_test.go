package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// TestServiceAccountTokenVolume runs a pod on the real kubelet and checks that the
// admission-injected kube-api-access volume holds a working token, the cluster CA and the
// namespace where rest.InClusterConfig looks for them.
func TestServiceAccountTokenVolume(t *testing.T) {
	c := startNode(t)
	ctx := context.Background()
	const dir = "/var/run/secrets/kubernetes.io/serviceaccount"
	pod := shPod("sa-files", "cat "+dir+"/token; echo; cat "+dir+"/namespace; echo; head -n 1 "+dir+"/ca.crt")
	pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	created := c.create(pod)
	c.waitPod(pod.Name, "Succeeded", 120*time.Second, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	out := c.MustKubectl(t, "logs", pod.Name)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || strings.Count(lines[0], ".") != 2 || lines[1] != "default" || lines[2] != "-----BEGIN CERTIFICATE-----" {
		t.Fatalf("pod output = %q, want token, namespace and CA", out)
	}
	cfg := &rest.Config{Host: c.Config.Host, BearerToken: lines[0], TLSClientConfig: rest.TLSClientConfig{CAData: c.Config.CAData}}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("the pod's token does not authenticate: %v", err)
	}
	u := r.Status.UserInfo
	if u.Username != "system:serviceaccount:default:default" {
		t.Errorf("user = %+v", u)
	}
	if got := u.Extra["authentication.kubernetes.io/pod-uid"]; len(got) != 1 || got[0] != string(created.UID) {
		t.Errorf("extra = %v, want the pod's uid", u.Extra)
	}
	if got := u.Extra["authentication.kubernetes.io/node-name"]; len(got) != 1 || got[0] == "" {
		t.Errorf("extra = %v, want the node's name", u.Extra)
	}
}
