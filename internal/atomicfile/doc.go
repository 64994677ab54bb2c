// Package atomicfile writes a file so that readers, and a crash, see either
// no file or the whole of it: the bytes go to a temporary file in the
// target's directory, which is synced and then renamed over the target.
// The chunk store, the origin's certificates and `chorus play --out` use
// it, so there is one copy of that sequence.
//
// It imports nothing of this module.
package atomicfile
