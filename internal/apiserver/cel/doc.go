// Package cel evaluates the Common Expression Language as kube-apiserver v1.37 does, for
// the places the API server runs expressions: ValidatingAdmissionPolicies (and their
// match conditions, variables and message expressions), MutatingAdmissionPolicies (their
// mutations too), the match conditions of admission webhooks, and the
// x-kubernetes-validations rules of CustomResourceDefinition schemas.
//
// It is kijabi's own code on top of cel.dev/cel-go, written after Kubernetes' documented
// behaviour; it does not use k8s.io/apiserver.
//
// What it provides:
//
//   - The environment (BaseEnv, NewEnv): the CEL standard library with the options
//     Kubernetes sets (homogeneous aggregate literals, UTC default time zone, cross-type
//     numeric comparisons, optional types and `?.`, literal checks for durations,
//     timestamps and regular expressions), the cel-go extensions Kubernetes enables (strings
//     v2, sets, lists v3, two-variable comprehensions) and Kubernetes' libraries: lists
//     (isSorted, sum, min, max, indexOf, lastIndexOf), regex (find, findAll), URLs (url,
//     isURL, getScheme, ...), quantities (quantity, isQuantity, compareTo, add, sub,
//     asInteger, isGreaterThan, ...), IPs and CIDRs (ip, cidr, containsIP, ...), named
//     formats (format.dns1123Label().validate(s), format.named(n)) and semantic versions
//     (semver, isSemver, major, ...). Neither kube-apiserver nor kijabi enables cel-go's
//     math or encoders extensions. The authorizer library is not provided.
//   - Types (Type, SchemaType): structural schemas become CEL types, so that rules are type
//     checked against the schema (an undefined field does not compile), with property names
//     escaped as Kubernetes escapes them (Escape: "namespace" is __namespace__, "a-b"
//     a__dash__b), and formats date, date-time, duration and byte read as timestamps,
//     durations and bytes. Values without a schema are dynamic.
//   - Values (Value, ObjectValue): JSON as apimachinery decodes it becomes CEL values
//     lazily; lists with x-kubernetes-list-type set or map compare regardless of order.
//   - Costs: every program is estimated statically (Program.MaxCost, with the sizes a
//     schema allows: maxLength, maxItems, maxProperties, or what fits in a 3 MiB request)
//     and limited at runtime to PerCallLimit per expression; callers charge the spent cost
//     against RuntimeBudget or MatchConditionsBudget.
//   - Caching: an Env keeps its compiled programs by expression.
//   - Admission (admission.go): the variables of admission expressions — object,
//     oldObject, request, params, namespaceObject and variables — with the types and
//     values kube-apiserver gives them. The authorizer variable is not declared: an
//     expression that uses it does not compile.
//   - Mutations (mutation.go, NewMutatingCompiler): the Object and JSONPatch types that
//     MutatingAdmissionPolicy mutations build (Object{spec: Object.spec{replicas: 3}},
//     [JSONPatch{op: "add", path: "/x", value: 1}]), checked as kube-apiserver checks them
//     (Object types are dynamic; nested type names must follow their field path), and
//     jsonpatch.escapeKey.
package cel
