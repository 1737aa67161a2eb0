package apiserver

import (
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	resourcev1 "k8s.io/api/resource/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
)

// moreResourceDefs are the rest of the resources kube-apiserver serves by default: the
// legacy core bindings, runtime
// classes, service CIDRs and IP addresses, API Priority and Fairness configuration, dynamic
// resource allocation, storage capacities and volume attributes classes, and the
// autoscaling/v1 view of HorizontalPodAutoscalers (after autoscaling/v2, which stays the
// preferred version).
func moreResourceDefs() []resourceDef {
	return []resourceDef{
		{group: "", version: "v1", name: "bindings", kind: "Binding", namespaced: true,
			newObj: func() runtime.Object { return &corev1.Binding{} }, review: reviewBinding},

		{group: "node.k8s.io", version: "v1", name: "runtimeclasses", kind: "RuntimeClass",
			newObj: func() runtime.Object { return &nodev1.RuntimeClass{} }, newList: func() runtime.Object { return &nodev1.RuntimeClassList{} }},

		{group: "networking.k8s.io", version: "v1", name: "servicecidrs", kind: "ServiceCIDR", status: true,
			newObj: func() runtime.Object { return &networkingv1.ServiceCIDR{} }, newList: func() runtime.Object { return &networkingv1.ServiceCIDRList{} }},
		{group: "networking.k8s.io", version: "v1", name: "ipaddresses", kind: "IPAddress", shortNames: all("ip"),
			newObj: func() runtime.Object { return &networkingv1.IPAddress{} }, newList: func() runtime.Object { return &networkingv1.IPAddressList{} }},

		{group: "flowcontrol.apiserver.k8s.io", version: "v1", name: "flowschemas", kind: "FlowSchema", status: true,
			newObj: func() runtime.Object { return &flowcontrolv1.FlowSchema{} }, newList: func() runtime.Object { return &flowcontrolv1.FlowSchemaList{} }},
		{group: "flowcontrol.apiserver.k8s.io", version: "v1", name: "prioritylevelconfigurations", kind: "PriorityLevelConfiguration", status: true,
			newObj: func() runtime.Object { return &flowcontrolv1.PriorityLevelConfiguration{} }, newList: func() runtime.Object { return &flowcontrolv1.PriorityLevelConfigurationList{} }},

		{group: "resource.k8s.io", version: "v1", name: "deviceclasses", kind: "DeviceClass",
			newObj: func() runtime.Object { return &resourcev1.DeviceClass{} }, newList: func() runtime.Object { return &resourcev1.DeviceClassList{} }},
		{group: "resource.k8s.io", version: "v1", name: "resourceclaims", kind: "ResourceClaim", namespaced: true, status: true,
			newObj: func() runtime.Object { return &resourcev1.ResourceClaim{} }, newList: func() runtime.Object { return &resourcev1.ResourceClaimList{} }},
		{group: "resource.k8s.io", version: "v1", name: "resourceclaimtemplates", kind: "ResourceClaimTemplate", namespaced: true,
			newObj: func() runtime.Object { return &resourcev1.ResourceClaimTemplate{} }, newList: func() runtime.Object { return &resourcev1.ResourceClaimTemplateList{} }},
		{group: "resource.k8s.io", version: "v1", name: "resourceslices", kind: "ResourceSlice",
			newObj: func() runtime.Object { return &resourcev1.ResourceSlice{} }, newList: func() runtime.Object { return &resourcev1.ResourceSliceList{} },
			fields: resourceSliceFields},

		{group: "storage.k8s.io", version: "v1", name: "csistoragecapacities", kind: "CSIStorageCapacity", namespaced: true,
			newObj: func() runtime.Object { return &storagev1.CSIStorageCapacity{} }, newList: func() runtime.Object { return &storagev1.CSIStorageCapacityList{} }},
		{group: "storage.k8s.io", version: "v1", name: "volumeattributesclasses", kind: "VolumeAttributesClass", shortNames: all("vac"),
			newObj: func() runtime.Object { return &storagev1.VolumeAttributesClass{} }, newList: func() runtime.Object { return &storagev1.VolumeAttributesClassList{} }},

		{group: "autoscaling", version: "v1", name: "horizontalpodautoscalers", kind: "HorizontalPodAutoscaler", namespaced: true,
			shortNames: all("hpa"), categories: all("all"), status: true, storagePrefix: "autoscaling/horizontalpodautoscalers",
			newObj: func() runtime.Object { return &autoscalingv1.HorizontalPodAutoscaler{} }, newList: func() runtime.Object { return &autoscalingv1.HorizontalPodAutoscalerList{} }},
	}
}

// resourceSliceFields: drivers and kubelets select the slices of a node or a driver.
func resourceSliceFields(o runtime.Object) fields.Set {
	s := o.(*resourcev1.ResourceSlice)
	node := ""
	if s.Spec.NodeName != nil {
		node = *s.Spec.NodeName
	}
	return fields.Set{"spec.nodeName": node, "spec.driver": s.Spec.Driver}
}
