package apiserver

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// ComponentStatuses (`kubectl get componentstatuses`, deprecated upstream since v1.19 but
// still served): the health of etcd, the scheduler and the controller manager, computed per
// request. kube-apiserver probes the components' health ports; here they are judged by what
// they show the API server: etcd by answering a read, the scheduler and the controller
// manager by renewing their leader-election Lease in kube-system.

// componentStatusWarning is the deprecation warning kube-apiserver sends with them.
const componentStatusWarning = `299 - "v1 ComponentStatus is deprecated in v1.19+"`

func viewComponentStatuses(ctx context.Context, s *Server, _ string) ([]runtime.Object, error) {
	status := func(name string, err error, message string) runtime.Object {
		c := corev1.ComponentCondition{Type: corev1.ComponentHealthy, Status: corev1.ConditionTrue, Message: message}
		if err != nil {
			c.Status, c.Message, c.Error = corev1.ConditionFalse, "", err.Error()
		}
		return &corev1.ComponentStatus{ObjectMeta: metav1.ObjectMeta{Name: name}, Conditions: []corev1.ComponentCondition{c}}
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, etcdErr := s.coreResource("namespaces").store.CurrentRevision(rctx)
	return []runtime.Object{
		status("controller-manager", s.leaseHealth("kube-controller-manager"), "ok"),
		status("etcd-0", etcdErr, `{"health":"true","reason":""}`),
		status("scheduler", s.leaseHealth("kube-scheduler"), "ok"),
	}, nil
}

// leaseHealth tells whether the component holding the named kube-system Lease renews it.
func (s *Server) leaseHealth(name string) error {
	res := s.byGroupResource["coordination.k8s.io/leases"]
	obj, ok := res.store.Cached(res.store.Key("kube-system", name))
	if !ok {
		return fmt.Errorf("no %s has taken its leader lease (kube-system/%s)", name, name)
	}
	l := obj.(*coordinationv1.Lease)
	if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		return fmt.Errorf("the leader lease kube-system/%s is not held", name)
	}
	if late := time.Since(l.Spec.RenewTime.Time); late > time.Duration(*l.Spec.LeaseDurationSeconds)*time.Second {
		return fmt.Errorf("the leader lease kube-system/%s was last renewed %s ago", name, late.Round(time.Second))
	}
	return nil
}
