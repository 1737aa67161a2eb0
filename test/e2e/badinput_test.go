package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/kijabi/kijabi/internal/testserver"
)

// TestBadInput sends malformed and invalid requests: each must get a Kubernetes Status error
// with the right code and reason, and leave nothing behind.
func TestBadInput(t *testing.T) {
	s := testserver.Start(t)
	ctx := context.Background()
	rc := s.Client.CoreV1().RESTClient()
	// ConfigMaps the server makes itself (kube-system/extension-apiserver-authentication)
	// are there before any request.
	before := map[string]bool{}
	existing, err := s.Client.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cm := range existing.Items {
		before[cm.Namespace+"/"+cm.Name] = true
	}
	big := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big"},"data":{"x":"` + strings.Repeat("a", 3*1024*1024+10) + `"}}`
	cases := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		params      map[string]string
		code        int
		reason      metav1.StatusReason
		causeField  string
	}{
		{"malformed JSON", "POST", "/api/v1/namespaces/default/configmaps", "application/json", `{"apiVersion":"v1","kind":"ConfigMap",`, nil, 400, metav1.StatusReasonBadRequest, ""},
		{"malformed YAML", "POST", "/api/v1/namespaces/default/configmaps", "application/yaml", "apiVersion: v1\nkind: [ConfigMap\n", nil, 400, metav1.StatusReasonBadRequest, ""},
		{"unknown field strict", "POST", "/api/v1/namespaces/default/configmaps", "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"u1"},"bogus":1}`, map[string]string{"fieldValidation": "Strict"}, 400, metav1.StatusReasonBadRequest, ""},
		{"wrong kind for resource", "POST", "/api/v1/namespaces/default/configmaps", "application/json", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"k1"}}`, nil, 400, metav1.StatusReasonBadRequest, ""},
		{"unknown apiVersion", "POST", "/api/v1/namespaces/default/configmaps", "application/json", `{"apiVersion":"nope/v9","kind":"ConfigMap","metadata":{"name":"k2"}}`, nil, 400, metav1.StatusReasonBadRequest, ""},
		{"unknown resource", "GET", "/api/v1/namespaces/default/widgets", "", "", nil, 404, metav1.StatusReasonNotFound, ""},
		{"invalid name", "POST", "/api/v1/namespaces/default/configmaps", "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_A_Name"}}`, nil, 422, metav1.StatusReasonInvalid, "metadata.name"},
		{"invalid deployment", "POST", "/apis/apps/v1/namespaces/default/deployments", "application/json",
			`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"c"}},"spec":{"containers":[{"name":"c"}]}}}}`,
			nil, 422, metav1.StatusReasonInvalid, "spec.template.spec.containers[0].image"},
		{"body too large", "POST", "/api/v1/namespaces/default/configmaps", "application/json", big, nil, 413, metav1.StatusReasonRequestEntityTooLarge, ""},
		{"wrong content type", "POST", "/api/v1/namespaces/default/configmaps", "text/plain", `hello`, nil, 415, metav1.StatusReasonUnsupportedMediaType, ""},
		{"missing namespace", "POST", "/api/v1/namespaces/nowhere/configmaps", "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"n1"}}`, nil, 404, metav1.StatusReasonNotFound, ""},
		{"namespace mismatch", "POST", "/api/v1/namespaces/default/configmaps", "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"n2","namespace":"kube-system"}}`, nil, 400, metav1.StatusReasonBadRequest, ""},
		{"bad label selector", "GET", "/api/v1/namespaces/default/configmaps", "", "", map[string]string{"labelSelector": "a in (b"}, 400, metav1.StatusReasonBadRequest, ""},
		{"unsupported field selector", "GET", "/api/v1/namespaces/default/configmaps", "", "", map[string]string{"fieldSelector": "spec.nope=x"}, 400, metav1.StatusReasonBadRequest, ""},
		{"bad dryRun", "POST", "/api/v1/namespaces/default/configmaps", "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"n3"}}`, map[string]string{"dryRun": "Some"}, 400, metav1.StatusReasonBadRequest, ""},
		{"bad patch type", "PATCH", "/api/v1/namespaces/default/configmaps/kube-root", "application/xml", `<x/>`, nil, 415, metav1.StatusReasonUnsupportedMediaType, ""},
		{"get missing", "GET", "/api/v1/namespaces/default/configmaps/none", "", "", nil, 404, metav1.StatusReasonNotFound, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := rc.Verb(tc.method).AbsPath(tc.path)
			if tc.body != "" {
				req = req.Body([]byte(tc.body)).SetHeader("Content-Type", tc.contentType)
			}
			for k, v := range tc.params {
				req = req.Param(k, v)
			}
			err := req.Do(ctx).Error()
			status, ok := err.(apierrors.APIStatus)
			if !ok {
				t.Fatalf("got %v (%T), want a Status error", err, err)
			}
			st := status.Status()
			if int(st.Code) != tc.code || st.Reason != tc.reason {
				t.Fatalf("got %d %s (%s), want %d %s", st.Code, st.Reason, st.Message, tc.code, tc.reason)
			}
			if tc.causeField != "" {
				found := false
				if st.Details != nil {
					for _, c := range st.Details.Causes {
						if c.Field == tc.causeField {
							found = true
						}
					}
				}
				if !found {
					t.Fatalf("no cause for field %s in %+v", tc.causeField, st.Details)
				}
			}
		})
	}
	// Nothing above may have left an object behind.
	list, err := s.Client.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cm := range list.Items {
		if !before[cm.Namespace+"/"+cm.Name] {
			t.Errorf("bad request left %s/%s behind", cm.Namespace, cm.Name)
		}
	}
	deps, _ := s.Client.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
	if len(deps.Items) > 0 {
		t.Errorf("bad request left deployments behind: %d", len(deps.Items))
	}
}

func TestConflictAndPreconditions(t *testing.T) {
	s := testserver.Start(t)
	ctx := context.Background()
	cms := s.Client.CoreV1().ConfigMaps("default")
	cm, _ := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}}, metav1.CreateOptions{})
	if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("duplicate create: %v", err)
	}
	stale := cm.DeepCopy()
	cm.Data = map[string]string{"a": "1"}
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	stale.Data = map[string]string{"a": "2"}
	if _, err := cms.Update(ctx, stale, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("stale update: %v", err)
	}
	wrongRV := stale.ResourceVersion
	err := cms.Delete(ctx, "c", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &wrongRV}})
	if !apierrors.IsConflict(err) {
		t.Fatalf("delete with stale precondition: %v", err)
	}
	got, err := cms.Get(ctx, "c", metav1.GetOptions{})
	if err != nil || got.Data["a"] != "1" {
		t.Fatalf("after refused writes: %v %+v", err, got)
	}
	// dryRun creates nothing.
	_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "dry"}}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Get(ctx, "dry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("dry-run create stored the object: %v", err)
	}
	// Unsupported verb on a collection.
	err = s.Client.CoreV1().RESTClient().Put().AbsPath("/api/v1/namespaces/default/configmaps").
		Body([]byte(`{}`)).SetHeader("Content-Type", "application/json").Do(ctx).Error()
	if st, ok := err.(apierrors.APIStatus); !ok || st.Status().Code != http.StatusMethodNotAllowed && st.Status().Code != http.StatusNotFound {
		t.Fatalf("PUT on a collection: %v", err)
	}
	_ = rest.Config{}
}
