// Command mkwav writes a 16-bit stereo 44.1 kHz WAV of a slowly sweeping
// tone, of any length (catalog/samples stops at 10 minutes), for
// scripts/play-rss.sh:
//
//	go run ./scripts/mkwav SECONDS FILE
//
// It imports nothing of this module.
package main
