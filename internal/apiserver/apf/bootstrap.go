// Package apf holds the API Priority and Fairness configuration objects kube-apiserver creates
// at first start: the mandatory exempt and catch-all priority levels and flow schemas, and the
// suggested ones for nodes, system components, leader election, workloads and everyone else.
// kijabi stores and serves them (kubectl get flowschemas, prioritylevelconfigurations); it does
// not enforce them.
package apf

import (
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// autoUpdate marks an object the server keeps up to date (users may turn it off).
const autoUpdate = "apf.kubernetes.io/autoupdate-spec"

func meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Annotations: map[string]string{autoUpdate: "true"}}
}

func ptr[T any](v T) *T { return &v }

// queued is a limited level that queues: shares, lendable percent, queues, hand size.
func queued(name string, shares, lendable, queues, hand int32) *flowcontrolv1.PriorityLevelConfiguration {
	return &flowcontrolv1.PriorityLevelConfiguration{ObjectMeta: meta(name), Spec: flowcontrolv1.PriorityLevelConfigurationSpec{
		Type: flowcontrolv1.PriorityLevelEnablementLimited,
		Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{
			NominalConcurrencyShares: ptr(shares), LendablePercent: ptr(lendable),
			LimitResponse: flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeQueue,
				Queuing: &flowcontrolv1.QueuingConfiguration{Queues: queues, HandSize: hand, QueueLengthLimit: 50}},
		}}}
}

// Mandatory priority levels.
var (
	MandatoryPriorityLevelConfigurationExempt = &flowcontrolv1.PriorityLevelConfiguration{ObjectMeta: meta("exempt"),
		Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Type: flowcontrolv1.PriorityLevelEnablementExempt,
			Exempt: &flowcontrolv1.ExemptPriorityLevelConfiguration{NominalConcurrencyShares: ptr[int32](0), LendablePercent: ptr[int32](0)}}}
	MandatoryPriorityLevelConfigurationCatchAll = &flowcontrolv1.PriorityLevelConfiguration{ObjectMeta: meta("catch-all"),
		Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Type: flowcontrolv1.PriorityLevelEnablementLimited,
			Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{NominalConcurrencyShares: ptr[int32](5), LendablePercent: ptr[int32](0),
				LimitResponse: flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeReject}}}}
	MandatoryPriorityLevelConfigurations = []*flowcontrolv1.PriorityLevelConfiguration{
		MandatoryPriorityLevelConfigurationExempt, MandatoryPriorityLevelConfigurationCatchAll,
	}
)

// Suggested priority levels.
var SuggestedPriorityLevelConfigurations = []*flowcontrolv1.PriorityLevelConfiguration{
	queued("node-high", 40, 25, 64, 6),
	queued("system", 30, 33, 64, 6),
	queued("leader-election", 10, 0, 16, 4),
	queued("workload-high", 40, 50, 128, 6),
	queued("workload-low", 100, 90, 128, 6),
	queued("global-default", 20, 50, 128, 6),
}

func group(name string) flowcontrolv1.Subject {
	return flowcontrolv1.Subject{Kind: flowcontrolv1.SubjectKindGroup, Group: &flowcontrolv1.GroupSubject{Name: name}}
}

func user(name string) flowcontrolv1.Subject {
	return flowcontrolv1.Subject{Kind: flowcontrolv1.SubjectKindUser, User: &flowcontrolv1.UserSubject{Name: name}}
}

func kubeSystemSA(name string) flowcontrolv1.Subject {
	return flowcontrolv1.Subject{Kind: flowcontrolv1.SubjectKindServiceAccount,
		ServiceAccount: &flowcontrolv1.ServiceAccountSubject{Namespace: metav1.NamespaceSystem, Name: name}}
}

// everything is a rule matching every request of subjects.
func everything(subjects ...flowcontrolv1.Subject) flowcontrolv1.PolicyRulesWithSubjects {
	return flowcontrolv1.PolicyRulesWithSubjects{
		Subjects: subjects,
		ResourceRules: []flowcontrolv1.ResourcePolicyRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"},
			ClusterScope: true, Namespaces: []string{"*"}}},
		NonResourceRules: []flowcontrolv1.NonResourcePolicyRule{{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}},
	}
}

func schema(name, level string, precedence int32, by flowcontrolv1.FlowDistinguisherMethodType, rules ...flowcontrolv1.PolicyRulesWithSubjects) *flowcontrolv1.FlowSchema {
	fs := &flowcontrolv1.FlowSchema{ObjectMeta: meta(name), Spec: flowcontrolv1.FlowSchemaSpec{
		PriorityLevelConfiguration: flowcontrolv1.PriorityLevelConfigurationReference{Name: level},
		MatchingPrecedence:         precedence, Rules: rules}}
	if by != "" {
		fs.Spec.DistinguisherMethod = &flowcontrolv1.FlowDistinguisherMethod{Type: by}
	}
	return fs
}

const (
	byUser      = flowcontrolv1.FlowDistinguisherMethodByUserType
	byNamespace = flowcontrolv1.FlowDistinguisherMethodByNamespaceType
)

// Mandatory flow schemas.
var (
	MandatoryFlowSchemaExempt   = schema("exempt", "exempt", 1, "", everything(group("system:masters")))
	MandatoryFlowSchemaCatchAll = schema("catch-all", "catch-all", 10000, byUser, everything(group("system:unauthenticated"), group("system:authenticated")))
	MandatoryFlowSchemas        = []*flowcontrolv1.FlowSchema{MandatoryFlowSchemaExempt, MandatoryFlowSchemaCatchAll}
)

// Suggested flow schemas.
var SuggestedFlowSchemas = []*flowcontrolv1.FlowSchema{
	schema("system-nodes", "system", 500, byUser, everything(group("system:nodes"))),
	schema("system-node-high", "node-high", 400, byUser, flowcontrolv1.PolicyRulesWithSubjects{
		Subjects: []flowcontrolv1.Subject{group("system:nodes")},
		ResourceRules: []flowcontrolv1.ResourcePolicyRule{
			{Verbs: []string{"*"}, APIGroups: []string{""}, Resources: []string{"nodes", "nodes/status"}, ClusterScope: true},
			{Verbs: []string{"*"}, APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Namespaces: []string{"*"}},
		}}),
	schema("probes", "exempt", 2, "", flowcontrolv1.PolicyRulesWithSubjects{
		Subjects: []flowcontrolv1.Subject{group("system:unauthenticated"), group("system:authenticated")},
		NonResourceRules: []flowcontrolv1.NonResourcePolicyRule{{Verbs: []string{"get"},
			NonResourceURLs: []string{"/healthz", "/readyz", "/livez"}}}}),
	schema("system-leader-election", "leader-election", 100, byUser, flowcontrolv1.PolicyRulesWithSubjects{
		Subjects: []flowcontrolv1.Subject{user("system:kube-controller-manager"), user("system:kube-scheduler"), kubeSystemSA("*")},
		ResourceRules: []flowcontrolv1.ResourcePolicyRule{{Verbs: []string{"get", "create", "update"},
			APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Namespaces: []string{"*"}}}}),
	schema("endpoint-controller", "workload-high", 150, byUser, flowcontrolv1.PolicyRulesWithSubjects{
		Subjects: []flowcontrolv1.Subject{user("system:kube-controller-manager"), kubeSystemSA("endpoint-controller")},
		ResourceRules: []flowcontrolv1.ResourcePolicyRule{{Verbs: []string{"get", "create", "update"},
			APIGroups: []string{""}, Resources: []string{"endpoints"}, Namespaces: []string{"*"}}}}),
	schema("workload-leader-election", "leader-election", 200, byUser, flowcontrolv1.PolicyRulesWithSubjects{
		Subjects: []flowcontrolv1.Subject{kubeSystemSA("*")},
		ResourceRules: []flowcontrolv1.ResourcePolicyRule{{Verbs: []string{"get", "create", "update"},
			APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Namespaces: []string{"*"}}}}),
	schema("kube-controller-manager", "workload-high", 800, byNamespace, everything(user("system:kube-controller-manager"))),
	schema("kube-scheduler", "workload-high", 800, byNamespace, everything(user("system:kube-scheduler"))),
	schema("kube-system-service-accounts", "workload-high", 900, byNamespace, everything(kubeSystemSA("*"))),
	schema("service-accounts", "workload-low", 9000, byUser, everything(group("system:serviceaccounts"))),
	schema("global-default", "global-default", 9900, byUser, everything(group("system:unauthenticated"), group("system:authenticated"))),
}
