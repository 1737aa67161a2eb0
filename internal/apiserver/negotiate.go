package apiserver

import (
	"bytes"
	"fmt"
	"mime"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// target is the representation a client asked for.
type target struct {
	info runtime.SerializerInfo
	// as is a meta representation: "Table", "PartialObjectMetadata",
	// "PartialObjectMetadataList" or "APIGroupDiscoveryList"; "" for the object itself.
	as string
	// group and version of the `as` representation.
	asGroup, asVersion string
}

// negotiate picks the first representation in accept that the server offers. asAllowed tells
// which `as=` representations the endpoint serves.
func (s *Server) negotiate(accept string, asAllowed func(as, group, version string) bool) (target, error) {
	return s.negotiateExcept(accept, asAllowed, "")
}

// negotiateExcept is negotiate without the media type skip.
func (s *Server) negotiateExcept(accept string, asAllowed func(as, group, version string) bool, skip string) (target, error) {
	if strings.TrimSpace(accept) == "" {
		accept = "application/json"
	}
	for _, clause := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(clause))
		if err != nil {
			continue
		}
		switch mt {
		case "*/*", "application/*":
			mt = runtime.ContentTypeJSON
		}
		info, ok := runtime.SerializerInfoForMediaType(s.codecs.SupportedMediaTypes(), mt)
		if !ok || mt == runtime.ContentTypeCBOR || mt == skip {
			continue
		}
		t := target{info: info, as: params["as"], asGroup: params["g"], asVersion: params["v"]}
		if t.as != "" && (asAllowed == nil || !asAllowed(t.as, t.asGroup, t.asVersion)) {
			continue
		}
		if info.Serializer == nil {
			continue
		}
		return t, nil
	}
	return target{}, apierrors.NewGenericServerResponse(http.StatusNotAcceptable, "", schema.GroupResource{}, "", "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf", 0, false)
}

// encode writes obj (whose TypeMeta must be set) with the target's serializer.
func (s *Server) writeObject(w http.ResponseWriter, r *http.Request, code int, t target, obj runtime.Object) {
	if _, ok := obj.(runtime.Unstructured); ok && t.info.MediaType == runtime.ContentTypeProtobuf {
		// Custom resources have no protobuf form: as upstream, they go in the next type the
		// client accepts (metadata clients accept protobuf, then JSON, for a delete's answer).
		nt, err := s.negotiateExcept(r.Header.Get("Accept"), nil, runtime.ContentTypeProtobuf)
		if err != nil {
			writeError(w, err)
			return
		}
		t = nt
	}
	var buf bytes.Buffer
	enc := t.info.Serializer
	if t.info.PrettySerializer != nil && isTrue(r.URL.Query().Get("pretty")) {
		enc = t.info.PrettySerializer
	}
	if err := enc.Encode(obj, &buf); err != nil {
		writeError(w, apierrors.NewInternalError(fmt.Errorf("encoding response: %w", err)))
		return
	}
	ct := t.info.MediaType
	if t.as != "" {
		ct = fmt.Sprintf("%s;as=%s;g=%s;v=%s", ct, t.as, t.asGroup, t.asVersion)
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

// bodyInfo returns the serializer of a request body's content type.
func (s *Server) bodyInfo(r *http.Request) (runtime.SerializerInfo, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = runtime.ContentTypeJSON
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return runtime.SerializerInfo{}, unsupportedMediaType(ct)
	}
	info, ok := runtime.SerializerInfoForMediaType(s.codecs.SupportedMediaTypes(), mt)
	if !ok || mt == runtime.ContentTypeCBOR {
		return runtime.SerializerInfo{}, unsupportedMediaType(ct)
	}
	return info, nil
}
