package dhtstore

import (
	"context"
	"path/filepath"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dstest "github.com/ipfs/go-datastore/test"
)

// TestSuite runs go-datastore's own conformance tests.
func TestSuite(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "records.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dstest.SubtestAll(t, s)
}

// TestRecordsSurviveReopen: what was put is there after closing and
// opening the file again.
func TestRecordsSurviveReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "records.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	k := ds.NewKey("/providers/abc/def")
	if err := s.Put(ctx, k, []byte("when")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.Get(ctx, k); err != nil || string(v) != "when" {
		t.Fatalf("Get after reopen = %q, %v; want \"when\"", v, err)
	}
}

func TestOpenRejectsURIs(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db"} {
		if _, err := Open(p); err == nil {
			t.Errorf("Open(%q) succeeded; want ErrPath", p)
		}
	}
}
