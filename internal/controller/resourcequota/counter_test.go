package resourcequota

import (
	"context"
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	discoveryfake "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
)

func TestMetadataCounter(t *testing.T) {
	partial := func(apiVersion, kind, namespace, name string) *metav1.PartialObjectMetadata {
		return &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: apiVersion, Kind: kind},
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	}
	scheme := runtime.NewScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	meta := metadatafake.NewSimpleMetadataClient(scheme,
		partial("apps/v1", "Deployment", ns, "a"),
		partial("apps/v1", "Deployment", ns, "b"),
		partial("apps/v1", "Deployment", "other", "c"),
		partial("v1", "ServiceAccount", ns, "default"),
		partial("example.com/v1", "Widget", ns, "w"),
	)
	disco := fake.NewClientset().Discovery().(*discoveryfake.FakeDiscovery)
	verbs := []string{"create", "delete", "get", "list", "watch"}
	disco.Resources = []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "serviceaccounts", Namespaced: true, Kind: "ServiceAccount", Verbs: verbs},
			{Name: "nodes", Namespaced: false, Kind: "Node", Verbs: verbs},
		}},
		{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
			{Name: "deployments", Namespaced: true, Kind: "Deployment", Verbs: verbs},
		}},
	}
	count := MetadataCounter(meta, disco)
	ctx := context.Background()
	for _, tc := range []struct {
		gr      schema.GroupResource
		want    int64
		unknown bool
	}{
		{gr: schema.GroupResource{Group: "apps", Resource: "deployments"}, want: 2},
		{gr: schema.GroupResource{Resource: "serviceaccounts"}, want: 1},
		{gr: schema.GroupResource{Resource: "nodes"}, unknown: true},
		{gr: schema.GroupResource{Group: "example.com", Resource: "widgets"}, unknown: true},
	} {
		n, err := count(ctx, tc.gr, ns)
		if tc.unknown {
			if !errors.Is(err, ErrUnknownResource) {
				t.Errorf("%v: %d, %v; want ErrUnknownResource", tc.gr, n, err)
			}
			continue
		}
		if err != nil || n != tc.want {
			t.Errorf("%v: %d, %v; want %d", tc.gr, n, err, tc.want)
		}
	}

	// A resource served later is found once discovery may be read again.
	widgets := schema.GroupResource{Group: "example.com", Resource: "widgets"}
	disco.Resources = append(disco.Resources, &metav1.APIResourceList{GroupVersion: "example.com/v1",
		APIResources: []metav1.APIResource{{Name: "widgets", Namespaced: true, Kind: "Widget", Verbs: verbs}}})
	if _, err := count(ctx, widgets, ns); !errors.Is(err, ErrUnknownResource) {
		t.Errorf("widgets counted before discovery is read again: %v", err)
	}
	defer func(d time.Duration) { rediscoverAfter = d }(rediscoverAfter)
	rediscoverAfter = 0
	if n, err := count(ctx, widgets, ns); err != nil || n != 1 {
		t.Errorf("widgets: %d, %v; want 1", n, err)
	}
}
