package catalog

import (
	"fmt"
	"io"
)

// audioInfo is what ReadMetadata learned from the headers about the audio
// frames, for the check of the frames really present.
type audioInfo struct {
	start, end int64 // byte range of the frames (MP3: between the ID3 tags; FLAC: after the metadata blocks)
	sampleRate int64
	// declaredFrames is an MP3 Xing/Info/VBRI frame count (0: none), of
	// samplesPerFrame samples each.
	declaredFrames, samplesPerFrame int64
	// declaredSamples is a FLAC STREAMINFO total (0: unknown).
	declaredSamples int64
	// maxFrame is a FLAC STREAMINFO maximum frame size (0: unknown).
	maxFrame int64
	// maxBlock is a FLAC STREAMINFO maximum block size, in samples.
	maxBlock int64
	// oggSerial is the Vorbis stream's serial number.
	oggSerial uint32
}

// frameScanner reads a whole file in order (its Write sees every byte
// once) and then judges the frames it found against the headers.
type frameScanner interface {
	io.Writer
	// finish reports ErrTruncated or ErrDamaged, or updates md's duration
	// from the frames; r reads the file again where a scanner needs to look
	// back (FLAC's last frame, Ogg's last page).
	finish(r io.ReadSeeker, md *Metadata) error
}

// newFrameScanner returns the scanner of md's format, or nil for WAV,
// whose data size ReadMetadata checks against the file size.
func newFrameScanner(md *Metadata) frameScanner {
	switch md.ContentType {
	case ContentTypeMP3:
		return &mp3Scanner{a: md.audio, next: md.audio.start, stopAt: -1}
	case ContentTypeFLAC:
		return &tailScanner{a: md.audio, check: checkFLACTail}
	case ContentTypeOgg:
		return &tailScanner{a: md.audio, check: checkOggTail}
	}
	return nil
}

// seconds formats milliseconds as seconds for messages.
func seconds(ms int64) string { return fmt.Sprintf("%d.%03d s", ms/1000, ms%1000) }

// maxTrailingJunk is how many bytes that are not frames an MP3 may carry
// after its last frame (an APE or Lyrics3 tag, padding) before it counts
// as damaged.
const maxTrailingJunk = 16 << 10

// mp3Scanner walks the chain of MPEG frames: each header gives the length
// of its frame and so where the next header must be.
type mp3Scanner struct {
	a       audioInfo
	pos     int64 // offset of the next byte Write sees
	next    int64 // offset of the next frame header
	hdr     [4]byte
	hn      int // bytes of hdr filled
	frames  int64
	samples int64
	stopAt  int64 // where the chain stopped at bytes that are not a frame; -1 while it goes on
	cut     bool  // the last frame runs past the end of the audio
}

func (s *mp3Scanner) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && s.stopAt < 0 && !s.cut {
		if s.pos < s.next {
			k := min(int64(len(p)), s.next-s.pos)
			p = p[k:]
			s.pos += k
			continue
		}
		if s.next >= s.a.end {
			break // the tags after the audio
		}
		c := copy(s.hdr[s.hn:], p)
		s.hn += c
		p = p[c:]
		s.pos += int64(c)
		if s.hn < len(s.hdr) {
			continue
		}
		s.hn = 0
		f, ok := parseMP3Header(s.hdr[:])
		if !ok {
			s.stopAt = s.next
			break
		}
		s.frames++
		s.samples += int64(f.samplesPerFrme)
		if s.next+int64(f.length) > s.a.end {
			s.cut = true
			break
		}
		s.next += int64(f.length)
	}
	return n, nil
}

func (s *mp3Scanner) finish(_ io.ReadSeeker, md *Metadata) error {
	rate := s.a.sampleRate
	if rate <= 0 || s.frames == 0 {
		return fmt.Errorf("%w: no MPEG audio frames", ErrUnsupportedAudio)
	}
	present := s.samples * 1000 / rate
	declared := s.a.declaredFrames
	cut := s.cut || (s.hn > 0 && s.next < s.a.end)
	switch {
	case s.stopAt >= 0 && s.a.end-s.stopAt > maxTrailingJunk:
		return fmt.Errorf("%w: the MPEG frames stop at byte %d, %d bytes before the end, after %s of audio",
			ErrDamaged, s.stopAt, s.a.end-s.stopAt, seconds(present))
	case declared > 0 && s.frames < declared:
		return fmt.Errorf("%w: its header declares %d frames (%s), the file holds %d (%s)",
			ErrTruncated, declared, seconds(declared*s.a.samplesPerFrame*1000/rate), s.frames, seconds(present))
	case cut:
		return fmt.Errorf("%w: the file ends inside a frame, after %s of audio", ErrTruncated, seconds(present))
	}
	if declared == 0 {
		// No frame count in the header: the frames are the only truth.
		md.DurationMS = present
	}
	return nil
}

// tailScanner sees every byte for the hash pass but needs only the end of
// the file, which check reads back.
type tailScanner struct {
	a     audioInfo
	size  int64
	check func(r io.ReadSeeker, size int64, a audioInfo, md *Metadata) error
}

func (s *tailScanner) Write(p []byte) (int, error) {
	s.size += int64(len(p))
	return len(p), nil
}

func (s *tailScanner) finish(r io.ReadSeeker, md *Metadata) error {
	return s.check(r, s.size, s.a, md)
}

// checkOggTail: the last whole page of the Vorbis stream must end it (the
// end-of-stream flag); a file cut anywhere else ends on a page without
// it. The duration already comes from that page's granule position.
func checkOggTail(r io.ReadSeeker, size int64, a audioInfo, md *Metadata) error {
	p, ok := lastOggPage(r, size, a.oggSerial)
	if !ok {
		return fmt.Errorf("%w: no whole Ogg page at the end of the file", ErrTruncated)
	}
	if p.headerType&0x04 == 0 {
		return fmt.Errorf("%w: the last whole Ogg page does not end the stream, after %s of audio",
			ErrTruncated, seconds(int64(p.granule*1000/uint64(a.sampleRate))))
	}
	return nil
}

// flacTailDefault is how much of the end of a FLAC file is searched for
// the last frame header when STREAMINFO gives no maximum frame size.
const flacTailDefault = 1 << 20

// maxFLACCandidates bounds the frame headers tried from the end (each
// costs a CRC over the rest of the file), against a file made of headers.
const maxFLACCandidates = 64

// checkFLACTail: the last header whose frame runs to the end with a
// matching CRC-16 is the last whole frame, and its end must be where
// STREAMINFO says the samples end.
func checkFLACTail(r io.ReadSeeker, size int64, a audioInfo, md *Metadata) error {
	tail := a.maxFrame + 32
	if a.maxFrame == 0 {
		tail = flacTailDefault
	}
	from := max(a.start, size-tail)
	buf := make([]byte, size-from)
	if _, err := readAt(r, buf, from); err != nil && err != io.EOF {
		return fmt.Errorf("read the last frame: %w", err)
	}
	rate := a.sampleRate
	declaredMS := a.declaredSamples * 1000 / rate
	// A header later than the last whole frame's means the frame after
	// it was cut.
	var lastStart int64 = -1
	tried := 0
	for i := len(buf) - 2; i >= 0 && tried < maxFLACCandidates; i-- {
		if buf[i] != 0xff || buf[i+1]&0xfe != 0xf8 {
			continue
		}
		h, ok := parseFLACFrameHeader(buf[i:])
		if !ok {
			continue
		}
		tried++
		if lastStart < 0 {
			lastStart = h.endSample(a) - h.blockSize
		}
		if len(buf)-i >= 2 && crc16(buf[i:len(buf)-2]) == uint16(buf[len(buf)-2])<<8|uint16(buf[len(buf)-1]) {
			end := h.endSample(a)
			presentMS := end * 1000 / rate
			if a.declaredSamples > 0 && end < a.declaredSamples {
				return fmt.Errorf("%w: its STREAMINFO declares %s of audio, the frames present hold %s",
					ErrTruncated, seconds(declaredMS), seconds(presentMS))
			}
			if a.declaredSamples == 0 {
				md.DurationMS = presentMS
			}
			return nil
		}
	}
	if lastStart < 0 {
		return fmt.Errorf("%w: no FLAC frame in the last %d bytes", ErrTruncated, len(buf))
	}
	return fmt.Errorf("%w: the file ends inside a frame, after %s of audio (its STREAMINFO declares %s)",
		ErrTruncated, seconds(lastStart*1000/rate), seconds(declaredMS))
}

// flacFrame is the part of a FLAC frame header the check needs.
type flacFrame struct {
	variable  bool  // numbered by sample (variable block size) rather than by frame
	number    int64 // frame number or first sample number
	blockSize int64
}

// endSample returns the sample number just past the frame. A
// fixed-block-size stream numbers frames, all of STREAMINFO's block size
// but the last, which may be shorter.
func (f flacFrame) endSample(a audioInfo) int64 {
	if f.variable {
		return f.number + f.blockSize
	}
	return f.number*a.maxBlock + f.blockSize
}

// parseFLACFrameHeader parses a frame header at the start of b and checks
// its CRC-8. It reports false for anything that is not one.
func parseFLACFrameHeader(b []byte) (flacFrame, bool) {
	if len(b) < 6 || b[0] != 0xff || b[1]&0xfe != 0xf8 {
		return flacFrame{}, false
	}
	f := flacFrame{variable: b[1]&1 == 1}
	bsCode := b[2] >> 4
	srCode := b[2] & 0x0f
	if bsCode == 0 || srCode == 0x0f || b[3]>>4 >= 11 || b[3]>>1&7 == 3 || b[3]&1 != 0 {
		return flacFrame{}, false
	}
	// The frame or sample number, UTF-8 coded (up to 7 bytes).
	p := 4
	lead := b[p]
	var v int64
	var extra int
	switch {
	case lead < 0x80:
		v, extra = int64(lead), 0
	case lead&0xe0 == 0xc0:
		v, extra = int64(lead&0x1f), 1
	case lead&0xf0 == 0xe0:
		v, extra = int64(lead&0x0f), 2
	case lead&0xf8 == 0xf0:
		v, extra = int64(lead&0x07), 3
	case lead&0xfc == 0xf8:
		v, extra = int64(lead&0x03), 4
	case lead&0xfe == 0xfc:
		v, extra = int64(lead&0x01), 5
	case lead == 0xfe && f.variable:
		v, extra = 0, 6
	default:
		return flacFrame{}, false
	}
	p++
	if len(b) < p+extra+4 {
		return flacFrame{}, false
	}
	for range extra {
		if b[p]&0xc0 != 0x80 {
			return flacFrame{}, false
		}
		v = v<<6 | int64(b[p]&0x3f)
		p++
	}
	f.number = v
	switch {
	case bsCode == 1:
		f.blockSize = 192
	case bsCode <= 5:
		f.blockSize = 576 << (bsCode - 2)
	case bsCode == 6:
		f.blockSize = int64(b[p]) + 1
		p++
	case bsCode == 7:
		f.blockSize = (int64(b[p])<<8 | int64(b[p+1])) + 1
		p += 2
	default:
		f.blockSize = 256 << (bsCode - 8)
	}
	switch srCode {
	case 12:
		p++
	case 13, 14:
		p += 2
	}
	if len(b) < p+1 || crc8(b[:p]) != b[p] {
		return flacFrame{}, false
	}
	return f, true
}

// crc8 is FLAC's header CRC: polynomial x^8+x^2+x+1, initial 0.
func crc8(b []byte) byte {
	var c byte
	for _, x := range b {
		c ^= x
		for range 8 {
			if c&0x80 != 0 {
				c = c<<1 ^ 0x07
			} else {
				c <<= 1
			}
		}
	}
	return c
}

// crc16Table is FLAC's frame CRC: polynomial x^16+x^15+x^2+1, initial 0.
var crc16Table = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x8005
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

func crc16(b []byte) uint16 {
	var c uint16
	for _, x := range b {
		c = c<<8 ^ crc16Table[byte(c>>8)^x]
	}
	return c
}
