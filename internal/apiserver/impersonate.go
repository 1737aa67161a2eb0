package apiserver

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kijabi/kijabi/internal/auth"
)

// impersonate turns a request carrying Impersonate-* headers (kubectl --as, --as-group,
// --as-uid) into a request of the impersonated user, once the authorizer has allowed the
// real user to "impersonate" each part: the user (or service account), every group, the UID
// and every extra value. Without the headers it returns user unchanged.
func (s *Server) impersonate(r *http.Request, user *auth.User) (*auth.User, error) {
	h := r.Header
	name := h.Get(authenticationv1.ImpersonateUserHeader)
	groups := h.Values(authenticationv1.ImpersonateGroupHeader)
	uid := h.Get(authenticationv1.ImpersonateUIDHeader)
	extra := map[string][]string{}
	for k, vs := range h {
		if rest, ok := strings.CutPrefix(k, authenticationv1.ImpersonateUserExtraHeaderPrefix); ok {
			key, err := url.PathUnescape(rest)
			if err != nil {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid impersonation extra header %q", k))
			}
			key = strings.ToLower(key)
			extra[key] = append(extra[key], vs...)
		}
	}
	if name == "" {
		if len(groups) > 0 || uid != "" || len(extra) > 0 {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("requested %v without impersonating a user", impersonationRequest(groups, uid, extra)))
		}
		return user, nil
	}

	check := func(gr schema.GroupResource, namespace, resourceName, subresource string) error {
		attrs := auth.Attributes{User: user, Verb: "impersonate", Group: gr.Group, Resource: gr.Resource,
			Subresource: subresource, Namespace: namespace, Name: resourceName}
		if ok, _ := s.cfg.Authorizer.Authorize(attrs); ok {
			return nil
		}
		scope := "at the cluster scope"
		if namespace != "" {
			scope = fmt.Sprintf("in the namespace %q", namespace)
		}
		return apierrors.NewForbidden(gr, resourceName, fmt.Errorf("User %q cannot impersonate resource %q in API group %q %s",
			user.Name, gr.Resource, gr.Group, scope))
	}

	imp := &auth.User{Name: name, UID: uid, Groups: append([]string(nil), groups...)}
	if rest, ok := strings.CutPrefix(name, auth.ServiceAccountUsernamePrefix); ok {
		ns, sa, found := strings.Cut(rest, ":")
		if !found || ns == "" || sa == "" {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid service account user name %q", name))
		}
		if err := check(schema.GroupResource{Resource: "serviceaccounts"}, ns, sa, ""); err != nil {
			return nil, err
		}
		if len(groups) == 0 {
			imp.Groups = auth.ServiceAccountGroups(ns)
		}
	} else if err := check(schema.GroupResource{Resource: "users"}, "", name, ""); err != nil {
		return nil, err
	}
	for _, g := range groups {
		if err := check(schema.GroupResource{Resource: "groups"}, "", g, ""); err != nil {
			return nil, err
		}
	}
	if uid != "" {
		if err := check(schema.GroupResource{Group: authenticationv1.GroupName, Resource: "uids"}, "", uid, ""); err != nil {
			return nil, err
		}
	}
	for key, values := range extra {
		for _, v := range values {
			if err := check(schema.GroupResource{Group: authenticationv1.GroupName, Resource: "userextras"}, "", v, key); err != nil {
				return nil, err
			}
		}
		if imp.Extra == nil {
			imp.Extra = map[string][]string{}
		}
		imp.Extra[key] = values
	}
	// The impersonated user is authenticated as such (or anonymous as such).
	if name == auth.UserAnonymous {
		if !contains(imp.Groups, auth.GroupUnauthenticated) {
			imp.Groups = append(imp.Groups, auth.GroupUnauthenticated)
		}
	} else if !contains(imp.Groups, auth.GroupAuthenticated) {
		imp.Groups = append(imp.Groups, auth.GroupAuthenticated)
	}
	// Nothing downstream (the kubelet, node proxies) sees the headers.
	for k := range h {
		if strings.HasPrefix(k, "Impersonate-") {
			h.Del(k)
		}
	}
	return imp, nil
}

func impersonationRequest(groups []string, uid string, extra map[string][]string) string {
	var parts []string
	for _, g := range groups {
		parts = append(parts, "group "+g)
	}
	if uid != "" {
		parts = append(parts, "uid "+uid)
	}
	for k, vs := range extra {
		for _, v := range vs {
			parts = append(parts, "extra "+k+"="+v)
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
