// Command mkwav writes a 16-bit stereo 44.1 kHz WAV of a slowly sweeping
// tone, of any length (catalog/samples stops at 10 minutes), for
// sim/rss/play-rss.sh:
//
//	go run ./sim/rss/mkwav SECONDS FILE
//
// It imports nothing of this module.
package main
