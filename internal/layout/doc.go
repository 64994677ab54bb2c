// Package layout holds no code: its test checks the module's architecture
// rules — every package has a doc.go, and the low-level packages (protocol,
// catalog, client/sched, internal/clock) import none of the high-level ones.
package layout
