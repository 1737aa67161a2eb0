package apiserver

import (
	"context"
	"errors"
	"reflect"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	apiregistrationv1 "github.com/kijabi/kijabi/internal/apiserver/apis/apiregistration/v1"
	"github.com/kijabi/kijabi/internal/storage"
)

// Local APIServices, kept as kube-apiserver's autoregistration does: one per built-in group
// version, labelled automanaged=onstart and written when the server starts (created when
// missing, spec reset when changed, removed when the group version is no longer served); one
// per served version of each CustomResourceDefinition, labelled automanaged=true and kept
// while the definition exists (created again when deleted, spec reset when changed, removed
// with the last definition of the group version). APIServices without the label are the
// users' and never touched.

// crdGroupPriority and crdVersionPriority rank the group versions of custom resources.
const (
	crdGroupPriority   = 1000
	crdVersionPriority = 100
)

type builtinRank struct{ group, version int32 }

// builtinPriorities rank the built-in group versions in discovery, as kube-apiserver's
// table does (metrics.k8s.io as metrics-server registers it).
var builtinPriorities = map[string]builtinRank{
	"/v1":                                   {18000, 1},
	"apiregistration.k8s.io/v1":             {18000, 15},
	"apps/v1":                               {17800, 15},
	"events.k8s.io/v1":                      {17750, 15},
	"authentication.k8s.io/v1":              {17700, 15},
	"authentication.k8s.io/v1beta1":         {17700, 9},
	"authentication.k8s.io/v1alpha1":        {17700, 1},
	"authorization.k8s.io/v1":               {17600, 15},
	"autoscaling/v1":                        {17500, 15},
	"autoscaling/v2":                        {17500, 30},
	"batch/v1":                              {17400, 15},
	"certificates.k8s.io/v1":                {17300, 15},
	"certificates.k8s.io/v1beta1":           {17300, 9},
	"certificates.k8s.io/v1alpha1":          {17300, 1},
	"networking.k8s.io/v1":                  {17200, 15},
	"networking.k8s.io/v1beta1":             {17200, 9},
	"policy/v1":                             {17100, 15},
	"rbac.authorization.k8s.io/v1":          {17000, 15},
	"storage.k8s.io/v1":                     {16800, 15},
	"storage.k8s.io/v1beta1":                {16800, 9},
	"storage.k8s.io/v1alpha1":               {16800, 1},
	"apiextensions.k8s.io/v1":               {16700, 15},
	"admissionregistration.k8s.io/v1":       {16700, 15},
	"admissionregistration.k8s.io/v1beta1":  {16700, 12},
	"admissionregistration.k8s.io/v1alpha1": {16700, 9},
	"scheduling.k8s.io/v1":                  {16600, 15},
	"coordination.k8s.io/v1":                {16500, 15},
	"coordination.k8s.io/v1beta1":           {16500, 13},
	"coordination.k8s.io/v1alpha2":          {16500, 12},
	"node.k8s.io/v1":                        {16300, 15},
	"resource.k8s.io/v1":                    {16200, 21},
	"resource.k8s.io/v1beta2":               {16200, 15},
	"resource.k8s.io/v1beta1":               {16200, 9},
	"discovery.k8s.io/v1":                   {16200, 15},
	"flowcontrol.apiserver.k8s.io/v1":       {16100, 21},
	"internal.apiserver.k8s.io/v1alpha1":    {16000, 9},
	"storagemigration.k8s.io/v1beta1":       {15800, 9},
	"metrics.k8s.io/v1beta1":                {100, 100},
}

// builtinPriority ranks a built-in group version; one missing from the table ranks below
// every known group and above custom resources.
func builtinPriority(group, v string) builtinRank {
	if p, ok := builtinPriorities[gvKey(group, v)]; ok {
		return p
	}
	return builtinRank{15000, 9}
}

// servesBuiltin reports whether a group version is one of the built-in ones.
func (s *Server) servesBuiltin(group, v string) bool {
	for _, g := range s.groups {
		if g.name == group {
			return contains(g.versions, v)
		}
	}
	return false
}

// localAPIService is the APIService of a group version served here.
func localAPIService(group, v string, rank builtinRank, managed string) *apiregistrationv1.APIService {
	return &apiregistrationv1.APIService{
		ObjectMeta: metav1.ObjectMeta{Name: v + "." + group, Labels: map[string]string{apiregistrationv1.AutoManagedLabel: managed}},
		Spec:       apiregistrationv1.APIServiceSpec{Group: group, Version: v, GroupPriorityMinimum: rank.group, VersionPriority: rank.version},
	}
}

// builtinAPIServices are the APIServices of the built-in group versions.
func (s *Server) builtinAPIServices() map[string]*apiregistrationv1.APIService {
	out := map[string]*apiregistrationv1.APIService{}
	for _, g := range s.groups {
		for _, v := range g.versions {
			a := localAPIService(g.name, v, builtinPriority(g.name, v), apiregistrationv1.AutoManagedOnStart)
			out[a.Name] = a
		}
	}
	return out
}

// crdAPIServices are the APIServices of the served versions of the custom resource
// definitions.
func (s *Server) crdAPIServices(ctx context.Context) (map[string]*apiregistrationv1.APIService, error) {
	res := s.crdResource()
	out := map[string]*apiregistrationv1.APIService{}
	if res == nil {
		return out, nil
	}
	list, err := res.store.List(ctx, res.store.Prefix(""), storage.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, obj := range list.Items {
		crd := obj.(*apiextensionsv1.CustomResourceDefinition)
		for _, v := range crd.Spec.Versions {
			if !v.Served || s.servesBuiltin(crd.Spec.Group, v.Name) {
				continue
			}
			a := localAPIService(crd.Spec.Group, v.Name, builtinRank{crdGroupPriority, crdVersionPriority}, apiregistrationv1.AutoManagedAlways)
			out[a.Name] = a
		}
	}
	return out, nil
}

// registerLocalAPIServices writes the local APIServices when the server starts.
func (s *Server) registerLocalAPIServices(ctx context.Context) error {
	crds, err := s.crdAPIServices(ctx)
	if err != nil {
		return err
	}
	return s.reconcileAPIServices(ctx, s.builtinAPIServices(), crds)
}

// reconcileAPIServices makes the automanaged APIServices match: onstart ones are reconciled
// only when given (at start), those labelled true always.
func (s *Server) reconcileAPIServices(ctx context.Context, onStart, always map[string]*apiregistrationv1.APIService) error {
	res := s.apiServiceResource()
	list, err := res.store.List(ctx, res.store.Prefix(""), storage.ListOptions{})
	if err != nil {
		return err
	}
	current := map[string]*apiregistrationv1.APIService{}
	for _, obj := range list.Items {
		a := obj.(*apiregistrationv1.APIService)
		current[a.Name] = a
	}
	var errs []error
	want := func(name string) *apiregistrationv1.APIService {
		if a := always[name]; a != nil {
			return a
		}
		if onStart != nil {
			return onStart[name]
		}
		return nil
	}
	for name, cur := range current {
		managed := cur.Labels[apiregistrationv1.AutoManagedLabel]
		if managed == apiregistrationv1.AutoManagedOnStart && onStart == nil {
			continue // written once per start
		}
		if managed != apiregistrationv1.AutoManagedOnStart && managed != apiregistrationv1.AutoManagedAlways {
			continue // the user's
		}
		desired := want(name)
		switch {
		case desired == nil:
			if _, _, err := s.deleteObject(ctx, res, "", name, &metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
		case !reflect.DeepEqual(cur.Spec, desired.Spec) || managed != desired.Labels[apiregistrationv1.AutoManagedLabel]:
			_, err := res.store.GuaranteedUpdate(ctx, res.store.Key("", name), false, func(obj runtime.Object) (runtime.Object, error) {
				if obj == nil {
					return nil, storage.ErrNotFound
				}
				a := obj.(*apiregistrationv1.APIService).DeepCopy()
				if a.UID != cur.UID {
					return nil, errUnchanged
				}
				a.Spec = *desired.Spec.DeepCopy()
				a.Labels[apiregistrationv1.AutoManagedLabel] = desired.Labels[apiregistrationv1.AutoManagedLabel]
				return a, nil
			})
			if err != nil && !errors.Is(err, errUnchanged) && !errors.Is(err, storage.ErrNotFound) {
				errs = append(errs, err)
			}
		}
	}
	create := func(desired map[string]*apiregistrationv1.APIService) {
		for name, a := range desired {
			if current[name] != nil {
				continue
			}
			if _, err := s.createObject(ctx, nil, res, "", a.DeepCopy(), "kube-apiserver", false, false); err != nil && !apierrors.IsAlreadyExists(err) {
				errs = append(errs, err)
			}
		}
	}
	create(onStart)
	create(always)
	return errors.Join(errs...)
}

// kickAutoregister asks for the custom resources' APIServices to be reconciled.
func (s *Server) kickAutoregister() {
	select {
	case s.agg.autoregister <- struct{}{}:
	default:
	}
}

// runAutoregister keeps the custom resources' APIServices until ctx ends.
func (s *Server) runAutoregister(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.agg.autoregister:
		}
		crds, err := s.crdAPIServices(ctx)
		if err == nil {
			err = s.reconcileAPIServices(ctx, nil, crds)
		}
		if err != nil && ctx.Err() == nil {
			s.log.Warn("aggregator: registering custom resources' APIServices", "err", err)
			// Try again in a while.
			go func() {
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
					s.kickAutoregister()
				}
			}()
		}
	}
}
