package e2e

import (
	"testing"

	"github.com/kijabi/kijabi/internal/testserver"
)

// TestMain removes the binaries the tests build once they are done.
func TestMain(m *testing.M) { testserver.Main(m) }
