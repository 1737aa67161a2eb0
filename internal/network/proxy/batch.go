package proxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/kijabi/kijabi/internal/network/nft"
)

// batchSocket sends the nftables library's batches on a netlink socket of its own.
//
// The library asks an acknowledgement for every message and an echo of every rule,
// and reads them one by one: for a batch of tens of thousands of messages that is
// most of the time a sync takes. The kernel handles a batch synchronously in
// sendmsg, so batchSocket drops those flags, asks one acknowledgement (for the last
// message), and after sending reads whatever the kernel queued: errors, if any, and
// that acknowledgement. The library's connection is pointed at it through
// nftables.WithTestDial and sees every message acknowledged; the real outcome is
// returned by take.
type batchSocket struct {
	fd  int
	seq uint32
	buf []byte
	err error // outcome of the last batch
}

func openBatchSocket(nsFD int) (*batchSocket, error) {
	s := &batchSocket{fd: -1, buf: make([]byte, 1<<20)}
	err := nft.InNetNS(nsFD, func() error {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
		if err != nil {
			return fmt.Errorf("netlink socket: %w", err)
		}
		s.fd = fd
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, o := range []struct{ level, opt, v int }{
		{unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 64 << 20},
		{unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16 << 20},
		{unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1},
	} {
		if err := unix.SetsockoptInt(s.fd, o.level, o.opt, o.v); err != nil {
			_ = unix.Close(s.fd)
			return nil, fmt.Errorf("netlink socket option %d: %w", o.opt, err)
		}
	}
	if err := unix.Bind(s.fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		_ = unix.Close(s.fd)
		return nil, fmt.Errorf("netlink bind: %w", err)
	}
	return s, nil
}

func (s *batchSocket) close() error { return unix.Close(s.fd) }

// dial is the library's view of the socket (an nltest.Func): batches are sent for
// real, and every read returns an acknowledgement.
func (s *batchSocket) dial(req []netlink.Message) ([]netlink.Message, error) {
	if len(req) == 0 {
		return []netlink.Message{{Header: netlink.Header{Type: netlink.Error, Length: 20}, Data: make([]byte, 4)}}, nil
	}
	s.err = s.send(req)
	return nil, nil
}

// take returns the outcome of the last batch and forgets it.
func (s *batchSocket) take() error {
	err := s.err
	s.err = nil
	return err
}

func (s *batchSocket) send(req []netlink.Message) error {
	last := -1
	for i, m := range req {
		if t := uint16(m.Header.Type); t != unix.NFNL_MSG_BATCH_BEGIN && t != unix.NFNL_MSG_BATCH_END {
			last = i
		}
	}
	if last < 0 {
		return nil
	}
	size := 0
	for _, m := range req {
		size += nlmsgAlign(16 + len(m.Data))
	}
	out := make([]byte, 0, size)
	var lastSeq uint32
	for i, m := range req {
		flags := uint16(m.Header.Flags) &^ (unix.NLM_F_ACK | unix.NLM_F_ECHO)
		if i == last {
			flags |= unix.NLM_F_ACK
		}
		s.seq++
		if i == last {
			lastSeq = s.seq
		}
		l := 16 + len(m.Data)
		out = binary.NativeEndian.AppendUint32(out, uint32(l))
		out = binary.NativeEndian.AppendUint16(out, uint16(m.Header.Type))
		out = binary.NativeEndian.AppendUint16(out, flags)
		out = binary.NativeEndian.AppendUint32(out, s.seq)
		out = binary.NativeEndian.AppendUint32(out, 0)
		out = append(out, m.Data...)
		for range nlmsgAlign(l) - l {
			out = append(out, 0)
		}
	}
	if err := unix.Sendto(s.fd, out, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink send of %d bytes: %w", len(out), err)
	}
	// Everything the kernel answers is queued by now: read it without waiting.
	var errs error
	acked := false
	for {
		n, _, err := unix.Recvfrom(s.fd, s.buf, unix.MSG_DONTWAIT)
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return errors.Join(errs, fmt.Errorf("netlink receive: %w", err))
		}
		msgs, err := syscall.ParseNetlinkMessage(s.buf[:n])
		if err != nil {
			return errors.Join(errs, fmt.Errorf("netlink reply: %w", err))
		}
		for _, m := range msgs {
			if m.Header.Type != unix.NLMSG_ERROR || len(m.Data) < 4 {
				continue
			}
			if code := int32(binary.NativeEndian.Uint32(m.Data[:4])); code != 0 {
				errs = errors.Join(errs, fmt.Errorf("nftables batch message %d: %w", int(m.Header.Seq-lastSeq)+last, unix.Errno(-code)))
			} else if m.Header.Seq == lastSeq {
				acked = true
			}
		}
	}
	if errs != nil {
		return errs
	}
	if !acked {
		return errors.New("nftables batch: no acknowledgement from the kernel")
	}
	return nil
}

func nlmsgAlign(n int) int { return (n + 3) &^ 3 }
