package catalog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/dhowden/tag"
)

// Metadata is what ReadMetadata learns about a source file. Zero DurationMS
// or BitrateKbps mean unknown.
type Metadata struct {
	ContentType string // audio/wav, audio/ogg, audio/mpeg or audio/flac
	Title       string // never empty on success
	Artist      string
	Album       string
	DurationMS  int64
	BitrateKbps int

	// audio is where the audio frames lie and what the header declares of
	// them, for Inspect's check of the frames really present.
	audio audioInfo
}

// Content types ReadMetadata reports.
const (
	ContentTypeWAV  = "audio/wav"
	ContentTypeOgg  = "audio/ogg"
	ContentTypeMP3  = "audio/mpeg"
	ContentTypeFLAC = "audio/flac"
)

// Bounds on what the parsers read from an untrusted file.
const (
	// maxCommentBytes bounds a Vorbis comment block or packet handed to the
	// tag reader; bigger ones (cover art) are skipped, not read.
	maxCommentBytes = 1 << 20
	// maxID3Bytes bounds an ID3v2 tag handed to the tag reader.
	maxID3Bytes = 4 << 20
	// maxInfoBytes bounds a WAV LIST INFO chunk read for tags.
	maxInfoBytes = 64 << 10
	// maxBlocks bounds the RIFF chunks or FLAC metadata blocks walked.
	maxBlocks = 1024
	// maxOggPages bounds the Ogg pages read to assemble the comment packet.
	maxOggPages = 64
	// maxTagRunes bounds each of title, artist and album.
	maxTagRunes = 256
)

// errNoSignature is ReadMetadata's error for a file of no format it knows.
var errNoSignature = fmt.Errorf("%w: not WAV, Ogg Vorbis, MP3 or FLAC (no known signature at its start)", ErrUnsupportedAudio)

// ReadMetadata identifies the audio file in r (size bytes long; fileName is
// used in errors and as the title fallback) by its magic bytes, reads its
// tags and its duration and bitrate from its headers. Files of other formats
// give ErrUnsupportedAudio; malformed headers give ErrUnsupportedAudio or a
// read error, never a panic. Malformed or absent tags are not an error: the
// title then comes from the file name ("Artist - Title.ext" or the base
// name). r is left at an unspecified position.
func ReadMetadata(r io.ReadSeeker, size int64, fileName string) (Metadata, error) {
	var md Metadata
	if size < 0 {
		return md, fmt.Errorf("%w: negative size %d", ErrUnsupportedAudio, size)
	}
	var head [12]byte
	n, err := readAt(r, head[:], 0)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return md, fmt.Errorf("read: %w", err)
	}
	h := head[:n]
	switch {
	case len(h) >= 12 && string(h[:4]) == "RIFF" && string(h[8:12]) == "WAVE":
		md, err = readWAV(r, size)
	case len(h) >= 4 && string(h[:4]) == "fLaC":
		md, err = readFLAC(r, size)
	case len(h) >= 4 && string(h[:4]) == "OggS":
		md, err = readOgg(r, size)
	case len(h) >= 3 && string(h[:3]) == "ID3":
		md, err = readMP3(r, size, true)
	case len(h) >= 4:
		if _, ok := parseMP3Header(h[:4]); !ok {
			return md, errNoSignature
		}
		md, err = readMP3(r, size, false)
	default:
		return md, errNoSignature
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return Metadata{}, fmt.Errorf("%w: the file ends inside its headers", ErrTruncated)
	}
	if err != nil {
		return Metadata{}, err
	}
	md.Title, md.Artist, md.Album = cleanTag(md.Title), cleanTag(md.Artist), cleanTag(md.Album)
	if md.Title == "" {
		md.Title, md.Artist = titleFromName(fileName, md.Artist)
	}
	if md.DurationMS < 0 || md.BitrateKbps < 0 {
		md.DurationMS, md.BitrateKbps = 0, 0
	}
	return md, nil
}

// titleFromName derives a title (and the artist, when artist is empty)
// from a file name: "Artist - Title.ext" or "Title.ext".
func titleFromName(fileName, artist string) (string, string) {
	base := filepath.Base(fileName)
	base = strings.TrimSuffix(base, filepath.Ext(base))
	if a, t, ok := strings.Cut(base, " - "); ok && cleanTag(a) != "" && cleanTag(t) != "" {
		if artist == "" {
			artist = cleanTag(a)
		}
		return cleanTag(t), artist
	}
	title := cleanTag(base)
	if title == "" || title == "." {
		title = "Untitled"
	}
	return title, artist
}

// cleanTag makes a tag value safe for a manifest: valid UTF-8, no NULs or
// control characters, no surrounding space, at most maxTagRunes runes.
func cleanTag(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > maxTagRunes {
		s = string([]rune(s)[:maxTagRunes])
	}
	return s
}

// readAt reads len(b) bytes at off, returning how many it got.
func readAt(r io.ReadSeeker, b []byte, off int64) (int, error) {
	if _, err := r.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	return io.ReadFull(r, b)
}

// unsupported wraps ErrUnsupportedAudio with a reason.
func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupportedAudio, fmt.Sprintf(format, args...))
}

// readTags runs the tag reader read over a bounded stream (read is
// tag.ReadFrom or one of its format-specific readers). Its errors mean "no
// tags"; so does a panic in it, which a fuzzer might find in third-party
// code, and which must not take the caller down.
func readTags(read func(io.ReadSeeker) (tag.Metadata, error), rs io.ReadSeeker) (title, artist, album string) {
	defer func() {
		if recover() != nil {
			title, artist, album = "", "", ""
		}
	}()
	m, err := read(rs)
	if err != nil || m == nil {
		return "", "", ""
	}
	return m.Title(), m.Artist(), m.Album()
}

// ---- WAV ----

// readWAV walks the RIFF chunks (at most maxBlocks) for fmt (byte rate),
// data (audio size) and LIST INFO (tags).
func readWAV(r io.ReadSeeker, size int64) (Metadata, error) {
	md := Metadata{ContentType: ContentTypeWAV}
	var byteRate uint32
	var dataSize, declared int64 = -1, 0
	off := int64(12)
	for i := 0; i < maxBlocks && off+8 <= size; i++ {
		var hdr [8]byte
		if _, err := readAt(r, hdr[:], off); err != nil {
			return md, fmt.Errorf("wav chunk header at %d: %w", off, err)
		}
		id := string(hdr[:4])
		n := int64(binary.LittleEndian.Uint32(hdr[4:]))
		body := off + 8
		switch id {
		case "fmt ":
			if n < 16 {
				return md, unsupported("wav fmt chunk of %d bytes", n)
			}
			var f [16]byte
			if _, err := readAt(r, f[:], body); err != nil {
				return md, fmt.Errorf("wav fmt chunk: %w", err)
			}
			byteRate = binary.LittleEndian.Uint32(f[8:12])
		case "data":
			dataSize = min(n, size-body)
			// A writer that streamed the file may leave 0 or 0xFFFFFFFF
			// ("unknown"); any other size is a promise the file must keep.
			if n > size-body && n != 0 && n != 0xffffffff {
				declared = n
			}
		case "LIST":
			if n >= 4 && n <= maxInfoBytes && body+n <= size {
				buf := make([]byte, n)
				if _, err := readAt(r, buf, body); err != nil {
					return md, fmt.Errorf("wav LIST chunk: %w", err)
				}
				readRIFFInfo(buf, &md)
			}
		}
		off = body + n + n&1 // chunks are padded to even length
	}
	if byteRate == 0 || dataSize < 0 {
		return md, unsupported("wav without fmt and data chunks")
	}
	if declared > 0 {
		return md, fmt.Errorf("%w: its data chunk declares %s of audio, the file holds %s",
			ErrTruncated, seconds(declared*1000/int64(byteRate)), seconds(dataSize*1000/int64(byteRate)))
	}
	md.DurationMS = dataSize * 1000 / int64(byteRate)
	md.BitrateKbps = int(int64(byteRate) * 8 / 1000)
	return md, nil
}

// readRIFFInfo reads title (INAM), artist (IART) and album (IPRD) from a
// LIST chunk's body if it is of type INFO.
func readRIFFInfo(b []byte, md *Metadata) {
	if string(b[:4]) != "INFO" {
		return
	}
	b = b[4:]
	for len(b) >= 8 {
		id := string(b[:4])
		n := int(binary.LittleEndian.Uint32(b[4:8]))
		if n > len(b)-8 {
			return
		}
		v, _, _ := strings.Cut(string(b[8:8+n]), "\x00")
		switch id {
		case "INAM":
			md.Title = v
		case "IART":
			md.Artist = v
		case "IPRD":
			md.Album = v
		}
		b = b[min(len(b), 8+n+n&1):]
	}
}

// ---- FLAC ----

func readFLAC(r io.ReadSeeker, size int64) (Metadata, error) {
	md := Metadata{ContentType: ContentTypeFLAC}
	off := int64(4)
	var haveInfo bool
	var sampleRate, totalSamples, maxFrame, maxBlock uint64
	for i := 0; ; i++ {
		if i >= maxBlocks {
			return md, unsupported("flac with more than %d metadata blocks", maxBlocks)
		}
		var hdr [4]byte
		if _, err := readAt(r, hdr[:], off); err != nil {
			return md, fmt.Errorf("flac block header at %d: %w", off, err)
		}
		last := hdr[0]&0x80 != 0
		typ := hdr[0] & 0x7f
		n := int64(hdr[1])<<16 | int64(hdr[2])<<8 | int64(hdr[3])
		body := off + 4
		if body+n > size {
			return md, fmt.Errorf("%w: the file ends inside its FLAC metadata (a block of %d bytes at byte %d runs past the end)", ErrTruncated, n, body)
		}
		switch {
		case i == 0 && typ != 0:
			return md, unsupported("flac without STREAMINFO")
		case typ == 0 && i == 0:
			if n < 34 {
				return md, unsupported("flac STREAMINFO of %d bytes", n)
			}
			var si [18]byte
			if _, err := readAt(r, si[:], body); err != nil {
				return md, fmt.Errorf("flac STREAMINFO: %w", err)
			}
			// Bytes 7..9: the largest frame in bytes (0: unknown).
			maxFrame = uint64(si[7])<<16 | uint64(si[8])<<8 | uint64(si[9])
			// Bytes 2..3: the largest block in samples.
			maxBlock = uint64(si[2])<<8 | uint64(si[3])
			// Bytes 10..17: 20 bits sample rate, 3 channels, 5 bits per
			// sample, 36 total samples.
			v := binary.BigEndian.Uint64(si[10:18])
			sampleRate = v >> 44
			totalSamples = v & (1<<36 - 1)
			haveInfo = true
		case typ == 4 && n <= maxCommentBytes:
			buf := make([]byte, n)
			if _, err := readAt(r, buf, body); err != nil {
				return md, fmt.Errorf("flac comment block: %w", err)
			}
			md.Title, md.Artist, md.Album = vorbisCommentTags(buf)
		}
		off = body + n
		if last {
			break
		}
	}
	if !haveInfo || sampleRate == 0 {
		return md, unsupported("flac STREAMINFO without sample rate")
	}
	md.audio = audioInfo{start: off, end: size, sampleRate: int64(sampleRate), declaredSamples: int64(totalSamples), maxFrame: int64(maxFrame), maxBlock: int64(maxBlock)}
	if totalSamples > 0 {
		md.DurationMS = int64(totalSamples * 1000 / sampleRate)
	}
	if md.DurationMS > 0 {
		md.BitrateKbps = int((size - off) * 8 / md.DurationMS) // bits per ms = kbit/s
	}
	return md, nil
}

// vorbisCommentTags reads title, artist and album from a Vorbis comment
// block (vendor, count, length-prefixed "KEY=value" entries, all lengths
// little-endian uint32). Entries the tag reader would decode as pictures
// are dropped first, so the tag reader only sees text.
func vorbisCommentTags(b []byte) (title, artist, album string) {
	clean, ok := stripVorbisPictures(b)
	if !ok {
		return "", "", ""
	}
	// Present the comment as a one-block FLAC stream, the tag reader's
	// simplest Vorbis comment entry point.
	var s bytes.Buffer
	s.WriteString("fLaC")
	s.Write([]byte{0x80 | 4, byte(len(clean) >> 16), byte(len(clean) >> 8), byte(len(clean))})
	s.Write(clean)
	return readTags(tag.ReadFLACTags, bytes.NewReader(s.Bytes()))
}

// stripVorbisPictures re-encodes a Vorbis comment block without its
// METADATA_BLOCK_PICTURE entries. It reports false for a malformed block.
func stripVorbisPictures(b []byte) ([]byte, bool) {
	if len(b) > 0xffffff {
		return nil, false
	}
	next := func() ([]byte, bool) {
		if len(b) < 4 {
			return nil, false
		}
		n := binary.LittleEndian.Uint32(b)
		if uint64(n) > uint64(len(b)-4) {
			return nil, false
		}
		v := b[4 : 4+n]
		b = b[4+n:]
		return v, true
	}
	vendor, ok := next()
	if !ok || len(b) < 4 {
		return nil, false
	}
	count := binary.LittleEndian.Uint32(b)
	b = b[4:]
	var kept [][]byte
	for i := uint32(0); i < count; i++ {
		e, ok := next()
		if !ok {
			return nil, false
		}
		key, _, _ := bytes.Cut(e, []byte("="))
		if !bytes.Equal(bytes.ToLower(key), []byte("metadata_block_picture")) {
			kept = append(kept, e)
		}
	}
	out := binary.LittleEndian.AppendUint32(nil, uint32(len(vendor)))
	out = append(out, vendor...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(kept)))
	for _, e := range kept {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(e)))
		out = append(out, e...)
	}
	return out, true
}

// ---- Ogg Vorbis ----

// oggPage is a parsed Ogg page header.
type oggPage struct {
	headerType byte
	granule    uint64
	serial     uint32
	segments   []byte // the lacing values
	dataLen    int
}

const oggHeaderLen = 27

// parseOggPage parses the page header at the start of b, which must hold
// at least the header and its segment table.
func parseOggPage(b []byte) (oggPage, int, bool) {
	if len(b) < oggHeaderLen || string(b[:4]) != "OggS" || b[4] != 0 {
		return oggPage{}, 0, false
	}
	nseg := int(b[26])
	if len(b) < oggHeaderLen+nseg {
		return oggPage{}, 0, false
	}
	p := oggPage{
		headerType: b[5],
		granule:    binary.LittleEndian.Uint64(b[6:14]),
		serial:     binary.LittleEndian.Uint32(b[14:18]),
		segments:   b[oggHeaderLen : oggHeaderLen+nseg],
	}
	for _, s := range p.segments {
		p.dataLen += int(s)
	}
	return p, oggHeaderLen + nseg, true
}

// oggCRC computes the Ogg page checksum (CRC-32, polynomial 0x04c11db7,
// no reflection) over a page whose CRC field is taken as zero.
func oggCRC(page []byte) uint32 {
	var crc uint32
	for i, v := range page {
		if i >= 22 && i < 26 {
			v = 0
		}
		crc = crc<<8 ^ oggCRCTable[byte(crc>>24)^v]
	}
	return crc
}

var oggCRCTable = func() (t [256]uint32) {
	for i := range t {
		c := uint32(i) << 24
		for range 8 {
			if c&0x80000000 != 0 {
				c = c<<1 ^ 0x04c11db7
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// maxOggPage is the largest possible Ogg page.
const maxOggPage = oggHeaderLen + 255 + 255*255

// readOggPageAt reads the whole page at off into a fresh buffer.
func readOggPageAt(r io.ReadSeeker, off, size int64) (oggPage, []byte, error) {
	var hdr [oggHeaderLen]byte
	if _, err := readAt(r, hdr[:], off); err != nil {
		return oggPage{}, nil, fmt.Errorf("ogg page at %d: %w", off, err)
	}
	if string(hdr[:4]) != "OggS" || hdr[4] != 0 {
		return oggPage{}, nil, unsupported("no ogg page at %d", off)
	}
	seg := make([]byte, oggHeaderLen+int(hdr[26]))
	copy(seg, hdr[:])
	if _, err := io.ReadFull(r, seg[oggHeaderLen:]); err != nil {
		return oggPage{}, nil, fmt.Errorf("ogg segment table at %d: %w", off, err)
	}
	p, n, _ := parseOggPage(seg)
	if off+int64(n+p.dataLen) > size {
		return oggPage{}, nil, unsupported("ogg page at %d past end of file", off)
	}
	page := make([]byte, n+p.dataLen)
	copy(page, seg)
	if _, err := io.ReadFull(r, page[n:]); err != nil {
		return oggPage{}, nil, fmt.Errorf("ogg page data at %d: %w", off, err)
	}
	if oggCRC(page) != binary.LittleEndian.Uint32(page[22:26]) {
		return oggPage{}, nil, unsupported("ogg page at %d has a bad checksum", off)
	}
	p, _, _ = parseOggPage(page)
	return p, page, nil
}

func readOgg(r io.ReadSeeker, size int64) (Metadata, error) {
	md := Metadata{ContentType: ContentTypeOgg}
	first, page, err := readOggPageAt(r, 0, size)
	if err != nil {
		return md, err
	}
	// The first page holds exactly the identification header, 30 bytes:
	// "\x01vorbis", version, channels, sample rate, bitrate max, nominal,
	// min, block sizes, framing.
	data := page[len(page)-first.dataLen:]
	if first.headerType&0x02 == 0 || len(data) < 30 || string(data[:7]) != "\x01vorbis" {
		return md, unsupported("ogg stream is not vorbis")
	}
	if binary.LittleEndian.Uint32(data[7:11]) != 0 || data[11] == 0 {
		return md, unsupported("vorbis version or channel count")
	}
	rate := uint64(binary.LittleEndian.Uint32(data[12:16]))
	nominal := int32(binary.LittleEndian.Uint32(data[20:24]))
	if rate == 0 {
		return md, unsupported("vorbis sample rate 0")
	}
	serial := first.serial

	if comment, ok := readOggCommentPacket(r, int64(len(page)), size, serial); ok {
		// "\x03vorbis", the comment block, a framing bit.
		if len(comment) > 7 && string(comment[:7]) == "\x03vorbis" {
			md.Title, md.Artist, md.Album = vorbisCommentTags(comment[7:])
		}
	}

	md.audio = audioInfo{sampleRate: int64(rate), oggSerial: serial}
	if g, ok := lastOggGranule(r, size, serial); ok && g < 1<<50 {
		md.DurationMS = int64(g * 1000 / rate)
	}
	switch {
	case nominal > 0:
		md.BitrateKbps = int(nominal / 1000)
	case md.DurationMS > 0:
		md.BitrateKbps = int(size * 8 / md.DurationMS)
	}
	return md, nil
}

// readOggCommentPacket assembles the second packet of the stream serial,
// which starts on the page at off. It gives up (false) on a malformed
// stream or a packet over maxCommentBytes.
func readOggCommentPacket(r io.ReadSeeker, off, size int64, serial uint32) ([]byte, bool) {
	var pkt []byte
	for range maxOggPages {
		if off >= size {
			return nil, false
		}
		p, page, err := readOggPageAt(r, off, size)
		if err != nil {
			return nil, false
		}
		off += int64(len(page))
		if p.serial != serial {
			continue
		}
		data := page[len(page)-p.dataLen:]
		for _, s := range p.segments {
			pkt = append(pkt, data[:s]...)
			data = data[s:]
			if len(pkt) > maxCommentBytes {
				return nil, false
			}
			if s < 255 {
				return pkt, true
			}
		}
	}
	return nil, false
}

// lastOggGranule finds the granule position of the last page of stream
// serial, searching backwards through the file's last two maximal pages.
func lastOggGranule(r io.ReadSeeker, size int64, serial uint32) (uint64, bool) {
	p, ok := lastOggPage(r, size, serial)
	return p.granule, ok
}

// lastOggPage finds the last whole page (its checksum right) of stream
// serial that has a granule position, searching backwards through the
// file's last two maximal pages.
func lastOggPage(r io.ReadSeeker, size int64, serial uint32) (oggPage, bool) {
	n := min(size, 2*maxOggPage)
	buf := make([]byte, n)
	if _, err := readAt(r, buf, size-n); err != nil {
		return oggPage{}, false
	}
	for i := len(buf) - oggHeaderLen; i >= 0; i-- {
		if buf[i] != 'O' || string(buf[i:i+4]) != "OggS" {
			continue
		}
		p, hn, ok := parseOggPage(buf[i:])
		if !ok || p.serial != serial || p.granule == ^uint64(0) || i+hn+p.dataLen > len(buf) {
			continue
		}
		page := buf[i : i+hn+p.dataLen]
		if oggCRC(page) != binary.LittleEndian.Uint32(page[22:26]) {
			continue
		}
		return p, true
	}
	return oggPage{}, false
}

// ---- MP3 ----

// mp3Frame is a parsed MPEG audio layer III frame header.
type mp3Frame struct {
	mpeg1          bool
	mono           bool
	bitrateKbps    int
	sampleRate     int
	samplesPerFrme int
	length         int // bytes, header included
}

var (
	mp3BitratesV1 = [16]int{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0}
	mp3BitratesV2 = [16]int{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0}
	mp3Rates      = [4][3]int{ // by version bits: 2.5, reserved, 2, 1
		{11025, 12000, 8000}, {}, {22050, 24000, 16000}, {44100, 48000, 32000},
	}
)

// parseMP3Header parses a 4-byte layer III frame header. Free-format and
// reserved values are rejected.
func parseMP3Header(h []byte) (mp3Frame, bool) {
	if len(h) < 4 || h[0] != 0xff || h[1]&0xe0 != 0xe0 {
		return mp3Frame{}, false
	}
	version := h[1] >> 3 & 3
	layer := h[1] >> 1 & 3
	brIdx := h[2] >> 4
	srIdx := h[2] >> 2 & 3
	pad := int(h[2] >> 1 & 1)
	if version == 1 || layer != 1 || brIdx == 0 || brIdx == 15 || srIdx == 3 || h[3]&3 == 2 {
		return mp3Frame{}, false
	}
	f := mp3Frame{
		mpeg1:      version == 3,
		mono:       h[3]>>6 == 3,
		sampleRate: mp3Rates[version][srIdx],
	}
	if f.mpeg1 {
		f.bitrateKbps = mp3BitratesV1[brIdx]
		f.samplesPerFrme = 1152
		f.length = 144*f.bitrateKbps*1000/f.sampleRate + pad
	} else {
		f.bitrateKbps = mp3BitratesV2[brIdx]
		f.samplesPerFrme = 576
		f.length = 72*f.bitrateKbps*1000/f.sampleRate + pad
	}
	return f, true
}

// mp3SyncWindow bounds how far past the ID3v2 tag ReadMetadata looks for
// the first frame (encoders sometimes pad beyond the declared tag size).
const mp3SyncWindow = 64 << 10

func readMP3(r io.ReadSeeker, size int64, id3 bool) (Metadata, error) {
	md := Metadata{ContentType: ContentTypeMP3}
	start := int64(0)
	if id3 {
		var h [10]byte
		if _, err := readAt(r, h[:], 0); err != nil {
			return md, fmt.Errorf("id3v2 header: %w", err)
		}
		if h[6]|h[7]|h[8]|h[9] >= 0x80 {
			return md, unsupported("id3v2 size not syncsafe")
		}
		n := int64(h[6])<<21 | int64(h[7])<<14 | int64(h[8])<<7 | int64(h[9])
		start = 10 + n
		if h[5]&0x10 != 0 {
			start += 10 // footer
		}
		if start > size {
			return md, unsupported("id3v2 tag past end of file")
		}
		if start <= maxID3Bytes {
			md.Title, md.Artist, md.Album = readTags(tag.ReadID3v2Tags, io.NewSectionReader(asReaderAt(r), 0, start))
		}
	}

	// Find the first frame: at start exactly without ID3v2, within a bounded
	// window after it otherwise; a frame counts only if the next one follows
	// it (or the file ends there).
	win := make([]byte, min(size-start, mp3SyncWindow+4))
	if _, err := readAt(r, win, start); err != nil {
		return md, fmt.Errorf("mp3 frames at %d: %w", start, err)
	}
	limit := 1
	if id3 {
		limit = len(win)
	}
	var f mp3Frame
	found := false
	for i := 0; i < limit && i+4 <= len(win); i++ {
		g, ok := parseMP3Header(win[i:])
		if !ok {
			continue
		}
		next := start + int64(i+g.length)
		if next > size {
			continue // the frame is cut off
		}
		if next < size {
			var nh [4]byte
			if _, err := readAt(r, nh[:], next); err == nil {
				if _, ok := parseMP3Header(nh[:]); !ok {
					continue
				}
			} else if next+4 <= size {
				continue
			}
		}
		f, found, start = g, true, start+int64(i)
		break
	}
	if !found {
		return md, unsupported("no mpeg layer III frame")
	}

	// Audio bytes: to the end, less an ID3v1 tag.
	end := size
	var tail [3]byte
	if size-start >= 128 {
		if _, err := readAt(r, tail[:], size-128); err == nil && string(tail[:]) == "TAG" {
			end = size - 128
			if md.Title == "" {
				md.Title, md.Artist, md.Album = readTags(tag.ReadID3v1Tags, io.NewSectionReader(asReaderAt(r), size-128, 128))
			}
		}
	}
	audio := end - start

	// Xing/Info or VBRI header in the first frame.
	fb := make([]byte, min(int64(f.length), audio, 1024))
	if _, err := readAt(r, fb, start); err != nil {
		return md, fmt.Errorf("mp3 first frame: %w", err)
	}
	// A layer III frame is at least 24 bytes (8 kbit/s at 24 kHz), which
	// bounds a believable frame count.
	md.audio = audioInfo{start: start, end: end, sampleRate: int64(f.sampleRate), samplesPerFrame: int64(f.samplesPerFrme)}
	frames, bytesTotal, gapless, vbr, ok := parseXing(fb, f)
	if ok && frames > 0 {
		// Even a count too large for the file is what the header declares:
		// Inspect then finds the file truncated.
		md.audio.declaredFrames = frames
	}
	if ok && frames > 0 && frames <= audio/24+1 {
		samples := frames * int64(f.samplesPerFrme)
		if gapless > 0 && gapless < samples {
			samples -= gapless
		}
		md.DurationMS = samples * 1000 / int64(f.sampleRate)
		switch {
		case !vbr:
			md.BitrateKbps = f.bitrateKbps
		case bytesTotal > 0 && md.DurationMS > 0:
			md.BitrateKbps = int(bytesTotal * 8 / md.DurationMS)
		case md.DurationMS > 0:
			md.BitrateKbps = int(audio * 8 / md.DurationMS)
		}
		return md, nil
	}
	md.BitrateKbps = f.bitrateKbps
	md.DurationMS = audio * 8 / int64(f.bitrateKbps) // bits / (bits per ms)
	return md, nil
}

// parseXing reads a Xing/Info or VBRI header from the first frame fb. It
// returns the frame count, the byte count (0 if absent), the encoder delay
// plus padding in samples from a LAME extension (0 if absent), and whether
// the stream is VBR (Xing, VBRI) rather than CBR (Info).
func parseXing(fb []byte, f mp3Frame) (frames, byteCount, gapless int64, vbr, ok bool) {
	side := 17
	switch {
	case f.mpeg1 && !f.mono:
		side = 32
	case !f.mpeg1 && f.mono:
		side = 9
	}
	x := 4 + side
	if len(fb) >= x+8 && (string(fb[x:x+4]) == "Xing" || string(fb[x:x+4]) == "Info") {
		vbr = string(fb[x:x+4]) == "Xing"
		flags := binary.BigEndian.Uint32(fb[x+4:])
		p := x + 8
		if flags&1 != 0 {
			if len(fb) < p+4 {
				return 0, 0, 0, false, false
			}
			frames = int64(binary.BigEndian.Uint32(fb[p:]))
			p += 4
		}
		if flags&2 != 0 {
			if len(fb) < p+4 {
				return 0, 0, 0, false, false
			}
			byteCount = int64(binary.BigEndian.Uint32(fb[p:]))
			p += 4
		}
		if flags&4 != 0 {
			p += 100 // seek table
		}
		if flags&8 != 0 {
			p += 4 // quality
		}
		// LAME extension: 9-byte encoder string; delay and padding, 12 bits
		// each, at offset 21.
		if len(fb) >= p+24 && (string(fb[p:p+4]) == "LAME" || string(fb[p:p+4]) == "Lavc" || string(fb[p:p+4]) == "Lavf") {
			d := fb[p+21 : p+24]
			delay := int64(d[0])<<4 | int64(d[1])>>4
			padding := int64(d[1]&0x0f)<<8 | int64(d[2])
			gapless = delay + padding
		}
		return frames, byteCount, gapless, vbr, flags&1 != 0
	}
	// VBRI: fixed 32 bytes after the header; "VBRI", version, delay,
	// quality, bytes (4), frames (4).
	const v = 4 + 32
	if len(fb) >= v+18 && string(fb[v:v+4]) == "VBRI" {
		byteCount = int64(binary.BigEndian.Uint32(fb[v+10:]))
		frames = int64(binary.BigEndian.Uint32(fb[v+14:]))
		return frames, byteCount, 0, true, true
	}
	return 0, 0, 0, false, false
}

// asReaderAt adapts a ReadSeeker to io.ReaderAt for the tag reader's
// section views. Not safe for concurrent use (nor is the ReadSeeker).
func asReaderAt(r io.ReadSeeker) io.ReaderAt {
	if ra, ok := r.(io.ReaderAt); ok {
		return ra
	}
	return seekReaderAt{r}
}

type seekReaderAt struct{ r io.ReadSeeker }

func (s seekReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if _, err := s.r.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	return io.ReadFull(s.r, p)
}
