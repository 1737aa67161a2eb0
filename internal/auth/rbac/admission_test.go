package rbac

import (
	"testing"

	"github.com/kijabi/kijabi/internal/auth"
)

// TestAdmissionRegistrationPolicy checks the default roles as upstream has them for
// admissionregistration.k8s.io: only cluster-admin (and the controller manager) may touch
// webhook configurations and admission policies; admin, edit and view may not even read them.
func TestAdmissionRegistrationPolicy(t *testing.T) {
	resources := []string{"validatingwebhookconfigurations", "mutatingwebhookconfigurations", "validatingadmissionpolicies",
		"validatingadmissionpolicybindings", "mutatingadmissionpolicies", "mutatingadmissionpolicybindings"}
	for _, r := range ClusterRoles() {
		switch r.Name {
		case "admin", "edit", "view", "system:aggregate-to-admin", "system:aggregate-to-edit", "system:aggregate-to-view":
			for i := range r.Rules {
				for _, res := range resources {
					for _, verb := range []string{"get", "list", "create"} {
						if allows(&r.Rules[i], &auth.Attributes{Verb: verb, Group: "admissionregistration.k8s.io", Resource: res}) {
							t.Errorf("%s may %s %s", r.Name, verb, res)
						}
					}
				}
			}
		case "cluster-admin":
			if !allows(&r.Rules[0], &auth.Attributes{Verb: "create", Group: "admissionregistration.k8s.io", Resource: resources[0]}) {
				t.Error("cluster-admin may not create webhook configurations")
			}
		}
	}
}
