package rbac

import (
	"fmt"
	"sort"
	"sync"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kijabi/kijabi/internal/auth"
)

// Authorizer decides requests from the RBAC objects it has been fed.
type Authorizer struct {
	mu sync.RWMutex
	// roles are keyed by namespace then name; bindings likewise.
	roles               map[string]map[string]*rbacv1.Role
	clusterRoles        map[string]*rbacv1.ClusterRole
	roleBindings        map[string]map[string]*rbacv1.RoleBinding
	clusterRoleBindings map[string]*rbacv1.ClusterRoleBinding
}

// New returns an Authorizer that knows no roles or bindings yet: until it is fed, only members
// of system:masters are allowed anything.
func New() *Authorizer {
	return &Authorizer{
		roles:               map[string]map[string]*rbacv1.Role{},
		clusterRoles:        map[string]*rbacv1.ClusterRole{},
		roleBindings:        map[string]map[string]*rbacv1.RoleBinding{},
		clusterRoleBindings: map[string]*rbacv1.ClusterRoleBinding{},
	}
}

// Resources are the plural names of the kinds the authorizer is fed.
var Resources = []string{"clusterroles", "clusterrolebindings", "roles", "rolebindings"}

// ReplacePolicy sets every object of one resource ("roles", "clusterroles", "rolebindings" or
// "clusterrolebindings"), forgetting those not in objs. The objects are kept, never changed.
func (a *Authorizer) ReplacePolicy(resource string, objs []runtime.Object) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch resource {
	case "roles":
		a.roles = map[string]map[string]*rbacv1.Role{}
	case "clusterroles":
		a.clusterRoles = map[string]*rbacv1.ClusterRole{}
	case "rolebindings":
		a.roleBindings = map[string]map[string]*rbacv1.RoleBinding{}
	case "clusterrolebindings":
		a.clusterRoleBindings = map[string]*rbacv1.ClusterRoleBinding{}
	}
	for _, obj := range objs {
		a.apply(watch.Added, obj)
	}
}

// ApplyPolicy records one change of a role or binding.
func (a *Authorizer) ApplyPolicy(typ watch.EventType, obj runtime.Object) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.apply(typ, obj)
}

func (a *Authorizer) apply(typ watch.EventType, obj runtime.Object) {
	del := typ == watch.Deleted
	switch o := obj.(type) {
	case *rbacv1.Role:
		setNamespaced(a.roles, o.Namespace, o.Name, o, del)
	case *rbacv1.RoleBinding:
		setNamespaced(a.roleBindings, o.Namespace, o.Name, o, del)
	case *rbacv1.ClusterRole:
		if del {
			delete(a.clusterRoles, o.Name)
		} else {
			a.clusterRoles[o.Name] = o
		}
	case *rbacv1.ClusterRoleBinding:
		if del {
			delete(a.clusterRoleBindings, o.Name)
		} else {
			a.clusterRoleBindings[o.Name] = o
		}
	}
}

func setNamespaced[T any](m map[string]map[string]*T, ns, name string, obj *T, del bool) {
	if del {
		delete(m[ns], name)
		if len(m[ns]) == 0 {
			delete(m, ns)
		}
		return
	}
	if m[ns] == nil {
		m[ns] = map[string]*T{}
	}
	m[ns][name] = obj
}

// Authorize implements auth.Authorizer.
func (a *Authorizer) Authorize(attrs auth.Attributes) (bool, string) {
	if attrs.User == nil {
		return false, "no user"
	}
	if isMaster(attrs.User) {
		return true, ""
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	allowed := false
	a.visitRules(attrs.User, attrs.Namespace, func(rule *rbacv1.PolicyRule) bool {
		allowed = allows(rule, &attrs)
		return !allowed
	})
	return allowed, ""
}

// isMaster: members of system:masters may do everything, whatever the bindings say (as
// Kubernetes' privileged group), so an administrator cannot lock themselves out.
func isMaster(u *auth.User) bool {
	for _, g := range u.Groups {
		if g == auth.GroupMasters {
			return true
		}
	}
	return false
}

// visitRules calls visit with every rule the user holds cluster-wide and, when namespace is
// set, in that namespace, until visit returns false.
func (a *Authorizer) visitRules(u *auth.User, namespace string, visit func(*rbacv1.PolicyRule) bool) {
	for _, b := range a.clusterRoleBindings {
		if b.RoleRef.Kind != "ClusterRole" || !appliesTo(b.Subjects, u, "") {
			continue
		}
		if r, ok := a.clusterRoles[b.RoleRef.Name]; ok {
			for i := range r.Rules {
				if !visit(&r.Rules[i]) {
					return
				}
			}
		}
	}
	if namespace == "" {
		return
	}
	for _, b := range a.roleBindings[namespace] {
		if !appliesTo(b.Subjects, u, namespace) {
			continue
		}
		var rules []rbacv1.PolicyRule
		switch b.RoleRef.Kind {
		case "ClusterRole":
			if r, ok := a.clusterRoles[b.RoleRef.Name]; ok {
				rules = r.Rules
			}
		case "Role":
			if r, ok := a.roles[namespace][b.RoleRef.Name]; ok {
				rules = r.Rules
			}
		}
		for i := range rules {
			if !visit(&rules[i]) {
				return
			}
		}
	}
}

// appliesTo reports whether one of the subjects is the user. bindingNamespace is the
// namespace of a RoleBinding ("" for a ClusterRoleBinding), the default for service account
// subjects that name none.
func appliesTo(subjects []rbacv1.Subject, u *auth.User, bindingNamespace string) bool {
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.UserKind:
			if s.Name == u.Name {
				return true
			}
		case rbacv1.GroupKind:
			for _, g := range u.Groups {
				if g == s.Name {
					return true
				}
			}
		case rbacv1.ServiceAccountKind:
			ns := s.Namespace
			if ns == "" {
				ns = bindingNamespace
			}
			if ns != "" && u.Name == auth.ServiceAccountUsername(ns, s.Name) {
				return true
			}
		}
	}
	return false
}

// RulesFor returns the rules the user holds cluster-wide and, if namespace is set, in it.
// System masters hold everything.
func (a *Authorizer) RulesFor(u *auth.User, namespace string) []rbacv1.PolicyRule {
	if isMaster(u) {
		return []rbacv1.PolicyRule{
			{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}},
			{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}},
		}
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	var rules []rbacv1.PolicyRule
	a.visitRules(u, namespace, func(r *rbacv1.PolicyRule) bool {
		rules = append(rules, *r.DeepCopy())
		return true
	})
	return rules
}

// RoleRules returns the rules of the role a binding in namespace refers to ("" for a
// ClusterRoleBinding), or an error naming the missing role.
func (a *Authorizer) RoleRules(namespace string, ref rbacv1.RoleRef) ([]rbacv1.PolicyRule, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	switch ref.Kind {
	case "ClusterRole":
		if r, ok := a.clusterRoles[ref.Name]; ok {
			return r.Rules, nil
		}
		return nil, fmt.Errorf("clusterrole.rbac.authorization.k8s.io %q not found", ref.Name)
	case "Role":
		if r, ok := a.roles[namespace][ref.Name]; ok {
			return r.Rules, nil
		}
		return nil, fmt.Errorf("role.rbac.authorization.k8s.io %q not found", ref.Name)
	}
	return nil, fmt.Errorf("unknown role kind %q", ref.Kind)
}

// ClusterRoles returns the cluster roles whose labels satisfy match, sorted by name (for
// aggregation).
func (a *Authorizer) ClusterRoles(match func(labels map[string]string) bool) []*rbacv1.ClusterRole {
	a.mu.RLock()
	defer a.mu.RUnlock()
	var out []*rbacv1.ClusterRole
	for _, r := range a.clusterRoles {
		if match(r.Labels) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
