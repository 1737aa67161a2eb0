package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/mergepatch"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/yaml"

	"github.com/kijabi/kijabi/internal/storage"
)

func (r *resource) manager(subresource string) *managedfields.FieldManager {
	if fm := r.managers[subresource]; fm != nil {
		return fm
	}
	return r.managers[""]
}

// patch serves PATCH: JSON patch, JSON merge patch, strategic merge patch and server-side
// apply.
func (s *Server) patch(ctx context.Context, w http.ResponseWriter, r *http.Request, res *resource, info *requestInfo) error {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return unsupportedMediaType(r.Header.Get("Content-Type"))
	}
	pt := types.PatchType(ct)
	switch pt {
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType, types.ApplyYAMLPatchType:
	default:
		return unsupportedMediaType(ct)
	}
	if res.cr != nil && pt == types.StrategicMergePatchType {
		// Custom resources have no patch strategies, as upstream.
		return &apierrors.StatusError{ErrStatus: metav1.Status{
			Status: metav1.StatusFailure, Code: http.StatusUnsupportedMediaType, Reason: metav1.StatusReasonUnsupportedMediaType,
			Message: "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
		}}
	}
	data, err := readBody(r)
	if err != nil {
		return err
	}
	dry, err := dryRun(r)
	if err != nil {
		return err
	}
	validation, err := fieldValidation(r)
	if err != nil {
		return err
	}
	if pt == types.ApplyYAMLPatchType {
		return s.apply(ctx, w, r, res, info, data, dry, validation)
	}
	manager, err := managerName(r)
	if err != nil {
		return err
	}
	jsonInfo, _ := runtime.SerializerInfoForMediaType(s.codecs.SupportedMediaTypes(), runtime.ContentTypeJSON)
	out, _, err := s.updateObject(ctx, w, res, info, manager, dry, false, func(current runtime.Object) (runtime.Object, error) {
		cur := current.DeepCopyObject()
		cur.GetObjectKind().SetGroupVersionKind(res.gvk)
		original, err := json.Marshal(cur)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		var patched []byte
		switch pt {
		case types.JSONPatchType:
			p, err := jsonpatch.DecodePatch(data)
			if err != nil {
				return nil, apierrors.NewBadRequest(err.Error())
			}
			if patched, err = p.Apply(original); err != nil {
				// As in Kubernetes, the details of a failed operation are not in the response.
				return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", schema.GroupResource{}, "", err.Error(), 0, false)
			}
		case types.MergePatchType:
			if patched, err = jsonpatch.MergePatch(original, data); err != nil {
				return nil, apierrors.NewBadRequest(err.Error())
			}
		case types.StrategicMergePatchType:
			var patchMap map[string]any
			if err := json.Unmarshal(data, &patchMap); err != nil {
				return nil, apierrors.NewBadRequest(err.Error())
			}
			if patched, err = strategicpatch.StrategicMergePatch(original, data, res.newObj()); err != nil {
				return nil, strategicPatchError(err)
			}
		}
		obj, err := s.decodeWith(w, jsonInfo, validation, res, patched, res.gvk)
		if err != nil {
			return nil, err
		}
		return obj, nil
	})
	if err != nil {
		return err
	}
	s.respond(w, r, http.StatusOK, res, out)
	return nil
}

// apply serves server-side apply: the applied configuration is merged into the live object
// by the field manager, which records who owns which fields and reports conflicts.
func (s *Server) apply(ctx context.Context, w http.ResponseWriter, r *http.Request, res *resource, info *requestInfo, data []byte, dry bool, validation string) error {
	manager := r.URL.Query().Get("fieldManager")
	if manager == "" {
		return apierrors.NewBadRequest("PATCH request must be sent with fieldManager set for Apply requests")
	}
	force := isTrue(r.URL.Query().Get("force"))
	jsonData, err := yaml.YAMLToJSON(data)
	if err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("error decoding YAML: %v", err))
	}
	patchObj := &unstructured.Unstructured{}
	if err := patchObj.UnmarshalJSON(jsonData); err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("error decoding apply configuration: %v", err))
	}
	if patchObj.GroupVersionKind() != res.gvk {
		return apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", patchObj.GetAPIVersion(), res.gvk.GroupVersion()))
	}
	if patchObj.GetName() != "" && patchObj.GetName() != info.name {
		return apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", patchObj.GetName(), info.name))
	}
	if ns := patchObj.GetNamespace(); res.namespaced && ns != "" && ns != info.namespace {
		return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	// Unknown fields are checked by decoding the configuration as the typed object.
	jsonInfo, _ := runtime.SerializerInfoForMediaType(s.codecs.SupportedMediaTypes(), runtime.ContentTypeJSON)
	if _, err := s.decodeWith(w, jsonInfo, validation, res, jsonData, res.gvk); err != nil {
		return err
	}
	fm := res.manager(info.subresource)
	_, err = res.store.Get(ctx, res.store.Key(info.namespace, info.name))
	if errors.Is(err, storage.ErrNotFound) && info.subresource == "" {
		live := res.newObj()
		applied, err := fm.Apply(live, patchObj, manager, force)
		if err != nil {
			return asStatus(err)
		}
		a, _ := metaAccessor(applied)
		a.SetName(info.name)
		out, err := s.createObject(ctx, w, res, info.namespace, applied, manager, dry, true)
		if err != nil {
			return err
		}
		s.respond(w, r, http.StatusCreated, res, out)
		return nil
	}
	if err != nil {
		return storageError(err, res.gr, info.name)
	}
	out, _, err := s.updateObject(ctx, w, res, info, manager, dry, true, func(current runtime.Object) (runtime.Object, error) {
		applied, err := fm.Apply(current.DeepCopyObject(), patchObj, manager, force)
		if err != nil {
			return nil, asStatus(err)
		}
		return applied, nil
	})
	if err != nil {
		return err
	}
	s.respond(w, r, http.StatusOK, res, out)
	return nil
}

// strategicPatchError maps a strategic merge patch failure to the status Kubernetes returns:
// malformed patches are bad requests, unsupported list shapes unprocessable.
func strategicPatchError(err error) error {
	switch {
	case errors.Is(err, mergepatch.ErrBadJSONDoc), errors.Is(err, mergepatch.ErrBadPatchFormatForPrimitiveList),
		errors.Is(err, mergepatch.ErrBadPatchFormatForRetainKeys), errors.Is(err, mergepatch.ErrBadPatchFormatForSetElementOrderList),
		errors.Is(err, mergepatch.ErrUnsupportedStrategicMergePatchFormat):
		return apierrors.NewBadRequest(err.Error())
	case errors.Is(err, mergepatch.ErrNoListOfLists), errors.Is(err, mergepatch.ErrPatchContentNotMatchRetainKeys):
		return apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", schema.GroupResource{}, "", err.Error(), 0, false)
	}
	return apierrors.NewInternalError(err)
}

func asStatus(err error) error {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return err
	}
	return apierrors.NewBadRequest(err.Error())
}
