package trackerbench

import "testing"

// TestMachineTicks reads /proc/stat: some CPU time so far, steal a part of
// it, and neither going back between two reads.
func TestMachineTicks(t *testing.T) {
	total0, steal0, ok := machineTicks()
	if !ok || total0 == 0 || steal0 > total0 {
		t.Fatalf("machineTicks = %d, %d, %v; want ok, total > 0, steal <= total", total0, steal0, ok)
	}
	total1, steal1, ok := machineTicks()
	if !ok || total1 < total0 || steal1 < steal0 {
		t.Fatalf("second read %d, %d, %v after %d, %d; want neither smaller", total1, steal1, ok, total0, steal0)
	}
}
