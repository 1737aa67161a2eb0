package garbagecollector

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ownerState classifies an owner reference after a live lookup of the owner.
type ownerState int

const (
	// solid: the owner exists and is not waiting for its dependents to go.
	solid ownerState = iota
	// dangling: the owner is gone (or was replaced: another UID).
	dangling
	// waiting: the owner is being deleted in the foreground, waiting for its dependents.
	waiting
)

// classifyOwner classifies a reference given the owner found (nil when absent).
func classifyOwner(ref metav1.OwnerReference, owner metav1.Object) ownerState {
	switch {
	case owner == nil || owner.GetUID() != ref.UID:
		return dangling
	case owner.GetDeletionTimestamp() != nil && hasFinalizer(owner, metav1.FinalizerDeleteDependents):
		return waiting
	}
	return solid
}

// actionKind is what to do about a dependent.
type actionKind int

const (
	// keep the object as it is.
	keep actionKind = iota
	// removeRefs: patch away the references to the dangling and waiting owners.
	removeRefs
	// deleteObject with the action's policy.
	deleteObject
)

type action struct {
	kind   actionKind
	policy metav1.DeletionPropagation
	// unblock: first clear blockOwnerDeletion on the object's references (it has a dependent
	// that itself waits for its dependents, which could otherwise deadlock).
	unblock bool
}

// decide is what the collector does with an object whose owners it classified: one with a
// solid owner stays (shedding references to owners that are gone or going); one whose owners
// are all gone or going is deleted, in the foreground when an owner waits for it and it has
// dependents of its own, else with the policy its own finalizers ask for (background by default).
func decide(obj metav1.Object, states []ownerState, hasDependents, dependentDeletingDependents bool) action {
	if len(states) == 0 {
		return action{kind: keep}
	}
	var nSolid, nDangling, nWaiting int
	for _, s := range states {
		switch s {
		case solid:
			nSolid++
		case dangling:
			nDangling++
		case waiting:
			nWaiting++
		}
	}
	switch {
	case nSolid > 0:
		if nDangling+nWaiting == 0 {
			return action{kind: keep}
		}
		return action{kind: removeRefs}
	case nWaiting > 0 && hasDependents:
		return action{kind: deleteObject, policy: metav1.DeletePropagationForeground, unblock: dependentDeletingDependents}
	case hasFinalizer(obj, metav1.FinalizerOrphanDependents):
		return action{kind: deleteObject, policy: metav1.DeletePropagationOrphan}
	case hasFinalizer(obj, metav1.FinalizerDeleteDependents):
		return action{kind: deleteObject, policy: metav1.DeletePropagationForeground}
	}
	return action{kind: deleteObject, policy: metav1.DeletePropagationBackground}
}
