package openapi

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// param is an operation or path parameter.
type param struct {
	name, in, typ, desc string
	required            bool
}

// response is one response of an operation: a definition, a string, or
// nothing.
type response struct {
	code  string
	desc  string
	ref   string
	str   bool
	types []string // content types
}

type operation struct {
	id, desc, action string
	gvk              schema.GroupVersionKind
	params           []param
	body             string   // definition name of the request body
	bodyRequired     bool     // the body is required (create, update, patch)
	consumes         []string // request body content types
	responses        []response
	tag              string
}

type pathItem struct {
	params []param
	ops    map[string]*operation // by lower-case HTTP method
}

const (
	ctJSON  = "application/json"
	ctYAML  = "application/yaml"
	ctAll   = "*/*"
	ctWatch = "application/json;stream=watch"
)

func objectTypes() []string { return []string{ctJSON, ctYAML} }
func listTypes() []string   { return []string{ctJSON, ctWatch, ctYAML} }
func patchTypes() []string {
	return []string{
		"application/apply-patch+yaml",
		"application/json-patch+json",
		"application/merge-patch+json",
		"application/strategic-merge-patch+json",
	}
}

// queryParam returns the standard query parameter called name.
func queryParam(name string) param {
	p := param{name: name, in: "query", typ: "string"}
	switch name {
	case "pretty":
		p.desc = "If 'true', then the output is pretty printed."
	case "dryRun":
		p.desc = "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed"
	case "fieldManager":
		p.desc = "fieldManager is a name associated with the actor or entity that is making these changes. It is required for apply requests (application/apply-patch) and optional otherwise."
	case "fieldValidation":
		p.desc = "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: unknown fields are dropped silently and the last duplicate field wins. - Warn: unknown and duplicate fields are reported as warnings. - Strict: the request fails with BadRequest if there are unknown or duplicate fields."
	case "force":
		p.typ, p.desc = "boolean", "Force re-acquires conflicting fields owned by other managers on apply requests. Must be unset for non-apply patch requests."
	case "allowWatchBookmarks":
		p.typ, p.desc = "boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\". The server may ignore it."
	case "continue":
		p.desc = "The continue token returned in the metadata of a previous, paginated list response; retrieves the next page."
	case "fieldSelector":
		p.desc = "A selector to restrict the list of returned objects by their fields. Defaults to everything."
	case "labelSelector":
		p.desc = "A selector to restrict the list of returned objects by their labels. Defaults to everything."
	case "limit":
		p.typ, p.desc = "integer", "limit is the maximum number of objects to return in one list response; use continue to fetch the rest."
	case "resourceVersion":
		p.desc = "resourceVersion sets a constraint on what resource versions a request may be served from. Defaults to unset."
	case "resourceVersionMatch":
		p.desc = "resourceVersionMatch determines how resourceVersion is applied to list calls. Defaults to unset."
	case "sendInitialEvents":
		p.typ, p.desc = "boolean", "With watch=true, sendInitialEvents=true starts the watch stream with synthetic events for the current state of all objects."
	case "timeoutSeconds":
		p.typ, p.desc = "integer", "Timeout for the list/watch call, regardless of any activity or inactivity."
	case "watch":
		p.typ, p.desc = "boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion."
	case "gracePeriodSeconds":
		p.typ, p.desc = "integer", "The duration in seconds before the object should be deleted. Zero means delete immediately; unset means the default for the type."
	case "orphanDependents":
		p.typ, p.desc = "boolean", "Deprecated: use propagationPolicy. Whether dependent objects should be orphaned."
	case "propagationPolicy":
		p.desc = "Whether and how garbage collection will be performed: 'Orphan', 'Background' or 'Foreground'."
	case "ignoreStoreReadErrorWithClusterBreakingPotential":
		p.typ, p.desc = "boolean", "If set, deletes objects that cannot be read from storage. Use with caution."
	}
	return p
}

func queryParams(names ...string) []param {
	out := make([]param, 0, len(names))
	for _, n := range names {
		out = append(out, queryParam(n))
	}
	return out
}

func writeParams() []param { return queryParams("dryRun", "fieldManager", "fieldValidation") }
func patchParams() []param {
	return queryParams("dryRun", "fieldManager", "fieldValidation", "force")
}
func listParams() []param {
	return queryParams("allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit",
		"resourceVersion", "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch")
}
func deleteParams() []param {
	return queryParams("dryRun", "gracePeriodSeconds", "ignoreStoreReadErrorWithClusterBreakingPotential",
		"orphanDependents", "propagationPolicy")
}
func deleteCollectionParams() []param {
	return queryParams("continue", "dryRun", "fieldSelector", "gracePeriodSeconds",
		"ignoreStoreReadErrorWithClusterBreakingPotential", "labelSelector", "limit", "orphanDependents",
		"propagationPolicy", "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds")
}

const metaV1 = "io.k8s.apimachinery.pkg.apis.meta.v1."

func okResponses(ref string, codes ...string) []response {
	desc := map[string]string{"200": "OK", "201": "Created", "202": "Accepted"}
	out := make([]response, 0, len(codes)+1)
	for _, c := range codes {
		out = append(out, response{code: c, desc: desc[c], ref: ref, types: objectTypes()})
	}
	return append(out, response{code: "401", desc: "Unauthorized"})
}

// pathBuilder collects the paths of one group-version.
type pathBuilder struct {
	scheme *runtime.Scheme
	b      *schemaBuilder
	gv     schema.GroupVersion
	paths  map[string]*pathItem
	roots  []string
}

func (pb *pathBuilder) prefix() string { return "/" + gvPath(pb.gv) }

func (pb *pathBuilder) item(path string, params ...param) *pathItem {
	it, ok := pb.paths[path]
	if !ok {
		it = &pathItem{params: params, ops: map[string]*operation{}}
		pb.paths[path] = it
	}
	return it
}

// gvID returns the operation-ID fragment of the group-version, e.g.
// "CoreV1", "AppsV1", "RbacAuthorizationV1".
func (pb *pathBuilder) gvID() string {
	if pb.gv.Group == "" {
		return "Core" + upperFirst(pb.gv.Version)
	}
	g := strings.TrimSuffix(pb.gv.Group, ".k8s.io")
	var sb strings.Builder
	for _, part := range strings.FieldsFunc(g, func(r rune) bool { return r == '.' || r == '-' }) {
		sb.WriteString(upperFirst(part))
	}
	return sb.String() + upperFirst(pb.gv.Version)
}

func (pb *pathBuilder) tag() string {
	id := strings.TrimSuffix(pb.gvID(), upperFirst(pb.gv.Version))
	return strings.ToLower(id[:1]) + id[1:] + "_" + pb.gv.Version
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// define defines the Go type of gvk and records it as a root of this
// group-version's document.
func (pb *pathBuilder) define(gvk schema.GroupVersionKind) (string, error) {
	t, ok := pb.b.typeOf(pb.scheme, gvk)
	if !ok {
		return "", fmt.Errorf("openapi: kind %v is not registered in the scheme", gvk)
	}
	name, err := pb.b.define(t)
	if err != nil {
		return "", err
	}
	pb.roots = append(pb.roots, name)
	return name, nil
}

func (pb *pathBuilder) addDiscovery() {
	name := metaV1 + "APIResourceList"
	pb.roots = append(pb.roots, name, metaV1+"Status", metaV1+"DeleteOptions", metaV1+"WatchEvent", metaV1+"Patch")
	it := pb.item(pb.prefix() + "/")
	it.ops["get"] = &operation{
		id:        "get" + pb.gvID() + "APIResources",
		desc:      "get available resources",
		responses: okResponses(name, "200"),
		tag:       pb.tag(),
	}
}

func has(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (pb *pathBuilder) addResource(r Resource) error {
	gvk := pb.gv.WithKind(r.Kind)
	var obj, list string
	var err error
	if r.Schema != nil {
		obj, list, err = pb.defineCustom(r)
	} else {
		obj, err = pb.define(gvk)
	}
	if err != nil {
		return err
	}
	if r.Schema == nil && (has(r.Verbs, "list") || has(r.Verbs, "deletecollection")) {
		if l, err := pb.define(pb.gv.WithKind(r.Kind + "List")); err == nil {
			list = l
		}
	}
	status := metaV1 + "Status"
	watchEvent := metaV1 + "WatchEvent"
	ns := ""
	nsParam := []param{}
	if r.Namespaced {
		ns = "Namespaced"
		nsParam = []param{{name: "namespace", in: "path", typ: "string", required: true, desc: "object name and auth scope, such as for teams and projects"}}
	}
	nameParam := param{name: "name", in: "path", typ: "string", required: true, desc: "name of the " + r.Kind}
	pretty := queryParam("pretty")
	id := pb.gvID()
	base := pb.prefix()
	coll := base + "/" + r.Resource
	watchColl := base + "/watch/" + r.Resource
	if r.Namespaced {
		coll = base + "/namespaces/{namespace}/" + r.Resource
		watchColl = base + "/watch/namespaces/{namespace}/" + r.Resource
	}
	itemPath := coll + "/{name}"
	op := func(verbID, desc, action string) *operation {
		return &operation{id: verbID, desc: desc, action: action, gvk: gvk, tag: pb.tag()}
	}
	collParams := append(append([]param{}, nsParam...), pretty)
	itemParams := append([]param{nameParam}, collParams...)

	if has(r.Verbs, "list") {
		o := op("list"+id+ns+r.Kind, "list or watch objects of kind "+r.Kind, "list")
		o.params = listParams()
		o.responses = []response{{code: "200", desc: "OK", ref: list, types: listTypes()}, {code: "401", desc: "Unauthorized"}}
		pb.item(coll, collParams...).ops["get"] = o
		if r.Namespaced {
			o := op("list"+id+r.Kind+"ForAllNamespaces", "list or watch objects of kind "+r.Kind, "list")
			o.params = listParams()
			o.responses = []response{{code: "200", desc: "OK", ref: list, types: listTypes()}, {code: "401", desc: "Unauthorized"}}
			pb.item(base+"/"+r.Resource, pretty).ops["get"] = o
		}
	}
	if has(r.Verbs, "create") {
		o := op("create"+id+ns+r.Kind, "create a "+r.Kind, "post")
		o.params, o.body, o.bodyRequired, o.consumes = writeParams(), obj, true, []string{ctAll}
		o.responses = okResponses(obj, "200", "201", "202")
		pb.item(coll, collParams...).ops["post"] = o
	}
	if has(r.Verbs, "deletecollection") {
		o := op("delete"+id+"Collection"+ns+r.Kind, "delete collection of "+r.Kind, "deletecollection")
		o.params, o.body, o.consumes = deleteCollectionParams(), metaV1+"DeleteOptions", []string{ctAll}
		o.responses = okResponses(status, "200")
		pb.item(coll, collParams...).ops["delete"] = o
	}
	if has(r.Verbs, "get") {
		o := op("read"+id+ns+r.Kind, "read the specified "+r.Kind, "get")
		o.responses = okResponses(obj, "200")
		pb.item(itemPath, itemParams...).ops["get"] = o
	}
	if has(r.Verbs, "update") {
		o := op("replace"+id+ns+r.Kind, "replace the specified "+r.Kind, "put")
		o.params, o.body, o.bodyRequired, o.consumes = writeParams(), obj, true, []string{ctAll}
		o.responses = okResponses(obj, "200", "201")
		pb.item(itemPath, itemParams...).ops["put"] = o
	}
	if has(r.Verbs, "patch") {
		o := op("patch"+id+ns+r.Kind, "partially update the specified "+r.Kind, "patch")
		o.params, o.body, o.bodyRequired, o.consumes = patchParams(), metaV1+"Patch", true, patchTypes()
		o.responses = okResponses(obj, "200", "201")
		pb.item(itemPath, itemParams...).ops["patch"] = o
	}
	if has(r.Verbs, "delete") {
		o := op("delete"+id+ns+r.Kind, "delete a "+r.Kind, "delete")
		o.params, o.body, o.consumes = deleteParams(), metaV1+"DeleteOptions", []string{ctAll}
		o.responses = okResponses(status, "200", "202")
		pb.item(itemPath, itemParams...).ops["delete"] = o
	}
	if has(r.Verbs, "watch") {
		watchResp := []response{{code: "200", desc: "OK", ref: watchEvent, types: listTypes()}, {code: "401", desc: "Unauthorized"}}
		o := op("watch"+id+ns+r.Kind+"List", "watch individual changes to a list of "+r.Kind+". deprecated: use the 'watch' parameter with a list operation instead.", "watchlist")
		o.params, o.responses = listParams(), watchResp
		pb.item(watchColl, collParams...).ops["get"] = o
		o = op("watch"+id+ns+r.Kind, "watch changes to an object of kind "+r.Kind+". deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter.", "watch")
		o.params, o.responses = listParams(), watchResp
		pb.item(watchColl+"/{name}", itemParams...).ops["get"] = o
		if r.Namespaced {
			o := op("watch"+id+r.Kind+"ListForAllNamespaces", "watch individual changes to a list of "+r.Kind+". deprecated: use the 'watch' parameter with a list operation instead.", "watchlist")
			o.params, o.responses = listParams(), watchResp
			pb.item(base+"/watch/"+r.Resource, pretty).ops["get"] = o
		}
	}

	subs := append([]string(nil), r.Subresources...)
	sort.Strings(subs)
	for _, sub := range subs {
		if err := pb.addSubresource(r, sub, obj, itemPath, nsParam, nameParam); err != nil {
			return err
		}
	}
	return nil
}

// addSubresource adds the operations of subresource sub of r.
func (pb *pathBuilder) addSubresource(r Resource, sub, obj, itemPath string, nsParam []param, nameParam param) error {
	if sub == "" || strings.Contains(sub, "/") {
		return fmt.Errorf("openapi: bad subresource %q of %s", sub, r.Resource)
	}
	parent := pb.gv.WithKind(r.Kind)
	ns := ""
	if r.Namespaced {
		ns = "Namespaced"
	}
	id := pb.gvID()
	suffix := ns + r.Kind + upperFirst(sub)
	path := itemPath + "/" + sub
	base := append([]param{nameParam}, nsParam...)
	withPretty := append(append([]param{}, base...), queryParam("pretty"))
	newOp := func(opID, desc, action string, gvk schema.GroupVersionKind) *operation {
		return &operation{id: opID, desc: desc, action: action, gvk: gvk, tag: pb.tag()}
	}

	switch sub {
	case "binding", "eviction", "token":
		gvk := map[string]schema.GroupVersionKind{
			"binding":  {Version: "v1", Kind: "Binding"},
			"eviction": {Group: "policy", Version: "v1", Kind: "Eviction"},
			"token":    {Group: "authentication.k8s.io", Version: "v1", Kind: "TokenRequest"},
		}[sub]
		body, err := pb.define(gvk)
		if err != nil {
			return err
		}
		o := newOp("create"+id+suffix, "create "+sub+" of a "+r.Kind, "post", gvk)
		o.params, o.body, o.bodyRequired, o.consumes = writeParams(), body, true, []string{ctAll}
		o.responses = okResponses(body, "200", "201", "202")
		pb.item(path, withPretty...).ops["post"] = o
	case "log":
		o := newOp("read"+id+suffix, "read log of the specified "+r.Kind, "get", parent)
		o.params = pb.optionParams(r.Kind + "LogOptions")
		o.responses = []response{
			{code: "200", desc: "OK", str: true, types: []string{ctJSON, ctYAML, "text/plain"}},
			{code: "401", desc: "Unauthorized"},
		}
		pb.item(path, withPretty...).ops["get"] = o
	case "exec", "attach", "portforward", "proxy":
		optKind := r.Kind + map[string]string{"exec": "ExecOptions", "attach": "AttachOptions", "portforward": "PortForwardOptions", "proxy": "ProxyOptions"}[sub]
		gvk := pb.gv.WithKind(optKind)
		methods := []string{"get", "post"}
		if sub == "proxy" {
			methods = []string{"delete", "get", "head", "options", "patch", "post", "put"}
		}
		params := pb.optionParams(optKind)
		variants := []struct{ path, idSuffix string }{{path, ""}}
		if sub == "proxy" {
			variants = append(variants, struct{ path, idSuffix string }{path + "/{path}", "WithPath"})
		}
		for _, v := range variants {
			pathParams := base
			if v.idSuffix != "" {
				pathParams = append(append([]param{}, base...), param{name: "path", in: "path", typ: "string", required: true, desc: "path to the resource"})
			}
			it := pb.item(v.path, pathParams...)
			for _, m := range methods {
				o := newOp("connect"+id+upperFirst(m)+suffix+v.idSuffix, "connect "+strings.ToUpper(m)+" requests to "+sub+" of "+r.Kind, "connect", gvk)
				o.params = params
				o.responses = []response{{code: "200", desc: "OK", str: true, types: []string{ctAll}}, {code: "401", desc: "Unauthorized"}}
				it.ops[m] = o
			}
		}
	default: // status, scale, ephemeralcontainers, resize, approval, finalize, ...
		gvk, ref := parent, obj
		if sub == "scale" {
			gvk = schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}
			var err error
			if ref, err = pb.define(gvk); err != nil {
				return err
			}
		}
		it := pb.item(path, withPretty...)
		if sub != "finalize" {
			o := newOp("read"+id+suffix, "read "+sub+" of the specified "+r.Kind, "get", gvk)
			o.responses = okResponses(ref, "200")
			it.ops["get"] = o
			o = newOp("patch"+id+suffix, "partially update "+sub+" of the specified "+r.Kind, "patch", gvk)
			o.params, o.body, o.bodyRequired, o.consumes = patchParams(), metaV1+"Patch", true, patchTypes()
			o.responses = okResponses(ref, "200", "201")
			it.ops["patch"] = o
		}
		o := newOp("replace"+id+suffix, "replace "+sub+" of the specified "+r.Kind, "put", gvk)
		o.params, o.body, o.bodyRequired, o.consumes = writeParams(), ref, true, []string{ctAll}
		o.responses = okResponses(ref, "200", "201")
		it.ops["put"] = o
	}
	return nil
}

// optionParams derives query parameters from the fields of a registered
// options kind such as PodLogOptions.
func (pb *pathBuilder) optionParams(kind string) []param {
	t, ok := pb.b.typeOf(pb.scheme, pb.gv.WithKind(kind))
	if !ok || t.Kind() != reflect.Struct {
		return nil
	}
	docs := typeDocs(t)
	var out []param
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous || !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		typ := "string"
		switch ft.Kind() {
		case reflect.Bool:
			typ = "boolean"
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			typ = "integer"
		}
		out = append(out, param{name: name, in: "query", typ: typ, desc: docs[name]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// render returns the path item as an OpenAPI v2 or v3 object.
func (it *pathItem) render(v3 bool) map[string]any {
	m := map[string]any{}
	if len(it.params) > 0 {
		m["parameters"] = renderParams(it.params, v3)
	}
	for method, o := range it.ops {
		m[method] = o.render(v3)
	}
	return m
}

func renderParams(ps []param, v3 bool) []any {
	out := make([]any, 0, len(ps))
	for _, p := range ps {
		m := map[string]any{"name": p.name, "in": p.in}
		if p.desc != "" {
			m["description"] = p.desc
		}
		if p.required {
			m["required"] = true
		}
		if v3 {
			m["schema"] = map[string]any{"type": p.typ, "uniqueItems": true}
		} else {
			m["type"] = p.typ
			m["uniqueItems"] = true
		}
		out = append(out, m)
	}
	return out
}

func (o *operation) render(v3 bool) map[string]any {
	m := map[string]any{
		"operationId": o.id,
		"description": o.desc,
		"tags":        []any{o.tag},
	}
	if o.action != "" {
		m["x-kubernetes-action"] = o.action
		m["x-kubernetes-group-version-kind"] = gvkMap(o.gvk)
	}
	params := renderParams(o.params, v3)
	responses := map[string]any{}
	for _, r := range o.responses {
		resp := map[string]any{"description": r.desc}
		var sch map[string]any
		switch {
		case r.str:
			sch = map[string]any{"type": "string"}
		case r.ref != "":
			sch = map[string]any{"$ref": refPrefix(v3) + r.ref}
		}
		if sch != nil {
			if v3 {
				content := map[string]any{}
				for _, ct := range r.types {
					content[ct] = map[string]any{"schema": sch}
				}
				resp["content"] = content
			} else {
				resp["schema"] = sch
			}
		}
		responses[r.code] = resp
	}
	m["responses"] = responses

	if v3 {
		if o.body != "" {
			content := map[string]any{}
			for _, ct := range o.consumes {
				content[ct] = map[string]any{"schema": map[string]any{"$ref": refPrefix(true) + o.body}}
			}
			rb := map[string]any{"content": content}
			if o.bodyRequired {
				rb["required"] = true
			}
			m["requestBody"] = rb
		}
	} else {
		if o.body != "" {
			body := map[string]any{"name": "body", "in": "body", "schema": map[string]any{"$ref": refPrefix(false) + o.body}}
			if o.bodyRequired {
				body["required"] = true
			}
			params = append([]any{body}, params...)
			m["consumes"] = o.consumes
		}
		var produces []string
		seen := map[string]bool{}
		for _, r := range o.responses {
			for _, ct := range r.types {
				if !seen[ct] {
					seen[ct] = true
					produces = append(produces, ct)
				}
			}
		}
		sort.Strings(produces)
		if len(produces) > 0 {
			m["produces"] = produces
		}
		m["schemes"] = []any{"https"}
	}
	if len(params) > 0 {
		m["parameters"] = params
	}
	return m
}
