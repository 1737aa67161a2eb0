package kubelet

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// LocalRegistry is the registry name of images that exist only on nodes (imported from
// tarballs): there is nothing to pull them from, so pull policy Always means "use the
// node's copy" for them.
const LocalRegistry = "kijabi.local"

// ensureImage makes sure c's image is on the node, pulling it as c's pull policy says,
// and returns the image reference to create the container with.
func (k *Kubelet) ensureImage(ctx context.Context, pod *corev1.Pod, c *corev1.Container, res *syncResult) (string, bool) {
	images := k.cfg.Runtime.Images
	spec := &runtimeapi.ImageSpec{Image: c.Image, UserSpecifiedImage: c.Image}
	present := ""
	if s, err := images.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec}); err == nil && s.Image != nil {
		present = s.Image.Id
	}
	policy := c.ImagePullPolicy
	if policy == "" {
		policy = corev1.PullIfNotPresent
	}
	if policy == corev1.PullAlways && strings.HasPrefix(c.Image, LocalRegistry+"/") && present != "" {
		policy = corev1.PullIfNotPresent
	}
	switch {
	case policy == corev1.PullNever && present == "":
		msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image)
		k.recorder.Event(pod, corev1.EventTypeWarning, "ErrImageNeverPull", msg)
		res.wait(c.Name, "ErrImageNeverPull", msg)
		return "", false
	case policy != corev1.PullAlways && present != "":
		k.recorder.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Container image %q already present on machine", c.Image)
		return present, true
	}
	key := string(pod.UID) + "/" + c.Image
	if k.pullBackoff.IsInBackOffSinceUpdate(key, k.cfg.Clock.Now()) {
		msg := fmt.Sprintf("Back-off pulling image %q", c.Image)
		k.recorder.Event(pod, corev1.EventTypeNormal, "BackOff", msg)
		res.wait(c.Name, "ImagePullBackOff", msg)
		res.soon(k.pullBackoff.Get(key))
		return "", false
	}
	k.recorder.Eventf(pod, corev1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
	start := k.cfg.Clock.Now()
	auths, err := k.pullAuths(ctx, pod, c.Image)
	if err != nil {
		k.log.Warn("reading image pull secrets", "pod", podDesc(pod), "err", err)
	}
	var ref string
	for i := 0; i <= len(auths); i++ {
		req := &runtimeapi.PullImageRequest{Image: spec}
		if i < len(auths) {
			req.Auth = auths[i]
		} else if len(auths) > 0 && err != nil {
			break
		}
		var resp *runtimeapi.PullImageResponse
		resp, err = images.PullImage(ctx, req)
		if err == nil {
			ref = resp.ImageRef
			break
		}
	}
	if err != nil {
		k.pullBackoff.Next(key, k.cfg.Clock.Now())
		msg := fmt.Sprintf("Failed to pull image %q: %v", c.Image, err)
		k.recorder.Event(pod, corev1.EventTypeWarning, "Failed", msg)
		k.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: ErrImagePull")
		res.wait(c.Name, "ErrImagePull", msg)
		return "", false
	}
	k.pullBackoff.Reset(key)
	took := k.cfg.Clock.Since(start).Round(time.Millisecond)
	size := uint64(0)
	if s, err := images.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}}); err == nil && s.Image != nil {
		size = s.Image.Size
	}
	k.recorder.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Successfully pulled image %q in %s (%s including waiting). Image size: %d bytes.", c.Image, took, took, size)
	return ref, true
}

// pullAuths are the credentials the pod's imagePullSecrets (and its service account's)
// hold for the image's registry.
func (k *Kubelet) pullAuths(ctx context.Context, pod *corev1.Pod, image string) ([]*runtimeapi.AuthConfig, error) {
	host := registryHost(image)
	var out []*runtimeapi.AuthConfig
	var firstErr error
	for _, ref := range pod.Spec.ImagePullSecrets {
		s, err := k.cfg.Client.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		out = append(out, authsFromSecret(s, host)...)
	}
	return out, firstErr
}

// registryHost is the registry part of an image reference, as Docker reads it.
func registryHost(image string) string {
	first, _, found := strings.Cut(image, "/")
	if found && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return first
	}
	return "docker.io"
}

type dockerConfigEntry struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Auth     string `json:"auth"`
}

// authsFromSecret reads a kubernetes.io/dockerconfigjson or dockercfg secret's entries
// for host.
func authsFromSecret(s *corev1.Secret, host string) []*runtimeapi.AuthConfig {
	entries := map[string]dockerConfigEntry{}
	switch s.Type {
	case corev1.SecretTypeDockerConfigJson:
		var cfg struct {
			Auths map[string]dockerConfigEntry `json:"auths"`
		}
		if json.Unmarshal(s.Data[corev1.DockerConfigJsonKey], &cfg) == nil {
			entries = cfg.Auths
		}
	case corev1.SecretTypeDockercfg:
		_ = json.Unmarshal(s.Data[corev1.DockerConfigKey], &entries)
	}
	var out []*runtimeapi.AuthConfig
	for key, e := range entries {
		h := key
		h = strings.TrimPrefix(strings.TrimPrefix(h, "https://"), "http://")
		h, _, _ = strings.Cut(h, "/")
		if h == "index.docker.io" {
			h = "docker.io"
		}
		if h != host {
			continue
		}
		user, pass := e.Username, e.Password
		if e.Auth != "" {
			if b, err := base64.StdEncoding.DecodeString(e.Auth); err == nil {
				user, pass, _ = strings.Cut(string(b), ":")
			}
		}
		// No ServerAddress: containerd reads it as a URL and drops credentials whose
		// address is a bare host:port; the entry was matched to the image's registry above.
		out = append(out, &runtimeapi.AuthConfig{Username: user, Password: pass})
	}
	return out
}
