package apiserver

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// conversionServer is an HTTPS conversion webhook: v1 objects have spec.host and
// spec.port, v2 objects spec.url. answer may spoil the review it sends back.
type conversionServer struct {
	*httptest.Server
	caBundle []byte
	mu       sync.Mutex
	reviews  []conversionReview
	answer   func(review *conversionReview)
	// httpError, when set, is the HTTP status of every answer.
	httpError int
}

func newConversionServer(t *testing.T) *conversionServer {
	t.Helper()
	cs := &conversionServer{}
	cs.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review conversionReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
			http.Error(w, fmt.Sprintf("bad review: %v", err), http.StatusBadRequest)
			return
		}
		cs.mu.Lock()
		cs.reviews = append(cs.reviews, review)
		answer, httpError := cs.answer, cs.httpError
		cs.mu.Unlock()
		if httpError != 0 {
			http.Error(w, "boom", httpError)
			return
		}
		resp := &apiextensionsv1.ConversionResponse{UID: review.Request.UID, Result: metav1.Status{Status: metav1.StatusSuccess}}
		for _, raw := range review.Request.Objects {
			u := &unstructured.Unstructured{}
			if err := u.UnmarshalJSON(raw.Raw); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			convertHostPort(u, review.Request.DesiredAPIVersion)
			data, _ := u.MarshalJSON()
			resp.ConvertedObjects = append(resp.ConvertedObjects, runtime.RawExtension{Raw: data})
		}
		out := &conversionReview{APIVersion: review.APIVersion, Kind: "ConversionReview", Response: resp}
		if answer != nil {
			answer(out)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	}))
	cs.Config.ErrorLog = log.New(io.Discard, "", 0)
	cs.StartTLS()
	t.Cleanup(cs.Close)
	cs.caBundle = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cs.Certificate().Raw})
	return cs
}

func (cs *conversionServer) calls() []conversionReview {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return append([]conversionReview(nil), cs.reviews...)
}

func (cs *conversionServer) setAnswer(f func(*conversionReview)) {
	cs.mu.Lock()
	cs.answer = f
	cs.mu.Unlock()
}

// convertHostPort converts between v1 (spec.host, spec.port) and v2 (spec.url).
func convertHostPort(u *unstructured.Unstructured, to string) {
	spec, _, _ := unstructured.NestedMap(u.Object, "spec")
	if spec == nil {
		spec = map[string]any{}
	}
	switch {
	case strings.HasSuffix(to, "/v2") && strings.HasSuffix(u.GetAPIVersion(), "/v1"):
		spec["url"] = fmt.Sprintf("%v:%v", spec["host"], spec["port"])
		delete(spec, "host")
		delete(spec, "port")
	case strings.HasSuffix(to, "/v1") && strings.HasSuffix(u.GetAPIVersion(), "/v2"):
		host, port, _ := strings.Cut(fmt.Sprint(spec["url"]), ":")
		spec["host"], spec["port"] = host, port
		delete(spec, "url")
	}
	u.Object["spec"] = spec
	u.SetAPIVersion(to)
	labels := u.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels["converted-to"] = strings.TrimPrefix(to, "example.com/")
	u.SetLabels(labels)
	// Changes to metadata other than labels and annotations are dropped.
	u.SetGeneration(42)
}

func conversionCRD(url string, caBundle []byte, reviewVersions ...string) *apiextensionsv1.CustomResourceDefinition {
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "endpoints.example.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "example.com",
			Conversion: &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.WebhookConverter,
				Webhook: &apiextensionsv1.WebhookConversion{
					ClientConfig:             &apiextensionsv1.WebhookClientConfig{URL: ptr.To(url + "/convert"), CABundle: caBundle},
					ConversionReviewVersions: reviewVersions,
				}},
		},
	}
}

func hostPortObject(name, version string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "example.com/" + version, "kind": "Endpoint",
		"metadata": map[string]any{"name": name, "namespace": "default", "uid": "uid-" + name, "generation": int64(1)},
	}}
	if version == "v1" {
		u.Object["spec"] = map[string]any{"host": name + ".example", "port": int64(80)}
	} else {
		u.Object["spec"] = map[string]any{"url": name + ".example:80"}
	}
	return u
}

var (
	gvV1 = schema.GroupVersion{Group: "example.com", Version: "v1"}
	gvV2 = schema.GroupVersion{Group: "example.com", Version: "v2"}
)

func TestConversionWebhookConverts(t *testing.T) {
	s := testServer()
	cs := newConversionServer(t)
	hook := newCRDWebhook(conversionCRD(cs.URL, cs.caBundle, "v3", "v1", "v1beta1"))
	if hook.reviewVersion != "v1" {
		t.Fatalf("review version %q, want the first known one, v1", hook.reviewVersion)
	}
	obj := hostPortObject("a", "v1")
	before := obj.Object
	if err := s.convertCRs(context.Background(), hook, []*unstructured.Unstructured{obj}, gvV1.WithKind("Endpoint"), gvV2); err != nil {
		t.Fatal(err)
	}
	if url, _, _ := unstructured.NestedString(obj.Object, "spec", "url"); url != "a.example:80" || obj.GetAPIVersion() != "example.com/v2" {
		t.Errorf("converted: %v", obj.Object)
	}
	if obj.GetLabels()["converted-to"] != "v2" || obj.GetGeneration() != 1 {
		t.Errorf("metadata: labels %v kept, generation %d restored", obj.GetLabels(), obj.GetGeneration())
	}
	if _, ok := before["spec"].(map[string]any)["host"]; !ok {
		t.Errorf("the original content was changed: %v", before)
	}
	calls := cs.calls()
	if len(calls) != 1 || calls[0].APIVersion != "apiextensions.k8s.io/v1" || calls[0].Request.DesiredAPIVersion != "example.com/v2" || calls[0].Request.UID == "" {
		t.Fatalf("reviews: %+v", calls)
	}

	// A list converts in one review; objects already in the desired version are not sent,
	// objects without apiVersion are in the storage version.
	unlabelled := hostPortObject("c", "v1")
	delete(unlabelled.Object, "apiVersion")
	delete(unlabelled.Object, "kind")
	list := &unstructured.UnstructuredList{Items: []unstructured.Unstructured{*hostPortObject("a", "v1"), *hostPortObject("b", "v2"), *unlabelled}}
	res := &resource{resourceDef: resourceDef{group: "example.com", version: "v2"}}
	res.gvk = gvV2.WithKind("Endpoint")
	res.cr = &crInfo{storageVersion: "v1", hook: hook}
	if err := s.crServed(context.Background(), res, list); err != nil {
		t.Fatal(err)
	}
	calls = cs.calls()
	if len(calls) != 2 || len(calls[1].Request.Objects) != 2 {
		t.Fatalf("list: %d reviews, last with %d objects", len(calls), len(calls[len(calls)-1].Request.Objects))
	}
	for _, it := range list.Items {
		if url, _, _ := unstructured.NestedString(it.Object, "spec", "url"); url != it.GetName()+".example:80" || it.GetAPIVersion() != "example.com/v2" {
			t.Errorf("list item %s: %v", it.GetName(), it.Object)
		}
	}
	// Nothing to convert: no call.
	if err := s.crServed(context.Background(), res, list); err != nil || len(cs.calls()) != 2 {
		t.Errorf("converting converted objects: %v, %d calls", err, len(cs.calls()))
	}

	// v1beta1 reviews when the definition lists it first.
	beta := newCRDWebhook(conversionCRD(cs.URL, cs.caBundle, "v1beta1", "v1"))
	if err := s.convertCRs(context.Background(), beta, []*unstructured.Unstructured{hostPortObject("d", "v2")}, gvV1.WithKind("Endpoint"), gvV1); err != nil {
		t.Fatal(err)
	}
	if calls = cs.calls(); calls[len(calls)-1].APIVersion != "apiextensions.k8s.io/v1beta1" {
		t.Errorf("sent %s", calls[len(calls)-1].APIVersion)
	}
}

func TestConversionWebhookRefusedAnswers(t *testing.T) {
	s := testServer()
	cs := newConversionServer(t)
	hook := newCRDWebhook(conversionCRD(cs.URL, cs.caBundle, "v1"))
	for _, tc := range []struct {
		name   string
		answer func(*conversionReview)
		list   bool
		want   string
	}{
		{"wrong uid", func(r *conversionReview) { r.Response.UID = "other" },
			false, `conversion webhook for example.com/v1, Kind=Endpoint failed: expected response.uid=`},
		{"failure result", func(r *conversionReview) {
			r.Response.Result = metav1.Status{Status: metav1.StatusFailure, Message: "cannot convert endpoints today"}
			r.Response.ConvertedObjects = nil
		}, false, `conversion webhook for example.com/v1, Kind=Endpoint failed: cannot convert endpoints today`},
		{"failure without message", func(r *conversionReview) { r.Response.Result = metav1.Status{Status: metav1.StatusFailure} },
			false, `failed: response.result.status was 'Failure', not 'Success'`},
		{"wrong kind of review", func(r *conversionReview) { r.APIVersion = "apiextensions.k8s.io/v1beta1" },
			false, `failed: expected webhook response of apiextensions.k8s.io/v1, Kind=ConversionReview, got apiextensions.k8s.io/v1beta1, Kind=ConversionReview`},
		{"no response", func(r *conversionReview) { r.Response = nil }, false, `failed: no response provided`},
		{"count mismatch", func(r *conversionReview) {
			r.Response.ConvertedObjects = append(r.Response.ConvertedObjects, r.Response.ConvertedObjects[0])
		},
			true, `conversion webhook for example.com/v1, Kind=Endpoint returned 3 objects, expected 2`},
		{"changed name", func(r *conversionReview) {
			r.Response.ConvertedObjects[0].Raw = []byte(strings.Replace(string(r.Response.ConvertedObjects[0].Raw), `"name":"a"`, `"name":"z"`, 1))
		}, false, `conversion webhook for example.com/v1, Kind=Endpoint returned invalid object: must have the same name: a != z`},
		{"changed uid in a list", func(r *conversionReview) {
			r.Response.ConvertedObjects[1].Raw = []byte(strings.Replace(string(r.Response.ConvertedObjects[1].Raw), `"uid":"uid-b"`, `"uid":"uid-z"`, 1))
		}, true, `returned invalid converted object at index 1: must have the same UID: uid-b != uid-z`},
		{"wrong version", func(r *conversionReview) {
			r.Response.ConvertedObjects[0].Raw = []byte(strings.Replace(string(r.Response.ConvertedObjects[0].Raw), `example.com/v2`, `example.com/v1`, 1))
		}, false, `returned invalid object: invalid groupVersion (expected example.com/v2, received example.com/v1)`},
		{"invalid label", func(r *conversionReview) {
			r.Response.ConvertedObjects[0].Raw = []byte(strings.Replace(string(r.Response.ConvertedObjects[0].Raw), `"converted-to":"v2"`, `"converted-to":"not valid!"`, 1))
		}, false, `returned invalid metadata: metadata.labels: Invalid value: "not valid!"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs.setAnswer(tc.answer)
			objs := []*unstructured.Unstructured{hostPortObject("a", "v1")}
			if tc.list {
				objs = append(objs, hostPortObject("b", "v1"))
			}
			err := s.convertCRs(context.Background(), hook, objs, gvV1.WithKind("Endpoint"), gvV2)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if st, ok := err.(apierrors.APIStatus); !ok || st.Status().Code != http.StatusInternalServerError {
				t.Errorf("not a 500 Status: %#v", err)
			}
			if url, _, _ := unstructured.NestedString(objs[0].Object, "spec", "url"); url != "" {
				t.Errorf("object converted despite the error: %v", objs[0].Object)
			}
		})
	}

	// A webhook that cannot be reached, or answers with an HTTP error.
	cs.setAnswer(nil)
	down := newCRDWebhook(conversionCRD("https://127.0.0.1:1", cs.caBundle, "v1"))
	err := s.convertCRs(context.Background(), down, []*unstructured.Unstructured{hostPortObject("a", "v1")}, gvV1.WithKind("Endpoint"), gvV2)
	if err == nil || !strings.Contains(err.Error(), `conversion webhook for example.com/v1, Kind=Endpoint failed: Post "https://127.0.0.1:1/convert?timeout=30s"`) {
		t.Errorf("unreachable: %v", err)
	}
	cs.mu.Lock()
	cs.httpError = http.StatusInternalServerError
	cs.mu.Unlock()
	err = s.convertCRs(context.Background(), hook, []*unstructured.Unstructured{hostPortObject("a", "v1")}, gvV1.WithKind("Endpoint"), gvV2)
	if err == nil || !strings.Contains(err.Error(), "conversion webhook for example.com/v1, Kind=Endpoint failed: ") {
		t.Errorf("HTTP error: %v", err)
	}
}

// TestCRDCodecConverts: the store's codec converts objects written in another version into
// the storage version, in place, and objects stored in an older storage version into the
// current one.
func TestCRDCodecConverts(t *testing.T) {
	s := testServer()
	cs := newConversionServer(t)
	codec := newCRDCodec(gvV1.WithKind("Endpoint"))
	codec.conv.Store(&crdConversion{server: s, hook: newCRDWebhook(conversionCRD(cs.URL, cs.caBundle, "v1"))})
	obj := hostPortObject("a", "v2")
	data, err := codec.Encode(obj)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"host":"a.example"`) || !strings.Contains(string(data), `"apiVersion":"example.com/v1"`) {
		t.Errorf("stored %s", data)
	}
	if host, _, _ := unstructured.NestedString(obj.Object, "spec", "host"); host != "a.example" {
		t.Errorf("not converted in place: %v", obj.Object)
	}
	// Unlabelled objects are in the storage version: no call.
	n := len(cs.calls())
	delete(obj.Object, "apiVersion")
	if _, err := codec.Encode(obj); err != nil || len(cs.calls()) != n {
		t.Errorf("storage version object: %v, %d calls", err, len(cs.calls())-n)
	}
	// Stored as v2 (an earlier storage version): decoded into v1.
	old, _ := hostPortObject("b", "v2").MarshalJSON()
	into := &unstructured.Unstructured{}
	if err := codec.Decode(old, into); err != nil {
		t.Fatal(err)
	}
	if host, _, _ := unstructured.NestedString(into.Object, "spec", "host"); host != "b.example" {
		t.Errorf("decoded %v", into.Object)
	}
}

func TestCRDConversionValidation(t *testing.T) {
	valid := func() *apiextensionsv1.CustomResourceDefinition {
		return conversionCRD("https://convert.example.com", nil, "v1")
	}
	for _, tc := range []struct {
		name   string
		change func(c *apiextensionsv1.CustomResourceDefinition)
		want   []string
	}{
		{"valid", func(*apiextensionsv1.CustomResourceDefinition) {}, nil},
		{"no webhook", func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.Conversion.Webhook = nil }, []string{
			"spec.conversion.webhookClientConfig: Required value: required when strategy is set to Webhook",
			"spec.conversion.conversionReviewVersions: Required value"}},
		{"unknown review versions", func(c *apiextensionsv1.CustomResourceDefinition) {
			c.Spec.Conversion.Webhook.ConversionReviewVersions = []string{"v2", "v2"}
		}, []string{
			`spec.conversion.conversionReviewVersions[1]: Invalid value: "v2": duplicate version`,
			`spec.conversion.conversionReviewVersions: Invalid value: ["v2","v2"]: must include at least one of v1, v1beta1`}},
		{"url and service", func(c *apiextensionsv1.CustomResourceDefinition) {
			c.Spec.Conversion.Webhook.ClientConfig.Service = &apiextensionsv1.ServiceReference{Namespace: "ns", Name: "svc"}
		}, []string{"spec.conversion.webhookClientConfig: Required value: exactly one of url or service is required"}},
		{"http url", func(c *apiextensionsv1.CustomResourceDefinition) {
			c.Spec.Conversion.Webhook.ClientConfig.URL = ptr.To("http://convert.example.com")
		}, []string{`spec.conversion.webhookClientConfig.url: Invalid value: "http": 'https' is the only allowed URL scheme`}},
		{"bad caBundle", func(c *apiextensionsv1.CustomResourceDefinition) {
			c.Spec.Conversion.Webhook.ClientConfig.CABundle = []byte("nope")
		}, []string{"spec.conversion.webhookClientConfig.caBundle: Invalid value:"}},
		{"preserveUnknownFields", func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.PreserveUnknownFields = true },
			[]string{`spec.conversion.strategy: Invalid value: "Webhook": must be None if spec.preserveUnknownFields is true`}},
		{"None with a webhook", func(c *apiextensionsv1.CustomResourceDefinition) {
			c.Spec.Conversion.Strategy = apiextensionsv1.NoneConverter
		}, []string{
			"spec.conversion.webhookClientConfig: Forbidden: should not be set when strategy is not set to Webhook",
			"spec.conversion.conversionReviewVersions: Forbidden: should not be set when strategy is not set to Webhook"}},
		{"unknown strategy", func(c *apiextensionsv1.CustomResourceDefinition) {
			c.Spec.Conversion = &apiextensionsv1.CustomResourceConversion{Strategy: "Magic"}
		},
			[]string{`spec.conversion.strategy: Unsupported value: "Magic": supported values: "None", "Webhook"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			crd := valid()
			tc.change(crd)
			errs := validateCRDConversion(crd, nil, field.NewPath("spec"))
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("error %d: got %q, want %q", i, got[i], tc.want[i])
				}
			}
		})
	}
	// An update may keep review versions the server does not know.
	old := valid()
	old.Spec.Conversion.Webhook.ConversionReviewVersions = []string{"v9"}
	crd := old.DeepCopy()
	if errs := validateCRDConversion(crd, old, field.NewPath("spec")); len(errs) != 0 {
		t.Errorf("update keeping unknown versions: %v", errs)
	}
}
