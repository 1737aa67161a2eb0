package printers

import (
	"strings"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	resourcev1 "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func init() {
	for gr, obj := range map[schema.GroupResource]runtime.Object{
		{Group: "flowcontrol.apiserver.k8s.io", Resource: "flowschemas"}:                 &flowcontrolv1.FlowSchema{},
		{Group: "flowcontrol.apiserver.k8s.io", Resource: "prioritylevelconfigurations"}: &flowcontrolv1.PriorityLevelConfiguration{},
		{Group: "resource.k8s.io", Resource: "deviceclasses"}:                            &resourcev1.DeviceClass{},
		{Group: "resource.k8s.io", Resource: "resourceclaims"}:                           &resourcev1.ResourceClaim{},
		{Group: "resource.k8s.io", Resource: "resourceclaimtemplates"}:                   &resourcev1.ResourceClaimTemplate{},
		{Group: "resource.k8s.io", Resource: "resourceslices"}:                           &resourcev1.ResourceSlice{},
	} {
		zeroObjects[gr] = []runtime.Object{obj}
	}
}

func TestFlowControlPrinters(t *testing.T) {
	created := metav1.NewTime(now.Add(-3 * time.Minute))
	p := mustFor(t, "flowcontrol.apiserver.k8s.io", "flowschemas")
	if got := strings.Join(columnNames(p), ","); got != "Name,PriorityLevel,MatchingPrecedence,DistinguisherMethod,Age,MissingPL" {
		t.Errorf("flowschema columns: %s", got)
	}
	fs := func(name string, precedence int32) *flowcontrolv1.FlowSchema {
		return &flowcontrolv1.FlowSchema{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: created},
			Spec: flowcontrolv1.FlowSchemaSpec{PriorityLevelConfiguration: flowcontrolv1.PriorityLevelConfigurationReference{Name: "workload-low"},
				MatchingPrecedence: precedence}}
	}
	sa := fs("service-accounts", 9000)
	sa.Spec.DistinguisherMethod = &flowcontrolv1.FlowDistinguisherMethod{Type: flowcontrolv1.FlowDistinguisherMethodByUserType}
	sa.Status.Conditions = []flowcontrolv1.FlowSchemaCondition{{Type: flowcontrolv1.FlowSchemaConditionDangling, Status: flowcontrolv1.ConditionFalse}}
	if got := p.Cells(sa, now); got[1] != "workload-low" || got[2] != int64(9000) || got[3] != "ByUser" || got[4] != "3m" || got[5] != "False" {
		t.Errorf("flowschema cells: %v", got)
	}
	if got := p.Cells(fs("new", 500), now); got[3] != "<none>" || got[5] != "?" {
		t.Errorf("flowschema without method or status: %v", got)
	}
	// Lists are printed in matching order: precedence, then name.
	objs := []runtime.Object{fs("b", 1000), sa, fs("a", 1000), fs("exempt", 1)}
	table := Table(p, objs, now, false)
	var names []string
	for _, r := range table.Rows {
		names = append(names, r.Cells[0].(string))
	}
	if got := strings.Join(names, ","); got != "exempt,a,b,service-accounts" {
		t.Errorf("flowschema order: %s", got)
	}
	if objs[0].(*flowcontrolv1.FlowSchema).Name != "exempt" {
		t.Error("the objects were not reordered with the rows")
	}

	p = mustFor(t, "flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations")
	if got := strings.Join(columnNames(p), ","); got != "Name,Type,NominalConcurrencyShares,Queues,HandSize,QueueLengthLimit,Age" {
		t.Errorf("priority level columns: %s", got)
	}
	exempt := &flowcontrolv1.PriorityLevelConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "exempt"},
		Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Type: flowcontrolv1.PriorityLevelEnablementExempt}}
	if got := p.Cells(exempt, now); got[1] != "Exempt" || got[2] != "<none>" || got[3] != "<none>" {
		t.Errorf("exempt cells: %v", got)
	}
	limited := &flowcontrolv1.PriorityLevelConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "global-default"},
		Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Type: flowcontrolv1.PriorityLevelEnablementLimited,
			Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{NominalConcurrencyShares: ptr[int32](20),
				LimitResponse: flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeQueue,
					Queuing: &flowcontrolv1.QueuingConfiguration{Queues: 128, HandSize: 6, QueueLengthLimit: 50}}}}}
	if got := p.Cells(limited, now); got[2] != int64(20) || got[3] != int64(128) || got[4] != int64(6) || got[5] != int64(50) {
		t.Errorf("limited cells: %v", got)
	}
}

func TestResourcePrinters(t *testing.T) {
	p := mustFor(t, "resource.k8s.io", "resourceclaims")
	if got := strings.Join(columnNames(p), ","); got != "Name,State,Age" {
		t.Errorf("claim columns: %s", got)
	}
	claim := &resourcev1.ResourceClaim{ObjectMeta: metav1.ObjectMeta{Name: "gpu"}}
	if got := p.Cells(claim, now)[1]; got != "pending" {
		t.Errorf("new claim: %v", got)
	}
	claim.Status.Allocation = &resourcev1.AllocationResult{}
	claim.Status.ReservedFor = []resourcev1.ResourceClaimConsumerReference{{Resource: "pods", Name: "p", UID: "1"}}
	if got := p.Cells(claim, now)[1]; got != "allocated,reserved" {
		t.Errorf("reserved claim: %v", got)
	}
	claim.DeletionTimestamp = &metav1.Time{Time: now}
	claim.Status = resourcev1.ResourceClaimStatus{}
	if got := p.Cells(claim, now)[1]; got != "deleted" {
		t.Errorf("deleted claim: %v", got)
	}
	p = mustFor(t, "resource.k8s.io", "resourceslices")
	if got := strings.Join(columnNames(p), ","); got != "Name,Node,Driver,Pool,Age" {
		t.Errorf("slice columns: %s", got)
	}
	slice := &resourcev1.ResourceSlice{ObjectMeta: metav1.ObjectMeta{Name: "node-1-gpu"},
		Spec: resourcev1.ResourceSliceSpec{NodeName: ptr("node-1"), Driver: "gpu.example.com", Pool: resourcev1.ResourcePool{Name: "node-1"}}}
	if got := p.Cells(slice, now); got[1] != "node-1" || got[2] != "gpu.example.com" || got[3] != "node-1" {
		t.Errorf("slice cells: %v", got)
	}
	for _, res := range []string{"deviceclasses", "resourceclaimtemplates"} {
		if got := strings.Join(columnNames(mustFor(t, "resource.k8s.io", res)), ","); got != "Name,Age" {
			t.Errorf("%s columns: %s", res, got)
		}
	}
}

func TestMoreClusterPrinters(t *testing.T) {
	if got := strings.Join(columnNames(mustFor(t, "node.k8s.io", "runtimeclasses")), ","); got != "Name,Handler,Age" {
		t.Errorf("runtime class columns: %s", got)
	}
	if got := strings.Join(columnNames(mustFor(t, "networking.k8s.io", "servicecidrs")), ","); got != "Name,CIDRs,Age" {
		t.Errorf("service CIDR columns: %s", got)
	}
	p := mustFor(t, "networking.k8s.io", "ipaddresses")
	ip := &networkingv1.IPAddress{ObjectMeta: metav1.ObjectMeta{Name: "10.96.0.10"},
		Spec: networkingv1.IPAddressSpec{ParentRef: &networkingv1.ParentReference{Resource: "services", Namespace: "kube-system", Name: "kube-dns"}}}
	if got := p.Cells(ip, now)[1]; got != "services/kube-system/kube-dns" {
		t.Errorf("ip address parent: %v", got)
	}
	rc := &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "gvisor"}, Handler: "runsc"}
	if got := mustFor(t, "node.k8s.io", "runtimeclasses").Cells(rc, now)[1]; got != "runsc" {
		t.Errorf("handler: %v", got)
	}
}

// An autoscaling/v1 autoscaler prints as its v2 form, metrics from its annotation included.
func TestHPAv1PrinterUsesAnnotations(t *testing.T) {
	h := &autoscalingv1.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Annotations: map[string]string{
			"autoscaling.alpha.kubernetes.io/metrics": `[{"type":"Resource","resource":{"name":"memory","targetAverageUtilization":60}}]`}},
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{Kind: "Deployment", Name: "web"},
			MaxReplicas: 4, TargetCPUUtilizationPercentage: ptr[int32](70)},
	}
	if got := mustFor(t, "autoscaling", "horizontalpodautoscalers").Cells(h, now)[2]; got != "memory: <unknown>/60%, cpu: <unknown>/70%" {
		t.Errorf("targets: %v", got)
	}
}
