package apiserver_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/testserver"
)

const saMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"

// whoami authenticates with token and returns who the server says that is.
func whoami(ctx context.Context, t *testing.T, srv *testserver.Server, token string) (*authenticationv1.UserInfo, error) {
	t.Helper()
	cfg := &rest.Config{Host: srv.Config.Host, BearerToken: token,
		TLSClientConfig: rest.TLSClientConfig{CAData: srv.Config.CAData}}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	return &r.Status.UserInfo, nil
}

func jwtPayload(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWT", token)
	}
	data, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// waitUnauthorized polls until token is refused with 401.
func waitUnauthorized(ctx context.Context, t *testing.T, srv *testserver.Server, token, what string) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		_, last = whoami(ctx, t, srv, token)
		return apierrors.IsUnauthorized(last), nil
	})
	if err != nil {
		t.Fatalf("%s: token still accepted (last error %v)", what, last)
	}
}

func TestServiceAccountTokens(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{Controllers: true})
	ctx := context.Background()
	client := srv.Client
	const ns = "sa-tokens"
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("discovery", func(t *testing.T) {
		list, err := client.Discovery().ServerResourcesForGroupVersion("v1")
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == "serviceaccounts/token" })
		if i < 0 {
			t.Fatal("serviceaccounts/token not in discovery")
		}
		if r := list.APIResources[i]; r.Kind != "TokenRequest" || r.Group != "authentication.k8s.io" || r.Version != "v1" || !slices.Equal(r.Verbs, []string{"create"}) {
			t.Errorf("serviceaccounts/token = %+v", r)
		}
	})

	t.Run("root CA published", func(t *testing.T) {
		var cm *corev1.ConfigMap
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			var err error
			cm, err = client.CoreV1().ConfigMaps(ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
			return err == nil, nil
		})
		if err != nil {
			t.Fatal("kube-root-ca.crt not published")
		}
		if !bytes.Equal([]byte(cm.Data["ca.crt"]), srv.Config.CAData) {
			t.Errorf("kube-root-ca.crt holds %q, not the cluster CA", cm.Data["ca.crt"])
		}
	})

	sa, err := client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	tr, err := client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "robot", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	token := tr.Status.Token
	if token == "" {
		t.Fatal("no token in status")
	}
	if got := tr.Status.ExpirationTimestamp.Time; got.Before(before.Add(time.Hour-time.Second)) || got.After(time.Now().Add(time.Hour+time.Second)) {
		t.Errorf("expirationTimestamp = %v, want an hour from now", got)
	}
	if !slices.Equal(tr.Spec.Audiences, []string{"https://kubernetes.default.svc.cluster.local"}) || ptr.Deref(tr.Spec.ExpirationSeconds, 0) != 3600 {
		t.Errorf("spec = %+v, want defaulted audiences and expiration", tr.Spec)
	}
	claims := jwtPayload(t, token)
	if claims["iss"] != "https://kubernetes.default.svc.cluster.local" || claims["sub"] != "system:serviceaccount:"+ns+":robot" {
		t.Errorf("claims = %v", claims)
	}

	t.Run("authenticates", func(t *testing.T) {
		u, err := whoami(ctx, t, srv, token)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
		if u.Username != "system:serviceaccount:"+ns+":robot" || u.UID != string(sa.UID) || !slices.Equal(u.Groups, want) {
			t.Errorf("user = %+v, want %s in %v", u, "system:serviceaccount:"+ns+":robot", want)
		}
		if _, err := whoami(ctx, t, srv, token+"x"); !apierrors.IsUnauthorized(err) {
			t.Errorf("tampered token: err = %v, want 401", err)
		}
	})

	t.Run("validation", func(t *testing.T) {
		sas := client.CoreV1().ServiceAccounts(ns)
		if _, err := sas.CreateToken(ctx, "robot", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](599)}}, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
			t.Errorf("expirationSeconds 599: err = %v, want Invalid", err)
		}
		if _, err := sas.CreateToken(ctx, "nobody", &authenticationv1.TokenRequest{}, metav1.CreateOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("missing service account: err = %v, want NotFound", err)
		}
		bound := func(kind, name, uid string) *authenticationv1.TokenRequest {
			return &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
				BoundObjectRef: &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: kind, Name: name, UID: types.UID(uid)}}}
		}
		if _, err := sas.CreateToken(ctx, "robot", bound("Pod", "ghost", ""), metav1.CreateOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("missing pod: err = %v, want NotFound", err)
		}
		if _, err := sas.CreateToken(ctx, "robot", bound("ConfigMap", "x", ""), metav1.CreateOptions{}); !apierrors.IsBadRequest(err) {
			t.Errorf("ConfigMap binding: err = %v, want BadRequest", err)
		}
		big, err := sas.CreateToken(ctx, "robot", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](1 << 33)}}, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) {
			t.Errorf("expirationSeconds 2^33: %v, %v, want Invalid", big, err)
		}
	})

	t.Run("pod-bound", func(t *testing.T) {
		pod, err := client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "bound"},
			Spec:       corev1.PodSpec{ServiceAccountName: "robot", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sas := client.CoreV1().ServiceAccounts(ns)
		req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: ptr.To[int64](3607),
			BoundObjectRef:    &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: "not-the-uid"}}}
		if _, err := sas.CreateToken(ctx, "robot", req, metav1.CreateOptions{}); !apierrors.IsConflict(err) {
			t.Errorf("wrong pod UID: err = %v, want Conflict", err)
		}
		if _, err := client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "default", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			BoundObjectRef: &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name}}}, metav1.CreateOptions{}); !apierrors.IsBadRequest(err) {
			t.Errorf("pod of another service account: err = %v, want BadRequest", err)
		}
		req.Spec.BoundObjectRef.UID = pod.UID
		now := time.Now()
		tr, err := sas.CreateToken(ctx, "robot", req, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// The kubelet's 3607s request gets a year, warning after the hour it asked for.
		if got := tr.Status.ExpirationTimestamp.Sub(now); got < 3600*time.Second || got > 3610*time.Second {
			t.Errorf("expirationTimestamp in %v, want 3607s", got)
		}
		c := jwtPayload(t, tr.Status.Token)
		if exp := int64(c["exp"].(float64)); exp < now.Unix()+365*24*3600-5 {
			t.Errorf("exp = %d, want a year from now", exp)
		}
		k := c["kubernetes.io"].(map[string]any)
		if warn := int64(k["warnafter"].(float64)); warn < now.Unix()+3600 || warn > now.Unix()+3610 {
			t.Errorf("warnafter = %d, want 3607s from now", warn)
		}
		if p := k["pod"].(map[string]any); p["name"] != "bound" || p["uid"] != string(pod.UID) {
			t.Errorf("pod claim = %v", p)
		}
		u, err := whoami(ctx, t, srv, tr.Status.Token)
		if err != nil {
			t.Fatal(err)
		}
		if got := u.Extra["authentication.kubernetes.io/pod-name"]; len(got) != 1 || got[0] != "bound" {
			t.Errorf("extra = %v, want the pod name", u.Extra)
		}
		if got := u.Extra["authentication.kubernetes.io/pod-uid"]; len(got) != 1 || got[0] != string(pod.UID) {
			t.Errorf("extra = %v, want the pod uid", u.Extra)
		}
		if err := client.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
		waitUnauthorized(ctx, t, srv, tr.Status.Token, "pod deleted")
	})

	t.Run("admission", func(t *testing.T) {
		pods := client.CoreV1().Pods(ns)
		p, err := pods.Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "injected"},
			Spec: corev1.PodSpec{
				InitContainers: []corev1.Container{{Name: "init", Image: "busybox"}},
				Containers: []corev1.Container{{Name: "a", Image: "busybox"}, {Name: "b", Image: "busybox",
					VolumeMounts: []corev1.VolumeMount{{Name: "own", MountPath: saMountPath}}}},
				Volumes: []corev1.Volume{{Name: "own", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var vol *corev1.Volume
		for i := range p.Spec.Volumes {
			if strings.HasPrefix(p.Spec.Volumes[i].Name, "kube-api-access-") {
				vol = &p.Spec.Volumes[i]
			}
		}
		if vol == nil || len(vol.Name) != len("kube-api-access-")+5 || vol.Projected == nil {
			t.Fatalf("volumes = %+v, want a kube-api-access-xxxxx projected volume", p.Spec.Volumes)
		}
		src := vol.Projected.Sources
		if len(src) != 3 || src[0].ServiceAccountToken == nil || src[0].ServiceAccountToken.Path != "token" ||
			ptr.Deref(src[0].ServiceAccountToken.ExpirationSeconds, 0) != 3607 ||
			src[1].ConfigMap == nil || src[1].ConfigMap.Name != "kube-root-ca.crt" || len(src[1].ConfigMap.Items) != 1 ||
			src[1].ConfigMap.Items[0] != (corev1.KeyToPath{Key: "ca.crt", Path: "ca.crt"}) ||
			src[2].DownwardAPI == nil || len(src[2].DownwardAPI.Items) != 1 || src[2].DownwardAPI.Items[0].Path != "namespace" ||
			src[2].DownwardAPI.Items[0].FieldRef.FieldPath != "metadata.namespace" ||
			ptr.Deref(vol.Projected.DefaultMode, 0) != 0o644 {
			t.Errorf("projected volume = %+v", vol.Projected)
		}
		want := corev1.VolumeMount{Name: vol.Name, ReadOnly: true, MountPath: saMountPath}
		for _, c := range []corev1.Container{p.Spec.InitContainers[0], p.Spec.Containers[0]} {
			if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return equality.Semantic.DeepEqual(m, want) }) {
				t.Errorf("container %s mounts %+v, want %+v", c.Name, c.VolumeMounts, want)
			}
		}
		if m := p.Spec.Containers[1].VolumeMounts; len(m) != 1 || m[0].Name != "own" {
			t.Errorf("container b mounts %+v, want only its own mount at the path", m)
		}

		optOut, err := pods.Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "opt-out"},
			Spec: corev1.PodSpec{AutomountServiceAccountToken: ptr.To(false),
				Containers: []corev1.Container{{Name: "a", Image: "busybox"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(optOut.Spec.Volumes) != 0 || len(optOut.Spec.Containers[0].VolumeMounts) != 0 {
			t.Errorf("automountServiceAccountToken=false pod got %+v", optOut.Spec.Volumes)
		}
		if _, err := client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{
			ObjectMeta: metav1.ObjectMeta{Name: "quiet"}, AutomountServiceAccountToken: ptr.To(false),
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		quiet, err := pods.Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "quiet"},
			Spec:       corev1.PodSpec{ServiceAccountName: "quiet", Containers: []corev1.Container{{Name: "a", Image: "busybox"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(quiet.Spec.Volumes) != 0 {
			t.Errorf("pod of a service account with automount off got %+v", quiet.Spec.Volumes)
		}
		if len(quiet.Spec.ImagePullSecrets) != 1 || quiet.Spec.ImagePullSecrets[0].Name != "regcred" {
			t.Errorf("imagePullSecrets = %+v, want the service account's", quiet.Spec.ImagePullSecrets)
		}
	})

	t.Run("legacy secret token", func(t *testing.T) {
		secret, err := client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "robot-token", Annotations: map[string]string{corev1.ServiceAccountNameKey: "robot"}},
			Type:       corev1.SecretTypeServiceAccountToken,
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tok := string(secret.Data["token"])
		if tok == "" || string(secret.Data["namespace"]) != ns || !bytes.Equal(secret.Data["ca.crt"], srv.Config.CAData) {
			t.Fatalf("secret data = %v", secret.Data)
		}
		u, err := whoami(ctx, t, srv, tok)
		if err != nil {
			t.Fatal(err)
		}
		if u.Username != "system:serviceaccount:"+ns+":robot" {
			t.Errorf("user = %+v", u)
		}
		if err := client.CoreV1().Secrets(ns).Delete(ctx, secret.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitUnauthorized(ctx, t, srv, tok, "secret deleted")
	})

	t.Run("service account deleted", func(t *testing.T) {
		if err := client.CoreV1().ServiceAccounts(ns).Delete(ctx, "robot", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitUnauthorized(ctx, t, srv, token, "service account deleted")
		// Re-created under the same name, it is another account: the old token stays invalid.
		if _, err := client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
			tr, err := client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "robot", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
			if err != nil {
				return false, nil
			}
			_, err = whoami(ctx, t, srv, tr.Status.Token)
			return err == nil, nil
		})
		if err != nil {
			t.Fatal("a token of the re-created service account is not accepted")
		}
		if _, err := whoami(ctx, t, srv, token); !apierrors.IsUnauthorized(err) {
			t.Errorf("old token after re-creation: err = %v, want 401", err)
		}
	})
}
