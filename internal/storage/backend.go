package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3rpc"
	"go.etcd.io/etcd/server/v3/proxy/grpcproxy/adapter"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

// Backend is a connection to etcd, and the embedded etcd server when there is one.
type Backend struct {
	Client *clientv3.Client
	server *embed.Etcd
	// progressSafe tells whether etcd's progress notifications can be trusted to follow every
	// event before them (etcd >= 3.4.31 or >= 3.5.13; older ones may announce a revision before
	// delivering its events).
	progressSafe bool
}

// ProgressSafe reports whether consistent reads may be served from a watch cache that catches
// up through etcd progress notifications.
func (b *Backend) ProgressSafe() bool { return b.progressSafe }

// progressSafeVersion reports whether an etcd version has the fixed progress notifications.
func progressSafeVersion(v string) bool {
	var major, minor, patch int
	if _, err := fmt.Sscanf(v, "%d.%d.%d", &major, &minor, &patch); err != nil {
		return false
	}
	switch {
	case major > 3 || (major == 3 && minor >= 6):
		return true
	case major == 3 && minor == 5:
		return patch >= 13
	case major == 3 && minor == 4:
		return patch >= 31
	}
	return false
}

// Close closes the client and stops the embedded server, waiting for it to finish.
func (b *Backend) Close() error {
	err := b.Client.Close()
	if b.server != nil {
		b.server.Close()
		<-b.server.Server.StopNotify()
	}
	return err
}

// EmbeddedConfig configures the embedded etcd.
type EmbeddedConfig struct {
	// Dir holds etcd's data.
	Dir string
	// ClientPort and PeerPort are the loopback ports etcd listens on; 0 picks free ones.
	ClientPort, PeerPort int
	// UnsafeNoFsync trades durability for speed (tests only).
	UnsafeNoFsync bool
}

// OpenEmbedded starts an etcd server in this process, with its data in cfg.Dir, and connects
// to it.
func OpenEmbedded(ctx context.Context, cfg EmbeddedConfig, log *slog.Logger) (*Backend, error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("storage: creating etcd dir: %w", err)
	}
	ec := embed.NewConfig()
	ec.Name = "kijabi"
	ec.Dir = cfg.Dir
	ec.UnsafeNoFsync = cfg.UnsafeNoFsync
	ec.Logger = "zap"
	ec.LogLevel = "error"
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	ec.AutoCompactionMode = embed.CompactorModePeriodic
	ec.AutoCompactionRetention = "0" // the API server compacts (see Compact)
	ec.QuotaBackendBytes = 8 << 30
	// etcd keeps the raft log since the last snapshot in memory; a single member needs little
	// of it, and busy clusters (node heartbeats) would otherwise hold ~15,000 entries.
	ec.SnapshotCount = 5000
	ec.SnapshotCatchUpEntries = 1000
	clientPort, peerPort := cfg.ClientPort, cfg.PeerPort
	var err error
	if clientPort == 0 {
		if clientPort, err = freePort(); err != nil {
			return nil, err
		}
	}
	if peerPort == 0 {
		if peerPort, err = freePort(); err != nil {
			return nil, err
		}
	}
	cu := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(clientPort))}
	pu := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(peerPort))}
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	ec.InitialCluster = ec.Name + "=" + pu.String()
	ec.ListenMetricsUrls = nil
	// A data dir that already holds a member must not be bootstrapped again.
	if _, err := os.Stat(filepath.Join(cfg.Dir, "member")); err == nil {
		ec.ClusterState = embed.ClusterStateFlagExisting
	}
	srv, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("storage: starting embedded etcd: %w", err)
	}
	select {
	case <-srv.Server.ReadyNotify():
	case err := <-srv.Err():
		srv.Close()
		return nil, fmt.Errorf("storage: embedded etcd failed: %w", err)
	case <-ctx.Done():
		srv.Close()
		return nil, ctx.Err()
	case <-time.After(60 * time.Second):
		srv.Close()
		return nil, errors.New("storage: embedded etcd did not become ready within 60s")
	}
	client, err := newClient([]string{cu.String()})
	if err != nil {
		srv.Close()
		return nil, err
	}
	// Reads and writes reach the embedded etcd through function calls, not gRPC over
	// loopback: no serialisation, HTTP/2 framing or syscalls per request. Watches stay on
	// gRPC: etcd's in-process watch adapter joins all watches of a client on unbuffered
	// pipes, and cancelling one among many can deadlock it (TestWatchesLeaveNothingRunning).
	client.KV = clientv3.NewKVFromKVClient(adapter.KvServerToKvClient(v3rpc.NewQuotaKVServer(srv.Server)), client)
	log.Debug("embedded etcd ready", "dir", cfg.Dir, "client", cu.String())
	return &Backend{Client: client, server: srv, progressSafe: true}, nil
}

// OpenExternal connects to an existing etcd cluster.
func OpenExternal(ctx context.Context, endpoints []string) (*Backend, error) {
	client, err := newClient(endpoints)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := client.Get(cctx, "health-check"); err != nil {
		client.Close()
		return nil, fmt.Errorf("storage: etcd at %v not reachable: %w", endpoints, err)
	}
	safe := true
	for _, ep := range endpoints {
		st, err := client.Status(cctx, ep)
		if err != nil || !progressSafeVersion(st.Version) {
			safe = false
		}
	}
	return &Backend{Client: client, progressSafe: safe}, nil
}

func newClient(endpoints []string) (*clientv3.Client, error) {
	client, err := clientv3.New(clientv3.Config{
		Endpoints:          endpoints,
		DialTimeout:        20 * time.Second,
		DialOptions:        []grpc.DialOption{},
		Logger:             zap.NewNop(),
		MaxCallRecvMsgSize: 1 << 30,
	})
	if err != nil {
		return nil, fmt.Errorf("storage: connecting to etcd %v: %w", endpoints, err)
	}
	return client, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("storage: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
