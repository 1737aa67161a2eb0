// Package controllermanager runs many controllers in one process, as the seed note asks: one
// shared informer factory feeds them all, and a Lease-based leader election makes sure that of
// several controller managers only one acts at a time.
//
// Each controller is an informer-fed workqueue with an idempotent reconcile (see
// internal/controller/...); this package only builds them, starts the informers once every
// controller has registered its handlers, and stops everything when leadership or the context
// is lost.
package controllermanager
