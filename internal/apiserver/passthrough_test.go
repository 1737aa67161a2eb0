package apiserver

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"

	"github.com/kijabi/kijabi/internal/storage"
)

// TestStoredPassthroughDecodesAsServed checks that what protobuf clients are sent from
// stored bytes decodes, with client-go's serializer, to exactly the object (or list) the
// server would have encoded: the stored object with its resourceVersion.
func TestStoredPassthroughDecodesAsServed(t *testing.T) {
	scheme := NewScheme()
	proto := protobuf.NewSerializer(scheme, scheme)
	ts := metav1.NewTime(time.Date(2026, 11, 27, 1, 2, 3, 0, time.UTC))
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1", Generation: 2, CreationTimestamp: ts,
			Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"a": "b"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "u0"}},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
				Time: &ts, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{}}`)}}}},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "busybox",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: apiresource.MustParse("100m")}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1"},
	}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "ns", ResourceVersion: "ignored"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}

	cases := []struct {
		obj     runtime.Object
		gvk     schema.GroupVersionKind
		listGVK schema.GroupVersionKind
		list    runtime.Object
	}{
		{pod, corev1.SchemeGroupVersion.WithKind("Pod"), corev1.SchemeGroupVersion.WithKind("PodList"), &corev1.PodList{}},
		{dep, appsv1.SchemeGroupVersion.WithKind("Deployment"), appsv1.SchemeGroupVersion.WithKind("DeploymentList"), &appsv1.DeploymentList{}},
		{node, corev1.SchemeGroupVersion.WithKind("Node"), corev1.SchemeGroupVersion.WithKind("NodeList"), &corev1.NodeList{}},
	}
	for _, c := range cases {
		t.Run(c.gvk.Kind, func(t *testing.T) {
			codec := newStorageCodec(c.gvk, proto, nil)
			stored := c.obj.DeepCopyObject()
			stored.(metav1.Object).SetResourceVersion("") // as the store writes it
			data, err := codec.Encode(stored)
			if err != nil {
				t.Fatal(err)
			}
			want := func(rev string) runtime.Object {
				w := stored.DeepCopyObject()
				w.(metav1.Object).SetResourceVersion(rev)
				w.GetObjectKind().SetGroupVersionKind(c.gvk)
				return w
			}

			out, err := storedObject(storage.StoredObject{Data: data, Revision: 1234567})
			if err != nil {
				t.Fatal(err)
			}
			got, gvk, err := proto.Decode(out, nil, nil)
			if err != nil || *gvk != c.gvk {
				t.Fatalf("decoding the passthrough object: %v (%v)", err, gvk)
			}
			if !apiequality.Semantic.DeepEqual(got, want("1234567")) {
				t.Fatalf("passthrough object decodes to\n%#v\nwant\n%#v", got, want("1234567"))
			}

			remaining := int64(7)
			lm := &metav1.ListMeta{ResourceVersion: "99", Continue: "tok", RemainingItemCount: &remaining}
			items := []storage.StoredObject{{Data: data, Revision: 5}, {Data: data, Revision: 6}}
			out, err = storedList(c.listGVK, lm, items, false)
			if err != nil {
				t.Fatal(err)
			}
			gotList, gvk, err := proto.Decode(out, nil, nil)
			if err != nil || *gvk != c.listGVK {
				t.Fatalf("decoding the passthrough list: %v (%v)", err, gvk)
			}
			wantList := c.list.DeepCopyObject()
			wantList.GetObjectKind().SetGroupVersionKind(c.listGVK)
			var wantItems []runtime.Object
			for _, it := range []string{"5", "6"} {
				o := want(it)
				o.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
				wantItems = append(wantItems, o)
			}
			if err := setListItems(wantList, wantItems, lm); err != nil {
				t.Fatal(err)
			}
			if !apiequality.Semantic.DeepEqual(gotList, wantList) {
				t.Fatalf("passthrough list decodes to\n%#v\nwant\n%#v", gotList, wantList)
			}

			// Metadata clients: PartialObjectMetadata(List), as toPartial makes them (in
			// meta.k8s.io/v1; v1beta1 is not served from stored bytes).
			if (&resource{stored: true}).wantsStored(target{info: runtime.SerializerInfo{MediaType: runtime.ContentTypeProtobuf},
				as: "PartialObjectMetadataList", asGroup: "meta.k8s.io", asVersion: "v1beta1"}) {
				t.Fatal("v1beta1 metadata lists would be served from stored bytes")
			}
			for _, version := range []string{"v1"} {
				tgt := target{as: "PartialObjectMetadata", asGroup: "meta.k8s.io", asVersion: version}
				out, err := encodeStored(tgt, storage.StoredObject{Data: data, Revision: 42})
				if err != nil {
					t.Fatal(err)
				}
				got, gvk, err := proto.Decode(out, nil, nil)
				if err != nil || *gvk != partialGVK(version, false) {
					t.Fatalf("decoding the passthrough metadata: %v (%v)", err, gvk)
				}
				wantPartial, err := toPartial(tgt, want("42"))
				if err != nil {
					t.Fatal(err)
				}
				if !apiequality.Semantic.DeepEqual(got, wantPartial) {
					t.Fatalf("passthrough metadata decodes to\n%#v\nwant\n%#v", got, wantPartial)
				}

				tgt.as = "PartialObjectMetadataList"
				res := &resource{listGVK: c.listGVK}
				out, err = res.encodeStoredList(tgt, lm, items)
				if err != nil {
					t.Fatal(err)
				}
				gotList, gvk, err := proto.Decode(out, nil, nil)
				if err != nil || *gvk != partialGVK(version, true) {
					t.Fatalf("decoding the passthrough metadata list: %v (%v)", err, gvk)
				}
				wantPartialList, err := toPartial(tgt, wantList)
				if err != nil {
					t.Fatal(err)
				}
				// Items carry no kind in protobuf.
				for i := range wantPartialList.(*metav1.PartialObjectMetadataList).Items {
					wantPartialList.(*metav1.PartialObjectMetadataList).Items[i].TypeMeta = metav1.TypeMeta{}
				}
				if !apiequality.Semantic.DeepEqual(gotList, wantPartialList) {
					t.Fatalf("passthrough metadata list decodes to\n%#v\nwant\n%#v", gotList, wantPartialList)
				}
			}
		})
	}
}

func TestStoredPassthroughRefusesOtherBytes(t *testing.T) {
	for _, data := range [][]byte{nil, []byte(`{"kind":"Pod"}`), []byte("k8s\x00\x0a\xff")} {
		if _, err := storedObject(storage.StoredObject{Data: data, Revision: 1}); err == nil {
			t.Errorf("storedObject(%q) succeeded", data)
		}
	}
}

func setListItems(list runtime.Object, items []runtime.Object, lm *metav1.ListMeta) error {
	if err := meta.SetList(list, items); err != nil {
		return err
	}
	la, err := meta.ListAccessor(list)
	if err != nil {
		return err
	}
	la.SetResourceVersion(lm.ResourceVersion)
	la.SetContinue(lm.Continue)
	la.SetRemainingItemCount(lm.RemainingItemCount)
	return nil
}
