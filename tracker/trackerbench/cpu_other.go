//go:build !unix

package trackerbench

import "time"

// processCPU is not measured here: cpu/req reads 0.
func processCPU() time.Duration { return 0 }
