package defaults

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// rbac.authorization.k8s.io/v1. Roles and ClusterRoles have no defaults.
func registerRBAC(s *runtime.Scheme) {
	addWithList(s, defaultRoleBinding, func(l *rbacv1.RoleBindingList) []rbacv1.RoleBinding { return l.Items })
	addWithList(s, defaultClusterRoleBinding, func(l *rbacv1.ClusterRoleBindingList) []rbacv1.ClusterRoleBinding { return l.Items })
}

func defaultRoleBinding(rb *rbacv1.RoleBinding) {
	defaultBinding(&rb.RoleRef, rb.Subjects)
}

func defaultClusterRoleBinding(crb *rbacv1.ClusterRoleBinding) {
	defaultBinding(&crb.RoleRef, crb.Subjects)
}

func defaultBinding(ref *rbacv1.RoleRef, subjects []rbacv1.Subject) {
	if ref.APIGroup == "" {
		ref.APIGroup = rbacv1.GroupName
	}
	for i := range subjects {
		sub := &subjects[i]
		if sub.APIGroup != "" {
			continue
		}
		switch sub.Kind {
		case rbacv1.UserKind, rbacv1.GroupKind:
			sub.APIGroup = rbacv1.GroupName
		case rbacv1.ServiceAccountKind:
			// ServiceAccounts live in the core group: "" is already right.
		}
	}
}
