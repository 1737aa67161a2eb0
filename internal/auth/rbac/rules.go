package rbac

import (
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/kijabi/kijabi/internal/auth"
)

// allows reports whether rule grants the request described by a.
func allows(rule *rbacv1.PolicyRule, a *auth.Attributes) bool {
	if !matchesVerb(rule.Verbs, a.Verb) {
		return false
	}
	if !a.IsResourceRequest() {
		return matchesURL(rule.NonResourceURLs, a.Path)
	}
	return matchesGroup(rule.APIGroups, a.Group) &&
		matchesResource(rule.Resources, a.Resource, a.Subresource) &&
		matchesName(rule.ResourceNames, a.Name)
}

func matchesVerb(verbs []string, verb string) bool {
	for _, v := range verbs {
		if v == rbacv1.VerbAll || v == verb {
			return true
		}
	}
	return false
}

func matchesGroup(groups []string, group string) bool {
	for _, g := range groups {
		if g == rbacv1.APIGroupAll || g == group {
			return true
		}
	}
	return false
}

// matchesResource matches "resource" or "resource/subresource" against the rule's entries:
// "*" matches everything, "*/sub" any resource's subresource sub.
func matchesResource(resources []string, resource, subresource string) bool {
	want := resource
	if subresource != "" {
		want = resource + "/" + subresource
	}
	for _, r := range resources {
		switch {
		case r == rbacv1.ResourceAll, r == want:
			return true
		case subresource != "" && r == "*/"+subresource:
			return true
		}
	}
	return false
}

// matchesName: a rule without names covers every name; one with names only those (so it never
// covers a list or a create, which name nothing).
func matchesName(names []string, name string) bool {
	if len(names) == 0 {
		return true
	}
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

// matchesURL matches a path against non-resource URLs: "*" matches all, "/prefix/*" any path
// under the prefix.
func matchesURL(urls []string, path string) bool {
	for _, u := range urls {
		switch {
		case u == rbacv1.NonResourceAll, u == path:
			return true
		case strings.HasSuffix(u, "*") && strings.HasPrefix(path, strings.TrimSuffix(u, "*")):
			return true
		}
	}
	return false
}

// Covers reports whether the owner's rules grant everything the requested rules grant, and
// lists the requested permissions they do not (broken down to one verb, group, resource and
// name each). It is how RBAC stops users from granting what they do not hold.
func Covers(owner, requested []rbacv1.PolicyRule) (bool, []rbacv1.PolicyRule) {
	var missing []rbacv1.PolicyRule
	for _, r := range requested {
		for _, atom := range breakdown(r) {
			if !coveredByAny(owner, &atom) {
				missing = append(missing, atom)
			}
		}
	}
	return len(missing) == 0, missing
}

// breakdown splits a rule into rules of one verb, one group, one resource and one name (or
// one verb and one URL).
func breakdown(r rbacv1.PolicyRule) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for _, verb := range r.Verbs {
		for _, url := range r.NonResourceURLs {
			out = append(out, rbacv1.PolicyRule{Verbs: []string{verb}, NonResourceURLs: []string{url}})
		}
		for _, group := range r.APIGroups {
			for _, resource := range r.Resources {
				if len(r.ResourceNames) == 0 {
					out = append(out, rbacv1.PolicyRule{Verbs: []string{verb}, APIGroups: []string{group}, Resources: []string{resource}})
					continue
				}
				for _, name := range r.ResourceNames {
					out = append(out, rbacv1.PolicyRule{Verbs: []string{verb}, APIGroups: []string{group},
						Resources: []string{resource}, ResourceNames: []string{name}})
				}
			}
		}
	}
	return out
}

func coveredByAny(owner []rbacv1.PolicyRule, atom *rbacv1.PolicyRule) bool {
	for i := range owner {
		if covers(&owner[i], atom) {
			return true
		}
	}
	return false
}

// covers compares one owner rule with one atomic rule. Wildcards in the atom are covered only
// by wildcards in the owner.
func covers(owner, atom *rbacv1.PolicyRule) bool {
	if !matchesVerb(owner.Verbs, atom.Verbs[0]) {
		return false
	}
	if len(atom.NonResourceURLs) > 0 {
		url := atom.NonResourceURLs[0]
		for _, u := range owner.NonResourceURLs {
			if u == rbacv1.NonResourceAll || u == url ||
				(strings.HasSuffix(u, "*") && strings.HasPrefix(url, strings.TrimSuffix(u, "*"))) {
				return true
			}
		}
		return false
	}
	if !matchesGroup(owner.APIGroups, atom.APIGroups[0]) {
		return false
	}
	resource := atom.Resources[0]
	resourceOK := false
	for _, r := range owner.Resources {
		if r == rbacv1.ResourceAll || r == resource {
			resourceOK = true
			break
		}
		// "*/status" covers "pods/status".
		if i := strings.Index(resource, "/"); i > 0 && r == "*"+resource[i:] {
			resourceOK = true
			break
		}
	}
	if !resourceOK {
		return false
	}
	if len(owner.ResourceNames) == 0 {
		return true
	}
	return len(atom.ResourceNames) == 1 && matchesName(owner.ResourceNames, atom.ResourceNames[0])
}
