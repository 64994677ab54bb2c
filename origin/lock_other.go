//go:build !unix

package origin

// lockDir is a no-op where flock is unavailable: processes sharing a dev
// certificate directory must then not start at the same instant.
func lockDir(string) (func(), error) { return func() {}, nil }
