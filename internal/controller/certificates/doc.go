// Package certificates is the CertificateSigningRequest signer of the kubernetes.io signers
// that kube-controller-manager signs with the cluster CA (its csrsigning controllers):
// kubernetes.io/kube-apiserver-client, kubernetes.io/kube-apiserver-client-kubelet and
// kubernetes.io/kubelet-serving.
//
// A request is signed once it is Approved (and neither Denied nor Failed) and has no
// certificate yet: the certificate carries the request's subject, SANs and public key, the
// key usages of spec.usages, and is valid from five minutes ago (clocks drift) for the
// shorter of spec.expirationSeconds and the configured maximum, never past the CA's own
// expiry. It is written to status.certificate in PEM. A request the signer's rules refuse
// (a client certificate without "client auth", a kubelet certificate for someone other than
// a node...) gets a Failed condition with reason SignerValidationFailure instead. Requests
// for other signers are left to their own signers.
//
// Approving is not this package's business: people approve (kubectl certificate approve),
// and the API server checks they may.
package certificates
