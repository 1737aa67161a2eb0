package server

import (
	"context"
	"log/slog"
	"net"
	"os"
	"sync"

	"github.com/kijabi/kijabi/internal/agent"
	"github.com/kijabi/kijabi/internal/pki"
)

// agentRunner runs the in-process node agent and can restart it (as a kubelet restart).
type agentRunner struct {
	cfg    agent.Config
	parent context.Context
	log    *slog.Logger

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
	// final is set by the last Stop, when the agent's pods may be removed (if the
	// configuration asks for it); a StopAgent keeps them for the next start.
	final bool
}

func (r *Running) startAgent(ctx context.Context, cfg Config, ca *pki.CA, tlsDir, url string, advertise net.IP, serviceCIDR *net.IPNet, log *slog.Logger) error {
	ac := cfg.Node
	if ac.NodeName == "" {
		ac.NodeName, _ = os.Hostname()
	}
	ac.DataDir = cfg.DataDir
	ac.ServiceCIDR = serviceCIDR
	ac.ClusterCIDR = cfg.ClusterCIDR
	if ac.ClusterCIDR == nil {
		_, ac.ClusterCIDR, _ = net.ParseCIDR(DefaultClusterCIDR)
	}
	if ac.NodeIP == nil {
		ac.NodeIP = advertise
	}
	if ac.NodeIP == nil {
		ac.NodeIP = net.ParseIP("127.0.0.1")
	}
	rc, err := componentConfig(ca, tlsDir, url, "kubelet", "system:node:"+ac.NodeName, []string{"system:nodes"})
	if err != nil {
		return err
	}
	rc.QPS, rc.Burst = 50, 100
	rc.UserAgent = "kijabi-kubelet"
	ac.REST = rc
	if ac.Log == nil {
		ac.Log = log
	}
	a := &agentRunner{cfg: ac, parent: ctx, log: log}
	if ac.RemovePodsOnStop != nil {
		wanted := ac.RemovePodsOnStop
		a.cfg.RemovePodsOnStop = func() bool {
			a.mu.Lock()
			defer a.mu.Unlock()
			return a.final && wanted()
		}
	}
	r.agent = a
	r.components.Add(1)
	go func() {
		defer r.components.Done()
		<-ctx.Done()
		a.mu.Lock()
		a.final = true
		a.mu.Unlock()
		a.Stop()
	}()
	a.Start()
	return nil
}

// Start runs the agent in the background.
func (a *agentRunner) Start() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done != nil || a.parent.Err() != nil {
		return
	}
	ctx, cancel := context.WithCancel(a.parent)
	a.cancel, a.done = cancel, make(chan struct{})
	done := a.done
	go func() {
		defer close(done)
		err := agent.Run(ctx, a.cfg)
		switch {
		case agent.IsNoRuntime(err):
			a.log.Error("no node agent: " + err.Error())
		case err != nil && ctx.Err() == nil:
			a.log.Error("node agent stopped", "err", err)
		}
	}()
}

// Stop stops the agent and waits for it.
func (a *agentRunner) Stop() {
	a.mu.Lock()
	cancel, done := a.cancel, a.done
	a.cancel, a.done = nil, nil
	a.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// StopAgent stops the in-process node agent (its containers keep running), as a
// kubelet going away; StartAgent starts it again, and it adopts them.
func (r *Running) StopAgent() {
	if r.agent != nil {
		r.agent.Stop()
	}
}

// StartAgent starts the in-process node agent again after StopAgent.
func (r *Running) StartAgent() {
	if r.agent != nil {
		r.agent.Start()
	}
}
