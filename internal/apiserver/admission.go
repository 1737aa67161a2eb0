package apiserver

import (
	"context"
	"errors"
	"fmt"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/kijabi/kijabi/internal/storage"
)

// Admission: the checks and changes every write goes through after decoding and before
// validation. Built-in rules only: namespace lifecycle, Service address allocation, pod and
// claim defaults, and RBAC's rule against granting permissions one does not hold.

var namespacesGR = schema.GroupResource{Resource: "namespaces"}

// admitNamespace refuses content in a namespace that does not exist or is terminating.
func (s *Server) admitNamespace(ctx context.Context, namespace string) error {
	nsRes := s.byGroupResource["/namespaces"]
	key := nsRes.store.Key("", namespace)
	// The watch cache answers for namespaces that exist and are active (as upstream's
	// lister does); etcd is asked only when the cache does not know the namespace yet or
	// sees it terminating.
	if obj, ok := nsRes.store.Cached(key); ok {
		if ns := obj.(*corev1.Namespace); ns.DeletionTimestamp == nil && ns.Status.Phase != corev1.NamespaceTerminating {
			return nil
		}
	}
	obj, err := nsRes.store.Get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return apierrors.NewNotFound(namespacesGR, namespace)
	}
	if err != nil {
		return storageError(err, namespacesGR, namespace)
	}
	ns := obj.(*corev1.Namespace)
	if ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating {
		err := apierrors.NewForbidden(schema.GroupResource{}, "", fmt.Errorf("unable to create new content in namespace %s because it is being terminated", namespace))
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1StatusCause("NamespaceTerminating", namespace))
		return err
	}
	return nil
}

// protectedNamespaces cannot be deleted.
var protectedNamespaces = map[string]bool{"default": true, "kube-system": true, "kube-public": true}

func (s *Server) admitDelete(ctx context.Context, res *resource, namespace, name string) error {
	if res.gr == namespacesGR && protectedNamespaces[name] {
		return apierrors.NewForbidden(res.gr, name, errors.New("this namespace may not be deleted"))
	}
	return nil
}

func (s *Server) admitCreate(ctx context.Context, res *resource, obj runtime.Object, dry bool) error {
	if err := s.admitPolicy(ctx, res, obj, nil); err != nil {
		return err
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		if err := s.admitPod(ctx, o); err != nil {
			return err
		}
		if err := s.admitPodLimits(ctx, o); err != nil {
			return err
		}
		if err := s.admitRuntimeClass(ctx, o); err != nil {
			return err
		}
	case *corev1.PersistentVolumeClaim:
		if err := s.admitClaim(ctx, o); err != nil {
			return err
		}
		if err := s.admitClaimLimits(ctx, o); err != nil {
			return err
		}
	case *corev1.Secret:
		if err := s.issueLegacyToken(ctx, o); err != nil {
			return err
		}
	case *certificatesv1.CertificateSigningRequest:
		if err := s.admitCSRCreate(ctx, o); err != nil {
			return err
		}
	}
	if svc, ok := obj.(*corev1.Service); ok {
		if err := s.ensureAllocator(ctx); err != nil {
			return err
		}
		if errs := s.alloc.allocate(svc, nil, dry); len(errs) > 0 {
			return apierrors.NewInvalid(res.gvk.GroupKind(), svc.Name, errs)
		}
		if !dry {
			if err := s.claimIPAddresses(ctx, svc, nil); err != nil {
				s.alloc.release(svc)
				s.releaseIPAddresses(svc)
				return err
			}
		}
	}
	return nil
}

func (s *Server) admitUpdate(ctx context.Context, res *resource, subresource string, obj, old runtime.Object, dry bool) error {
	if subresource == "" {
		if err := s.admitPolicy(ctx, res, obj, old); err != nil {
			return err
		}
	}
	if pvc, ok := obj.(*corev1.PersistentVolumeClaim); ok && subresource == "" {
		if err := s.admitClaimLimits(ctx, pvc); err != nil {
			return err
		}
	}
	if csr, ok := obj.(*certificatesv1.CertificateSigningRequest); ok {
		if err := s.admitCSRUpdate(ctx, subresource, csr, old.(*certificatesv1.CertificateSigningRequest)); err != nil {
			return err
		}
	}
	if svc, ok := obj.(*corev1.Service); ok && subresource == "" {
		if err := s.ensureAllocator(ctx); err != nil {
			return err
		}
		if errs := s.alloc.allocate(svc, old.(*corev1.Service), dry); len(errs) > 0 {
			return apierrors.NewInvalid(res.gvk.GroupKind(), svc.Name, errs)
		}
		if !dry {
			if err := s.claimIPAddresses(ctx, svc, old.(*corev1.Service)); err != nil {
				return err
			}
		}
	}
	return nil
}

// releaseOnFailure gives back what admission allocated for an object that was not stored.
func (s *Server) releaseOnFailure(res *resource, obj runtime.Object, dry bool) {
	if dry {
		return
	}
	if svc, ok := obj.(*corev1.Service); ok {
		s.alloc.release(svc)
		s.releaseIPAddresses(svc)
	}
}

// afterDelete gives back what a deleted object held.
func (s *Server) afterDelete(res *resource, obj runtime.Object) {
	if svc, ok := obj.(*corev1.Service); ok && s.alloc.loaded() {
		s.alloc.release(svc)
	}
	if svc, ok := obj.(*corev1.Service); ok {
		s.releaseIPAddresses(svc)
	}
}

// ensureAllocator loads the allocated addresses and ports from the stored Services once.
func (s *Server) ensureAllocator(ctx context.Context) error {
	return s.alloc.load(func() ([]*corev1.Service, error) {
		res := s.byGroupResource["/services"]
		list, err := res.store.List(ctx, res.store.Prefix(""), storage.ListOptions{})
		if err != nil {
			return nil, storageError(err, res.gr, "")
		}
		out := make([]*corev1.Service, 0, len(list.Items))
		for _, o := range list.Items {
			out = append(out, o.(*corev1.Service))
		}
		return out, nil
	})
}

func validateMetaUpdate(a, old interface {
	GetName() string
	GetNamespace() string
}) field.ErrorList {
	var errs field.ErrorList
	if a.GetName() != old.GetName() {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), a.GetName(), "field is immutable"))
	}
	if a.GetNamespace() != old.GetNamespace() {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "namespace"), a.GetNamespace(), "field is immutable"))
	}
	return errs
}
