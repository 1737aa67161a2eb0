package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"

	"github.com/kijabi/kijabi/internal/apiserver"
)

// putStored writes obj into the etcd at endpoint under key, encoded as the API server
// stores it (protobuf) and without going through the API: how a test makes an object that
// an older version stored and this one would refuse. obj must carry its apiVersion and kind.
func putStored(ctx context.Context, t *testing.T, endpoint, key string, obj runtime.Object) {
	t.Helper()
	scheme := apiserver.NewScheme()
	var buf strings.Builder
	if err := protobuf.NewSerializer(scheme, scheme).Encode(obj, &buf); err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Put(ctx, key, buf.String()); err != nil {
		t.Fatal(err)
	}
}
