package chunkstore

import "testing"

// FuzzParseName feeds arbitrary file names, as found on disk, to the name
// parser: it must not panic, and what it accepts must be canonical.
func FuzzParseName(f *testing.F) {
	id := chunkCID([]byte("0123456789"))
	f.Add(id.String())
	f.Add(".tmp-123")
	f.Fuzz(func(t *testing.T, name string) {
		c, err := ParseName(name)
		if err != nil {
			return
		}
		if got := c.String(); got != name {
			t.Fatalf("ParseName(%q) = %s; want the same string back", name, got)
		}
		if c.Version() != 1 || c.Type() != 0x55 {
			t.Fatalf("ParseName(%q) accepted version %d codec %#x", name, c.Version(), c.Type())
		}
		_ = Shard(name)
	})
}

func TestParseName(t *testing.T) {
	id := chunkCID([]byte("0123456789"))
	tests := []struct {
		name string
		ok   bool
	}{
		{id.String(), true},
		{"", false},
		{".tmp-1", false},
		{"B" + id.String()[1:], false}, // base32 upper: another encoding of the same CID
		{"QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", false},              // CIDv0
		{"bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi", false}, // dag-pb
		{"notacid", false},
	}
	for _, tt := range tests {
		_, err := ParseName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ParseName(%q) = %v; want ok = %v", tt.name, err, tt.ok)
		}
	}
}
