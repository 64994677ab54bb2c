//go:build !unix && !windows

package flock

import "os"

func tryLock(*os.File, Mode) (bool, error) { return false, ErrUnsupported }

func unlock(*os.File) error { return nil }

func lockWait(*os.File, Mode) error { return ErrUnsupported }
