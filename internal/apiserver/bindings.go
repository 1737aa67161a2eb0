package apiserver

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/kijabi/kijabi/internal/auth"
)

// The core bindings resource (POST /api/v1/namespaces/NS/bindings), the older way to
// assign a pod to a node that kube-apiserver still serves: the Binding names the pod; it
// does what pods/NAME/binding does. The Binding is answered back.

// bindingTimeout bounds the pod update of a binding.
const bindingTimeout = 30 * time.Second

func reviewBinding(s *Server, _ *auth.User, namespace string, obj runtime.Object) error {
	b := obj.(*corev1.Binding)
	var errs field.ErrorList
	if b.Name == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "name"), "name or generateName is required"))
	}
	if b.Target.Kind != "" && b.Target.Kind != "Node" {
		errs = append(errs, field.NotSupported(field.NewPath("target", "kind"), b.Target.Kind, []string{"Node", "<empty>"}))
	}
	if b.Target.Name == "" {
		errs = append(errs, field.Required(field.NewPath("target", "name"), ""))
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(schema.GroupKind{Kind: "Binding"}, b.Name, errs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), bindingTimeout)
	defer cancel()
	b.Namespace = namespace
	return s.bindPod(ctx, s.byGroupResource["/pods"], namespace, b)
}
