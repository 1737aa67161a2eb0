package apiserver

import (
	"errors"
	"net/http"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/mergepatch"

	"github.com/kijabi/kijabi/internal/auth"
)

// onlyReads allows get, list and watch, and says why it refuses the rest.
type onlyReads struct{ seen []auth.Attributes }

func (o *onlyReads) Authorize(a auth.Attributes) (bool, string) {
	o.seen = append(o.seen, a)
	switch a.Verb {
	case "get", "list", "watch":
		return true, ""
	}
	return false, "read-only"
}

func TestAccessReviewsAskTheAuthorizer(t *testing.T) {
	authz := &onlyReads{}
	s := &Server{cfg: Config{Authorizer: authz}}
	alice := &auth.User{Name: "alice", Groups: []string{"devs"}}

	ssar := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "ns", Verb: "get", Group: "apps", Resource: "deployments", Subresource: "scale", Name: "web"}}}
	if err := reviewSelfSubjectAccess(s, alice, "", ssar); err != nil {
		t.Fatal(err)
	}
	want := auth.Attributes{User: alice, Verb: "get", Group: "apps", Resource: "deployments", Subresource: "scale", Namespace: "ns", Name: "web"}
	if !ssar.Status.Allowed || len(authz.seen) != 1 || authz.seen[0] != want {
		t.Fatalf("SelfSubjectAccessReview: status %+v, asked %+v", ssar.Status, authz.seen)
	}

	ssar = &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/healthz", Verb: "post"}}}
	if err := reviewSelfSubjectAccess(s, alice, "", ssar); err != nil {
		t.Fatal(err)
	}
	if ssar.Status.Allowed || ssar.Status.Reason != "read-only" || authz.seen[1].Path != "/healthz" {
		t.Fatalf("non-resource review: %+v", ssar.Status)
	}

	// Neither or both attribute kinds are invalid.
	err := reviewSelfSubjectAccess(s, alice, "", &authorizationv1.SelfSubjectAccessReview{})
	if !apierrors.IsInvalid(err) {
		t.Fatalf("empty review: %v", err)
	}

	// SubjectAccessReview asks about the user in the spec, not the requester.
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: "bob", Groups: []string{"ops"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "delete", Resource: "pods", Namespace: "ns"}}}
	if err := reviewSubjectAccess(s, alice, "", sar); err != nil {
		t.Fatal(err)
	}
	if sar.Status.Allowed || authz.seen[2].User.Name != "bob" || authz.seen[2].User.Groups[0] != "ops" {
		t.Fatalf("SubjectAccessReview: %+v asked %+v", sar.Status, authz.seen[2])
	}
	if err := reviewSubjectAccess(s, alice, "", &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "get"}}}); !apierrors.IsInvalid(err) {
		t.Fatalf("SubjectAccessReview without a subject: %v", err)
	}

	// LocalSubjectAccessReview must stay in its namespace.
	lsar := &authorizationv1.LocalSubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: "bob",
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods", Namespace: "other"}}}
	if err := reviewLocalSubjectAccess(s, alice, "ns", lsar); !apierrors.IsInvalid(err) {
		t.Fatalf("LocalSubjectAccessReview across namespaces: %v", err)
	}
	lsar.Spec.ResourceAttributes.Namespace = "ns"
	if err := reviewLocalSubjectAccess(s, alice, "ns", lsar); err != nil || !lsar.Status.Allowed {
		t.Fatalf("LocalSubjectAccessReview: %v %+v", err, lsar.Status)
	}

	ssr := &authenticationv1.SelfSubjectReview{}
	if err := reviewSelfSubject(s, alice, "", ssr); err != nil || ssr.Status.UserInfo.Username != "alice" || ssr.Status.UserInfo.Groups[0] != "devs" {
		t.Fatalf("SelfSubjectReview: %v %+v", err, ssr.Status)
	}
}

func TestSecretStringDataIsMergedIntoData(t *testing.T) {
	sec := &corev1.Secret{Data: map[string][]byte{"a": []byte("old"), "b": []byte("keep")}, StringData: map[string]string{"a": "new", "c": "added"}}
	normalize(sec)
	if sec.StringData != nil || string(sec.Data["a"]) != "new" || string(sec.Data["b"]) != "keep" || string(sec.Data["c"]) != "added" {
		t.Fatalf("normalized secret: data %q stringData %q", sec.Data, sec.StringData)
	}
	sec = &corev1.Secret{StringData: map[string]string{"x": "y"}}
	normalize(sec)
	if string(sec.Data["x"]) != "y" || sec.StringData != nil {
		t.Fatalf("stringData only: %q %q", sec.Data, sec.StringData)
	}
}

func TestStrategicPatchErrorStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int32
	}{
		{mergepatch.ErrBadJSONDoc, http.StatusBadRequest},
		{mergepatch.ErrBadPatchFormatForPrimitiveList, http.StatusBadRequest},
		{mergepatch.ErrNoListOfLists, http.StatusUnprocessableEntity},
		{errors.New("something else"), http.StatusInternalServerError},
	} {
		var status apierrors.APIStatus
		if !errors.As(strategicPatchError(tc.err), &status) || status.Status().Code != tc.code {
			t.Errorf("%v: got %v, want code %d", tc.err, strategicPatchError(tc.err), tc.code)
		}
	}
}
