package daemon

import (
	"errors"
	"testing"
)

func TestParseRange(t *testing.T) {
	for _, c := range []struct {
		h          string
		start, end int64
		partial    bool
		bad        bool
	}{
		{"", 0, 999, false, false},
		{"bytes=0-0", 0, 0, true, false},
		{"bytes=10-", 10, 999, true, false},
		{"bytes=-100", 900, 999, true, false},
		{"bytes=-5000", 0, 999, true, false},
		{"bytes=990-5000", 990, 999, true, false},
		{"bytes=1000-", 0, 0, false, true},
		{"bytes=5-4", 0, 0, false, true},
		{"bytes=-0", 0, 0, false, true},
		{"bytes=x-", 0, 0, false, true},
		{"bytes=0-1,5-6", 0, 999, false, false},
		{"items=0-1", 0, 999, false, false},
		{"bytes=7", 0, 0, false, true},
	} {
		s, e, p, err := parseRange(c.h, 1000)
		if c.bad {
			if !errors.Is(err, ErrBadRange) {
				t.Errorf("parseRange(%q) err = %v; want ErrBadRange", c.h, err)
			}
			continue
		}
		if err != nil || s != c.start || e != c.end || p != c.partial {
			t.Errorf("parseRange(%q) = %d, %d, %v, %v; want %d, %d, %v", c.h, s, e, p, err, c.start, c.end, c.partial)
		}
	}
}

// FuzzParseRange checks that any header gives an error or a range inside
// the resource.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-", "bytes=-128", "bytes=5-9", "bytes=0-1,2-3", "bytes=99999999999999999999-", "bytes= 1 - 2 "} {
		f.Add(s, int64(1000))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size <= 0 {
			return
		}
		s, e, _, err := parseRange(h, size)
		if err != nil {
			return
		}
		if s < 0 || e >= size || s > e {
			t.Fatalf("parseRange(%q, %d) = [%d, %d]; outside the resource", h, size, s, e)
		}
	})
}
