package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Conversion webhooks (spec.conversion.strategy: Webhook). Custom resources of such a
// definition are converted by POSTing a ConversionReview to the definition's webhook
// whenever one is read or written in a version other than the one it is in:
//
//   - In memory, a custom resource without apiVersion is in the definition's storage
//     version (the store clears apiVersion when it decodes, and crdCodec.Decode converts
//     objects stored in an older storage version); one with apiVersion is in that version
//     (crDecode labels request bodies with the request's version).
//   - Writes: crdCodec.Encode converts an object in another version into the storage
//     version, in place, so the object the store returns (without apiVersion) is in the
//     storage version.
//   - Reads: transform converts what a get, list, watch or write returns into the
//     request's version (a list's items in one review); updates and patches convert the
//     current object before they compute the new one (crCurrent), so that admission,
//     validation, field managers and patches see the request's version; the scale
//     subresource reads its paths after conversion.
//
// Objects already in the desired version are not sent. With strategy None nothing is
// converted: only apiVersion is rewritten.

// conversionWebhookTimeout bounds a conversion webhook call, as upstream's webhook client.
const conversionWebhookTimeout = 30 * time.Second

// crdWebhook is where and how a definition's conversion webhook is called.
type crdWebhook struct {
	crdName      string
	clientConfig admissionregistrationv1.WebhookClientConfig
	// reviewVersion is the first of the definition's conversionReviewVersions the server
	// speaks: "v1" or "v1beta1" ("" when none, which fails every conversion).
	reviewVersion string
}

// newCRDWebhook returns the conversion webhook of crd, nil unless its strategy is Webhook.
func newCRDWebhook(crd *apiextensionsv1.CustomResourceDefinition) *crdWebhook {
	c := crd.Spec.Conversion
	if c == nil || c.Strategy != apiextensionsv1.WebhookConverter || c.Webhook == nil || c.Webhook.ClientConfig == nil {
		return nil
	}
	h := &crdWebhook{crdName: crd.Name, clientConfig: admissionClientConfig(c.Webhook.ClientConfig)}
	for _, v := range c.Webhook.ConversionReviewVersions {
		if v == "v1" || v == "v1beta1" {
			h.reviewVersion = v
			break
		}
	}
	return h
}

// admissionClientConfig is a conversion webhook's client configuration in the form the
// admission webhook client takes.
func admissionClientConfig(cc *apiextensionsv1.WebhookClientConfig) admissionregistrationv1.WebhookClientConfig {
	out := admissionregistrationv1.WebhookClientConfig{URL: cc.URL, CABundle: cc.CABundle}
	if svc := cc.Service; svc != nil {
		out.Service = &admissionregistrationv1.ServiceReference{Namespace: svc.Namespace, Name: svc.Name, Path: svc.Path, Port: svc.Port}
	}
	return out
}

// conversionFailure is the error a request gets when its objects cannot be converted: a
// 500 without a reason, as kube-apiserver reports conversion errors.
func conversionFailure(format string, args ...any) *apierrors.StatusError {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusInternalServerError, Message: fmt.Sprintf(format, args...),
	}}
}

// convertCRs converts objs, in place, into version to with h: those in another version
// (as apiVersion says; objects without one are in storage, which also gives their kind)
// are sent in one ConversionReview and their content replaced by what the webhook returns,
// checked as kube-apiserver checks it. On error no object is converted. The objects'
// content maps are replaced, never modified below the top level.
func (s *Server) convertCRs(ctx context.Context, h *crdWebhook, objs []*unstructured.Unstructured, storage schema.GroupVersionKind, to schema.GroupVersion) error {
	desired := to.String()
	var pending []*unstructured.Unstructured
	for _, u := range objs {
		if u.GetAPIVersion() == "" {
			u.SetAPIVersion(storage.GroupVersion().String())
		}
		if u.GetKind() == "" {
			u.SetKind(storage.Kind)
		}
		if u.GetAPIVersion() != desired {
			pending = append(pending, u)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	from := pending[0].GroupVersionKind()
	converted, err := s.callConversionWebhook(ctx, h, pending, desired)
	if err != nil {
		return conversionFailure("conversion webhook for %v failed: %v", from, err)
	}
	if len(converted) != len(pending) {
		return conversionFailure("conversion webhook for %v returned %d objects, expected %d", from, len(converted), len(pending))
	}
	single := len(objs) == 1
	outs := make([]map[string]any, len(converted))
	for i, raw := range converted {
		original := pending[i]
		out := &unstructured.Unstructured{}
		if err := out.UnmarshalJSON(raw.Raw); err != nil {
			if single {
				return conversionFailure("conversion webhook for %v failed: %v", from, err)
			}
			return conversionFailure("conversion webhook for %v returned invalid converted object at index %v: %v", from, i, err)
		}
		if err := checkConverted(original, out, to); err != nil {
			if single {
				return conversionFailure("conversion webhook for %v returned invalid object: %v", from, err)
			}
			return conversionFailure("conversion webhook for %v returned invalid converted object at index %v: %v", from, i, err)
		}
		if err := restoreConvertedMeta(original, out); err != nil {
			if single {
				return conversionFailure("conversion webhook for %v returned invalid metadata: %v", from, err)
			}
			return conversionFailure("conversion webhook for %v returned invalid metadata in object at index %v: %v", from, i, err)
		}
		outs[i] = out.Object
	}
	// All or nothing: the objects change once every one is converted.
	for i, content := range outs {
		pending[i].Object = content
	}
	return nil
}

// checkConverted checks what a webhook returned for one object: the desired group and
// version, and the same kind, name, namespace and uid.
func checkConverted(in, out *unstructured.Unstructured, to schema.GroupVersion) error {
	if got := out.GroupVersionKind().GroupVersion(); got != to {
		return fmt.Errorf("invalid groupVersion (expected %v, received %v)", to, got)
	}
	if e, a := in.GetKind(), out.GetKind(); e != a {
		return fmt.Errorf("invalid kind (expected %v, received %v)", e, a)
	}
	if e, a := in.GetName(), out.GetName(); e != a {
		return fmt.Errorf("must have the same name: %v != %v", e, a)
	}
	if e, a := in.GetNamespace(), out.GetNamespace(); e != a {
		return fmt.Errorf("must have the same namespace: %v != %v", e, a)
	}
	if e, a := in.GetUID(), out.GetUID(); e != a {
		return fmt.Errorf("must have the same UID: %v != %v", e, a)
	}
	return nil
}

// restoreConvertedMeta gives a converted object the original's metadata, except labels
// and annotations, which the webhook may change (and which are then validated).
func restoreConvertedMeta(original, converted *unstructured.Unstructured) error {
	m, found := converted.Object["metadata"]
	if !found {
		return errors.New("missing metadata in converted object")
	}
	returned, ok := m.(map[string]any)
	if !ok {
		return fmt.Errorf("invalid metadata of type %T in converted object", m)
	}
	meta := map[string]any{}
	if om, ok := original.Object["metadata"].(map[string]any); ok {
		meta = runtime.DeepCopyJSONValue(om).(map[string]any)
	}
	for _, f := range []string{"labels", "annotations"} {
		v, found := returned[f]
		if !found || v == nil {
			delete(meta, f)
			continue
		}
		values, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("invalid metadata.%s of type %T in converted object", f, v)
		}
		before, _ := meta[f].(map[string]any)
		changed := len(before) != len(values)
		strs := make(map[string]string, len(values))
		for k, x := range values {
			str, ok := x.(string)
			if !ok {
				return fmt.Errorf("metadata.%s[%s] must be a string, but is %T in converted object", f, k, x)
			}
			if b, ok := before[k].(string); !ok || b != str {
				changed = true
			}
			strs[k] = str
		}
		if changed {
			var errs field.ErrorList
			if f == "labels" {
				errs = metav1validation.ValidateLabels(strs, field.NewPath("metadata", "labels"))
			} else {
				errs = apimachineryvalidation.ValidateAnnotations(strs, field.NewPath("metadata", "annotation"))
			}
			if len(errs) > 0 {
				return errs.ToAggregate()
			}
		}
		meta[f] = values
	}
	converted.Object["metadata"] = meta
	return nil
}

// conversionReview is a ConversionReview of apiextensions.k8s.io/v1 or v1beta1, which
// have the same shape.
type conversionReview struct {
	APIVersion string                              `json:"apiVersion,omitempty"`
	Kind       string                              `json:"kind,omitempty"`
	Request    *apiextensionsv1.ConversionRequest  `json:"request,omitempty"`
	Response   *apiextensionsv1.ConversionResponse `json:"response,omitempty"`
}

// callConversionWebhook sends objs to h for conversion into desired and returns the
// converted objects of its verified answer.
func (s *Server) callConversionWebhook(ctx context.Context, h *crdWebhook, objs []*unstructured.Unstructured, desired string) ([]runtime.RawExtension, error) {
	if h.reviewVersion == "" {
		return nil, errors.New("no supported conversion review versions")
	}
	uid := types.UID(uuid.NewUUID())
	review := conversionReview{
		APIVersion: "apiextensions.k8s.io/" + h.reviewVersion, Kind: "ConversionReview",
		Request: &apiextensionsv1.ConversionRequest{UID: uid, DesiredAPIVersion: desired, Objects: make([]runtime.RawExtension, len(objs))},
	}
	for i, u := range objs {
		data, err := u.MarshalJSON()
		if err != nil {
			return nil, err
		}
		review.Request.Objects[i] = runtime.RawExtension{Raw: data}
	}
	body, err := json.Marshal(&review)
	if err != nil {
		return nil, err
	}
	client, err := s.webhookHTTPClient(h.clientConfig)
	if err != nil {
		return nil, err
	}
	target, err := webhookTarget(h.clientConfig)
	if err != nil {
		return nil, err
	}
	q := target.Query()
	q.Set("timeout", conversionWebhookTimeout.String())
	target.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, conversionWebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, */*")
	req.Header.Set("User-Agent", "kube-apiserver-admission")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxWebhookResponse+1))
	resp.Body.Close()
	if err == nil && len(data) > maxWebhookResponse {
		err = fmt.Errorf("the response is larger than %d bytes", maxWebhookResponse)
	}
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, responseError(resp, data)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("0-length response with status code: %d and content type: %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var answer conversionReview
	if err := utiljson.Unmarshal(data, &answer); err != nil {
		return nil, err
	}
	if h.reviewVersion == "v1" {
		want := schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "ConversionReview"}
		if got := schema.FromAPIVersionAndKind(answer.APIVersion, answer.Kind); got != want {
			return nil, fmt.Errorf("expected webhook response of %v, got %v", want, got)
		}
	}
	if answer.Response == nil {
		return nil, errors.New("no response provided")
	}
	if h.reviewVersion == "v1" && answer.Response.UID != uid {
		return nil, fmt.Errorf("expected response.uid=%q, got %q", uid, answer.Response.UID)
	}
	if st := answer.Response.Result.Status; st != metav1.StatusSuccess {
		if msg := answer.Response.Result.Message; msg != "" {
			return nil, errors.New(msg)
		}
		return nil, fmt.Errorf("response.result.status was '%s', not 'Success'", st)
	}
	return answer.Response.ConvertedObjects, nil
}

// crServed converts custom resources read from storage (an *unstructured.Unstructured or
// *unstructured.UnstructuredList; others are left alone) into res's version, the items of a
// list in one review. Only the top level of each object is changed.
func (s *Server) crServed(ctx context.Context, res *resource, obj runtime.Object) error {
	if res.cr == nil || res.cr.hook == nil {
		return nil
	}
	var objs []*unstructured.Unstructured
	switch o := obj.(type) {
	case *unstructured.Unstructured:
		objs = append(objs, o)
	case *unstructured.UnstructuredList:
		for i := range o.Items {
			objs = append(objs, &o.Items[i])
		}
	default:
		return nil
	}
	sv := schema.GroupVersionKind{Group: res.group, Version: res.cr.storageVersion, Kind: res.gvk.Kind}
	return s.convertCRs(ctx, res.cr.hook, objs, sv, res.gvk.GroupVersion())
}

// crServedObjects is crServed for the objects of a list result, converted in one review.
func (s *Server) crServedObjects(ctx context.Context, res *resource, items []runtime.Object) error {
	if res.cr == nil || res.cr.hook == nil || len(items) == 0 {
		return nil
	}
	objs := make([]*unstructured.Unstructured, 0, len(items))
	for _, it := range items {
		if u, ok := it.(*unstructured.Unstructured); ok {
			objs = append(objs, u)
		}
	}
	sv := schema.GroupVersionKind{Group: res.group, Version: res.cr.storageVersion, Kind: res.gvk.Kind}
	return s.convertCRs(ctx, res.cr.hook, objs, sv, res.gvk.GroupVersion())
}

// crCurrent returns the current object of an update in res's version, labelled with it
// (a copy when converted; current is not changed).
func (s *Server) crCurrent(ctx context.Context, res *resource, current runtime.Object) (runtime.Object, error) {
	u, ok := current.(*unstructured.Unstructured)
	if !ok || res.cr == nil || res.cr.hook == nil {
		return current, nil
	}
	c := shallowUnstructured(u)
	if err := s.crServed(ctx, res, c); err != nil {
		return nil, err
	}
	return c, nil
}

// crdConversion is what crdCodec needs to convert: the server and the webhook.
type crdConversion struct {
	server *Server
	hook   *crdWebhook
}

// toStorage converts u, in place, into the storage version gvk when it is labelled with
// another version.
func (c *crdConversion) toStorage(u *unstructured.Unstructured, gvk schema.GroupVersionKind) error {
	v := u.GetAPIVersion()
	if v == "" || v == gvk.GroupVersion().String() {
		return nil
	}
	return c.server.convertCRs(context.Background(), c.hook, []*unstructured.Unstructured{u}, gvk, gvk.GroupVersion())
}
