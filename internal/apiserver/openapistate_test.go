package apiserver

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kijabi/kijabi/internal/storage"
)

// waitOpenAPIIdle waits until the background builder has nothing more to build.
func waitOpenAPIIdle(t *testing.T, s *Server) {
	t.Helper()
	s.openapi.mu.Lock()
	ready := s.openapi.ready
	s.openapi.mu.Unlock()
	select {
	case <-ready:
	case <-time.After(2 * time.Minute):
		t.Fatal("the OpenAPI documents were not built")
	}
}

func TestOpenAPIRebuildsOnlyOnChange(t *testing.T) {
	s, err := New(Config{Storage: &storage.Backend{}})
	if err != nil {
		t.Fatal(err)
	}
	waitOpenAPIIdle(t, s)
	req := httptest.NewRequest("GET", "/openapi/v3", nil)
	first, err := s.openapiDocs(req, false)
	if err != nil {
		t.Fatal(err)
	}

	// A change that leaves the served resources alone (a definition's status, say) builds
	// nothing: readers get the same documents at once.
	s.openapi.mu.Lock()
	built := s.openapi.latest
	s.openapi.mu.Unlock()
	s.openapiChanged()
	s.openapi.mu.Lock()
	latest, running := s.openapi.latest, s.openapi.running
	s.openapi.mu.Unlock()
	if latest != built || running {
		t.Fatal("an unchanged input started a rebuild")
	}

	// A new custom resource does: both versions of the documents describe it.
	gvr := schema.GroupVersionResource{Group: "stable.example.com", Version: "v1", Resource: "crontabs"}
	s.crs.mu.Lock()
	s.crs.resources[gvr] = &resource{resourceDef: resourceDef{group: gvr.Group, version: gvr.Version, name: gvr.Resource,
		kind: "CronTab", namespaced: true}, cr: &crInfo{}}
	s.crs.mu.Unlock()
	s.openapiChanged()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	v3, err := s.openapiDocs(req.WithContext(ctx), false)
	if err != nil {
		t.Fatal(err)
	}
	if v3 == first {
		t.Fatal("the documents were not rebuilt for a new resource")
	}
	if _, _, ok := v3.V3("apis/stable.example.com/v1"); !ok {
		t.Fatalf("the v3 documents lack the new group-version: %s", v3.V3Root())
	}
	v2, err := s.openapiDocs(httptest.NewRequest("GET", "/openapi/v2", nil).WithContext(ctx), true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(v2.V2JSON()), "/apis/stable.example.com/v1/namespaces/{namespace}/crontabs") || len(v2.V2Proto()) == 0 {
		t.Fatal("the v2 documents lack the new resource")
	}
	waitOpenAPIIdle(t, s)
}
