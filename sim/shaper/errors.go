package shaper

import "errors"

var (
	// ErrBadOptions reports Options that Wrap cannot work with.
	ErrBadOptions = errors.New("shaper: bad options")
	// ErrNoSyscallConn reports that the wrapped conn has no SyscallConn
	// method (a *net.UDPConn has one).
	ErrNoSyscallConn = errors.New("shaper: wrapped conn has no SyscallConn")
)
