package main

import (
	_ "unsafe" // for go:linkname

	"k8s.io/component-base/version"
)

// kubectl reports its own version from component-base's build-time variables, which `go build`
// without -ldflags leaves as placeholders ("v0.0.0-master"), making `kubectl version` fail.
// kijabi links kubectl v1.37.2 in, so it sets them here.

//go:linkname clientGitVersion k8s.io/component-base/version.gitVersion
var clientGitVersion string

//go:linkname clientGitMajor k8s.io/component-base/version.gitMajor
var clientGitMajor string

//go:linkname clientGitMinor k8s.io/component-base/version.gitMinor
var clientGitMinor string

//go:linkname clientGitTreeState k8s.io/component-base/version.gitTreeState
var clientGitTreeState string

func setKubectlVersion() {
	clientGitVersion, clientGitMajor, clientGitMinor, clientGitTreeState = "v1.37.2", "1", "37", "clean"
	// The reported version is copied at init time; refresh it.
	_ = version.SetDynamicVersion(clientGitVersion)
}
