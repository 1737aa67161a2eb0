package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var scaleGVK = schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}

// scaleOf reads the Scale of an object: spec.replicas, status.replicas and the selector of
// a built-in workload, or the paths a custom resource's definition names.
func (r *resource) scaleOf(obj runtime.Object) (*autoscalingv1.Scale, error) {
	a, _ := metaAccessor(obj)
	scale := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{
		Name: a.GetName(), Namespace: a.GetNamespace(), UID: a.GetUID(),
		ResourceVersion: a.GetResourceVersion(), CreationTimestamp: a.GetCreationTimestamp(),
	}}
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return scale, r.crScale(u, scale)
	}
	spec, status := structField(obj, "Spec"), structField(obj, "Status")
	if r := spec.FieldByName("Replicas"); r.IsValid() {
		if r.Kind() == reflect.Pointer {
			if !r.IsNil() {
				scale.Spec.Replicas = int32(r.Elem().Int())
			}
		} else {
			scale.Spec.Replicas = int32(r.Int())
		}
	}
	if r := status.FieldByName("Replicas"); r.IsValid() {
		scale.Status.Replicas = int32(r.Int())
	}
	if sel := spec.FieldByName("Selector"); sel.IsValid() && !sel.IsNil() {
		switch s := sel.Interface().(type) {
		case *metav1.LabelSelector:
			ls, err := metav1.LabelSelectorAsSelector(s)
			if err != nil {
				return nil, err
			}
			scale.Status.Selector = ls.String()
		case map[string]string:
			scale.Status.Selector = metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: s})
		}
	}
	return scale, nil
}

// crScaleConfig is the scale subresource a custom resource's definition declares.
func (r *resource) crScaleConfig() *apiextensionsv1.CustomResourceSubresourceScale {
	if r.cr == nil || r.cr.version.Subresources == nil {
		return nil
	}
	return r.cr.version.Subresources.Scale
}

// jsonPathFields splits a simple JSON path such as .spec.replicas into its fields.
func jsonPathFields(path string) []string {
	return strings.Split(strings.TrimPrefix(path, "."), ".")
}

// crScale fills scale from the paths of a custom resource's scale subresource: a missing
// replicas count reads as 0, a missing selector as none, as kube-apiserver reads them.
func (r *resource) crScale(u *unstructured.Unstructured, scale *autoscalingv1.Scale) error {
	sc := r.crScaleConfig()
	if sc == nil {
		return fmt.Errorf("%s has no scale subresource", r.gr)
	}
	replicas := func(path string) (int32, error) {
		if path == "" {
			return 0, nil
		}
		n, found, err := unstructured.NestedInt64(u.Object, jsonPathFields(path)...)
		if err != nil {
			return 0, fmt.Errorf("%s accessor error: %v", path, err)
		}
		if !found {
			return 0, nil
		}
		return int32(n), nil
	}
	var err error
	if scale.Spec.Replicas, err = replicas(sc.SpecReplicasPath); err != nil {
		return err
	}
	if scale.Status.Replicas, err = replicas(sc.StatusReplicasPath); err != nil {
		return err
	}
	if sc.LabelSelectorPath != nil && *sc.LabelSelectorPath != "" {
		sel, _, err := unstructured.NestedString(u.Object, jsonPathFields(*sc.LabelSelectorPath)...)
		if err != nil {
			return fmt.Errorf("%s accessor error: %v", *sc.LabelSelectorPath, err)
		}
		scale.Status.Selector = sel
	}
	return nil
}

// setReplicas writes a new replica count into obj (at its definition's specReplicasPath
// for a custom resource).
func (r *resource) setReplicas(obj runtime.Object, n int32) error {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		sc := r.crScaleConfig()
		if sc == nil {
			return fmt.Errorf("%s has no scale subresource", r.gr)
		}
		return unstructured.SetNestedField(u.Object, int64(n), jsonPathFields(sc.SpecReplicasPath)...)
	}
	f := structField(obj, "Spec").FieldByName("Replicas")
	if f.Kind() == reflect.Pointer {
		v := n
		f.Set(reflect.ValueOf(&v))
	} else {
		f.SetInt(int64(n))
	}
	return nil
}

// serveScale serves the scale subresource: a Scale view of spec.replicas that can be read,
// replaced and patched.
func (s *Server) serveScale(ctx context.Context, w http.ResponseWriter, r *http.Request, res *resource, info *requestInfo) error {
	writeScale := func(code int, obj runtime.Object) {
		// A custom resource's scale paths are those of the request's version.
		obj, err := s.crCurrent(ctx, res, obj)
		if err != nil {
			writeError(w, err)
			return
		}
		scale, err := res.scaleOf(obj)
		if err != nil {
			writeError(w, apierrors.NewInternalError(err))
			return
		}
		scale.GetObjectKind().SetGroupVersionKind(scaleGVK)
		t, err := s.objectTarget(r)
		if err != nil {
			writeError(w, err)
			return
		}
		if t.as != "" {
			t = target{info: t.info}
		}
		s.writeObject(w, r, code, t, scale)
	}
	switch info.verb {
	case "get":
		obj, err := res.store.Get(ctx, res.store.Key(info.namespace, info.name))
		if err != nil {
			return storageError(err, res.gr, info.name)
		}
		writeScale(http.StatusOK, obj)
		return nil
	case "update", "patch":
	default:
		return methodNotSupported(res.gr, info.verb)
	}
	data, err := readBody(r)
	if err != nil {
		return err
	}
	manager, err := managerName(r)
	if err != nil {
		return err
	}
	dry, err := dryRun(r)
	if err != nil {
		return err
	}
	pt := types.PatchType(r.Header.Get("Content-Type"))
	out, _, err := s.updateObject(ctx, w, res, &requestInfo{namespace: info.namespace, name: info.name, resource: info.resource}, manager, dry, false, func(current runtime.Object) (runtime.Object, error) {
		scale, err := res.scaleOf(current)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		scale.GetObjectKind().SetGroupVersionKind(scaleGVK)
		var newScale autoscalingv1.Scale
		if info.verb == "update" {
			bi, err := s.bodyInfo(r)
			if err != nil {
				return nil, err
			}
			if _, _, err := bi.Serializer.Decode(data, &scaleGVK, &newScale); err != nil {
				return nil, apierrors.NewBadRequest(err.Error())
			}
		} else {
			orig, _ := json.Marshal(scale)
			var patched []byte
			switch pt {
			case types.JSONPatchType:
				p, err := jsonpatch.DecodePatch(data)
				if err != nil {
					return nil, apierrors.NewBadRequest(err.Error())
				}
				patched, err = p.Apply(orig)
				if err != nil {
					return nil, apierrors.NewBadRequest(err.Error())
				}
			case types.MergePatchType:
				patched, err = jsonpatch.MergePatch(orig, data)
			case types.StrategicMergePatchType:
				patched, err = strategicpatch.StrategicMergePatch(orig, data, &autoscalingv1.Scale{})
			default:
				return nil, unsupportedMediaType(string(pt))
			}
			if err != nil {
				return nil, apierrors.NewBadRequest(err.Error())
			}
			if err := json.Unmarshal(patched, &newScale); err != nil {
				return nil, apierrors.NewBadRequest(err.Error())
			}
		}
		if newScale.Spec.Replicas < 0 {
			return nil, apierrors.NewInvalid(scaleGVK.GroupKind(), info.name, field.ErrorList{
				field.Invalid(field.NewPath("spec", "replicas"), newScale.Spec.Replicas, "must be greater than or equal to 0")})
		}
		if rv := newScale.ResourceVersion; rv != "" && rv != scale.ResourceVersion {
			return nil, apierrors.NewConflict(res.gr, info.name, errors.New(conflictMessage))
		}
		obj := current.DeepCopyObject()
		if err := res.setReplicas(obj, newScale.Spec.Replicas); err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		return obj, nil
	})
	if err != nil {
		return err
	}
	writeScale(http.StatusOK, out)
	return nil
}

// serveBinding serves pods/binding: the scheduler's way to assign a pod to a node.
func (s *Server) serveBinding(ctx context.Context, w http.ResponseWriter, r *http.Request, res *resource, info *requestInfo) error {
	if info.verb != "create" {
		return methodNotSupported(res.gr, info.verb)
	}
	data, err := readBody(r)
	if err != nil {
		return err
	}
	// The scheduler sends protobuf, as other clients may: decode as the content type says.
	obj, err := s.decodeData(w, r, res, data, corev1.SchemeGroupVersion.WithKind("Binding"))
	if err != nil {
		return err
	}
	binding := *obj.(*corev1.Binding)
	if binding.Name == "" {
		binding.Name = info.name
	}
	if binding.Name != info.name {
		return apierrors.NewBadRequest("the name of the binding does not match the pod")
	}
	if binding.Target.Kind != "" && binding.Target.Kind != "Node" {
		return apierrors.NewInvalid(schema.GroupKind{Kind: "Binding"}, info.name, field.ErrorList{
			field.NotSupported(field.NewPath("target", "kind"), binding.Target.Kind, []string{"Node", "<empty>"})})
	}
	if binding.Target.Name == "" {
		return apierrors.NewInvalid(schema.GroupKind{Kind: "Binding"}, info.name, field.ErrorList{
			field.Required(field.NewPath("target", "name"), "")})
	}
	if err := s.admitSubresourceCreateByWebhooks(ctx, w, res, info, &binding, false); err != nil {
		return err
	}
	if err := s.bindPod(ctx, res, info.namespace, &binding); err != nil {
		return err
	}
	st := &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated}
	writeJSON(w, http.StatusCreated, st)
	return nil
}

// bindPod assigns the pod binding names to binding's node (res is pods).
func (s *Server) bindPod(ctx context.Context, res *resource, namespace string, binding *corev1.Binding) error {
	name := binding.Name
	key := res.store.Key(namespace, name)
	_, err := res.store.GuaranteedUpdate(ctx, key, false, func(current runtime.Object) (runtime.Object, error) {
		pod := current.(*corev1.Pod) // this call's own copy
		if pod.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(res.gr, name, errors.New("pod is being deleted, cannot be assigned to a host"))
		}
		if binding.UID != "" && binding.UID != pod.UID {
			return nil, apierrors.NewConflict(res.gr, name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", binding.UID, pod.UID))
		}
		if pod.Spec.NodeName != "" {
			return nil, apierrors.NewConflict(res.gr, name, fmt.Errorf("pod %s is already assigned to node %q", pod.Name, pod.Spec.NodeName))
		}
		pod.Spec.NodeName = binding.Target.Name
		for k, v := range binding.Annotations {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[k] = v
		}
		setPodCondition(pod, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()})
		return pod, nil
	})
	if err != nil {
		return storageError(err, res.gr, name)
	}
	return nil
}

func setPodCondition(pod *corev1.Pod, c corev1.PodCondition) {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == c.Type {
			if pod.Status.Conditions[i].Status == c.Status {
				return
			}
			pod.Status.Conditions[i] = c
			return
		}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, c)
}

// serveEviction serves pods/eviction: a delete that PodDisruptionBudgets may refuse (see
// evict).
func (s *Server) serveEviction(ctx context.Context, w http.ResponseWriter, r *http.Request, res *resource, info *requestInfo) error {
	if info.verb != "create" {
		return methodNotSupported(res.gr, info.verb)
	}
	data, err := readBody(r)
	if err != nil {
		return err
	}
	obj, err := s.decodeData(w, r, res, data, policyv1.SchemeGroupVersion.WithKind("Eviction"))
	if err != nil {
		return err
	}
	ev := *obj.(*policyv1.Eviction)
	if ev.Name != "" && ev.Name != info.name {
		return apierrors.NewBadRequest(fmt.Sprintf("name in URL does not match name in Eviction object: %s vs %s", info.name, ev.Name))
	}
	opts := ev.DeleteOptions
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	if dry, err := dryRun(r); err != nil {
		return err
	} else if dry && len(opts.DryRun) == 0 {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if err := s.admitSubresourceCreateByWebhooks(ctx, w, res, info, &ev, len(opts.DryRun) > 0); err != nil {
		return err
	}
	if err := s.evict(ctx, res, info.namespace, info.name, opts); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated})
	return nil
}
