package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strconv"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go run ./sim/rss/mkwav SECONDS FILE")
		os.Exit(2)
	}
	secs, err := strconv.Atoi(os.Args[1])
	if err != nil || secs <= 0 || secs > 6*3600 {
		fmt.Fprintln(os.Stderr, "SECONDS: a whole number from 1 to 21600")
		os.Exit(2)
	}
	const rate, channels = 44100, 2
	frames := secs * rate
	data := frames * channels * 2
	f, err := os.Create(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	le := binary.LittleEndian
	hdr := make([]byte, 44)
	copy(hdr, "RIFF")
	le.PutUint32(hdr[4:], uint32(36+data))
	copy(hdr[8:], "WAVEfmt ")
	le.PutUint32(hdr[16:], 16)
	le.PutUint16(hdr[20:], 1)
	le.PutUint16(hdr[22:], channels)
	le.PutUint32(hdr[24:], rate)
	le.PutUint32(hdr[28:], rate*channels*2)
	le.PutUint16(hdr[32:], channels*2)
	le.PutUint16(hdr[34:], 16)
	copy(hdr[36:], "data")
	le.PutUint32(hdr[40:], uint32(data))
	w.Write(hdr)
	var s [4]byte
	phase := 0.0
	for i := range frames {
		freq := 220 + 110*math.Sin(float64(i)/float64(rate)/10)
		phase += 2 * math.Pi * freq / rate
		v := int16(8000 * math.Sin(phase))
		le.PutUint16(s[0:], uint16(v))
		le.PutUint16(s[2:], uint16(v))
		w.Write(s[:])
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
