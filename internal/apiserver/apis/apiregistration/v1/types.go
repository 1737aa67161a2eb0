// Package v1 holds the apiregistration.k8s.io/v1 API types (APIService), written for kijabi
// because k8s.io/kube-aggregator is not a dependency. Their JSON form is upstream's, field
// for field; they have no protobuf encoding (objects are stored as JSON, and protobuf
// clients are answered in JSON).
package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of APIServices.
const GroupName = "apiregistration.k8s.io"

// SchemeGroupVersion is apiregistration.k8s.io/v1.
var SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1"}

// AutoManagedLabel marks the APIServices the API server keeps itself, with the values
// AutoManagedOnStart (built-in group versions, written when the server starts) and
// AutoManagedAlways (custom resource group versions, kept while their definitions exist).
const (
	AutoManagedLabel   = "kube-aggregator.kubernetes.io/automanaged"
	AutoManagedOnStart = "onstart"
	AutoManagedAlways  = "true"
)

// APIServiceList is a list of APIServices.
type APIServiceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`

	Items []APIService `json:"items" protobuf:"bytes,2,rep,name=items"`
}

// ServiceReference names the Service an extension API server is reached through.
type ServiceReference struct {
	Namespace string `json:"namespace,omitempty" protobuf:"bytes,1,opt,name=namespace"`
	Name      string `json:"name,omitempty" protobuf:"bytes,2,opt,name=name"`
	// Port defaults to 443.
	Port *int32 `json:"port,omitempty" protobuf:"varint,3,opt,name=port"`
}

// APIServiceSpec tells where a group version is served and how it ranks in discovery.
type APIServiceSpec struct {
	// Service is nil for a group version the API server serves itself.
	Service               *ServiceReference `json:"service" protobuf:"bytes,1,opt,name=service"`
	Group                 string            `json:"group,omitempty" protobuf:"bytes,2,opt,name=group"`
	Version               string            `json:"version,omitempty" protobuf:"bytes,3,opt,name=version"`
	InsecureSkipTLSVerify bool              `json:"insecureSkipTLSVerify,omitempty" protobuf:"varint,4,opt,name=insecureSkipTLSVerify"`
	CABundle              []byte            `json:"caBundle,omitempty" protobuf:"bytes,5,opt,name=caBundle"`
	GroupPriorityMinimum  int32             `json:"groupPriorityMinimum" protobuf:"varint,7,opt,name=groupPriorityMinimum"`
	VersionPriority       int32             `json:"versionPriority" protobuf:"varint,8,opt,name=versionPriority"`
}

// ConditionStatus is True, False or Unknown.
type ConditionStatus string

// The condition statuses.
const (
	ConditionTrue    ConditionStatus = "True"
	ConditionFalse   ConditionStatus = "False"
	ConditionUnknown ConditionStatus = "Unknown"
)

// APIServiceConditionType is the type of an APIService condition.
type APIServiceConditionType string

// Available is true when the group version can be served.
const Available APIServiceConditionType = "Available"

// APIServiceCondition is one condition of an APIService.
type APIServiceCondition struct {
	Type               APIServiceConditionType `json:"type" protobuf:"bytes,1,opt,name=type,casttype=APIServiceConditionType"`
	Status             ConditionStatus         `json:"status" protobuf:"bytes,2,opt,name=status,casttype=ConditionStatus"`
	LastTransitionTime metav1.Time             `json:"lastTransitionTime,omitempty" protobuf:"bytes,3,opt,name=lastTransitionTime"`
	Reason             string                  `json:"reason,omitempty" protobuf:"bytes,4,opt,name=reason"`
	Message            string                  `json:"message,omitempty" protobuf:"bytes,5,opt,name=message"`
}

// APIServiceStatus is what the server observed of an APIService.
type APIServiceStatus struct {
	Conditions []APIServiceCondition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type" protobuf:"bytes,1,rep,name=conditions"`
}

// APIService registers the server of one group version; its name is "VERSION.GROUP".
type APIService struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`

	Spec   APIServiceSpec   `json:"spec,omitempty" protobuf:"bytes,2,opt,name=spec"`
	Status APIServiceStatus `json:"status,omitempty" protobuf:"bytes,3,opt,name=status"`
}

// AddToScheme registers the types in apiregistration.k8s.io/v1.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(SchemeGroupVersion, &APIService{}, &APIServiceList{})
	metav1.AddToGroupVersion(s, SchemeGroupVersion)
	return nil
}

// Condition returns the condition of type t, or nil.
func (a *APIService) Condition(t APIServiceConditionType) *APIServiceCondition {
	for i := range a.Status.Conditions {
		if a.Status.Conditions[i].Type == t {
			return &a.Status.Conditions[i]
		}
	}
	return nil
}

// IsAvailable reports whether the Available condition is True.
func (a *APIService) IsAvailable() bool {
	c := a.Condition(Available)
	return c != nil && c.Status == ConditionTrue
}

// SetCondition records c: a new condition is added; an existing one takes c's reason and
// message, and c's transition time only when its status changes.
func (a *APIService) SetCondition(c APIServiceCondition) {
	cur := a.Condition(c.Type)
	if cur == nil {
		a.Status.Conditions = append(a.Status.Conditions, c)
		return
	}
	if cur.Status != c.Status {
		cur.Status = c.Status
		cur.LastTransitionTime = c.LastTransitionTime
	}
	cur.Reason, cur.Message = c.Reason, c.Message
}

// LocalAvailable is the condition of APIServices served by the API server itself.
func LocalAvailable(now metav1.Time) APIServiceCondition {
	return APIServiceCondition{Type: Available, Status: ConditionTrue, LastTransitionTime: now,
		Reason: "Local", Message: "Local APIServices are always available"}
}
