package apiserver

import (
	"encoding/json"
	"net/http"
	"reflect"
	"runtime/debug"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/kijabi/kijabi/internal/apiserver/openapi"
)

// openapiState holds the OpenAPI documents. They are built in the background when the
// server starts and rebuilt whenever the served custom resources change; requests wait for
// the documents of the latest change. A change that leaves the documents' input as it was
// (a definition's status update, say) builds nothing. The v3 documents, which kubectl reads,
// are published before the slower v2 ones are built.
type openapiState struct {
	mu sync.Mutex
	// want is the input of the latest change; latest is the build that will serve it.
	want    []openapi.Resource
	latest  *openapiBuild
	running bool
	ready   chan struct{} // closed when the builder has nothing more to build
}

// openapiBuild is one build of the documents. docs and err are set before v3 is closed;
// the v2 documents are added to docs, and v2err set, before v2 is closed.
type openapiBuild struct {
	started bool // the builder has taken want for this build: later changes need another
	v3, v2  chan struct{}
	docs    *openapi.Documents
	err     error
	v2err   error
	// superseded is set before v2 is closed when a later change came before the v2
	// documents were built: v2 readers wait for the later build instead.
	superseded bool
}

func newOpenAPIBuild() *openapiBuild {
	return &openapiBuild{v3: make(chan struct{}), v2: make(chan struct{})}
}

// openapiChanged asks for the documents to be rebuilt, unless their input is unchanged.
func (s *Server) openapiChanged() {
	st := &s.openapi
	st.mu.Lock()
	defer st.mu.Unlock()
	// The input is taken under st.mu so that the latest caller's view wins.
	want := s.openapiResources()
	if st.latest != nil && reflect.DeepEqual(want, st.want) {
		return
	}
	st.want = want
	if st.latest == nil || st.latest.started {
		st.latest = newOpenAPIBuild()
	}
	if !st.running {
		st.running = true
		st.ready = make(chan struct{})
		go s.buildOpenAPI()
	}
}

func (s *Server) buildOpenAPI() {
	st := &s.openapi
	for {
		st.mu.Lock()
		b, want := st.latest, st.want
		b.started = true
		st.mu.Unlock()
		docs, addV2, err := openapi.BuildV3(s.scheme, want)
		if err != nil {
			s.log.Error("building OpenAPI documents", "err", err)
		}
		b.docs, b.err = docs, err
		close(b.v3)
		st.mu.Lock()
		superseded := st.latest != b
		st.mu.Unlock()
		if err == nil && !superseded {
			if err := addV2(); err != nil {
				s.log.Error("building OpenAPI v2 documents", "err", err)
				b.v2err = err
			}
		}
		b.superseded = superseded
		close(b.v2)
		st.mu.Lock()
		if st.latest == b {
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

// openapiDocs waits for the OpenAPI documents; v2 for the v2 ones too.
func (s *Server) openapiDocs(r *http.Request, v2 bool) (*openapi.Documents, error) {
	st := &s.openapi
	for {
		st.mu.Lock()
		b := st.latest
		st.mu.Unlock()
		ready := b.v3
		if v2 {
			ready = b.v2
		}
		select {
		case <-ready:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
		if b.err != nil {
			return nil, apierrors.NewInternalError(b.err)
		}
		if v2 && b.superseded {
			continue
		}
		if v2 && b.v2err != nil {
			return nil, apierrors.NewInternalError(b.v2err)
		}
		return b.docs, nil
	}
}
