package printers

import (
	"strings"
	"time"

	resourcev1 "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Dynamic resource allocation (resource.k8s.io), as kube-apiserver prints it.

func deviceClassPrinter() Printer {
	return typed([]metav1.TableColumnDefinition{nameColumn(), ageColumn()},
		func(c *resourcev1.DeviceClass, now time.Time) []interface{} {
			return []interface{}{c.Name, since(c.CreationTimestamp, now)}
		})
}

func resourceClaimPrinter() Printer {
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("State", "string", "A summary of the current state (allocated, pending, reserved, etc.)."),
		ageColumn(),
	}, func(c *resourcev1.ResourceClaim, now time.Time) []interface{} {
		return []interface{}{c.Name, resourceClaimState(c), since(c.CreationTimestamp, now)}
	})
}

// resourceClaimState summarizes a claim: deleted, pending, allocated, reserved.
func resourceClaimState(c *resourcev1.ResourceClaim) string {
	var states []string
	if c.DeletionTimestamp != nil {
		states = append(states, "deleted")
	}
	switch {
	case c.Status.Allocation == nil:
		if c.DeletionTimestamp == nil {
			states = append(states, "pending")
		}
	default:
		states = append(states, "allocated")
		if len(c.Status.ReservedFor) > 0 {
			states = append(states, "reserved")
		}
	}
	return strings.Join(states, ",")
}

func resourceClaimTemplatePrinter() Printer {
	return typed([]metav1.TableColumnDefinition{nameColumn(), ageColumn()},
		func(t *resourcev1.ResourceClaimTemplate, now time.Time) []interface{} {
			return []interface{}{t.Name, since(t.CreationTimestamp, now)}
		})
}

func resourceSlicePrinter() Printer {
	spec := resourcev1.ResourceSliceSpec{}.SwaggerDoc()
	return typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Node", "string", spec["nodeName"]),
		column("Driver", "string", spec["driver"]),
		column("Pool", "string", resourcev1.ResourcePool{}.SwaggerDoc()["name"]),
		ageColumn(),
	}, func(s *resourcev1.ResourceSlice, now time.Time) []interface{} {
		node := ""
		if s.Spec.NodeName != nil {
			node = *s.Spec.NodeName
		}
		return []interface{}{s.Name, node, s.Spec.Driver, s.Spec.Pool.Name, since(s.CreationTimestamp, now)}
	})
}
