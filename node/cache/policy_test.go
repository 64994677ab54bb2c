package cache

import (
	"slices"
	"strings"
	"testing"
)

func TestLRU(t *testing.T) {
	tests := []struct {
		name      string
		ops       string // space-separated: +k (add, size 1), ~k (touch), -k (remove)
		wantOrder string // least to most recently used
		wantBytes int64
	}{
		{"empty", "", "", 0},
		{"adds", "+a +b +c", "a b c", 3},
		{"touch moves to front", "+a +b +c ~a", "b c a", 3},
		{"touch absent is no-op", "+a ~z", "a", 1},
		{"re-add is a use", "+a +b +a", "b a", 2},
		{"remove", "+a +b +c -b", "a c", 2},
		{"remove absent", "+a -z", "a", 1},
		{"remove all", "+a +b -a -b", "", 0},
		{"mixed", "+a +b +c ~b +d ~a -c", "b d a", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLRU()
			for _, op := range strings.Fields(tt.ops) {
				k := op[1:]
				switch op[0] {
				case '+':
					l.Add(k, 1)
				case '~':
					l.Touch(k)
				case '-':
					l.Remove(k)
				}
			}
			want := strings.Fields(tt.wantOrder)
			if got := l.Keys(); !slices.Equal(got, want) {
				t.Errorf("Keys() after %q = %q; want %q", tt.ops, got, want)
			}
			if got := l.Bytes(); got != tt.wantBytes {
				t.Errorf("Bytes() after %q = %d; want %d", tt.ops, got, tt.wantBytes)
			}
			if got := l.Len(); got != len(want) {
				t.Errorf("Len() after %q = %d; want %d", tt.ops, got, len(want))
			}
			v, ok := l.Victim()
			if len(want) == 0 {
				if ok {
					t.Errorf("Victim() after %q = %q, true; want none", tt.ops, v)
				}
			} else if !ok || v != want[0] {
				t.Errorf("Victim() after %q = %q, %v; want %q", tt.ops, v, ok, want[0])
			}
		})
	}
}

func TestLRUResize(t *testing.T) {
	l := NewLRU()
	l.Add("a", 10)
	l.Add("b", 5)
	l.Add("a", 3)
	if got := l.Bytes(); got != 8 {
		t.Errorf("Bytes() = %d; want 8", got)
	}
}
