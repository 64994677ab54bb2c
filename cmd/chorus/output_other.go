//go:build !unix

package main

import (
	"errors"
	"os"
)

// checkWritable reports a read-only file; elsewhere the rename decides.
func checkWritable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o200 == 0 {
		return errors.New("read-only")
	}
	return nil
}
