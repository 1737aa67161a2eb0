package apiserver

import (
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/applyconfigurations"
	"sigs.k8s.io/structured-merge-diff/v6/typed"

	apiregistrationv1 "github.com/kijabi/kijabi/internal/apiserver/apis/apiregistration/v1"
	"github.com/kijabi/kijabi/internal/storage"
)

// The apiservices resource. Its types are kijabi's own (apis/apiregistration/v1) and have
// no protobuf encoding: objects are stored as JSON, and their field managers know the types
// from a schema of their own joined to client-go's.

var apiServiceGR = schema.GroupResource{Group: apiregistrationv1.GroupName, Resource: "apiservices"}

func (s *Server) apiServiceResource() *resource {
	return s.byGroupResource[apiServiceGR.Group+"/"+apiServiceGR.Resource]
}

// jsonCodec stores objects of one kind as JSON.
type jsonCodec struct {
	gvk schema.GroupVersionKind
}

func (c jsonCodec) Encode(obj runtime.Object) ([]byte, error) {
	kind := obj.GetObjectKind()
	old := kind.GroupVersionKind()
	kind.SetGroupVersionKind(c.gvk)
	defer kind.SetGroupVersionKind(old)
	return json.Marshal(obj)
}

func (c jsonCodec) Decode(data []byte, into runtime.Object) error {
	return json.Unmarshal(data, into)
}

// initAPIServices completes the apiservices resource: JSON storage and field managers that
// know its types. New calls it once the built-in resources are set up.
func (s *Server) initAPIServices() error {
	s.agg.apiServices = map[string]*apiregistrationv1.APIService{}
	s.agg.remote = map[string]*remoteAPI{}
	s.agg.discovery = map[string]*metav1.APIResourceList{}
	r := s.apiServiceResource()
	if r == nil {
		return nil
	}
	r.store = storage.New(s.cfg.Storage.Client, "/registry/"+apiServiceGR.Group+"/"+apiServiceGR.Resource+"/", jsonCodec{gvk: r.gvk}, r.newObj)
	r.stored = false
	tc, err := apiServiceTypeConverter(s.scheme)
	if err != nil {
		return err
	}
	for _, sub := range []string{"", "status"} {
		fm, err := managedfields.NewDefaultFieldManager(tc, s.scheme, s.scheme, s.scheme, r.gvk, r.gvk.GroupVersion(), sub, nil)
		if err != nil {
			return fmt.Errorf("apiserver: field manager for %s: %w", apiServiceGR, err)
		}
		r.managers[sub] = fm
	}
	return nil
}

// apiServiceTypeConverter converts APIServices (and every client-go type) to and from
// structured-merge values.
func apiServiceTypeConverter(scheme *runtime.Scheme) (managedfields.TypeConverter, error) {
	cm := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}}
	tv, err := applyconfigurations.NewTypeConverter(scheme).ObjectToTyped(cm)
	if err != nil {
		return nil, fmt.Errorf("apiserver: loading the built-in merge schema: %w", err)
	}
	own, err := typed.NewParser(typed.YAMLObject(apiregistrationv1.MergeSchemaYAML))
	if err != nil {
		return nil, fmt.Errorf("apiserver: the APIService merge schema: %w", err)
	}
	p := &typed.Parser{}
	p.Schema.Types = append(append(p.Schema.Types, tv.Schema().Types...), own.Schema.Types...)
	return managedfields.NewSchemeTypeConverter(scheme, p), nil
}

// prepareAPIServiceCreate: a new APIService starts without status; one served here is
// available at once.
func prepareAPIServiceCreate(obj runtime.Object) {
	a, ok := obj.(*apiregistrationv1.APIService)
	if !ok {
		return
	}
	a.Status = apiregistrationv1.APIServiceStatus{}
	if a.Spec.Service == nil {
		a.SetCondition(apiregistrationv1.LocalAvailable(metav1.NewTime(time.Now().UTC().Truncate(time.Second))))
	}
}

// prepareAPIServiceUpdate: a status write changes the status only (labels, annotations,
// finalizers and owners stay, as upstream); other writes keep the status (done for every
// resource with a status).
func prepareAPIServiceUpdate(subresource string, obj, old runtime.Object) {
	a, ok := obj.(*apiregistrationv1.APIService)
	o, ok2 := old.(*apiregistrationv1.APIService)
	if !ok || !ok2 || subresource != "status" {
		return
	}
	a.Labels, a.Annotations = o.Labels, o.Annotations
	a.Finalizers, a.OwnerReferences = o.Finalizers, o.OwnerReferences
}
