//go:build !linux

package server

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func (s *Server) nodeUsage(now metav1.Time) (*cpuStats, *memoryStats) { return nil, nil }

func bootTime(fallback time.Time) time.Time { return fallback }
