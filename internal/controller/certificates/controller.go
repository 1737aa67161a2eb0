package certificates

import (
	"context"
	"fmt"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	certinformers "k8s.io/client-go/informers/certificates/v1"
	"k8s.io/client-go/kubernetes"
	certlisters "k8s.io/client-go/listers/certificates/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/kijabi/kijabi/internal/controller/controllerutil"
)

// FailureReason is the reason of the Failed condition given to requests the signer refuses.
const FailureReason = "SignerValidationFailure"

// Controller signs approved CertificateSigningRequests of the kubernetes.io signers.
type Controller struct {
	client      kubernetes.Interface
	lister      certlisters.CertificateSigningRequestLister
	synced      cache.InformerSynced
	queue       workqueue.TypedRateLimitingInterface[string]
	ca          *CA
	maxDuration time.Duration
	now         func() time.Time
}

// New returns a signer on the CertificateSigningRequest informer that signs with ca,
// giving certificates at most maxDuration (0: DefaultMaxDuration).
func New(client kubernetes.Interface, informer certinformers.CertificateSigningRequestInformer, ca *CA, maxDuration time.Duration) *Controller {
	if maxDuration <= 0 {
		maxDuration = DefaultMaxDuration
	}
	c := &Controller{
		client:      client,
		lister:      informer.Lister(),
		synced:      informer.Informer().HasSynced,
		ca:          ca,
		maxDuration: maxDuration,
		now:         time.Now,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "csrsigning"}),
	}
	enqueue := func(obj any) {
		if csr, ok := obj.(*certificatesv1.CertificateSigningRequest); ok && toSign(csr) {
			c.queue.Add(csr.Name)
		}
	}
	if _, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, cur any) { enqueue(cur) },
	}); err != nil {
		utilruntime.HandleError(fmt.Errorf("csrsigning: adding event handler: %w", err))
	}
	return c
}

// Run runs workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx)
	logger.Info("Starting certificate signing controller")
	defer logger.Info("Shutting down certificate signing controller")
	w := &controllerutil.Worker{Name: "certificate request", LogKey: "csr", Queue: c.queue, Sync: c.sync}
	w.Run(ctx, workers, c.synced)
}

// toSign reports whether a request waits for this signer: one of its signer names,
// approved, neither denied nor failed, not issued yet.
func toSign(csr *certificatesv1.CertificateSigningRequest) bool {
	if !signerNames.Has(csr.Spec.SignerName) || len(csr.Status.Certificate) > 0 {
		return false
	}
	approved := false
	for _, c := range csr.Status.Conditions {
		switch c.Type {
		case certificatesv1.CertificateApproved:
			approved = true
		case certificatesv1.CertificateDenied:
			return false
		case certificatesv1.CertificateFailed:
			if c.Status == corev1.ConditionTrue {
				return false
			}
		}
	}
	return approved
}

func (c *Controller) sync(ctx context.Context, name string) error {
	cached, err := c.lister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil || !toSign(cached) {
		return err
	}
	csr := cached.DeepCopy()
	now := c.now()
	req, err := parseCSR(csr.Spec.Request)
	if err == nil {
		err = checkRequest(csr.Spec.SignerName, req, csr.Spec.Usages)
	}
	if err != nil {
		csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type: certificatesv1.CertificateFailed, Status: corev1.ConditionTrue, Reason: FailureReason,
			Message: err.Error(), LastUpdateTime: metav1.NewTime(now),
		})
		if _, err := c.client.CertificatesV1().CertificateSigningRequests().UpdateStatus(ctx, csr, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("adding the failure condition of %s: %w", name, err)
		}
		return nil
	}
	cert, err := c.ca.Sign(req, csr.Spec.Usages, validity(csr.Spec.ExpirationSeconds, c.maxDuration), now)
	if err != nil {
		return fmt.Errorf("signing %s: %w", name, err)
	}
	csr.Status.Certificate = cert
	// The update carries the cached resourceVersion: if the request changed meanwhile (or
	// was signed already), it conflicts and is looked at again.
	if _, err := c.client.CertificatesV1().CertificateSigningRequests().UpdateStatus(ctx, csr, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("storing the certificate of %s: %w", name, err)
	}
	return nil
}
