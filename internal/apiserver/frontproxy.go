package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kijabi/kijabi/internal/auth/rbac"
	"github.com/kijabi/kijabi/internal/storage"
)

// What extension API servers need to trust the requests the aggregator proxies to them, as
// kube-apiserver publishes it: the extension-apiserver-authentication ConfigMap in
// kube-system names the CA of client certificates and, for the front proxy, the CA of its
// client certificate, the names it may have and the headers that carry the user. The
// namespaced default Role that may read it (and its binding) are written here too.

// Front-proxy headers, as kube-apiserver's --requestheader-* defaults for aggregation.
var (
	requestHeaderUsernameHeaders = []string{"X-Remote-User"}
	requestHeaderUIDHeaders      = []string{"X-Remote-Uid"}
	requestHeaderGroupHeaders    = []string{"X-Remote-Group"}
	requestHeaderExtraPrefixes   = []string{"X-Remote-Extra-"}
)

// ExtensionAuthenticationConfigMap is where the settings are published, in kube-system.
const ExtensionAuthenticationConfigMap = "extension-apiserver-authentication"

// authenticationConfig is the ConfigMap's data.
func (s *Server) authenticationConfig() (map[string]string, error) {
	data := map[string]string{}
	clientCA := s.cfg.ClientCA
	if len(clientCA) == 0 {
		clientCA = s.cfg.RootCA
	}
	if len(clientCA) > 0 {
		data["client-ca-file"] = string(clientCA)
	}
	if len(s.cfg.RequestHeaderCA) == 0 {
		return data, nil
	}
	data["requestheader-client-ca-file"] = string(s.cfg.RequestHeaderCA)
	names := s.cfg.RequestHeaderAllowedNames
	if names == nil {
		names = []string{}
	}
	for key, v := range map[string][]string{
		"requestheader-allowed-names":        names,
		"requestheader-username-headers":     requestHeaderUsernameHeaders,
		"requestheader-uid-headers":          requestHeaderUIDHeaders,
		"requestheader-group-headers":        requestHeaderGroupHeaders,
		"requestheader-extra-headers-prefix": requestHeaderExtraPrefixes,
	} {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		data[key] = string(b)
	}
	return data, nil
}

// publishAuthenticationConfig writes the ConfigMap and the Role that reads it.
func (s *Server) publishAuthenticationConfig(ctx context.Context) error {
	data, err := s.authenticationConfig()
	if err != nil {
		return err
	}
	cms := s.coreResource("configmaps")
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: ExtensionAuthenticationConfigMap, Namespace: metav1.NamespaceSystem}, Data: data}
	_, err = s.createObject(ctx, nil, cms, metav1.NamespaceSystem, cm, "kube-apiserver", false, false)
	if apierrors.IsAlreadyExists(err) {
		_, err = cms.store.GuaranteedUpdate(ctx, cms.store.Key(metav1.NamespaceSystem, ExtensionAuthenticationConfigMap), false, func(obj runtime.Object) (runtime.Object, error) {
			if obj == nil {
				return nil, storage.ErrNotFound
			}
			cur := obj.(*corev1.ConfigMap)
			if reflect.DeepEqual(cur.Data, data) {
				return nil, errUnchanged
			}
			cur = cur.DeepCopy()
			cur.Data = data
			return cur, nil
		})
		if errors.Is(err, errUnchanged) {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("apiserver: publishing %s: %w", ExtensionAuthenticationConfigMap, err)
	}
	return s.bootstrapNamespacedPolicy(ctx)
}

// bootstrapNamespacedPolicy creates the default Roles and RoleBindings that are missing;
// those still marked for autoupdate get back rules and subjects they lost.
func (s *Server) bootstrapNamespacedPolicy(ctx context.Context) error {
	roles := s.byGroupResource[rbacGroup+"/roles"]
	for _, want := range rbac.Roles() {
		err := s.ensureNamespacedDefault(ctx, roles, want.Namespace, want.DeepCopy(), func(cur runtime.Object) runtime.Object {
			have := cur.(*rbacv1.Role)
			if have.Annotations[rbac.AutoupdateAnnotation] != "true" {
				return nil
			}
			if ok, missing := rbac.Covers(have.Rules, want.Rules); !ok {
				have = have.DeepCopy()
				have.Rules = append(have.Rules, missing...)
				return have
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	bindings := s.byGroupResource[rbacGroup+"/rolebindings"]
	for _, want := range rbac.RoleBindings() {
		err := s.ensureNamespacedDefault(ctx, bindings, want.Namespace, want.DeepCopy(), func(cur runtime.Object) runtime.Object {
			have := cur.(*rbacv1.RoleBinding)
			if have.Annotations[rbac.AutoupdateAnnotation] != "true" || have.RoleRef != want.RoleRef {
				return nil
			}
			add := missingSubjects(have.Subjects, want.Subjects)
			if len(add) == 0 {
				return nil
			}
			have = have.DeepCopy()
			have.Subjects = append(have.Subjects, add...)
			return have
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// ensureNamespacedDefault creates a default object in namespace, or stores what reconcile
// makes of the existing one (nil: leave it).
func (s *Server) ensureNamespacedDefault(ctx context.Context, res *resource, namespace string, obj runtime.Object, reconcile func(cur runtime.Object) runtime.Object) error {
	a, err := metaAccessor(obj)
	if err != nil {
		return err
	}
	name := a.GetName()
	_, err = s.createObject(ctx, nil, res, namespace, obj, "kube-apiserver", false, false)
	if !apierrors.IsAlreadyExists(err) {
		if err != nil {
			return fmt.Errorf("apiserver: bootstrapping %s %s/%s: %w", res.gr, namespace, name, err)
		}
		return nil
	}
	_, err = res.store.GuaranteedUpdate(ctx, res.store.Key(namespace, name), false, func(cur runtime.Object) (runtime.Object, error) {
		if cur == nil {
			return nil, storage.ErrNotFound
		}
		if updated := reconcile(cur); updated != nil {
			return updated, nil
		}
		return nil, errUnchanged
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		return fmt.Errorf("apiserver: reconciling %s %s/%s: %w", res.gr, namespace, name, err)
	}
	return nil
}
