package apiserver

import (
	"net/http"
	"strings"
)

// requestInfo is what the URL of a resource request says.
type requestInfo struct {
	// group and version of the API; group is "" for the core (/api) group.
	group, version string
	namespace      string
	resource       string
	name           string
	subresource    string
	// verb is Kubernetes' verb: get, list, watch, create, update, patch, delete,
	// deletecollection.
	verb string
	// rest is what follows the subresource (the path of a proxy request).
	rest string
}

// parseRequest splits a resource URL. ok is false for URLs that are not resource requests.
//
//	/api/v1/{resource}[/{name}[/{subresource}]]
//	/api/v1/namespaces/{namespace}/{resource}[/{name}[/{subresource}]]
//	/apis/{group}/{version}/... the same
//	/api/v1/watch/... the legacy watch form
func parseRequest(r *http.Request, namespaced func(group, resource string) (bool, bool)) (*requestInfo, bool) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	info := &requestInfo{}
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		info.version = parts[1]
		parts = parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		info.group, info.version = parts[1], parts[2]
		parts = parts[3:]
	default:
		return nil, false
	}
	legacyWatch := false
	if parts[0] == "watch" {
		legacyWatch = true
		parts = parts[1:]
		if len(parts) == 0 {
			return nil, false
		}
	}
	// namespaces/{ns}/{resource}... is a namespaced request unless what follows the namespace
	// name is a subresource of the namespace itself.
	if parts[0] == "namespaces" && len(parts) >= 3 {
		if nsd, known := namespaced(info.group, parts[2]); known && nsd {
			info.namespace = parts[1]
			parts = parts[2:]
		}
	}
	info.resource = parts[0]
	if len(parts) > 1 {
		info.name = parts[1]
	}
	if len(parts) > 2 {
		info.subresource = parts[2]
	}
	if len(parts) > 3 {
		info.rest = strings.Join(parts[3:], "/")
	}
	q := r.URL.Query()
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case legacyWatch || isTrue(q.Get("watch")):
			info.verb = "watch"
		case info.name == "":
			info.verb = "list"
		default:
			info.verb = "get"
		}
	case http.MethodPost:
		info.verb = "create"
	case http.MethodPut:
		info.verb = "update"
	case http.MethodPatch:
		info.verb = "patch"
	case http.MethodDelete:
		if info.name == "" {
			info.verb = "deletecollection"
		} else {
			info.verb = "delete"
		}
	default:
		info.verb = strings.ToLower(r.Method)
	}
	return info, true
}

func isTrue(s string) bool { return s == "true" || s == "1" }
