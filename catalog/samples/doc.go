// Package samples synthesises demo audio: short, deterministic 16-bit PCM
// WAV melodies made from a seed, so the demo and the tests have real music
// files without shipping any.
//
// samples imports only the standard library; it must not import any chorus
// package (catalog's tests use it, and it is a leaf).
package samples
