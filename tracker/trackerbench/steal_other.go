//go:build !linux

package trackerbench

// machineTicks is not measured here: the steal column reads "-".
func machineTicks() (total, steal uint64, ok bool) { return 0, 0, false }
