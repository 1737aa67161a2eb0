// Package serviceaccount holds the service account controller and the root CA publisher, as
// Kubernetes' serviceaccount-controller and root-ca-cert-publisher do:
//
//   - every active namespace (status.phase Active) has a ServiceAccount named "default"; it is
//     created when missing and re-created when deleted. Terminating namespaces get none;
//   - every namespace has a ConfigMap named kube-root-ca.crt whose key ca.crt holds the cluster
//     CA bundle (given to New) and whose annotation kubernetes.io/description says what it is
//     for. A missing one is created, a changed one is put back.
//
// Both work from one queue of namespace names, fed by the namespace informer and by deletions
// (and, for the ConfigMap, changes) of the objects they maintain.
//
// # Usage
//
//	factory := informers.NewSharedInformerFactory(client, 0)
//	c := serviceaccount.New(client, factory.Core().V1().Namespaces(),
//		factory.Core().V1().ServiceAccounts(), factory.Core().V1().ConfigMaps(), caBundle)
//	factory.Start(ctx.Done())
//	go c.Run(ctx, 2)
//
// An empty CA bundle disables the publisher. The decisions are pure functions in decide.go.
package serviceaccount
