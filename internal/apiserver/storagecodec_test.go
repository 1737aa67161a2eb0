package apiserver

import (
	"bytes"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/watch"
)

// TestStorageCodecMatchesSerializer checks the storage codec's own encoding and decoding
// against upstream's protobuf serializer: the same stored bytes, the same decoded objects,
// objects that share no memory with the stored bytes, and the serializer's answer for
// envelopes the codec does not read itself.
func TestStorageCodecMatchesSerializer(t *testing.T) {
	scheme := NewScheme()
	proto := protobuf.NewSerializer(scheme, scheme)
	ts := metav1.NewTime(time.Date(2026, 11, 27, 1, 2, 3, 0, time.UTC))
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1", Labels: map[string]string{"app": "web"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
				Time: &ts, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{}}`)}}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: apiresource.MustParse("100m")}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1"},
	}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "ns"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{Spec: pod.Spec}}}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns"}, BinaryData: map[string][]byte{"b": {0, 1, 2}}}
	for _, c := range []struct {
		obj runtime.Object
		gvk schema.GroupVersionKind
	}{
		{pod, corev1.SchemeGroupVersion.WithKind("Pod")},
		{dep, appsv1.SchemeGroupVersion.WithKind("Deployment")},
		{cm, corev1.SchemeGroupVersion.WithKind("ConfigMap")},
	} {
		t.Run(c.gvk.Kind, func(t *testing.T) {
			codec := newStorageCodec(c.gvk, proto, scheme)
			data, err := codec.Encode(c.obj.DeepCopyObject())
			if err != nil {
				t.Fatal(err)
			}
			withKind := c.obj.DeepCopyObject()
			withKind.GetObjectKind().SetGroupVersionKind(c.gvk)
			var want bytes.Buffer
			if err := proto.Encode(withKind, &want); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(data, want.Bytes()) {
				t.Fatalf("stored bytes differ from the serializer's:\n%q\n%q", data, want.Bytes())
			}
			if cap(data) != len(data) {
				t.Errorf("stored bytes have room to grow into (cap %d, len %d)", cap(data), len(data))
			}

			got := c.obj.DeepCopyObject()
			if err := codec.Decode(data, got); err != nil {
				t.Fatal(err)
			}
			viaSerializer := c.obj.DeepCopyObject()
			if _, _, err := proto.Decode(data, &c.gvk, viaSerializer); err != nil {
				t.Fatal(err)
			}
			if !apiequality.Semantic.DeepEqual(got, viaSerializer) || got.GetObjectKind().GroupVersionKind() != c.gvk {
				t.Fatalf("decoded\n%#v\nserializer\n%#v", got, viaSerializer)
			}
			// Nothing decoded may share the stored bytes: scribble over them.
			for i := range data {
				data[i] ^= 0xff
			}
			if !apiequality.Semantic.DeepEqual(got, viaSerializer) {
				t.Fatal("the decoded object changed with the stored bytes")
			}
		})
	}

	t.Run("OtherEnvelopes", func(t *testing.T) {
		gvk := corev1.SchemeGroupVersion.WithKind("Pod")
		codec := newStorageCodec(gvk, proto, scheme)
		data, err := codec.Encode(pod.DeepCopy())
		if err != nil {
			t.Fatal(err)
		}
		// Stored under another kind: the serializer's answer (an error here: a Pod
		// envelope naming a ConfigMap decodes into a new ConfigMap, not into the pod).
		renamed := bytes.Replace(data, []byte("Pod"), []byte("Poe"), 1)
		var a, b corev1.Pod
		errA := codec.Decode(renamed, &a)
		_, _, errB := proto.Decode(renamed, &gvk, &b)
		if (errA == nil) != (errB == nil) || !apiequality.Semantic.DeepEqual(a, b) {
			t.Errorf("renamed kind: codec %v %+v, serializer %v %+v", errA, a, errB, b)
		}
		// Not an envelope at all.
		if err := codec.Decode([]byte(`{"kind":"Pod"}`), &a); err == nil || !strings.Contains(err.Error(), "protobuf") {
			t.Errorf("JSON bytes: %v", err)
		}
		// Into another Go type: the serializer decides.
		var cmOut corev1.ConfigMap
		errA = codec.Decode(data, &cmOut)
		_, _, errB = proto.Decode(data, &gvk, &corev1.ConfigMap{})
		if (errA == nil) != (errB == nil) {
			t.Errorf("into a ConfigMap: codec %v, serializer %v", errA, errB)
		}
	})
}

// BenchmarkStorageCodec measures a pod's round trip through the storage codec.
//
//	go test ./internal/apiserver -run XXX -bench StorageCodec -benchmem
func BenchmarkStorageCodec(b *testing.B) {
	scheme := NewScheme()
	proto := protobuf.NewSerializer(scheme, scheme)
	gvk := corev1.SchemeGroupVersion.WithKind("Pod")
	pod := benchPod("web-1")
	pod.Status = benchRunningStatus(pod)
	for _, c := range []struct {
		name  string
		codec *storageCodec
	}{
		{"Codec", newStorageCodec(gvk, proto, scheme)},
		{"Serializer", newStorageCodec(gvk, proto, nil)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				data, err := c.codec.Encode(pod)
				if err != nil {
					b.Fatal(err)
				}
				var out corev1.Pod
				if err := c.codec.Decode(data, &out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestRequestBodyEnvelope checks protobuf request bodies decoded in place against the
// serializer, and that bodies of another kind are left to it.
func TestRequestBodyEnvelope(t *testing.T) {
	scheme := NewScheme()
	proto := protobuf.NewSerializer(scheme, scheme)
	binding := &corev1.Binding{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Binding"},
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1"}, Target: corev1.ObjectReference{Kind: "Node", Name: "n1"}}
	var body bytes.Buffer
	if err := proto.Encode(binding, &body); err != nil {
		t.Fatal(err)
	}
	gvk := corev1.SchemeGroupVersion.WithKind("Binding")
	var got corev1.Binding
	if !decodeInPlace(body.Bytes(), typeMetaMessage(gvk), &got) {
		t.Fatal("a Binding body was not decoded in place")
	}
	var want corev1.Binding
	if _, _, err := proto.Decode(body.Bytes(), &gvk, &want); err != nil {
		t.Fatal(err)
	}
	want.TypeMeta = metav1.TypeMeta{} // a generated message holds no TypeMeta: decodeInPlace leaves it empty
	if !apiequality.Semantic.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
	var pod corev1.Pod
	if decodeInPlace(body.Bytes(), typeMetaMessage(corev1.SchemeGroupVersion.WithKind("Pod")), &pod) {
		t.Error("a Binding body was decoded as a Pod")
	}
	if decodeInPlace(body.Bytes()[:body.Len()-3], typeMetaMessage(gvk), &got) {
		t.Error("a truncated body was decoded")
	}
}

// TestProtoWatchFrame checks the watch frames built by hand against the stream serializer's.
func TestProtoWatchFrame(t *testing.T) {
	scheme := NewScheme()
	info, ok := runtime.SerializerInfoForMediaType(serializer.NewCodecFactory(scheme).SupportedMediaTypes(), runtime.ContentTypeProtobuf)
	if !ok || info.StreamSerializer == nil {
		t.Fatal("no protobuf stream serializer")
	}
	for _, raw := range [][]byte{nil, {}, []byte("x"), bytes.Repeat([]byte("ab"), 100), bytes.Repeat([]byte("z"), 70000)} {
		for _, typ := range []watch.EventType{watch.Added, watch.Modified, watch.Deleted, watch.Bookmark, watch.Error} {
			var want bytes.Buffer
			ev := &metav1.WatchEvent{Type: string(typ), Object: runtime.RawExtension{Raw: raw}}
			if err := info.StreamSerializer.Serializer.Encode(ev, info.StreamSerializer.Framer.NewFrameWriter(&want)); err != nil {
				t.Fatal(err)
			}
			if got := protoWatchFrame(typ, raw); !bytes.Equal(got, want.Bytes()) {
				t.Errorf("%s with %d bytes: frame\n%q\nwant\n%q", typ, len(raw), got, want.Bytes())
			}
		}
	}
}
