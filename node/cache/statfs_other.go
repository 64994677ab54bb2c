//go:build !unix

package cache

import "errors"

// freeBytes is not implemented off unix: set Options.MaxBytes there.
func freeBytes(dir string) (int64, error) {
	return 0, errors.New("cache: free space unknown on this platform; set MaxBytes")
}
