package layout

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/chorus-music/chorus/"

// forbidden lists, per low-level package, the module packages it must not
// import (a prefix matches subpackages too).
var forbidden = map[string][]string{
	"protocol":       {"node", "client", "tracker", "origin", "sim", "cmd"},
	"catalog":        {"node", "client", "tracker", "origin", "sim", "cmd", "protocol"},
	"client/sched":   {"node", "client", "tracker", "origin", "sim", "cmd", "catalog", "protocol"},
	"internal/clock": {"node", "client", "tracker", "origin", "sim", "cmd", "catalog", "protocol"},
	// The chunk store sits under origin and node/cache, which share it.
	"internal/chunkstore": {"node", "client", "tracker", "origin", "sim", "cmd", "catalog", "protocol"},
	"internal/flock":      {"node", "client", "tracker", "origin", "sim", "cmd", "catalog", "protocol", "internal"},
	"internal/atomicfile": {"node", "client", "tracker", "origin", "sim", "cmd", "catalog", "protocol", "internal/chunkstore"},
	"node":                {"client", "tracker", "origin", "sim/cluster", "cmd"},
	"origin":              {"client", "tracker", "node", "sim/cluster", "cmd"},
	"tracker":             {"client", "node", "origin", "sim/cluster", "cmd"},
}

// packages walks the module and returns each Go package directory
// (relative to the module root) with the imports of its non-test files.
func packages(t *testing.T) map[string][]string {
	t.Helper()
	root := filepath.Join("..", "..")
	out := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		imps := out[rel]
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			imps = append(imps, p)
		}
		out[rel] = imps
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEveryPackageHasDocGo(t *testing.T) {
	for dir := range packages(t) {
		if dir == "." {
			continue
		}
		if _, err := os.Stat(filepath.Join("..", "..", dir, "doc.go")); err != nil {
			t.Errorf("package %s has no doc.go", dir)
		}
	}
}

func TestLowLevelPackagesImportNoHighLevelOnes(t *testing.T) {
	pkgs := packages(t)
	for dir, imps := range pkgs {
		for low, bad := range forbidden {
			if dir != low && !strings.HasPrefix(dir, low+"/") {
				continue
			}
			for _, imp := range imps {
				rel, ok := strings.CutPrefix(imp, module)
				if !ok {
					continue
				}
				for _, b := range bad {
					if (rel == b || strings.HasPrefix(rel, b+"/")) && !strings.HasPrefix(rel, low+"/") && rel != low {
						t.Errorf("%s imports %s; %s must not import %s", dir, imp, low, b)
					}
				}
			}
		}
	}
	if len(pkgs["protocol"]) == 0 || len(pkgs["catalog"]) == 0 {
		t.Fatalf("walk found no imports for protocol or catalog: %v", pkgs)
	}
}
