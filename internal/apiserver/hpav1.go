package apiserver

import (
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"

	"github.com/kijabi/kijabi/internal/apiserver/convert"
)

// HorizontalPodAutoscalers are served as autoscaling/v2 (the preferred version) and as
// autoscaling/v1, as by kube-apiserver. Both read and write the same stored objects: they are
// kept in the v2 form, and hpaV1Codec converts the v1 view on the way in and out (with the
// conversions of package convert), so the v1 resource's Store and watch cache work on v1
// objects. The metrics, behavior, current metrics and conditions v1 has no fields for travel
// in annotations of the v1 objects.

var hpaV2GVK = autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler")

func registerConversions(s *runtime.Scheme) { utilruntime.Must(convert.RegisterConversions(s)) }

// hpaV1Codec stores autoscaling/v1 HorizontalPodAutoscalers as autoscaling/v2.
type hpaV1Codec struct {
	v2     *storageCodec
	scheme *runtime.Scheme
}

func (c *hpaV1Codec) Encode(obj runtime.Object) ([]byte, error) {
	out, err := convert.HPAToV2(obj.(*autoscalingv1.HorizontalPodAutoscaler))
	if err != nil {
		return nil, err
	}
	out.TypeMeta = metav1.TypeMeta{}
	c.scheme.Default(out)
	return c.v2.Encode(out)
}

func (c *hpaV1Codec) Decode(data []byte, into runtime.Object) error {
	var h autoscalingv2.HorizontalPodAutoscaler
	if err := c.v2.Decode(data, &h); err != nil {
		return err
	}
	out, err := convert.HPAToV1(&h)
	if err != nil {
		return err
	}
	out.TypeMeta = into.(*autoscalingv1.HorizontalPodAutoscaler).TypeMeta
	*into.(*autoscalingv1.HorizontalPodAutoscaler) = *out
	return nil
}

// isHPAv1 reports whether gvk is the autoscaling/v1 view of HorizontalPodAutoscalers.
func isHPAv1(gvk schema.GroupVersionKind) bool {
	return gvk == autoscalingv1.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler")
}

// prepareHPAv1Create drops what a v1 create may not set: the status annotations (status
// starts empty).
func prepareHPAv1Create(h *autoscalingv1.HorizontalPodAutoscaler) {
	delete(h.Annotations, convert.HPACurrentMetricsAnnotation)
	delete(h.Annotations, convert.HPAConditionsAnnotation)
}

// prepareHPAv1Update keeps, besides the v1 fields the generic rules keep, the part of the old
// object its annotations carry: an update of the object keeps the status annotations of the
// stored object, an update of the status the spec annotations.
func prepareHPAv1Update(subresource string, h, old *autoscalingv1.HorizontalPodAutoscaler) {
	keep := []string{convert.HPACurrentMetricsAnnotation, convert.HPAConditionsAnnotation}
	if subresource == "status" {
		keep = []string{convert.HPAMetricsAnnotation, convert.HPABehaviorAnnotation}
	}
	for _, k := range keep {
		v, ok := old.Annotations[k]
		switch {
		case ok:
			if h.Annotations == nil {
				h.Annotations = map[string]string{}
			}
			h.Annotations[k] = v
		default:
			delete(h.Annotations, k)
		}
	}
}
