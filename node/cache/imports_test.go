package cache

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports enforces the package doc: cache must not import the node,
// client, tracker or origin packages, nor libp2p.
func TestImports(t *testing.T) {
	forbidden := []string{
		"github.com/chorus-music/chorus/node",
		"github.com/chorus-music/chorus/client",
		"github.com/chorus-music/chorus/tracker",
		"github.com/chorus-music/chorus/origin",
		"github.com/libp2p/",
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatalf("parse %s: %v", name, err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbidden {
				if path == bad || strings.HasPrefix(path, strings.TrimSuffix(bad, "/")+"/") {
					t.Errorf("%s imports %s; cache must not import %s", name, path, bad)
				}
			}
		}
	}
}
