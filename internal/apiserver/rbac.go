package apiserver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kijabi/kijabi/internal/auth"
	"github.com/kijabi/kijabi/internal/auth/rbac"
	"github.com/kijabi/kijabi/internal/storage"
)

// policyAuthorizer is an authorizer decided by RBAC objects: the server feeds it every Role,
// ClusterRole and binding from the watch cache, and asks it for users' rules when someone
// writes RBAC objects (nobody may grant what they do not hold).
type policyAuthorizer interface {
	auth.Authorizer
	ReplacePolicy(resource string, objs []runtime.Object)
	ApplyPolicy(typ watch.EventType, obj runtime.Object)
	RulesFor(u *auth.User, namespace string) []rbacv1.PolicyRule
	RoleRules(namespace string, ref rbacv1.RoleRef) ([]rbacv1.PolicyRule, error)
}

const rbacGroup = rbacv1.GroupName

// bootstrapPolicy writes the default roles and bindings: missing ones are created; those
// still marked for autoupdate get back permissions and subjects they lost.
func (s *Server) bootstrapPolicy(ctx context.Context) error {
	roles := s.byGroupResource[rbacGroup+"/clusterroles"]
	for _, want := range rbac.ClusterRoles() {
		err := s.ensureDefault(ctx, roles, want.DeepCopy(), func(cur runtime.Object) runtime.Object {
			have := cur.(*rbacv1.ClusterRole)
			switch {
			case have.Annotations[rbac.AutoupdateAnnotation] != "true":
				return nil
			case want.AggregationRule != nil:
				// The aggregation controller owns the rules of aggregated roles.
				if have.AggregationRule != nil {
					return nil
				}
				have = have.DeepCopy()
				have.AggregationRule = want.AggregationRule
				return have
			}
			if ok, missing := rbac.Covers(have.Rules, want.Rules); !ok {
				have = have.DeepCopy()
				have.Rules = append(have.Rules, missing...)
				return have
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	bindings := s.byGroupResource[rbacGroup+"/clusterrolebindings"]
	for _, want := range rbac.ClusterRoleBindings() {
		err := s.ensureDefault(ctx, bindings, want.DeepCopy(), func(cur runtime.Object) runtime.Object {
			have := cur.(*rbacv1.ClusterRoleBinding)
			if have.Annotations[rbac.AutoupdateAnnotation] != "true" || have.RoleRef != want.RoleRef {
				return nil
			}
			add := missingSubjects(have.Subjects, want.Subjects)
			if len(add) == 0 {
				return nil
			}
			have = have.DeepCopy()
			have.Subjects = append(have.Subjects, add...)
			return have
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// ensureDefault creates a default object, or, when it exists, stores what reconcile makes of
// it (nil: leave it as it is).
func (s *Server) ensureDefault(ctx context.Context, res *resource, obj runtime.Object, reconcile func(cur runtime.Object) runtime.Object) error {
	a, err := metaAccessor(obj)
	if err != nil {
		return err
	}
	name := a.GetName()
	_, err = s.createObject(ctx, nil, res, "", obj, "kube-apiserver", false, false)
	if !apierrors.IsAlreadyExists(err) {
		if err != nil {
			return fmt.Errorf("apiserver: bootstrapping %s %s: %w", res.gr, name, err)
		}
		return nil
	}
	_, err = res.store.GuaranteedUpdate(ctx, res.store.Key("", name), false, func(cur runtime.Object) (runtime.Object, error) {
		if updated := reconcile(cur); updated != nil {
			return updated, nil
		}
		return nil, errUnchanged
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		return fmt.Errorf("apiserver: reconciling %s %s: %w", res.gr, name, err)
	}
	return nil
}

var errUnchanged = errors.New("unchanged")

// feedPolicy gives the authorizer every RBAC object, then follows their changes until ctx
// ends. It returns once the authorizer holds the current state.
func (s *Server) feedPolicy(ctx context.Context, p policyAuthorizer) error {
	for _, name := range rbac.Resources {
		res := s.byGroupResource[rbacGroup+"/"+name]
		rev, err := s.replacePolicy(ctx, p, res)
		if err != nil {
			return fmt.Errorf("apiserver: loading %s: %w", name, err)
		}
		go s.followPolicy(ctx, p, res, rev)
	}
	return nil
}

func (s *Server) replacePolicy(ctx context.Context, p policyAuthorizer, res *resource) (int64, error) {
	list, err := res.store.List(ctx, res.store.Prefix(""), storage.ListOptions{})
	if err != nil {
		return 0, err
	}
	p.ReplacePolicy(res.name, list.Items)
	return list.Revision, nil
}

func (s *Server) followPolicy(ctx context.Context, p policyAuthorizer, res *resource, rev int64) {
	for {
		for ev := range res.store.Watch(ctx, res.store.Prefix(""), rev) {
			switch ev.Type {
			case watch.Added, watch.Modified, watch.Deleted:
				if obj, err := ev.Object(); err == nil {
					p.ApplyPolicy(ev.Type, obj)
				} else {
					s.log.Warn("RBAC watch: undecodable object", "resource", res.name, "err", err)
				}
				rev = ev.Revision
			case watch.Bookmark:
				rev = ev.Revision
			case watch.Error:
				s.log.Warn("RBAC watch ended; listing again", "resource", res.name, "err", ev.Err)
			}
		}
		// The watch ended (compaction or an error): list again, retrying until it works.
		for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
			if ctx.Err() != nil {
				return
			}
			var err error
			if rev, err = s.replacePolicy(ctx, p, res); err == nil {
				break
			}
			s.log.Warn("listing RBAC objects", "resource", res.name, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
		}
	}
}

// admitPolicy stops users from granting permissions they do not hold: a Role or ClusterRole
// may only hold rules its writer holds (unless they may "escalate" roles), and a binding may
// only refer to a role whose rules its writer holds (unless they may "bind" that role).
// old is nil for a create.
func (s *Server) admitPolicy(ctx context.Context, res *resource, obj, old runtime.Object) error {
	p, ok := s.cfg.Authorizer.(policyAuthorizer)
	user, _ := ctx.Value(userKey).(*auth.User)
	if !ok || user == nil {
		return nil // AllowAll, or the server's own writes
	}
	var (
		namespace, name string
		rules           []rbacv1.PolicyRule
		ref             *rbacv1.RoleRef
	)
	switch o := obj.(type) {
	case *rbacv1.Role:
		if prev, _ := old.(*rbacv1.Role); prev != nil && equality.Semantic.DeepEqual(prev.Rules, o.Rules) {
			return nil
		}
		namespace, name, rules = o.Namespace, o.Name, o.Rules
	case *rbacv1.ClusterRole:
		if prev, _ := old.(*rbacv1.ClusterRole); prev != nil && equality.Semantic.DeepEqual(prev.Rules, o.Rules) &&
			equality.Semantic.DeepEqual(prev.AggregationRule, o.AggregationRule) {
			return nil
		}
		name, rules = o.Name, o.Rules
		if o.AggregationRule != nil {
			// An aggregated role can come to hold anything: only those who hold everything
			// may make one.
			rules = []rbacv1.PolicyRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}}
		}
	case *rbacv1.RoleBinding:
		if prev, _ := old.(*rbacv1.RoleBinding); prev != nil && prev.RoleRef == o.RoleRef && equality.Semantic.DeepEqual(prev.Subjects, o.Subjects) {
			return nil
		}
		namespace, name, ref = o.Namespace, o.Name, &o.RoleRef
	case *rbacv1.ClusterRoleBinding:
		if prev, _ := old.(*rbacv1.ClusterRoleBinding); prev != nil && prev.RoleRef == o.RoleRef && equality.Semantic.DeepEqual(prev.Subjects, o.Subjects) {
			return nil
		}
		name, ref = o.Name, &o.RoleRef
	default:
		return nil
	}
	if ref != nil {
		// Allowed to bind this role?
		roleResource := "clusterroles"
		if ref.Kind == "Role" {
			roleResource = "roles"
		}
		if ok, _ := p.Authorize(auth.Attributes{User: user, Verb: "bind", Group: rbacGroup, Resource: roleResource,
			Namespace: namespace, Name: ref.Name}); ok {
			return nil
		}
		var err error
		if rules, err = p.RoleRules(namespace, *ref); err != nil {
			return apierrors.NewForbidden(res.gr, name, err)
		}
	} else if ok, _ := p.Authorize(auth.Attributes{User: user, Verb: "escalate", Group: rbacGroup, Resource: res.name,
		Namespace: namespace, Name: name}); ok {
		return nil
	}
	if ok, missing := rbac.Covers(p.RulesFor(user, namespace), rules); !ok {
		return apierrors.NewForbidden(res.gr, name, fmt.Errorf("user %q (groups=%s) is attempting to grant RBAC permissions not currently held:\n%s",
			user.Name, quoteList(user.Groups), describeRules(missing)))
	}
	return nil
}

func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, " ") + "]"
}

// describeRules writes rules one per line, as Kubernetes words them in escalation errors.
func describeRules(rules []rbacv1.PolicyRule) string {
	lines := make([]string, 0, len(rules))
	for _, r := range rules {
		var parts []string
		if len(r.NonResourceURLs) > 0 {
			parts = append(parts, "NonResourceURLs:"+quoteList(r.NonResourceURLs))
		} else {
			parts = append(parts, "APIGroups:"+quoteList(r.APIGroups), "Resources:"+quoteList(r.Resources))
			if len(r.ResourceNames) > 0 {
				parts = append(parts, "ResourceNames:"+quoteList(r.ResourceNames))
			}
		}
		parts = append(parts, "Verbs:"+quoteList(r.Verbs))
		lines = append(lines, "{"+strings.Join(parts, ", ")+"}")
	}
	return strings.Join(lines, "\n")
}

// missingSubjects are the subjects of want that have lacks: what reconciling a default
// binding adds (it never removes subjects users added).
func missingSubjects(have, want []rbacv1.Subject) []rbacv1.Subject {
	var add []rbacv1.Subject
	for _, sub := range want {
		found := false
		for _, h := range have {
			found = found || (h.Kind == sub.Kind && h.Name == sub.Name && h.Namespace == sub.Namespace)
		}
		if !found {
			add = append(add, sub)
		}
	}
	return add
}
