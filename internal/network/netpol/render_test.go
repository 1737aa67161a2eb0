package netpol

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/kijabi/kijabi/internal/network/nft/nfttest"
)

// goldenPolicies exercise every kind of rule on the world's pods.
func goldenPolicies() []*networkingv1.NetworkPolicy {
	tcp, udp := v1.ProtocolTCP, v1.ProtocolUDP
	return []*networkingv1.NetworkPolicy{
		mkPolicy("prod", "deny-all", nil, ingressOnly),
		mkPolicy("prod", "web", lbl("app", "web"), ingressOnly,
			allowFrom(peers(podPeer(lbl("role", "client")), nsPodPeer(lbl("team", "b"), lbl("role", "client"))), namedPolicyPort(tcp, "http"), portRange(tcp, 9000, 9010)),
			allowFrom(peers(nsPeer(nil)), port(v1.ProtocolSCTP, 7777), unprotocoled(5000)),
			allowFrom(peers(blockPeer("0.0.0.0/0", "10.0.0.0/8", "192.168.0.0/16"), blockPeer("192.0.2.7/32")), protoOnly(udp)),
		),
		mkPolicy("prod", "client-egress", lbl("role", "client"), egressOnly,
			allowTo(nil, port(udp, 53), port(tcp, 53)),
			allowTo(peers(podPeer(lbl("app", "web"))), namedPolicyPort(tcp, "http"), port(tcp, 9090)),
			allowTo(peers(nsPeer(lbl("team", "b")))),
		),
		mkPolicy("dev", "nobody-matches", lbl("app", "none"), both),
	}
}

func TestRenderGolden(t *testing.T) {
	pods, namespaces := world()
	nfttest.Golden(t, "ruleset.nft", Render(Build(DefaultTableName, Compute(testNode, pods, namespaces, goldenPolicies()))))
	// Without policies: the base chain and empty maps.
	nfttest.Golden(t, "ruleset-empty.nft", Render(Build(DefaultTableName, Compute(testNode, pods, namespaces, nil))))
}
