package proxy

import (
	"testing"

	"github.com/kijabi/kijabi/internal/network/nft/nfttest"
)

// newNetNS makes a network namespace for one test.
func newNetNS(t testing.TB) *nfttest.NetNS { return nfttest.NewNetNS(t, "kjp-") }
