//go:build unix

package main

import "golang.org/x/sys/unix"

// checkWritable reports whether this process may write path in place
// (access(2) with W_OK), which a rename over it would not ask.
func checkWritable(path string) error { return unix.Access(path, unix.W_OK) }
