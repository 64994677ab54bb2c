//go:build !unix

package catalog

import "os"

// openNonblocking opens path read-only (this platform has no FIFOs whose
// open blocks).
func openNonblocking(path string) (*os.File, error) { return os.Open(path) }
