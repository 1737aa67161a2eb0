// Package rbac is the API server's RBAC authorizer: Roles and ClusterRoles grant rules,
// RoleBindings and ClusterRoleBindings give them to users, groups and service accounts, and a
// request is allowed when some binding that names its user grants a rule that matches it.
// Nothing is ever denied explicitly; what no rule allows is refused.
//
// The authorizer holds its own index of the four kinds, fed by the API server from its watch
// cache (Replace once per kind, then Apply for every change), so a decision never reads etcd.
// The same index answers the questions RBAC's write path asks: which rules a user holds in a
// namespace (RulesFor), and whether those cover the rules of a role being created or bound
// (Covers), so that nobody grants what they do not hold.
//
// Policy returns the default roles and bindings every cluster starts with, named and shaped as
// Kubernetes names them (cluster-admin, admin, edit, view, system:discovery, ...) plus the roles
// of kijabi's own components.
package rbac
