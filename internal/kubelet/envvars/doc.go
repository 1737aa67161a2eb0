// Package envvars computes a container's environment exactly as the Kubernetes kubelet
// does, and expands $(VAR) references in command, args and subPathExpr.
//
// # Precedence
//
// Resolve builds the environment in three layers; a later layer wins on a name clash:
//
//  1. service links: for the `kubernetes` service in `default` always, and for every
//     service with a cluster IP in the pod's namespace when spec.enableServiceLinks is
//     unset or true, the Docker-links style variables FOO_SERVICE_HOST, FOO_SERVICE_PORT,
//     FOO_SERVICE_PORT_<NAME>, FOO_PORT, FOO_PORT_<port>_<PROTO>{,_PROTO,_PORT,_ADDR};
//  2. envFrom, in order (configMapRef / secretRef, each key with the optional prefix);
//  3. env, in order: a literal value has its $(VAR) references expanded against the
//     variables defined so far (layer 2 and earlier env entries) and then the service
//     variables; a valueFrom is resolved from the pod (fieldRef), the container's
//     resources (resourceFieldRef, limits defaulting to pod-level limits, then node
//     allocatable), a ConfigMap or a Secret key.
//
// Expansion follows the kubelet's forked os.Expand: `$(NAME)` is replaced when NAME is
// known and left as written otherwise, `$$` is an escaped `$`, any other `$` is kept.
//
// A missing ConfigMap, Secret or key fails the container's start with the kubelet's own
// message unless the reference is optional, in which case it contributes nothing.
package envvars
