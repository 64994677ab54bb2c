package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// runVersion prints the binary's version: the module version, the VCS
// revision and time it was built from (and whether the tree was modified),
// and the Go version, as the toolchain stamped them.
func runVersion(ctx context.Context, env *cmdEnv, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected argument %q", args[0])
	}
	fmt.Fprintln(env.stdout, versionString())
	return nil
}

func versionString() string {
	version, rev, at, dirty := "(devel)", "revision-unknown", "", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = " " + s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = " (modified)"
				}
			}
		}
	}
	return fmt.Sprintf("chorus %s %s%s%s %s %s/%s", version, rev, dirty, at, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
