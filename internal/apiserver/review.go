package apiserver

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/kijabi/kijabi/internal/auth"
)

// Reviews are create-only resources that are never stored: the server answers the posted
// object from the request's user and the authorizer (`kubectl auth can-i`, `kubectl auth
// whoami`, webhooks asking whether a user may do something).

// reviewFunc fills in the status of a posted review. namespace is the request's namespace.
type reviewFunc func(s *Server, user *auth.User, namespace string, obj runtime.Object) error

func (s *Server) serveReview(w http.ResponseWriter, r *http.Request, res *resource, info *requestInfo, user *auth.User) error {
	if info.verb != "create" || info.name != "" || info.subresource != "" {
		return methodNotSupported(res.gr, info.verb)
	}
	if res.namespaced && info.namespace == "" {
		return apierrors.NewNotFound(res.gr, "")
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	}
	if _, err := dryRun(r); err != nil {
		return err
	}
	obj, err := s.decodeBody(w, r, res, res.gvk)
	if err != nil {
		return err
	}
	if err := res.review(s, user, info.namespace, obj); err != nil {
		return err
	}
	s.respond(w, r, http.StatusCreated, res, obj)
	return nil
}

func reviewSelfSubject(s *Server, user *auth.User, _ string, obj runtime.Object) error {
	review := obj.(*authenticationv1.SelfSubjectReview)
	review.Status.UserInfo = authenticationv1.UserInfo{Username: user.Name, UID: user.UID, Groups: user.Groups}
	for k, v := range user.Extra {
		if review.Status.UserInfo.Extra == nil {
			review.Status.UserInfo.Extra = map[string]authenticationv1.ExtraValue{}
		}
		review.Status.UserInfo.Extra[k] = v
	}
	return nil
}

// accessAttributes turns the attributes of an access review into the authorizer's.
func accessAttributes(user *auth.User, ra *authorizationv1.ResourceAttributes, nra *authorizationv1.NonResourceAttributes) (auth.Attributes, error) {
	switch {
	case ra != nil && nra != nil:
		return auth.Attributes{}, field.Invalid(field.NewPath("spec", "nonResourceAttributes"), nra, `cannot be specified in combination with resourceAttributes`)
	case ra != nil:
		return auth.Attributes{User: user, Verb: ra.Verb, Group: ra.Group, Version: ra.Version, Resource: ra.Resource,
			Subresource: ra.Subresource, Namespace: ra.Namespace, Name: ra.Name}, nil
	case nra != nil:
		return auth.Attributes{User: user, Verb: nra.Verb, Path: nra.Path}, nil
	}
	return auth.Attributes{}, field.Required(field.NewPath("spec", "resourceAttributes"), "exactly one of nonResourceAttributes or resourceAttributes must be specified")
}

func (s *Server) decide(kind, name string, attrs auth.Attributes, err error) (authorizationv1.SubjectAccessReviewStatus, error) {
	if err != nil {
		return authorizationv1.SubjectAccessReviewStatus{}, apierrors.NewInvalid(authorizationv1.SchemeGroupVersion.WithKind(kind).GroupKind(), name, field.ErrorList{err.(*field.Error)})
	}
	allowed, reason := s.cfg.Authorizer.Authorize(attrs)
	return authorizationv1.SubjectAccessReviewStatus{Allowed: allowed, Denied: false, Reason: reason}, nil
}

func reviewSelfSubjectAccess(s *Server, user *auth.User, _ string, obj runtime.Object) error {
	review := obj.(*authorizationv1.SelfSubjectAccessReview)
	attrs, err := accessAttributes(user, review.Spec.ResourceAttributes, review.Spec.NonResourceAttributes)
	review.Status, err = s.decide("SelfSubjectAccessReview", review.Name, attrs, err)
	return err
}

// subjectOf is the user a SubjectAccessReview asks about.
func subjectOf(spec *authorizationv1.SubjectAccessReviewSpec) (*auth.User, error) {
	if spec.User == "" && len(spec.Groups) == 0 {
		return nil, field.Required(field.NewPath("spec", "user"), "at least one of user or group must be specified")
	}
	return &auth.User{Name: spec.User, UID: spec.UID, Groups: spec.Groups}, nil
}

func reviewSubjectAccess(s *Server, _ *auth.User, _ string, obj runtime.Object) error {
	review := obj.(*authorizationv1.SubjectAccessReview)
	subject, err := subjectOf(&review.Spec)
	var attrs auth.Attributes
	if err == nil {
		attrs, err = accessAttributes(subject, review.Spec.ResourceAttributes, review.Spec.NonResourceAttributes)
	}
	review.Status, err = s.decide("SubjectAccessReview", review.Name, attrs, err)
	return err
}

func reviewLocalSubjectAccess(s *Server, _ *auth.User, namespace string, obj runtime.Object) error {
	review := obj.(*authorizationv1.LocalSubjectAccessReview)
	review.Namespace = namespace
	subject, err := subjectOf(&review.Spec)
	var attrs auth.Attributes
	if err == nil {
		if review.Spec.ResourceAttributes == nil {
			err = field.Required(field.NewPath("spec", "resourceAttributes"), "")
		} else if review.Spec.ResourceAttributes.Namespace != namespace {
			err = field.Invalid(field.NewPath("spec", "resourceAttributes", "namespace"), review.Spec.ResourceAttributes.Namespace, "must match metadata.namespace")
		} else {
			attrs, err = accessAttributes(subject, review.Spec.ResourceAttributes, review.Spec.NonResourceAttributes)
		}
	}
	review.Status, err = s.decide("LocalSubjectAccessReview", review.Name, attrs, err)
	return err
}

// reviewSelfSubjectRules lists what the user may do in a namespace: the user's RBAC rules, or,
// with an authorizer that answers single questions only, those it allows among the served
// resources' verbs.
func reviewSelfSubjectRules(s *Server, user *auth.User, _ string, obj runtime.Object) error {
	review := obj.(*authorizationv1.SelfSubjectRulesReview)
	ns := review.Spec.Namespace
	if ns == "" {
		return apierrors.NewInvalid(authorizationv1.SchemeGroupVersion.WithKind("SelfSubjectRulesReview").GroupKind(), review.Name,
			field.ErrorList{field.Required(field.NewPath("spec", "namespace"), "")})
	}
	if p, ok := s.cfg.Authorizer.(policyAuthorizer); ok {
		for _, r := range p.RulesFor(user, ns) {
			if len(r.NonResourceURLs) > 0 {
				review.Status.NonResourceRules = append(review.Status.NonResourceRules,
					authorizationv1.NonResourceRule{Verbs: r.Verbs, NonResourceURLs: r.NonResourceURLs})
				continue
			}
			review.Status.ResourceRules = append(review.Status.ResourceRules, authorizationv1.ResourceRule{
				Verbs: r.Verbs, APIGroups: r.APIGroups, Resources: r.Resources, ResourceNames: r.ResourceNames})
		}
		return nil
	}
	if ok, _ := s.cfg.Authorizer.Authorize(auth.Attributes{User: user, Verb: "*", Group: "*", Resource: "*", Namespace: ns}); ok {
		review.Status.ResourceRules = []authorizationv1.ResourceRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}}
		review.Status.NonResourceRules = []authorizationv1.NonResourceRule{{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}}
		return nil
	}
	type key struct{ group, verbs string }
	byVerbs := map[key][]string{}
	for gvr, res := range s.resources {
		if s.byGroupResource[gvr.Group+"/"+gvr.Resource] != res {
			continue // another version of a resource listed once
		}
		var verbs []string
		for _, v := range res.verbs() {
			attrs := auth.Attributes{User: user, Verb: v, Group: gvr.Group, Version: gvr.Version, Resource: gvr.Resource}
			if res.namespaced {
				attrs.Namespace = ns
			}
			if ok, _ := s.cfg.Authorizer.Authorize(attrs); ok {
				verbs = append(verbs, v)
			}
		}
		if len(verbs) > 0 {
			k := key{gvr.Group, strings.Join(verbs, ",")}
			byVerbs[k] = append(byVerbs[k], gvr.Resource)
		}
	}
	for k, resources := range byVerbs {
		sort.Strings(resources)
		review.Status.ResourceRules = append(review.Status.ResourceRules, authorizationv1.ResourceRule{
			Verbs: strings.Split(k.verbs, ","), APIGroups: []string{k.group}, Resources: resources})
	}
	sort.Slice(review.Status.ResourceRules, func(i, j int) bool {
		a, b := review.Status.ResourceRules[i], review.Status.ResourceRules[j]
		return fmt.Sprint(a.APIGroups, a.Resources) < fmt.Sprint(b.APIGroups, b.Resources)
	})
	review.Status.Incomplete = true
	review.Status.EvaluationError = "the authorizer cannot enumerate rules; non-resource rules and rules for specific names are not listed"
	return nil
}

// reviewToken answers a TokenReview (webhook token authentication, kube-rbac-proxy): whether
// the token authenticates against this server's authenticators, and as whom. Tokens are
// accepted for the server's own audiences; a review naming others gets those of them the
// server serves, and is refused when there are none.
func reviewToken(s *Server, _ *auth.User, _ string, obj runtime.Object) error {
	review := obj.(*authenticationv1.TokenReview)
	if review.Spec.Token == "" {
		return apierrors.NewInvalid(authenticationv1.SchemeGroupVersion.WithKind("TokenReview").GroupKind(), review.Name,
			field.ErrorList{field.Required(field.NewPath("spec", "token"), "")})
	}
	review.Status = authenticationv1.TokenReviewStatus{}
	audiences := s.apiAudiences()
	if len(review.Spec.Audiences) > 0 {
		var both []string
		for _, a := range review.Spec.Audiences {
			if contains(audiences, a) {
				both = append(both, a)
			}
		}
		if len(both) == 0 {
			review.Status.Error = "token audiences " + strings.Join(audiences, ",") + " is invalid for the target audiences " + strings.Join(review.Spec.Audiences, ",")
			return nil
		}
		audiences = both
	}
	if s.cfg.Authenticator == nil {
		review.Status.Error = "no authenticator configured"
		return nil
	}
	req, err := http.NewRequest(http.MethodGet, "/", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+review.Spec.Token)
	user, ok, err := s.cfg.Authenticator.Authenticate(req)
	switch {
	case err != nil:
		review.Status.Error = err.Error()
	case !ok:
		review.Status.Error = "invalid bearer token"
	default:
		review.Status.Authenticated = true
		review.Status.Audiences = audiences
		review.Status.User = authenticationv1.UserInfo{Username: user.Name, UID: user.UID, Groups: user.Groups}
		for k, v := range user.Extra {
			if review.Status.User.Extra == nil {
				review.Status.User.Extra = map[string]authenticationv1.ExtraValue{}
			}
			review.Status.User.Extra[k] = v
		}
	}
	return nil
}
