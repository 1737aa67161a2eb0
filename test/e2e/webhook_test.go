package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/kijabi/kijabi/internal/testserver"
)

// webhookBackend is an HTTPS admission webhook run by the test on 127.0.0.1: /validate
// refuses pods labelled webhook-test=deny, /mutate labels pods mutated-by=webhook, /warn
// allows with a warning. Its certificate also names webhook.hooked.svc, for the webhook
// reached through a Service.
type webhookBackend struct {
	*httptest.Server
	caBundle []byte
	calls    atomic.Int32
}

func newWebhookBackend(t *testing.T) *webhookBackend {
	t.Helper()
	b := &webhookBackend{}
	mux := http.NewServeMux()
	handle := func(path string, respond func(req *admissionv1.AdmissionRequest, obj metav1.PartialObjectMetadata) *admissionv1.AdmissionResponse) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			b.calls.Add(1)
			var review admissionv1.AdmissionReview
			if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
				http.Error(w, fmt.Sprintf("bad review: %v", err), http.StatusBadRequest)
				return
			}
			var obj metav1.PartialObjectMetadata
			json.Unmarshal(review.Request.Object.Raw, &obj)
			resp := respond(review.Request, obj)
			resp.UID = review.Request.UID
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(&admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp})
		})
	}
	handle("/validate", func(_ *admissionv1.AdmissionRequest, obj metav1.PartialObjectMetadata) *admissionv1.AdmissionResponse {
		if obj.Labels["webhook-test"] == "deny" {
			return &admissionv1.AdmissionResponse{Result: &metav1.Status{Message: "pods labelled webhook-test=deny are refused"}}
		}
		return &admissionv1.AdmissionResponse{Allowed: true}
	})
	handle("/mutate", func(_ *admissionv1.AdmissionRequest, obj metav1.PartialObjectMetadata) *admissionv1.AdmissionResponse {
		patch := `[{"op":"add","path":"/metadata/labels","value":{"mutated-by":"webhook"}}]`
		if obj.Labels != nil {
			patch = `[{"op":"add","path":"/metadata/labels/mutated-by","value":"webhook"}]`
		}
		return &admissionv1.AdmissionResponse{Allowed: true, Patch: []byte(patch), PatchType: ptr.To(admissionv1.PatchTypeJSONPatch)}
	})
	handle("/warn", func(req *admissionv1.AdmissionRequest, _ metav1.PartialObjectMetadata) *admissionv1.AdmissionResponse {
		return &admissionv1.AdmissionResponse{Allowed: true, Warnings: []string{"checked by the service webhook: " + string(req.Operation) + " " + req.Resource.Resource}}
	})
	handle("/scale", func(req *admissionv1.AdmissionRequest, _ metav1.PartialObjectMetadata) *admissionv1.AdmissionResponse {
		var scale autoscalingv1.Scale
		json.Unmarshal(req.Object.Raw, &scale)
		switch {
		case req.Kind.Kind != "Scale" || req.Resource.Resource != "deployments" || req.SubResource != "scale":
			return &admissionv1.AdmissionResponse{Result: &metav1.Status{Message: fmt.Sprintf("unexpected %v %v %s", req.Kind, req.Resource, req.SubResource)}}
		case scale.Spec.Replicas > 5:
			return &admissionv1.AdmissionResponse{Result: &metav1.Status{Message: fmt.Sprintf("at most 5 replicas, not %d", scale.Spec.Replicas)}}
		}
		return &admissionv1.AdmissionResponse{Allowed: true}
	})
	handle("/connect", func(req *admissionv1.AdmissionRequest, _ metav1.PartialObjectMetadata) *admissionv1.AdmissionResponse {
		var opts corev1.PodExecOptions
		json.Unmarshal(req.Object.Raw, &opts)
		msg := fmt.Sprintf("%s %s/%s of %s: %s", req.Operation, req.Resource.Resource, req.SubResource, req.Kind.Kind, strings.Join(opts.Command, " "))
		return &admissionv1.AdmissionResponse{Result: &metav1.Status{Message: msg}}
	})
	handle("/subresource", func(req *admissionv1.AdmissionRequest, _ metav1.PartialObjectMetadata) *admissionv1.AdmissionResponse {
		msg := fmt.Sprintf("%s %s/%s of %s %s", req.Operation, req.Resource.Resource, req.SubResource, req.Kind.Kind, req.Name)
		return &admissionv1.AdmissionResponse{Result: &metav1.Status{Message: msg}}
	})
	b.Server = httptest.NewUnstartedServer(mux)
	cert, ca := webhookCertificate(t, "webhook.hooked.svc")
	b.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	b.Config.ErrorLog = log.New(io.Discard, "", 0)
	b.StartTLS()
	t.Cleanup(b.Close)
	b.caBundle = ca
	return b
}

// webhookCertificate is a self-signed serving certificate for 127.0.0.1, localhost and
// names, and its PEM (the caBundle that trusts it).
func webhookCertificate(t *testing.T, names ...string) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "webhook"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
		DNSNames: append([]string{"localhost"}, names...), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// webhookConfig renders a webhook configuration for kubectl apply.
func webhookConfig(kind, name, hook, clientConfig, caBundle, rules, extra string) string {
	return fmt.Sprintf(`apiVersion: admissionregistration.k8s.io/v1
kind: %s
metadata:
  name: %s
webhooks:
- name: %s
  admissionReviewVersions: ["v1"]
  sideEffects: None
  clientConfig:
    %s
    caBundle: %s
  rules:
  - %s
  namespaceSelector:
    matchLabels:
      webhook: "on"
%s`, kind, name, hook, clientConfig, caBundle, rules, extra)
}

func TestWebhookAdmission(t *testing.T) {
	s := testserver.Start(t)
	ctx := context.Background()
	backend := newWebhookBackend(t)
	ca := base64.StdEncoding.EncodeToString(backend.caBundle)
	podRules := `{operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"]}`
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "hooked", Labels: map[string]string{"webhook": "on"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "plain"}},
	} {
		if _, err := s.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	dryRunPod := func(ns string, labels map[string]string) (*corev1.Pod, error) {
		return s.Client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	}

	t.Run("discovery", func(t *testing.T) {
		out := s.MustKubectl(t, "api-resources", "--api-group=admissionregistration.k8s.io", "-o", "name")
		for _, r := range []string{"mutatingwebhookconfigurations", "validatingwebhookconfigurations", "validatingadmissionpolicies",
			"validatingadmissionpolicybindings", "mutatingadmissionpolicies", "mutatingadmissionpolicybindings"} {
			if !strings.Contains(out, r+".admissionregistration.k8s.io") {
				t.Errorf("api-resources lacks %s:\n%s", r, out)
			}
		}
		if out := s.MustKubectl(t, "explain", "validatingwebhookconfiguration.webhooks.sideEffects"); !strings.Contains(out, "sideEffects") {
			t.Errorf("explain: %s", out)
		}
	})

	t.Run("validating", func(t *testing.T) {
		cfg := webhookConfig("ValidatingWebhookConfiguration", "deny-labelled", "deny.webhook.test",
			fmt.Sprintf("url: %s/validate", backend.URL), ca, podRules, "  failurePolicy: Fail\n")
		if r := applyStdin(t, s, cfg); r.Err != nil {
			t.Fatalf("apply: %v\n%s", r.Err, r.Stderr)
		}
		poll(t, 30*time.Second, "the validating webhook to take effect", func() (bool, error) {
			_, err := dryRunPod("hooked", map[string]string{"webhook-test": "deny"})
			return err != nil && strings.Contains(err.Error(), "denied the request"), nil
		})
		r := s.Kubectl(t, "run", "refused", "-n", "hooked", "--image=busybox", "--restart=Never", "--labels=webhook-test=deny")
		want := `Error from server: admission webhook "deny.webhook.test" denied the request: pods labelled webhook-test=deny are refused`
		if r.Err == nil || !strings.Contains(r.Stderr, want) {
			t.Errorf("kubectl run of a refused pod: %v\nstderr: %s\nwant: %s", r.Err, r.Stderr, want)
		}
		s.MustKubectl(t, "run", "allowed", "-n", "hooked", "--image=busybox", "--restart=Never")
		// The namespace selector scopes the webhook to labelled namespaces.
		s.MustKubectl(t, "run", "elsewhere", "-n", "plain", "--image=busybox", "--restart=Never", "--labels=webhook-test=deny")

		out := s.MustKubectl(t, "get", "validatingwebhookconfigurations")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "NAME WEBHOOKS AGE" ||
			!strings.HasPrefix(strings.Join(strings.Fields(lines[1]), " "), "deny-labelled 1 ") {
			t.Errorf("kubectl get validatingwebhookconfigurations:\n%s", out)
		}
		got := s.MustKubectl(t, "get", "validatingwebhookconfiguration", "deny-labelled", "-o", "jsonpath={.webhooks[0].timeoutSeconds} {.webhooks[0].matchPolicy} {.webhooks[0].rules[0].scope} {.webhooks[0].objectSelector}")
		if got != "10 Equivalent * {}" {
			t.Errorf("defaults: %q", got)
		}
	})

	t.Run("mutating", func(t *testing.T) {
		cfg := webhookConfig("MutatingWebhookConfiguration", "add-label", "label.webhook.test",
			fmt.Sprintf("url: %s/mutate", backend.URL), ca, podRules, "  reinvocationPolicy: IfNeeded\n")
		if r := applyStdin(t, s, cfg); r.Err != nil {
			t.Fatalf("apply: %v\n%s", r.Err, r.Stderr)
		}
		poll(t, 30*time.Second, "the mutating webhook to take effect", func() (bool, error) {
			pod, err := dryRunPod("hooked", nil)
			return err == nil && pod.Labels["mutated-by"] == "webhook", err
		})
		s.MustKubectl(t, "run", "mutated", "-n", "hooked", "--image=busybox", "--restart=Never")
		out := s.MustKubectl(t, "get", "pod", "mutated", "-n", "hooked", "-o", "yaml")
		if !strings.Contains(out, "mutated-by: webhook") || !strings.Contains(out, "run: mutated") {
			t.Errorf("the mutating webhook's label is not on the pod:\n%s", out)
		}
		if out := s.MustKubectl(t, "get", "pod", "elsewhere", "-n", "plain", "-o", "jsonpath={.metadata.labels}"); strings.Contains(out, "mutated-by") {
			t.Errorf("a pod outside the selected namespaces was mutated: %s", out)
		}
	})

	t.Run("subresources", func(t *testing.T) {
		cfg := webhookConfig("ValidatingWebhookConfiguration", "scale-limit", "scale.webhook.test", fmt.Sprintf("url: %s/scale", backend.URL), ca,
			`{operations: ["UPDATE"], apiGroups: ["apps"], apiVersions: ["v1"], resources: ["*/scale"]}`, "") +
			"---\n" + webhookConfig("ValidatingWebhookConfiguration", "no-exec", "exec.webhook.test", fmt.Sprintf("url: %s/connect", backend.URL), ca,
			`{operations: ["CONNECT"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods/exec"]}`, "") +
			"---\n" + webhookConfig("ValidatingWebhookConfiguration", "no-eviction-or-token", "subresource.webhook.test", fmt.Sprintf("url: %s/subresource", backend.URL), ca,
			`{operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods/eviction", "serviceaccounts/token"]}`, "")
		if r := applyStdin(t, s, cfg); r.Err != nil {
			t.Fatalf("apply: %v\n%s", r.Err, r.Stderr)
		}
		s.MustKubectl(t, "create", "deployment", "web", "-n", "hooked", "--image=busybox", "--replicas=1")
		poll(t, 30*time.Second, "the scale webhook to refuse", func() (bool, error) {
			r := s.Kubectl(t, "scale", "deployment", "web", "-n", "hooked", "--replicas=9")
			return r.Err != nil && strings.Contains(r.Stderr, `admission webhook "scale.webhook.test" denied the request: at most 5 replicas, not 9`), nil
		})
		s.MustKubectl(t, "scale", "deployment", "web", "-n", "hooked", "--replicas=3")
		if out := s.MustKubectl(t, "get", "deployment", "web", "-n", "hooked", "-o", "jsonpath={.spec.replicas}"); out != "3" {
			t.Errorf("replicas %q", out)
		}
		poll(t, 30*time.Second, "the exec webhook to refuse", func() (bool, error) {
			r := s.Kubectl(t, "exec", "allowed", "-n", "hooked", "--", "ls", "/")
			return r.Err != nil && strings.Contains(r.Stderr, `admission webhook "exec.webhook.test" denied the request: CONNECT pods/exec of PodExecOptions: ls /`), nil
		})
		poll(t, 30*time.Second, "the eviction webhook to refuse", func() (bool, error) {
			err := s.Client.PolicyV1().Evictions("hooked").Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "allowed", Namespace: "hooked"}})
			return err != nil && strings.Contains(err.Error(), `admission webhook "subresource.webhook.test" denied the request: CREATE pods/eviction of Eviction allowed`), nil
		})
		if _, err := s.Client.CoreV1().ServiceAccounts("hooked").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "bot"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		r := s.Kubectl(t, "create", "token", "bot", "-n", "hooked")
		if want := `admission webhook "subresource.webhook.test" denied the request: CREATE serviceaccounts/token of TokenRequest bot`; r.Err == nil || !strings.Contains(r.Stderr, want) {
			t.Errorf("token request: %v\n%s", r.Err, r.Stderr)
		}
	})

	t.Run("failurePolicy", func(t *testing.T) {
		down := httptest.NewTLSServer(http.NotFoundHandler())
		downURL := down.URL
		down.Close() // nothing answers there any more
		cfg := webhookConfig("ValidatingWebhookConfiguration", "down", "down.webhook.test", fmt.Sprintf("url: %s/validate", downURL), ca,
			`{operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["configmaps"]}`, "  failurePolicy: Fail\n")
		if r := applyStdin(t, s, cfg); r.Err != nil {
			t.Fatalf("apply: %v\n%s", r.Err, r.Stderr)
		}
		poll(t, 30*time.Second, "the unreachable webhook to fail requests", func() (bool, error) {
			r := s.Kubectl(t, "create", "configmap", "probe", "-n", "hooked", "--dry-run=server")
			return r.Err != nil && strings.Contains(r.Stderr, `failed calling webhook "down.webhook.test"`), nil
		})
		r := s.Kubectl(t, "create", "configmap", "refused", "-n", "hooked")
		want := `failed to create configmap: Internal error occurred: failed calling webhook "down.webhook.test": failed to call webhook: Post "` + downURL + `/validate?timeout=10s": dial tcp`
		if r.Err == nil || !strings.Contains(r.Stderr, want) {
			t.Errorf("Fail: %v\nstderr: %s\nwant: %s", r.Err, r.Stderr, want)
		}
		s.MustKubectl(t, "patch", "validatingwebhookconfiguration", "down", "--type=json", "-p", `[{"op":"replace","path":"/webhooks/0/failurePolicy","value":"Ignore"}]`)
		poll(t, 30*time.Second, "failurePolicy Ignore to let requests through", func() (bool, error) {
			return s.Kubectl(t, "create", "configmap", "ignored", "-n", "hooked").Err == nil, nil
		})
		s.MustKubectl(t, "delete", "validatingwebhookconfiguration", "down")
	})

	t.Run("service", func(t *testing.T) {
		// A Service of type ExternalName resolves to the test's webhook on localhost; the
		// certificate is checked for webhook.hooked.svc.
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(backend.URL, "https://"))
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "webhook", Namespace: "hooked"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "localhost"}}
		if _, err := s.Client.CoreV1().Services("hooked").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		cfg := webhookConfig("ValidatingWebhookConfiguration", "by-service", "service.webhook.test",
			fmt.Sprintf("service: {namespace: hooked, name: webhook, port: %s, path: /warn}", port), ca,
			`{operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["secrets"]}`, "")
		if r := applyStdin(t, s, cfg); r.Err != nil {
			t.Fatalf("apply: %v\n%s", r.Err, r.Stderr)
		}
		poll(t, 30*time.Second, "the webhook behind the Service to answer", func() (bool, error) {
			r := s.Kubectl(t, "create", "secret", "generic", "probe", "-n", "hooked", "--dry-run=server")
			if r.Err != nil {
				return false, fmt.Errorf("%v: %s", r.Err, r.Stderr)
			}
			return strings.Contains(r.Stderr, "Warning: checked by the service webhook: CREATE secrets"), nil
		})
		// A Service that does not exist fails the call.
		s.MustKubectl(t, "delete", "service", "webhook", "-n", "hooked")
		poll(t, 30*time.Second, "the missing Service to fail the call", func() (bool, error) {
			r := s.Kubectl(t, "create", "secret", "generic", "probe", "-n", "hooked", "--dry-run=server")
			return r.Err != nil && strings.Contains(r.Stderr, `failed calling webhook "service.webhook.test": failed to call webhook: Post "https://webhook.hooked.svc:`+port+`/warn?timeout=10s": services "webhook" not found`), nil
		})
		s.MustKubectl(t, "delete", "validatingwebhookconfiguration", "by-service")
	})

	t.Run("validation", func(t *testing.T) {
		cfg := webhookConfig("ValidatingWebhookConfiguration", "side-effects", "unknown.webhook.test",
			fmt.Sprintf("url: %s/validate", backend.URL), ca, podRules, "")
		cfg = strings.Replace(cfg, "sideEffects: None", "sideEffects: Unknown", 1)
		r := applyStdin(t, s, cfg)
		want := `webhooks[0].sideEffects: Unsupported value: "Unknown": supported values: "None", "NoneOnDryRun"`
		if r.Err == nil || !strings.Contains(r.Stderr, want) {
			t.Errorf("sideEffects Unknown accepted: %v\n%s", r.Err, r.Stderr)
		}
	})
}

// TestWebhookDryRunSideEffects checks that a dry run is refused by a webhook whose side
// effects are Unknown. v1 refuses to create such a webhook, so it is written to etcd the way
// a configuration from v1beta1 days would be there.
func TestWebhookDryRunSideEffects(t *testing.T) {
	etcd := testserver.StartEtcd(t)
	s := testserver.Start(t, testserver.Options{EtcdServers: []string{etcd}})
	ctx := context.Background()
	backend := newWebhookBackend(t)
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "legacy", UID: types.UID("7e57ab1e-0000-4000-8000-000000000001"), CreationTimestamp: metav1.Now()},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    "unknown.webhook.test",
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassUnknown),
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To(backend.URL + "/validate"), CABundle: backend.caBundle},
			Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
		}},
	}
	cfg.SetGroupVersionKind(admissionregistrationv1.SchemeGroupVersion.WithKind("ValidatingWebhookConfiguration"))
	putStored(ctx, t, etcd, "/registry/admissionregistration.k8s.io/validatingwebhookconfigurations/legacy", cfg)
	want := `Error from server (BadRequest): admission webhook "unknown.webhook.test" does not support dry run`
	poll(t, 30*time.Second, "dry runs to be refused", func() (bool, error) {
		r := s.Kubectl(t, "run", "dry", "--image=busybox", "--restart=Never", "--dry-run=server")
		return r.Err != nil && strings.Contains(r.Stderr, want), nil
	})
	if backend.calls.Load() != 0 {
		t.Errorf("the webhook was called %d times for dry runs", backend.calls.Load())
	}
	// A real create is sent to the webhook.
	s.MustKubectl(t, "run", "real", "--image=busybox", "--restart=Never")
	if backend.calls.Load() == 0 {
		t.Error("the webhook was not called for a create")
	}
	if out := s.MustKubectl(t, "get", "validatingwebhookconfigurations", "legacy", "-o", "jsonpath={.webhooks[0].sideEffects}"); out != "Unknown" {
		t.Errorf("stored sideEffects: %q", out)
	}
}
