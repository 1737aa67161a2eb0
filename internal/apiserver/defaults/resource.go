package defaults

import (
	"time"

	resourcev1 "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func registerResource(s *runtime.Scheme) {
	addWithList(s, defaultResourceClaim, func(l *resourcev1.ResourceClaimList) []resourcev1.ResourceClaim { return l.Items })
	addWithList(s, defaultResourceClaimTemplate, func(l *resourcev1.ResourceClaimTemplateList) []resourcev1.ResourceClaimTemplate {
		return l.Items
	})
	addWithList(s, defaultResourceSlice, func(l *resourcev1.ResourceSliceList) []resourcev1.ResourceSlice { return l.Items })
}

func defaultResourceClaim(c *resourcev1.ResourceClaim) {
	defaultClaimSpec(&c.Spec)
	if a := c.Status.Allocation; a != nil {
		for i := range a.Devices.Results {
			defaultDeviceTolerations(a.Devices.Results[i].Tolerations)
		}
	}
}

func defaultResourceClaimTemplate(t *resourcev1.ResourceClaimTemplate) {
	defaultClaimSpec(&t.Spec.Spec)
}

// defaultClaimSpec: a request takes one device (allocationMode ExactCount, count 1) unless
// it says otherwise; tolerations compare with Equal.
func defaultClaimSpec(spec *resourcev1.ResourceClaimSpec) {
	for i := range spec.Devices.Requests {
		r := &spec.Devices.Requests[i]
		if e := r.Exactly; e != nil {
			defaultAllocationMode(&e.AllocationMode, &e.Count)
			defaultDeviceTolerations(e.Tolerations)
		}
		for j := range r.FirstAvailable {
			s := &r.FirstAvailable[j]
			defaultAllocationMode(&s.AllocationMode, &s.Count)
			defaultDeviceTolerations(s.Tolerations)
		}
	}
}

func defaultAllocationMode(mode *resourcev1.DeviceAllocationMode, count *int64) {
	if *mode == "" {
		*mode = resourcev1.DeviceAllocationModeExactCount
	}
	if *mode == resourcev1.DeviceAllocationModeExactCount && *count == 0 {
		*count = 1
	}
}

func defaultDeviceTolerations(ts []resourcev1.DeviceToleration) {
	for i := range ts {
		if ts[i].Operator == "" {
			ts[i].Operator = resourcev1.DeviceTolerationOpEqual
		}
	}
}

// defaultResourceSlice stamps device taints with the time they were added.
func defaultResourceSlice(s *resourcev1.ResourceSlice) {
	for i := range s.Spec.Devices {
		for j := range s.Spec.Devices[i].Taints {
			if t := &s.Spec.Devices[i].Taints[j]; t.TimeAdded == nil {
				t.TimeAdded = &metav1.Time{Time: time.Now().Truncate(time.Second)}
			}
		}
	}
}
