package nft

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// Proto is an IP protocol number (TCP, UDP or SCTP).
type Proto uint8

// The protocols of Service and NetworkPolicy ports.
const (
	ProtoTCP  Proto = unix.IPPROTO_TCP
	ProtoUDP  Proto = unix.IPPROTO_UDP
	ProtoSCTP Proto = unix.IPPROTO_SCTP
)

func (p Proto) String() string {
	switch p {
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoSCTP:
		return "sctp"
	}
	return strconv.Itoa(int(p))
}
