// Package openapi builds the OpenAPI v2 and v3 documents that the kijabi API
// server publishes at /openapi/v2 and /openapi/v3, derived at start-up from the
// Go types registered in a runtime.Scheme.
//
// # How schemas are derived
//
// Build walks the Go type of every served kind (and its List kind, the
// subresource kinds and a handful of meta types such as Status,
// DeleteOptions, WatchEvent and Patch) with reflection:
//
//   - JSON tags give property names; `json:"-"` and unexported fields are
//     skipped; embedded structs without a name (`json:",inline"`) are
//     flattened, as encoding/json does.
//   - A field is required when its JSON tag has neither omitempty nor
//     omitzero and it is not a pointer to a scalar. Upstream decides by the +optional comment marker, which
//     reflection cannot see; the tag agrees with it for the common cases
//     (PodSpec.containers, Container.name, DeploymentSpec.selector, List.items,
//     WatchEvent.type). A few fields that upstream marks +optional but
//     serializes without omitempty (e.g. Event.reportingComponent) come out
//     required.
//   - Go kinds map to OpenAPI types: string, boolean, integer (int32 or
//     int64 format), number (float/double), []byte as string/byte, slices as
//     arrays, map[string]X as objects with additionalProperties, interface{}
//     as an untyped schema.
//   - Types that describe themselves with OpenAPISchemaType /
//     OpenAPISchemaFormat / OpenAPIV3OneOfTypes (metav1.Time, MicroTime,
//     Duration, resource.Quantity, intstr.IntOrString) become definitions of
//     that type; in v3 the oneOf form is used exactly as kube-apiserver does
//     (Quantity: oneOf string/number; IntOrString: oneOf integer/string with
//     format int-or-string).
//   - Structs whose JSON form is custom and carries no tagged fields
//     (runtime.RawExtension, metav1.FieldsV1, metav1.Patch) come out as plain
//     "type: object".
//   - Descriptions come from each type's SwaggerDoc() method (key "" is the
//     type description).
//
// # Naming
//
// Definition names follow upstream: a type's OpenAPIModelName() when it has
// one, otherwise the Go package path with its host reversed, e.g.
// k8s.io/api/core/v1.Pod → io.k8s.api.core.v1.Pod and
// k8s.io/apimachinery/pkg/apis/meta/v1.ObjectMeta →
// io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta. References are
// "#/definitions/<name>" in v2 and "#/components/schemas/<name>" in v3, where
// a reference with siblings (description, default) is wrapped in allOf as
// kube-apiserver does.
//
// # Extensions
//
//   - x-kubernetes-group-version-kind: on every definition whose Go type is
//     registered in the scheme (a list of GVKs), and on every operation (one
//     GVK). kubectl explain finds the schema of a resource this way, and
//     kubectl apply and cli-runtime's field validation detection use it to
//     find the PATCH operation of a kind.
//   - x-kubernetes-action: on every operation (get, list, watch, watchlist,
//     post, put, patch, delete, deletecollection, connect).
//   - x-kubernetes-patch-strategy / x-kubernetes-patch-merge-key: from the
//     patchStrategy / patchMergeKey struct tags. kubectl computes client-side
//     strategic merge patches from these.
//   - x-kubernetes-list-type / x-kubernetes-list-map-keys /
//     x-kubernetes-map-type and field defaults: from the structured-merge-diff
//     schema that client-go embeds for the built-in types (reached through
//     applyconfigurations.NewTypeConverter), so server-side apply semantics
//     derived from these documents match upstream. Every list gets an
//     explicit list type. Types unknown to that schema fall back to: a merge
//     key implies list type "map" keyed by it, other lists are "atomic".
//
// Output is deterministic (JSON object keys are sorted), so the v3 hashes are
// stable across restarts for the same set of types.
package openapi
