package apiserver

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"time"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
)

// Version is what /version reports: the Kubernetes version the server is compatible with.
var Version = version.Info{
	Major: "1", Minor: "37", GitVersion: "v1.37.2+kijabi", GitCommit: "kijabi", GitTreeState: "clean",
	Platform: runtime.GOOS + "/" + runtime.GOARCH, GoVersion: runtime.Version(), Compiler: runtime.Compiler,
	EmulationMajor: "1", EmulationMinor: "37", MinCompatibilityMajor: "1", MinCompatibilityMinor: "36",
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if strings.HasPrefix(r.URL.Path, "/readyz") || strings.HasPrefix(r.URL.Path, "/healthz") {
		res := s.byGroupResource["/namespaces"]
		if _, err := res.store.CurrentRevision(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "[-]etcd failed: %v\nhealthz check failed\n", err)
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.URL.Query().Has("verbose") {
		fmt.Fprintf(w, "[+]ping ok\n[+]etcd ok\n[+]poststarthook/bootstrap ok\n%s check passed\n", strings.Trim(r.URL.Path, "/"))
		return
	}
	w.Write([]byte("ok"))
}

func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request) {
	v := Version
	v.BuildDate = s.start.UTC().Format(time.RFC3339)
	writeJSON(w, http.StatusOK, v)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	data, err := jsonMarshal(v)
	if err != nil {
		writeError(w, apierrors.NewInternalError(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(data)
}

func (s *Server) wantsAggregated(r *http.Request) (target, bool) {
	t, err := s.negotiate(r.Header.Get("Accept"), func(as, g, v string) bool {
		return as == "APIGroupDiscoveryList" && g == "apidiscovery.k8s.io" && v == "v2"
	})
	return t, err == nil && t.as == "APIGroupDiscoveryList"
}

func (s *Server) serverAddresses(r *http.Request) []metav1.ServerAddressByClientCIDR {
	host := r.Host
	if host == "" && s.cfg.AdvertiseAddress != nil {
		host = net.JoinHostPort(s.cfg.AdvertiseAddress.String(), fmt.Sprint(s.cfg.Port))
	}
	return []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: host}}
}

// serveLegacyAPIs serves /api: the core group's versions, or its aggregated discovery.
func (s *Server) serveLegacyAPIs(w http.ResponseWriter, r *http.Request) {
	if t, ok := s.wantsAggregated(r); ok {
		s.writeAggregated(w, r, t, true)
		return
	}
	writeJSON(w, http.StatusOK, &metav1.APIVersions{
		TypeMeta:                   metav1.TypeMeta{Kind: "APIVersions"},
		Versions:                   []string{"v1"},
		ServerAddressByClientCIDRs: s.serverAddresses(r),
	})
}

func (s *Server) apiGroup(g groupInfo) metav1.APIGroup {
	group := metav1.APIGroup{TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}, Name: g.name}
	for _, v := range g.versions {
		group.Versions = append(group.Versions, metav1.GroupVersionForDiscovery{GroupVersion: g.name + "/" + v, Version: v})
	}
	group.PreferredVersion = group.Versions[0]
	return group
}

// serveAPIGroups serves /apis: the named groups, or their aggregated discovery.
func (s *Server) serveAPIGroups(w http.ResponseWriter, r *http.Request) {
	if t, ok := s.wantsAggregated(r); ok {
		s.writeAggregated(w, r, t, false)
		return
	}
	list := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	groups, _ := s.discoveryGroups()
	for _, g := range groups {
		if g.name == "" {
			continue
		}
		list.Groups = append(list.Groups, s.apiGroup(g))
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) serveAPIGroup(w http.ResponseWriter, r *http.Request, name string) {
	groups, _ := s.discoveryGroups()
	for _, g := range groups {
		if g.name == name && name != "" {
			writeJSON(w, http.StatusOK, s.apiGroup(g))
			return
		}
	}
	writeError(w, apierrors.NewNotFound(schema.GroupResource{}, ""))
}

// subresourceKind is the kind and verbs a subresource serves.
type subresourceKind struct {
	gvk   schema.GroupVersionKind
	verbs []string
}

func (r *resource) subresourceKind(sub string) subresourceKind {
	switch sub {
	case "status":
		return subresourceKind{r.gvk, []string{"get", "patch", "update"}}
	case "scale":
		return subresourceKind{schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}, []string{"get", "patch", "update"}}
	case "binding":
		return subresourceKind{schema.GroupVersionKind{Version: "v1", Kind: "Binding"}, []string{"create"}}
	case "eviction":
		return subresourceKind{schema.GroupVersionKind{Group: "policy", Version: "v1", Kind: "Eviction"}, []string{"create"}}
	case "token":
		return subresourceKind{schema.GroupVersionKind{Group: "authentication.k8s.io", Version: "v1", Kind: "TokenRequest"}, []string{"create"}}
	case "log":
		return subresourceKind{schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, []string{"get"}}
	case "exec":
		return subresourceKind{schema.GroupVersionKind{Version: "v1", Kind: "PodExecOptions"}, []string{"create", "get"}}
	case "attach":
		return subresourceKind{schema.GroupVersionKind{Version: "v1", Kind: "PodAttachOptions"}, []string{"create", "get"}}
	case "portforward":
		return subresourceKind{schema.GroupVersionKind{Version: "v1", Kind: "PodPortForwardOptions"}, []string{"create", "get"}}
	case "proxy":
		return subresourceKind{schema.GroupVersionKind{Version: "v1", Kind: r.gvk.Kind + "ProxyOptions"}, []string{"create", "delete", "get", "patch", "update"}}
	case "finalize":
		return subresourceKind{r.gvk, []string{"update"}}
	case "approval":
		return subresourceKind{r.gvk, []string{"get", "patch", "update"}}
	case "ephemeralcontainers", "resize":
		return subresourceKind{r.gvk, []string{"get", "patch", "update"}}
	}
	return subresourceKind{r.gvk, []string{"get"}}
}

func (s *Server) serveResourceList(w http.ResponseWriter, r *http.Request, group, version string) {
	list := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: version}
	if group != "" {
		list.GroupVersion = group + "/" + version
	}
	found := false
	_, byGV := s.discoveryGroups()
	for _, res := range byGV[group+"/"+version] {
		def := res.resourceDef
		found = true
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: def.name, SingularName: res.singularName(), Namespaced: def.namespaced, Kind: def.kind,
			Verbs: res.verbs(), ShortNames: def.shortNames, Categories: def.categories, StorageVersionHash: storageHash(res),
		})
		for _, sub := range res.subresources() {
			sk := res.subresourceKind(sub)
			ar := metav1.APIResource{Name: def.name + "/" + sub, Namespaced: def.namespaced, Kind: sk.gvk.Kind, Verbs: sk.verbs}
			if sk.gvk.GroupVersion() != res.gvk.GroupVersion() {
				ar.Group, ar.Version = sk.gvk.Group, sk.gvk.Version
			}
			list.APIResources = append(list.APIResources, ar)
		}
	}
	if !found {
		writeError(w, apierrors.NewNotFound(schema.GroupResource{}, ""))
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func storageHash(r *resource) string {
	sum := sha256.Sum256([]byte(r.gvk.String()))
	return hex.EncodeToString(sum[:])[:12]
}

// writeAggregated writes the aggregated discovery document (apidiscovery.k8s.io/v2) of the
// core group (legacy) or of the named groups.
func (s *Server) writeAggregated(w http.ResponseWriter, r *http.Request, t target, legacy bool) {
	list := &apidiscoveryv2.APIGroupDiscoveryList{TypeMeta: metav1.TypeMeta{APIVersion: "apidiscovery.k8s.io/v2", Kind: "APIGroupDiscoveryList"}}
	groups, byGV := s.discoveryGroups()
	for _, g := range groups {
		if (g.name == "") != legacy {
			continue
		}
		gd := apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: g.name}}
		for _, v := range g.versions {
			if rd, ok := s.remoteVersionDiscovery(g.name, v); ok {
				gd.Versions = append(gd.Versions, rd)
				continue
			}
			vd := apidiscoveryv2.APIVersionDiscovery{Version: v, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
			for _, res := range byGV[g.name+"/"+v] {
				def := res.resourceDef
				scope := apidiscoveryv2.ScopeCluster
				if def.namespaced {
					scope = apidiscoveryv2.ScopeNamespace
				}
				rd := apidiscoveryv2.APIResourceDiscovery{
					Resource: def.name, ResponseKind: &metav1.GroupVersionKind{Group: def.group, Version: def.version, Kind: def.kind},
					Scope: scope, SingularResource: res.singularName(), Verbs: res.verbs(),
					ShortNames: def.shortNames, Categories: def.categories,
				}
				for _, sub := range res.subresources() {
					sk := res.subresourceKind(sub)
					rd.Subresources = append(rd.Subresources, apidiscoveryv2.APISubresourceDiscovery{
						Subresource: sub, Verbs: sk.verbs,
						ResponseKind: &metav1.GroupVersionKind{Group: sk.gvk.Group, Version: sk.gvk.Version, Kind: sk.gvk.Kind},
					})
				}
				vd.Resources = append(vd.Resources, rd)
			}
			gd.Versions = append(gd.Versions, vd)
		}
		list.Items = append(list.Items, gd)
	}
	s.writeObject(w, r, http.StatusOK, t, list)
}

func (s *Server) serveOpenAPIV2(w http.ResponseWriter, r *http.Request) {
	docs, err := s.openapiDocs(r, true)
	if err != nil {
		writeError(w, err)
		return
	}
	accept := r.Header.Get("Accept")
	if strings.Contains(accept, "application/com.github.proto-openapi.spec.v2") {
		w.Header().Set("Content-Type", "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
		w.Write(docs.V2Proto())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(docs.V2JSON())
}

func (s *Server) serveOpenAPIV3(w http.ResponseWriter, r *http.Request) {
	docs, err := s.openapiDocs(r, false)
	if err != nil {
		writeError(w, err)
		return
	}
	p := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/openapi/v3"), "/")
	if p == "" {
		w.Header().Set("Content-Type", "application/json")
		w.Write(docs.V3Root())
		return
	}
	doc, hash, ok := docs.V3(p)
	if !ok {
		writeError(w, apierrors.NewNotFound(schema.GroupResource{}, ""))
		return
	}
	if h := r.URL.Query().Get("hash"); h != "" && h == hash {
		w.Header().Set("Cache-Control", "public, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache, private")
	}
	w.Header().Set("Etag", `"`+hash+`"`)
	w.Header().Set("Content-Type", "application/json")
	w.Write(doc)
}

func (r *resource) singularName() string {
	if r.singular != "" {
		return r.singular
	}
	return strings.ToLower(r.kind)
}

// discoveryGroups returns the served groups (built-in first, then those of custom
// resources by name, versions by priority) and the resources of each "group/version".
func (s *Server) discoveryGroups() ([]groupInfo, map[string][]*resource) {
	groups := append([]groupInfo(nil), s.groups...)
	byGV := map[string][]*resource{}
	for _, def := range resourceDefs() {
		gvr := schema.GroupVersionResource{Group: def.group, Version: def.version, Resource: def.name}
		if res := s.resources[gvr]; res != nil {
			byGV[def.group+"/"+def.version] = append(byGV[def.group+"/"+def.version], res)
		}
	}
	index := map[string]int{}
	for i, g := range groups {
		index[g.name] = i
	}
	for _, r := range s.crSnapshot() {
		key := r.group + "/" + r.version
		byGV[key] = append(byGV[key], r)
		groups = withGroupVersion(groups, index, r.group, r.version)
	}
	return s.aggregateDiscovery(groups, byGV), byGV
}

// withGroupVersion adds version to group in groups (index maps a group's name to its place),
// appending the group when it is new. The versions of an existing group are copied, not
// changed in place: groups may share them with the server's own list.
func withGroupVersion(groups []groupInfo, index map[string]int, group, version string) []groupInfo {
	i, ok := index[group]
	if !ok {
		i = len(groups)
		index[group] = i
		groups = append(groups, groupInfo{name: group})
	}
	if !contains(groups[i].versions, version) {
		g := groups[i]
		g.versions = append(append([]string(nil), g.versions...), version)
		groups[i] = g
	}
	return groups
}
