package openapi

import (
	"bytes"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"

	openapiv2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	authenticationv1 "k8s.io/api/authentication/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/applyconfigurations"
	smdschema "sigs.k8s.io/structured-merge-diff/v6/schema"
)

// Resource is one REST resource of one group-version, as the API server serves it.
type Resource struct {
	Group, Version, Kind, Resource string // Resource is the plural, e.g. "deployments"
	Namespaced                     bool
	Verbs                          []string // get list watch create update patch delete deletecollection
	Subresources                   []string // e.g. "status", "scale", "binding", "eviction", "log", "exec"
	// Schema is a custom resource's OpenAPI v3 schema (decoded JSON); its kinds are not in
	// the scheme.
	Schema map[string]any
}

// Documents holds the encoded OpenAPI documents. Once built (Build returned, or BuildV3's
// addV2) it is immutable and safe for concurrent use.
type Documents struct {
	v2JSON  []byte
	v2Proto []byte
	v3Root  []byte
	v3      map[string]v3Doc
}

type v3Doc struct {
	body []byte
	hash string
}

// V2JSON returns the OpenAPI v2 (swagger 2.0) document as JSON. Serve it for
// GET /openapi/v2 with Accept application/json (or */*, or absent).
func (d *Documents) V2JSON() []byte { return d.v2JSON }

// V2Proto returns the OpenAPI v2 document as a protobuf-encoded gnostic
// openapi_v2.Document. Serve it for GET /openapi/v2 when the Accept header
// names application/com.github.proto-openapi.spec.v2@v1.0+protobuf (what
// client-go's discovery OpenAPISchema() sends) or
// application/com.github.proto-openapi.spec.v2.v1.0+protobuf. Answer with
// Content-Type application/com.github.proto-openapi.spec.v2.v1.0+protobuf in
// both cases, as kube-apiserver does: the "@" form is not a valid media type
// and client-go fails to parse it in a response.
func (d *Documents) V2Proto() []byte { return d.v2Proto }

// V3Root returns the /openapi/v3 discovery document:
// {"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=<HASH>"}, ...}}.
// Serve it as application/json.
func (d *Documents) V3Root() []byte { return d.v3Root }

// V3 returns the OpenAPI v3 document for a path such as "api/v1" or
// "apis/apps/v1", its hash (upper-case hex SHA-512 of the document, as
// kube-apiserver computes it; suitable as ETag and for the ?hash= check), and
// false if the path is unknown. The document is JSON: serve it for Accept
// application/json (the only type kubectl and client-go's openapi3 request).
func (d *Documents) V3(path string) (doc []byte, hash string, ok bool) {
	v, ok := d.v3[path]
	return v.body, v.hash, ok
}

// Build builds the documents for resources whose Go types are registered in scheme.
func Build(scheme *runtime.Scheme, resources []Resource) (*Documents, error) {
	docs, addV2, err := BuildV3(scheme, resources)
	if err != nil {
		return nil, err
	}
	if err := addV2(); err != nil {
		return nil, err
	}
	return docs, nil
}

// BuildV3 builds the OpenAPI v3 documents (V3Root and V3) for resources whose Go types are
// registered in scheme, and returns with them addV2, which adds the v2 documents (V2JSON
// and V2Proto) to docs. The v2 documents take longer to build than the v3 ones (the
// protobuf form is parsed back from the JSON), and kubectl reads v3: a server can publish
// docs for v3 readers first. addV2 must be called at most once; V2JSON and V2Proto may be
// called only once it has returned nil, and V3Root and V3 may be called while it runs.
func BuildV3(scheme *runtime.Scheme, resources []Resource) (docs *Documents, addV2 func() error, err error) {
	if scheme == nil {
		return nil, nil, fmt.Errorf("openapi: nil scheme")
	}
	b := newSchemaBuilder(loadMergeSchema(scheme, resources))
	metaTypes := []any{metav1.Status{}, metav1.DeleteOptions{}, metav1.WatchEvent{}, metav1.Patch{}, metav1.APIResourceList{}}
	for _, m := range metaTypes {
		if _, err := b.define(reflect.TypeOf(m)); err != nil {
			return nil, nil, err
		}
	}

	byGV := map[schema.GroupVersion][]Resource{}
	for _, r := range resources {
		if r.Version == "" || r.Kind == "" || r.Resource == "" {
			return nil, nil, fmt.Errorf("openapi: incomplete resource %+v", r)
		}
		gv := schema.GroupVersion{Group: r.Group, Version: r.Version}
		byGV[gv] = append(byGV[gv], r)
	}
	gvs := make([]schema.GroupVersion, 0, len(byGV))
	for gv := range byGV {
		gvs = append(gvs, gv)
	}
	sort.Slice(gvs, func(i, j int) bool { return gvPath(gvs[i]) < gvPath(gvs[j]) })

	type gvPaths struct {
		key   string
		paths map[string]*pathItem
		roots []string
	}
	var all []gvPaths
	for _, gv := range gvs {
		rs := byGV[gv]
		sort.Slice(rs, func(i, j int) bool { return rs[i].Resource < rs[j].Resource })
		pb := &pathBuilder{scheme: scheme, b: b, gv: gv, paths: map[string]*pathItem{}}
		pb.addDiscovery()
		for _, r := range rs {
			if err := pb.addResource(r); err != nil {
				return nil, nil, err
			}
		}
		all = append(all, gvPaths{key: gvPath(gv), paths: pb.paths, roots: pb.roots})
	}
	b.addGVKs(scheme)

	docs = &Documents{v3: map[string]v3Doc{}}
	rootPaths := map[string]any{}
	for _, g := range all {
		paths := map[string]any{}
		for p, item := range g.paths {
			paths[p] = item.render(true)
		}
		schemas := map[string]any{}
		for name, def := range b.closure(g.roots) {
			schemas[name] = def.render(true)
		}
		doc := map[string]any{
			"openapi": "3.0.0",
			"info":    map[string]any{"title": "Kubernetes", "version": "unversioned"},
			"paths":   paths,
			"components": map[string]any{
				"schemas":         schemas,
				"securitySchemes": map[string]any{"BearerToken": bearerToken()},
			},
		}
		body, err := encode(doc)
		if err != nil {
			return nil, nil, err
		}
		hash := fmt.Sprintf("%X", sha512.Sum512(body))
		docs.v3[g.key] = v3Doc{body: body, hash: hash}
		rootPaths[g.key] = map[string]any{"serverRelativeURL": "/openapi/v3/" + g.key + "?hash=" + hash}
	}
	if docs.v3Root, err = encode(map[string]any{"paths": rootPaths}); err != nil {
		return nil, nil, err
	}
	addV2 = func() error {
		v2Paths := map[string]any{}
		var allRoots []string
		for _, g := range all {
			allRoots = append(allRoots, g.roots...)
			for p, item := range g.paths {
				v2Paths[p] = item.render(false)
			}
		}
		definitions := map[string]any{}
		for name, def := range b.closure(allRoots) {
			definitions[name] = def.render(false)
		}
		v2 := map[string]any{
			"swagger":             "2.0",
			"info":                map[string]any{"title": "Kubernetes", "version": "unversioned"},
			"paths":               v2Paths,
			"definitions":         definitions,
			"securityDefinitions": map[string]any{"BearerToken": bearerToken()},
			"security":            []any{map[string]any{"BearerToken": []any{}}},
		}
		v2JSON, err := encode(v2)
		if err != nil {
			return err
		}
		parsed, err := openapiv2.ParseDocument(v2JSON)
		if err != nil {
			return fmt.Errorf("openapi: v2 document does not parse as gnostic openapi_v2: %w", err)
		}
		marshal := proto.MarshalOptions{Deterministic: true}
		v2Proto, err := marshal.Marshal(parsed)
		if err != nil {
			return fmt.Errorf("openapi: marshal v2 protobuf: %w", err)
		}
		docs.v2JSON, docs.v2Proto = v2JSON, v2Proto
		return nil
	}
	return docs, addV2, nil
}

func bearerToken() map[string]any {
	return map[string]any{
		"type":        "apiKey",
		"in":          "header",
		"name":        "authorization",
		"description": "Bearer Token authentication",
	}
}

// encode marshals v as JSON with sorted keys and without HTML escaping.
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("openapi: encode: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// gvPath returns "api/v1" or "apis/<group>/<version>".
func gvPath(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "api/" + gv.Version
	}
	return "apis/" + gv.Group + "/" + gv.Version
}

// loadMergeSchema returns the structured-merge-diff schema client-go embeds
// for the built-in types, reached by converting a zero object of the first
// resource it knows. It returns nil if none of the resources is known.
func loadMergeSchema(scheme *runtime.Scheme, resources []Resource) *smdschema.Schema {
	tc := applyconfigurations.NewTypeConverter(scheme)
	for _, r := range resources {
		gvk := schema.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind}
		obj, err := scheme.New(gvk)
		if err != nil {
			continue
		}
		obj.GetObjectKind().SetGroupVersionKind(gvk)
		tv, err := tc.ObjectToTyped(obj)
		if err != nil || tv == nil || tv.Schema() == nil {
			continue
		}
		return tv.Schema()
	}
	return nil
}

// builtinPrototype returns a value of the well-known subresource kinds, for
// schemes that do not register them.
func builtinPrototype(gvk schema.GroupVersionKind) any {
	switch gvk {
	case autoscalingv1.SchemeGroupVersion.WithKind("Scale"):
		return &autoscalingv1.Scale{}
	case policyv1.SchemeGroupVersion.WithKind("Eviction"):
		return &policyv1.Eviction{}
	case authenticationv1.SchemeGroupVersion.WithKind("TokenRequest"):
		return &authenticationv1.TokenRequest{}
	case corev1.SchemeGroupVersion.WithKind("Binding"):
		return &corev1.Binding{}
	}
	return nil
}

// typeOf returns the Go type registered for gvk, or a built-in prototype
// whose GVK is then remembered for x-kubernetes-group-version-kind.
func (b *schemaBuilder) typeOf(scheme *runtime.Scheme, gvk schema.GroupVersionKind) (reflect.Type, bool) {
	if t, ok := scheme.AllKnownTypes()[gvk]; ok {
		return t, true
	}
	if p := builtinPrototype(gvk); p != nil {
		t := reflect.TypeOf(p).Elem()
		b.extraGVKs[t] = gvk
		return t, true
	}
	return nil, false
}
