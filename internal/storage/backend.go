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
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

// Backend is a connection to etcd, and the embedded etcd server when there is one.
type Backend struct {
	Client *clientv3.Client
	server *embed.Etcd
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
	log.Debug("embedded etcd ready", "dir", cfg.Dir, "client", cu.String())
	return &Backend{Client: client, server: srv}, nil
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
	return &Backend{Client: client}, nil
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
