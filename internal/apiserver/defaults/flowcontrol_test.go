package defaults

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	bootstrap "github.com/kijabi/kijabi/internal/apiserver/apf"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	resourcev1 "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestFlowControlDefaults(t *testing.T) {
	runDefaultCases(t, []defaultCase{
		{
			name: "flow schema precedence",
			in:   &flowcontrolv1.FlowSchema{},
			want: &flowcontrolv1.FlowSchema{Spec: flowcontrolv1.FlowSchemaSpec{MatchingPrecedence: 1000}},
		},
		{
			name: "limited level with queuing",
			in: &flowcontrolv1.PriorityLevelConfiguration{Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Type: flowcontrolv1.PriorityLevelEnablementLimited,
				Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{LimitResponse: flowcontrolv1.LimitResponse{
					Type: flowcontrolv1.LimitResponseTypeQueue, Queuing: &flowcontrolv1.QueuingConfiguration{}}}}},
			want: &flowcontrolv1.PriorityLevelConfiguration{Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Type: flowcontrolv1.PriorityLevelEnablementLimited,
				Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{NominalConcurrencyShares: ptr.To[int32](30), LendablePercent: ptr.To[int32](0),
					LimitResponse: flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeQueue,
						Queuing: &flowcontrolv1.QueuingConfiguration{Queues: 64, HandSize: 8, QueueLengthLimit: 50}}}}},
		},
		{
			name: "explicit zero shares stay",
			in: &flowcontrolv1.PriorityLevelConfiguration{Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Type: flowcontrolv1.PriorityLevelEnablementLimited,
				Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{NominalConcurrencyShares: ptr.To[int32](0),
					LimitResponse: flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeReject}}}},
			want: &flowcontrolv1.PriorityLevelConfiguration{Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Type: flowcontrolv1.PriorityLevelEnablementLimited,
				Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{NominalConcurrencyShares: ptr.To[int32](0), LendablePercent: ptr.To[int32](0),
					LimitResponse: flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeReject}}}},
		},
		{
			name: "exempt level",
			in: &flowcontrolv1.PriorityLevelConfiguration{Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Type: flowcontrolv1.PriorityLevelEnablementExempt,
				Exempt: &flowcontrolv1.ExemptPriorityLevelConfiguration{}}},
			want: &flowcontrolv1.PriorityLevelConfiguration{Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Type: flowcontrolv1.PriorityLevelEnablementExempt,
				Exempt: &flowcontrolv1.ExemptPriorityLevelConfiguration{NominalConcurrencyShares: ptr.To[int32](0), LendablePercent: ptr.To[int32](0)}}},
		},
	})
}

// The objects kube-apiserver creates at start are complete: defaulting leaves them as they
// are (upstream checks the same of its copies).
func TestFlowControlBootstrapObjectsAreDefaulted(t *testing.T) {
	s := newScheme(t)
	for _, pl := range append(append([]*flowcontrolv1.PriorityLevelConfiguration{}, bootstrap.MandatoryPriorityLevelConfigurations...), bootstrap.SuggestedPriorityLevelConfigurations...) {
		got := pl.DeepCopy()
		s.Default(got)
		if diff := cmp.Diff(pl, got); diff != "" {
			t.Errorf("%s changed by defaulting:\n%s", pl.Name, diff)
		}
	}
	for _, fs := range append(append([]*flowcontrolv1.FlowSchema{}, bootstrap.MandatoryFlowSchemas...), bootstrap.SuggestedFlowSchemas...) {
		got := fs.DeepCopy()
		s.Default(got)
		if diff := cmp.Diff(fs, got); diff != "" {
			t.Errorf("%s changed by defaulting:\n%s", fs.Name, diff)
		}
	}
}

func TestResourceDefaults(t *testing.T) {
	request := func(e *resourcev1.ExactDeviceRequest, subs ...resourcev1.DeviceSubRequest) resourcev1.ResourceClaimSpec {
		return resourcev1.ResourceClaimSpec{Devices: resourcev1.DeviceClaim{Requests: []resourcev1.DeviceRequest{{Name: "r", Exactly: e, FirstAvailable: subs}}}}
	}
	runDefaultCases(t, []defaultCase{
		{
			name: "one device by default",
			in:   &resourcev1.ResourceClaim{Spec: request(&resourcev1.ExactDeviceRequest{DeviceClassName: "c", Tolerations: []resourcev1.DeviceToleration{{Key: "k"}}})},
			want: &resourcev1.ResourceClaim{Spec: request(&resourcev1.ExactDeviceRequest{DeviceClassName: "c", AllocationMode: resourcev1.DeviceAllocationModeExactCount, Count: 1,
				Tolerations: []resourcev1.DeviceToleration{{Key: "k", Operator: resourcev1.DeviceTolerationOpEqual}}})},
		},
		{
			name: "all devices have no count",
			in:   &resourcev1.ResourceClaimTemplate{Spec: resourcev1.ResourceClaimTemplateSpec{Spec: request(nil, resourcev1.DeviceSubRequest{Name: "s", AllocationMode: resourcev1.DeviceAllocationModeAll})}},
			want: &resourcev1.ResourceClaimTemplate{Spec: resourcev1.ResourceClaimTemplateSpec{Spec: request(nil, resourcev1.DeviceSubRequest{Name: "s", AllocationMode: resourcev1.DeviceAllocationModeAll})}},
		},
	})
	// Device taints are stamped with the time they were added.
	slice := &resourcev1.ResourceSlice{Spec: resourcev1.ResourceSliceSpec{Devices: []resourcev1.Device{{Name: "d",
		Taints: []resourcev1.DeviceTaint{{Key: "k", Effect: resourcev1.DeviceTaintEffectNoSchedule}, {Key: "old", TimeAdded: &metav1.Time{}}}}}}}
	newScheme(t).Default(slice)
	if ts := slice.Spec.Devices[0].Taints; ts[0].TimeAdded == nil || ts[0].TimeAdded.IsZero() || !ts[1].TimeAdded.IsZero() {
		t.Errorf("taint times: %+v", ts)
	}
}
