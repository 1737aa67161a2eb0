package rbac

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kijabi/kijabi/internal/auth"
)

func policy(t *testing.T) *Authorizer {
	t.Helper()
	a := New()
	var roles, bindings []runtime.Object
	for _, r := range ClusterRoles() {
		roles = append(roles, r.DeepCopy())
	}
	for _, b := range ClusterRoleBindings() {
		bindings = append(bindings, b.DeepCopy())
	}
	a.ReplacePolicy("clusterroles", roles)
	a.ReplacePolicy("clusterrolebindings", bindings)
	a.ApplyPolicy(watch.Added, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "reader", Namespace: "team"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}, Verbs: []string{"get", "list"}},
			{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get"}, ResourceNames: []string{"web"}},
			{APIGroups: []string{"*"}, Resources: []string{"*/status"}, Verbs: []string{"get"}},
		}})
	a.ApplyPolicy(watch.Added, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "bot", Namespace: "team"},
		RoleRef:  rbacv1.RoleRef{Kind: "Role", Name: "reader"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "bot"}, {Kind: "Group", Name: "readers"}}})
	a.ApplyPolicy(watch.Added, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "alice-edit", Namespace: "team"},
		RoleRef:  rbacv1.RoleRef{Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: "alice"}}})
	return a
}

func TestAuthorize(t *testing.T) {
	a := policy(t)
	bot := &auth.User{Name: "system:serviceaccount:team:bot", Groups: []string{"system:serviceaccounts", "system:authenticated"}}
	reader := &auth.User{Name: "carol", Groups: []string{"readers", "system:authenticated"}}
	alice := &auth.User{Name: "alice", Groups: []string{"system:authenticated"}}
	admin := &auth.User{Name: "root", Groups: []string{"system:masters"}}
	scheduler := &auth.User{Name: "system:kube-scheduler", Groups: []string{"system:authenticated"}}
	for _, tc := range []struct {
		name  string
		attrs auth.Attributes
		want  bool
	}{
		{"bot lists pods in its namespace", auth.Attributes{User: bot, Verb: "list", Resource: "pods", Namespace: "team"}, true},
		{"bot reads pod logs", auth.Attributes{User: bot, Verb: "get", Resource: "pods", Subresource: "log", Namespace: "team", Name: "p"}, true},
		{"bot cannot exec", auth.Attributes{User: bot, Verb: "create", Resource: "pods", Subresource: "exec", Namespace: "team", Name: "p"}, false},
		{"bot cannot delete pods", auth.Attributes{User: bot, Verb: "delete", Resource: "pods", Namespace: "team", Name: "p"}, false},
		{"bot only in its namespace", auth.Attributes{User: bot, Verb: "list", Resource: "pods", Namespace: "other"}, false},
		{"bot cluster-wide list refused", auth.Attributes{User: bot, Verb: "list", Resource: "pods"}, false},
		{"resourceNames allow the name", auth.Attributes{User: bot, Verb: "get", Group: "apps", Resource: "deployments", Namespace: "team", Name: "web"}, true},
		{"resourceNames refuse other names", auth.Attributes{User: bot, Verb: "get", Group: "apps", Resource: "deployments", Namespace: "team", Name: "db"}, false},
		{"resourceNames refuse lists", auth.Attributes{User: bot, Verb: "list", Group: "apps", Resource: "deployments", Namespace: "team"}, false},
		{"*/status matches any status", auth.Attributes{User: bot, Verb: "get", Group: "apps", Resource: "deployments", Subresource: "status", Namespace: "team", Name: "db"}, true},
		{"group subject", auth.Attributes{User: reader, Verb: "get", Resource: "pods", Namespace: "team", Name: "p"}, true},
		{"discovery for everyone authenticated", auth.Attributes{User: bot, Verb: "get", Path: "/apis/apps/v1"}, true},
		{"no metrics for a service account", auth.Attributes{User: bot, Verb: "get", Path: "/metrics"}, false},
		{"cluster role in a role binding is namespaced", auth.Attributes{User: alice, Verb: "delete", Resource: "secrets", Namespace: "team", Name: "s"}, true},
		{"... and only there", auth.Attributes{User: alice, Verb: "delete", Resource: "secrets", Namespace: "default", Name: "s"}, false},
		{"... never cluster-wide", auth.Attributes{User: alice, Verb: "list", Resource: "nodes"}, false},
		{"masters may do anything", auth.Attributes{User: admin, Verb: "escalate", Group: "rbac.authorization.k8s.io", Resource: "clusterroles"}, true},
		{"scheduler binds pods", auth.Attributes{User: scheduler, Verb: "create", Resource: "pods", Subresource: "binding", Namespace: "x", Name: "p"}, true},
		{"scheduler cannot read secrets", auth.Attributes{User: scheduler, Verb: "get", Resource: "secrets", Namespace: "x", Name: "s"}, false},
		{"basic user reviews itself", auth.Attributes{User: bot, Verb: "create", Group: "authorization.k8s.io", Resource: "selfsubjectaccessreviews"}, true},
	} {
		if got, _ := a.Authorize(tc.attrs); got != tc.want {
			t.Errorf("%s: allowed %v, want %v", tc.name, got, tc.want)
		}
	}

	// Deleting the binding takes the rights away.
	a.ApplyPolicy(watch.Deleted, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "bot", Namespace: "team"}})
	if ok, _ := a.Authorize(auth.Attributes{User: bot, Verb: "list", Resource: "pods", Namespace: "team"}); ok {
		t.Error("bot still lists pods after its binding was deleted")
	}
	// A binding to a role that does not exist grants nothing.
	a.ApplyPolicy(watch.Added, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "dangling", Namespace: "team"},
		RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "missing"}, Subjects: []rbacv1.Subject{{Kind: "User", Name: "dave"}}})
	if ok, _ := a.Authorize(auth.Attributes{User: &auth.User{Name: "dave"}, Verb: "get", Resource: "pods", Namespace: "team"}); ok {
		t.Error("a dangling binding granted something")
	}
}

func TestCovers(t *testing.T) {
	pods := func(verbs ...string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: verbs}
	}
	for _, tc := range []struct {
		name             string
		owner, requested []rbacv1.PolicyRule
		want             bool
		missing          int
	}{
		{"same rule", []rbacv1.PolicyRule{pods("get", "list")}, []rbacv1.PolicyRule{pods("get")}, true, 0},
		{"more verbs", []rbacv1.PolicyRule{pods("get")}, []rbacv1.PolicyRule{pods("get", "delete", "list")}, false, 2},
		{"wildcard owner", []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}}, []rbacv1.PolicyRule{pods("*")}, true, 0},
		{"wildcard requested needs wildcard", []rbacv1.PolicyRule{pods("get", "list", "watch", "create", "update", "patch", "delete")}, []rbacv1.PolicyRule{pods("*")}, false, 1},
		{"names narrow", []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}, ResourceNames: []string{"a"}}},
			[]rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}, ResourceNames: []string{"a", "b"}}}, false, 1},
		{"unnamed covers named", []rbacv1.PolicyRule{pods("get")},
			[]rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}, ResourceNames: []string{"a"}}}, true, 0},
		{"subresource wildcard", []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"*/status"}, Verbs: []string{"get"}}},
			[]rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods/status"}, Verbs: []string{"get"}}}, true, 0},
		{"urls", []rbacv1.PolicyRule{{NonResourceURLs: []string{"/apis/*"}, Verbs: []string{"get"}}},
			[]rbacv1.PolicyRule{{NonResourceURLs: []string{"/apis/apps", "/metrics"}, Verbs: []string{"get"}}}, false, 1},
	} {
		got, missing := Covers(tc.owner, tc.requested)
		if got != tc.want || len(missing) != tc.missing {
			t.Errorf("%s: covers %v with %d missing (%v), want %v with %d", tc.name, got, len(missing), missing, tc.want, tc.missing)
		}
	}
}

func TestRulesFor(t *testing.T) {
	a := policy(t)
	bot := &auth.User{Name: "system:serviceaccount:team:bot", Groups: []string{"system:authenticated"}}
	rules := a.RulesFor(bot, "team")
	ok, missing := Covers(rules, []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}}})
	if !ok {
		t.Errorf("bot's rules in team miss %v", missing)
	}
	if ok, _ := Covers(a.RulesFor(bot, "other"), []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}}}); ok {
		t.Error("bot's rules in another namespace include pods")
	}
	if _, err := a.RoleRules("team", rbacv1.RoleRef{Kind: "Role", Name: "missing"}); err == nil {
		t.Error("RoleRules of a missing role: no error")
	}
}
