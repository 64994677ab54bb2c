package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestInvokedAs: the command lines the demo prints run this binary again,
// from any directory.
func TestInvokedAs(t *testing.T) {
	for arg0, want := range map[string]string{
		"/tmp/go-build123/b001/exe/chorus": "go run ./cmd/chorus",
		"chorus":                           "chorus",
		"/usr/local/bin/chorus":            "/usr/local/bin/chorus",
	} {
		if got := invokedAs(arg0); got != want {
			t.Errorf("invokedAs(%q) = %q; want %q", arg0, got, want)
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := invokedAs("./chorus"), filepath.Join(wd, "chorus"); got != want {
		t.Errorf("invokedAs(./chorus) = %q; want %q (works from any directory)", got, want)
	}
}
