package api

import "golang.org/x/sys/unix"

// peerClosed reports whether the peer of TCP socket fd has closed its end
// (the socket is in CLOSE_WAIT, or already closed by a reset).
func peerClosed(fd uintptr) bool {
	info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return false
	}
	return info.State == unix.BPF_TCP_CLOSE_WAIT || info.State == unix.BPF_TCP_CLOSE
}
