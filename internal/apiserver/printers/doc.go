// Package printers renders API objects as server-side tables (meta.k8s.io/v1 Table) with the same
// columns and cell text that kube-apiserver returns for `kubectl get`.
//
// # Manual
//
// The API server answers a request whose Accept header asks for
// `application/json;as=Table;g=meta.k8s.io;v=v1` with a Table instead of the object or list. To build one:
//
//	p, ok := printers.For(group, resource) // e.g. ("apps", "deployments"); group "" is core
//	if !ok {
//		p = printers.Default()
//	}
//	table := printers.Table(p, items, time.Now(), opts.NoHeaders)
//	for i := range table.Rows {
//		table.Rows[i].Object = runtime.RawExtension{Object: partialOrFull(items[i])}
//	}
//
// Things to know:
//
//   - Every printer emits all of its columns, including the ones with Priority 1. Like kube-apiserver,
//     which always generates the wide form, it is kubectl that hides priority>0 columns unless `-o wide`.
//   - Cells take pointers to the versioned k8s.io/api types (*corev1.Pod, *appsv1.Deployment, ...). A
//     printer given an object of another type does not panic: it fills the name column when it can and
//     leaves the other cells empty. Zero-value objects are fine too.
//   - Fields that the API server defaults (replicas, clusterIPs, podIPs, ...) are read with the same
//     fallbacks that defaulting would apply, so an undefaulted object prints as its defaulted form would.
//   - Times are rendered relative to the `now` passed in (never the wall clock), with
//     k8s.io/apimachinery/pkg/util/duration.HumanDuration; a zero time prints "<unknown>".
//   - Integer cells are int64 and boolean cells are bool, as upstream; everything else is a string.
//   - Default is Kubernetes' own fallback table (Name, Created At), used upstream by every resource
//     without a printer of its own, e.g. roles, clusterroles and limitranges, which For also returns.
//   - Table sets the "Completed" row condition on pods that have succeeded or failed, as upstream does.
package printers
