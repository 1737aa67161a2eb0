package apiserver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kijabi/kijabi/internal/storage"
)

// TestCustomResourcesNotInProtobuf checks that custom resources, which have no protobuf form,
// are answered in the next type a client accepts: metadata clients (the namespace controller
// and the garbage collector deleting custom resources) accept protobuf, then JSON.
func TestCustomResourcesNotInProtobuf(t *testing.T) {
	s, err := New(Config{Storage: &storage.Backend{}})
	if err != nil {
		t.Fatal(err)
	}
	list := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": "stable.example.com/v1", "kind": "CronTabList"}}
	for _, tc := range []struct {
		accept   string
		code     int
		wantType string
	}{
		{runtime.ContentTypeProtobuf + ", " + runtime.ContentTypeJSON, http.StatusOK, runtime.ContentTypeJSON},
		{runtime.ContentTypeProtobuf + ", application/yaml", http.StatusOK, "application/yaml"},
		{runtime.ContentTypeProtobuf, http.StatusNotAcceptable, ""},
	} {
		t.Run(tc.accept, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodDelete, "/apis/stable.example.com/v1/namespaces/crons/crontabs", nil)
			r.Header.Set("Accept", tc.accept)
			tgt, err := s.listTarget(r)
			if err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			s.writeObject(w, r, http.StatusOK, tgt, list.DeepCopy())
			if w.Code != tc.code {
				t.Fatalf("code %d, want %d: %s", w.Code, tc.code, w.Body)
			}
			if tc.wantType != "" && !strings.HasPrefix(w.Header().Get("Content-Type"), tc.wantType) {
				t.Fatalf("content type %q, want %q", w.Header().Get("Content-Type"), tc.wantType)
			}
			if tc.code == http.StatusOK && !strings.Contains(w.Body.String(), "CronTabList") {
				t.Fatalf("body %s", w.Body)
			}
		})
	}
}
