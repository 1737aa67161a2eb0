package apiserver

import (
	"encoding/json"
	"net/http"
	"runtime/debug"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/kijabi/kijabi/internal/apiserver/openapi"
)

// openapiState holds the OpenAPI documents. They are built in the background when the
// server starts and rebuilt whenever the served custom resources change; requests wait for
// the documents of the latest change.
type openapiState struct {
	mu      sync.Mutex
	docs    *openapi.Documents
	err     error
	ready   chan struct{} // closed once the latest generation is built
	gen     int
	running bool
}

// openapiChanged asks for the documents to be rebuilt.
func (s *Server) openapiChanged() {
	st := &s.openapi
	st.mu.Lock()
	defer st.mu.Unlock()
	st.gen++
	if st.ready == nil || !st.running {
		st.ready = make(chan struct{})
	}
	if !st.running {
		st.running = true
		go s.buildOpenAPI()
	}
}

func (s *Server) buildOpenAPI() {
	st := &s.openapi
	for {
		st.mu.Lock()
		gen := st.gen
		st.mu.Unlock()
		docs, err := openapi.Build(s.scheme, s.openapiResources())
		if err != nil {
			s.log.Error("building OpenAPI documents", "err", err)
		}
		st.mu.Lock()
		st.docs, st.err = docs, err
		if st.gen == gen {
			st.running = false
			close(st.ready)
			st.mu.Unlock()
			// Building allocates tens of MiB that are garbage now: give them back to the OS
			// rather than carry them in the resident set.
			debug.FreeOSMemory()
			return
		}
		st.mu.Unlock()
	}
}

// openapiResources are the built-in resources and the custom resources served now.
func (s *Server) openapiResources() []openapi.Resource {
	out := append([]openapi.Resource(nil), s.openapiBase...)
	for _, r := range s.crSnapshot() {
		var sch map[string]any
		if r.cr.schema != nil {
			if data, err := json.Marshal(r.cr.schema); err == nil {
				_ = json.Unmarshal(data, &sch)
			}
		}
		if sch == nil {
			sch = map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}
		}
		out = append(out, openapi.Resource{Group: r.group, Version: r.version, Kind: r.kind, Resource: r.name,
			Namespaced: r.namespaced, Verbs: r.verbs(), Subresources: r.subresources(), Schema: sch})
	}
	return out
}

// openapiDocs waits for the OpenAPI documents.
func (s *Server) openapiDocs(r *http.Request) (*openapi.Documents, error) {
	st := &s.openapi
	st.mu.Lock()
	ready := st.ready
	st.mu.Unlock()
	select {
	case <-ready:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	st.mu.Lock()
	docs, err := st.docs, st.err
	st.mu.Unlock()
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return docs, nil
}
