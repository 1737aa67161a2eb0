package clusterroleaggregation

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestAggregate(t *testing.T) {
	read := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}}
	write := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"create"}}
	leases := rbacv1.PolicyRule{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get"}}
	role := func(name string, labels map[string]string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
		return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Rules: rules}
	}
	view := role("view", nil)
	view.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{
		{MatchLabels: map[string]string{"to-view": "true"}},
		{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "extra", Operator: metav1.LabelSelectorOpExists}}},
	}}
	all := []*rbacv1.ClusterRole{
		view,
		role("z-leases", map[string]string{"extra": "yes"}, leases),
		role("b-read", map[string]string{"to-view": "true"}, read),
		role("a-read-again", map[string]string{"to-view": "true"}, read, write),
		role("unrelated", map[string]string{"to-view": "false"}, write),
	}
	got, err := Aggregate(view, all)
	if err != nil {
		t.Fatal(err)
	}
	// Name order, duplicates once, only selected roles.
	want := []rbacv1.PolicyRule{read, write, leases}
	if !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("Aggregate:\ngot  %v\nwant %v", got, want)
	}
	// A selector that cannot be parsed is an error, not an empty role.
	view.AggregationRule.ClusterRoleSelectors = []metav1.LabelSelector{{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "x", Operator: "Bogus"}}}}
	if _, err := Aggregate(view, all); err == nil {
		t.Error("bad selector: no error")
	}
}
