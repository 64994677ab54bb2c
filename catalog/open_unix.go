//go:build unix

package catalog

import (
	"os"
	"syscall"
)

// openNonblocking opens path read-only with O_NONBLOCK, so that opening a
// FIFO does not wait for a writer; on a regular file the flag changes
// nothing.
func openNonblocking(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
