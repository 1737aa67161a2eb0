package v1

// OpenAPI definition names (as kube-apiserver publishes them) and field documentation,
// for the OpenAPI documents and `kubectl explain`.

const modelPrefix = "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1."

// OpenAPIModelName implements the OpenAPI model namer.
func (APIService) OpenAPIModelName() string { return modelPrefix + "APIService" }

// OpenAPIModelName implements the OpenAPI model namer.
func (APIServiceList) OpenAPIModelName() string { return modelPrefix + "APIServiceList" }

// OpenAPIModelName implements the OpenAPI model namer.
func (APIServiceSpec) OpenAPIModelName() string { return modelPrefix + "APIServiceSpec" }

// OpenAPIModelName implements the OpenAPI model namer.
func (APIServiceStatus) OpenAPIModelName() string { return modelPrefix + "APIServiceStatus" }

// OpenAPIModelName implements the OpenAPI model namer.
func (APIServiceCondition) OpenAPIModelName() string { return modelPrefix + "APIServiceCondition" }

// OpenAPIModelName implements the OpenAPI model namer.
func (ServiceReference) OpenAPIModelName() string { return modelPrefix + "ServiceReference" }

// SwaggerDoc documents APIService.
func (APIService) SwaggerDoc() map[string]string {
	return map[string]string{
		"":       "APIService represents a server for a particular GroupVersion. Name must be \"version.group\".",
		"spec":   "Spec contains information for locating and communicating with a server",
		"status": "Status contains derived information about an API server",
	}
}

// SwaggerDoc documents APIServiceList.
func (APIServiceList) SwaggerDoc() map[string]string {
	return map[string]string{
		"":      "APIServiceList is a list of APIService objects.",
		"items": "Items is the list of APIService",
	}
}

// SwaggerDoc documents APIServiceSpec.
func (APIServiceSpec) SwaggerDoc() map[string]string {
	return map[string]string{
		"":                      "APIServiceSpec contains information for locating and communicating with a server. Only https is supported, though you are able to disable certificate verification.",
		"service":               "Service is a reference to the service for this API server. If the Service is nil, the group version is served by the API server itself.",
		"group":                 "Group is the API group name this server hosts",
		"version":               "Version is the API version this server hosts.  For example, \"v1\"",
		"insecureSkipTLSVerify": "InsecureSkipTLSVerify disables TLS certificate verification when communicating with this server. This is strongly discouraged.  You should use the CABundle instead.",
		"caBundle":              "CABundle is a PEM encoded CA bundle which will be used to validate an API server's serving certificate. If unspecified, system trust roots on the apiserver are used.",
		"groupPriorityMinimum":  "GroupPriorityMinimum is the priority this group should have at least; groups are ordered in discovery from the highest priority to the lowest, then by name.",
		"versionPriority":       "VersionPriority orders this version inside its group, from the highest priority to the lowest; equal priorities are ordered as Kubernetes versions (v10, v2, v1, v11beta2, v10beta3, v3beta1, v12alpha1, v11alpha2, foo1, foo10).",
	}
}

// SwaggerDoc documents ServiceReference.
func (ServiceReference) SwaggerDoc() map[string]string {
	return map[string]string{
		"":          "ServiceReference holds a reference to Service.legacy.k8s.io",
		"namespace": "Namespace is the namespace of the service",
		"name":      "Name is the name of the service",
		"port":      "If specified, the port on the service that hosting webhook. Default to 443 for backward compatibility. `port` should be a valid port number (1-65535, inclusive).",
	}
}

// SwaggerDoc documents APIServiceStatus.
func (APIServiceStatus) SwaggerDoc() map[string]string {
	return map[string]string{
		"":           "APIServiceStatus contains derived information about an API server",
		"conditions": "Current service state of apiService.",
	}
}

// SwaggerDoc documents APIServiceCondition.
func (APIServiceCondition) SwaggerDoc() map[string]string {
	return map[string]string{
		"":                   "APIServiceCondition describes the state of an APIService at a particular point",
		"type":               "Type is the type of the condition.",
		"status":             "Status is the status of the condition. Can be True, False, Unknown.",
		"lastTransitionTime": "Last time the condition transitioned from one status to another.",
		"reason":             "Unique, one-word, CamelCase reason for the condition's last transition.",
		"message":            "Human-readable message indicating details about last transition.",
	}
}

// MergeSchemaYAML describes the types for structured merge (managedFields and server-side
// apply), in the schema language of sigs.k8s.io/structured-merge-diff; the metadata types
// it names are client-go's.
const MergeSchemaYAML = `types:
- name: io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIService
  map:
    fields:
    - name: apiVersion
      type:
        scalar: string
    - name: kind
      type:
        scalar: string
    - name: metadata
      type:
        namedType: io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta
      default: {}
    - name: spec
      type:
        namedType: io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIServiceSpec
      default: {}
    - name: status
      type:
        namedType: io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIServiceStatus
      default: {}
- name: io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIServiceSpec
  map:
    fields:
    - name: caBundle
      type:
        scalar: string
    - name: group
      type:
        scalar: string
    - name: groupPriorityMinimum
      type:
        scalar: numeric
      default: 0
    - name: insecureSkipTLSVerify
      type:
        scalar: boolean
    - name: service
      type:
        namedType: io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.ServiceReference
    - name: version
      type:
        scalar: string
    - name: versionPriority
      type:
        scalar: numeric
      default: 0
- name: io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.ServiceReference
  map:
    fields:
    - name: name
      type:
        scalar: string
    - name: namespace
      type:
        scalar: string
    - name: port
      type:
        scalar: numeric
- name: io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIServiceStatus
  map:
    fields:
    - name: conditions
      type:
        list:
          elementType:
            namedType: io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIServiceCondition
          elementRelationship: associative
          keys:
          - type
- name: io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIServiceCondition
  map:
    fields:
    - name: lastTransitionTime
      type:
        namedType: io.k8s.apimachinery.pkg.apis.meta.v1.Time
    - name: message
      type:
        scalar: string
    - name: reason
      type:
        scalar: string
    - name: status
      type:
        scalar: string
      default: ""
    - name: type
      type:
        scalar: string
      default: ""
`
