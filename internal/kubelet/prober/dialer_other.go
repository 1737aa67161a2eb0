//go:build !linux

package prober

import "net"

func probeDialer() *net.Dialer { return &net.Dialer{} }
