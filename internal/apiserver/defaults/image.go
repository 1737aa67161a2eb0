package defaults

import (
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Grammar of a container image reference (the distribution "reference"
// grammar that kubelet and kube-apiserver use). Compiled once; read-only.
var (
	imagePathComponent = `[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`
	imageDomainLabel   = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
	imageDomain        = `(?:` + imageDomainLabel + `(?:\.` + imageDomainLabel + `)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?`
	imageNameRE        = regexp.MustCompile(`^(?:` + imageDomain + `/)?` + imagePathComponent + `(?:/` + imagePathComponent + `)*$`)
	imageTagRE         = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
	imageDigestRE      = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$`)
	imageHexIDRE       = regexp.MustCompile(`^[a-f0-9]{64}$`)
)

// maxImageNameLength is the longest repository name (domain and path after
// normalisation) a reference may have.
const maxImageNameLength = 255

// imageTag returns the tag an image reference resolves to: the explicit tag
// if there is one, "latest" when neither a tag nor a digest is given, and ""
// when the reference only has a digest or cannot be parsed.
func imageTag(image string) string {
	rest := image
	digest := ""
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		rest, digest = rest[:i], rest[i+1:]
		if !validDigest(digest) {
			return ""
		}
	}
	name, tag := rest, ""
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.Contains(rest[i+1:], "/") {
		name, tag = rest[:i], rest[i+1:]
		if !imageTagRE.MatchString(tag) {
			return ""
		}
	}
	if !validImageName(name) {
		return ""
	}
	if tag == "" && digest == "" {
		return "latest"
	}
	return tag
}

// validImageName reports whether name is a repository name that normalises
// successfully (e.g. "nginx" -> "docker.io/library/nginx").
func validImageName(name string) bool {
	if name == "" || imageHexIDRE.MatchString(name) {
		return false
	}
	domain, remainder := "", name
	if i := strings.IndexByte(name, '/'); i >= 0 {
		first := name[:i]
		if strings.ContainsAny(first, ".:") || first == "localhost" || strings.ToLower(first) != first {
			domain, remainder = first, name[i+1:]
		}
	}
	if strings.ToLower(remainder) != remainder {
		return false
	}
	if domain == "" {
		domain = "docker.io"
		if !strings.Contains(remainder, "/") {
			remainder = "library/" + remainder
		}
	}
	full := domain + "/" + remainder
	return len(full) <= maxImageNameLength && imageNameRE.MatchString(full)
}

// validDigest reports whether d is a digest of a supported algorithm.
func validDigest(d string) bool {
	if !imageDigestRE.MatchString(d) {
		return false
	}
	alg, hex, _ := strings.Cut(d, ":")
	var want int
	switch alg {
	case "sha256":
		want = 64
	case "sha384":
		want = 96
	case "sha512":
		want = 128
	default:
		return false
	}
	return len(hex) == want && strings.ToLower(hex) == hex
}

// defaultPullPolicy is the pull policy of an image without an explicit one:
// Always for the "latest" tag (explicit or implied), IfNotPresent otherwise.
func defaultPullPolicy(image string) corev1.PullPolicy {
	if imageTag(image) == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}
