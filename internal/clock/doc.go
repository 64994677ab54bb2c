// Package clock injects time. Logic takes a Clock instead of calling
// time.Now or time.Sleep, so tests and simulations can drive it with Fake.
// It imports only the standard library.
package clock
