package garbagecollector

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
)

var (
	podsGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	rsGVR   = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}
)

func partial(apiVersion, kind string, m *metav1.ObjectMeta) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}, ObjectMeta: *m}
}

func newFakeCollector(objs ...runtime.Object) (*Controller, *metadatafake.FakeMetadataClient) {
	client := fake.NewClientset()
	disco := client.Discovery().(*fakediscovery.FakeDiscovery)
	disco.Resources = []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{{Name: "pods", Kind: "Pod", Namespaced: true, Verbs: []string{"get", "list", "watch", "delete", "patch"}}}},
		{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{{Name: "replicasets", Kind: "ReplicaSet", Namespaced: true, Verbs: []string{"get", "list", "watch", "delete", "patch"}}}},
	}
	scheme := metadatafake.NewTestScheme()
	scheme.AddKnownTypeWithName(schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, &metav1.PartialObjectMetadata{})
	scheme.AddKnownTypeWithName(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "ReplicaSet"}, &metav1.PartialObjectMetadata{})
	meta := metadatafake.NewSimpleMetadataClient(scheme, objs...)
	return New(client, meta, disco), meta
}

func TestAttemptToDeleteDanglingDependent(t *testing.T) {
	pod := owned(obj("pod"), "rs", true)
	c, meta := newFakeCollector(partial("v1", "Pod", pod))
	c.graph.observe(id("pod"), pod)
	ctx := context.Background()
	// The owner is virtual and absent: checking it queues the pod, whose owner is dangling.
	if err := c.attemptToDeleteItem(ctx, "rs"); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.graph.snapshot("rs"); ok {
		t.Error("absent virtual owner kept")
	}
	if err := c.attemptToDeleteItem(ctx, "pod"); err != nil {
		t.Fatal(err)
	}
	if _, err := meta.Resource(podsGVR).Namespace("ns").Get(ctx, "pod", metav1.GetOptions{}); err == nil {
		t.Error("pod with a dangling owner not deleted")
	}
}

func TestAttemptToDeleteKeepsOwnedDependent(t *testing.T) {
	pod := owned(obj("pod"), "rs", true)
	rs := obj("rs")
	c, meta := newFakeCollector(partial("v1", "Pod", pod), partial("apps/v1", "ReplicaSet", rs))
	c.graph.observe(id("pod"), pod)
	ctx := context.Background()
	if err := c.attemptToDeleteItem(ctx, "pod"); err != nil {
		t.Fatal(err)
	}
	if _, err := meta.Resource(podsGVR).Namespace("ns").Get(ctx, "pod", metav1.GetOptions{}); err != nil {
		t.Errorf("pod with a living owner: %v", err)
	}
	if _, err := meta.Resource(rsGVR).Namespace("ns").Get(ctx, "rs", metav1.GetOptions{}); err != nil {
		t.Errorf("owner: %v", err)
	}
}
