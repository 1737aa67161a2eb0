package apiserver

import (
	"errors"
	"net/http/httptest"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kijabi/kijabi/internal/storage"
)

// FuzzDecodeBody feeds arbitrary bodies through the request decode path and, when they decode,
// through defaulting and validation: nothing may panic, and every refusal must be a Status
// error in the 4xx range. The corpus lives in testdata/fuzz/FuzzDecodeBody.
func FuzzDecodeBody(f *testing.F) {
	s, err := New(Config{Storage: &storage.Backend{}})
	if err != nil {
		f.Fatal(err)
	}
	targets := []schema.GroupVersionResource{
		{Version: "v1", Resource: "configmaps"}, {Version: "v1", Resource: "pods"},
		{Version: "v1", Resource: "services"}, {Group: "apps", Version: "v1", Resource: "deployments"},
	}
	media := []string{runtime.ContentTypeJSON, runtime.ContentTypeYAML, runtime.ContentTypeProtobuf}
	f.Add([]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}}`), uint8(0), uint8(0))
	f.Add([]byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i"}]}}`), uint8(1), uint8(0))
	f.Add([]byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {selector: {matchLabels: {a: b}}}\n"), uint8(3), uint8(1))
	f.Add([]byte("k8s\x00\x0a\x02v1"), uint8(0), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, which, mt uint8) {
		gvr := targets[int(which)%len(targets)]
		res := s.resources[gvr]
		info, ok := runtime.SerializerInfoForMediaType(s.codecs.SupportedMediaTypes(), media[int(mt)%len(media)])
		if !ok {
			t.Fatal("no serializer")
		}
		for _, mode := range []string{"Strict", "Warn", "Ignore"} {
			obj, err := s.decodeWith(httptest.NewRecorder(), info, mode, res, data, res.gvk)
			if err != nil {
				var status apierrors.APIStatus
				if !errors.As(err, &status) || status.Status().Code < 400 || status.Status().Code >= 500 {
					t.Fatalf("decode error %v is not a 4xx Status", err)
				}
				continue
			}
			s.scheme.Default(obj)
			_ = validateCreate(res, obj)
		}
	})
}
