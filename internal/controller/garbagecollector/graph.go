package garbagecollector

import (
	"slices"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// objectRef identifies an object: its kind, coordinates and UID.
type objectRef struct {
	APIVersion, Kind, Namespace, Name string
	UID                               types.UID
}

// node is an object in the ownership graph. A virtual node stands for an owner named by some
// ownerReference but not (yet) seen by an informer.
type node struct {
	identity   objectRef
	owners     []metav1.OwnerReference
	dependents map[types.UID]*node
	virtual    bool
	// beingDeleted: the object has a deletionTimestamp.
	beingDeleted bool
	// deletingDependents: being deleted with the foregroundDeletion finalizer.
	deletingDependents bool
}

// graph is the ownership graph, keyed by UID. The informer handlers change it; the workers read
// it. enqueueDelete and enqueueOrphan are called (with the lock held) for nodes needing work.
type graph struct {
	mu            sync.RWMutex
	nodes         map[types.UID]*node
	enqueueDelete func(types.UID)
	// enqueueSettled queues an owner that starts a foreground deletion or orphaning after a
	// moment, so that dependents created just before (reported by other informers, which may
	// lag behind the owner's) are in the graph when it is processed.
	enqueueSettled func(types.UID, bool)
}

func newGraph(enqueueDelete func(types.UID), enqueueSettled func(uid types.UID, orphan bool)) *graph {
	return &graph{nodes: map[types.UID]*node{}, enqueueDelete: enqueueDelete, enqueueSettled: enqueueSettled}
}

func hasFinalizer(o metav1.Object, f string) bool { return slices.Contains(o.GetFinalizers(), f) }

// addToOwner links n under the owner ref names, creating a virtual owner (to be checked) when
// the owner is unknown.
func (g *graph) addToOwner(n *node, ref metav1.OwnerReference) {
	owner := g.nodes[ref.UID]
	if owner == nil {
		owner = &node{
			identity:   objectRef{APIVersion: ref.APIVersion, Kind: ref.Kind, Namespace: n.identity.Namespace, Name: ref.Name, UID: ref.UID},
			dependents: map[types.UID]*node{},
			virtual:    true,
		}
		g.nodes[ref.UID] = owner
		g.enqueueDelete(ref.UID)
	}
	owner.dependents[n.identity.UID] = n
}

// unlinkFromOwner removes n from the dependents of the owner with the UID, and lets an owner
// waiting for its dependents look again.
func (g *graph) unlinkFromOwner(n *node, ownerUID types.UID) {
	owner := g.nodes[ownerUID]
	if owner == nil {
		return
	}
	delete(owner.dependents, n.identity.UID)
	if owner.deletingDependents {
		g.enqueueDelete(ownerUID)
	}
}

// observe records an object an informer reported added or updated.
func (g *graph) observe(id objectRef, obj metav1.Object) {
	g.mu.Lock()
	defer g.mu.Unlock()
	refs := append([]metav1.OwnerReference(nil), obj.GetOwnerReferences()...)
	n := g.nodes[id.UID]
	if n == nil {
		n = &node{identity: id, owners: refs, dependents: map[types.UID]*node{}}
		g.nodes[id.UID] = n
		for _, ref := range refs {
			g.addToOwner(n, ref)
		}
	} else {
		if n.virtual {
			n.virtual = false
			n.identity = id
		}
		old := n.owners
		n.owners = refs
		for _, o := range old {
			i := slices.IndexFunc(refs, func(r metav1.OwnerReference) bool { return r.UID == o.UID })
			switch {
			case i < 0:
				g.unlinkFromOwner(n, o.UID)
			case blocks(o) && !blocks(refs[i]):
				if owner := g.nodes[o.UID]; owner != nil && owner.deletingDependents {
					g.enqueueDelete(o.UID)
				}
			}
		}
		for _, r := range refs {
			if !slices.ContainsFunc(old, func(o metav1.OwnerReference) bool { return o.UID == r.UID }) {
				g.addToOwner(n, r)
			}
		}
	}
	n.beingDeleted = obj.GetDeletionTimestamp() != nil
	if n.beingDeleted && hasFinalizer(obj, metav1.FinalizerOrphanDependents) {
		g.enqueueSettled(id.UID, true)
	}
	if n.beingDeleted && hasFinalizer(obj, metav1.FinalizerDeleteDependents) {
		if !n.deletingDependents {
			n.deletingDependents = true
			for uid := range n.dependents {
				g.enqueueDelete(uid)
			}
			g.enqueueSettled(id.UID, false)
		} else {
			g.enqueueDelete(id.UID)
		}
	} else {
		n.deletingDependents = false
	}
}

// remove drops the node with the UID (an informer reported its deletion, or a virtual node
// turned out absent: then only if it is still virtual). Its dependents are checked.
func (g *graph) remove(uid types.UID, onlyVirtual bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := g.nodes[uid]
	if n == nil || onlyVirtual && !n.virtual {
		return
	}
	delete(g.nodes, uid)
	for _, o := range n.owners {
		g.unlinkFromOwner(n, o.UID)
	}
	for dep := range n.dependents {
		g.enqueueDelete(dep)
	}
}

func blocks(r metav1.OwnerReference) bool {
	return r.BlockOwnerDeletion != nil && *r.BlockOwnerDeletion
}

// snapshot is a copy of what the workers need of a node.
type snapshot struct {
	identity           objectRef
	virtual            bool
	beingDeleted       bool
	deletingDependents bool
	dependents         []objectRef
	// blocking are the dependents whose reference to this node blocks its deletion, with
	// whether each is itself deleting its dependents.
	blocking []blockingDependent
	// dependentDeletingDependents: some dependent is itself waiting for its dependents.
	dependentDeletingDependents bool
}

type blockingDependent struct {
	uid                types.UID
	deletingDependents bool
}

func (g *graph) snapshot(uid types.UID) (snapshot, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n := g.nodes[uid]
	if n == nil {
		return snapshot{}, false
	}
	s := snapshot{identity: n.identity, virtual: n.virtual, beingDeleted: n.beingDeleted, deletingDependents: n.deletingDependents}
	for _, d := range n.dependents {
		s.dependents = append(s.dependents, d.identity)
		if d.deletingDependents {
			s.dependentDeletingDependents = true
		}
		for _, r := range d.owners {
			if r.UID == uid && blocks(r) {
				s.blocking = append(s.blocking, blockingDependent{d.identity.UID, d.deletingDependents})
				break
			}
		}
	}
	return s, true
}
