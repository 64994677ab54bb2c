package node

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNoUpwardImports enforces doc.go: node builds on protocol, catalog and
// libp2p, and never on the packages above it.
func TestNoUpwardImports(t *testing.T) {
	const mod = "github.com/chorus-music/chorus/"
	banned := []string{"client", "tracker", "origin", "cmd", "node/cache", "sim"}
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatalf("parse %s: %v", name, err)
		}
		for _, spec := range f.Imports {
			path, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				t.Fatalf("%s: import %s: %v", name, spec.Path.Value, err)
			}
			rel, ok := strings.CutPrefix(path, mod)
			if !ok {
				continue
			}
			for _, b := range banned {
				if rel == b || strings.HasPrefix(rel, b+"/") {
					t.Errorf("%s imports %s; node must not import %s", name, path, mod+b)
				}
			}
		}
	}
}
