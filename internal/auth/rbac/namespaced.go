package rbac

import (
	rbacv1 "k8s.io/api/rbac/v1"
)

// Namespaced defaults: the Roles and RoleBindings every cluster starts with, in the
// namespaces they name.

// ExtensionAPIServerAuthenticationReader may read the extension-apiserver-authentication
// ConfigMap in kube-system, where the API server publishes how extension API servers
// authenticate the requests it proxies to them; bind it to an extension server's account.
const ExtensionAPIServerAuthenticationReader = "extension-apiserver-authentication-reader"

// Roles are the default Roles.
func Roles() []rbacv1.Role {
	reader := rbacv1.Role{ObjectMeta: meta(ExtensionAPIServerAuthenticationReader, nil), Rules: []rbacv1.PolicyRule{{
		Verbs: read, APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"extension-apiserver-authentication"},
	}}}
	reader.Namespace = "kube-system"
	return []rbacv1.Role{reader}
}

// RoleBindings are the default RoleBindings.
func RoleBindings() []rbacv1.RoleBinding {
	b := rbacv1.RoleBinding{ObjectMeta: meta("system::"+ExtensionAPIServerAuthenticationReader, nil),
		Subjects: subjects(rbacv1.UserKind, "system:kube-controller-manager", "system:kube-scheduler"),
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: ExtensionAPIServerAuthenticationReader}}
	b.Namespace = "kube-system"
	return []rbacv1.RoleBinding{b}
}
