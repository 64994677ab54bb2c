package catalog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testFiles are the committed encoder outputs (see testdata/README.md).
//
// Duration tolerance: WAV, FLAC and Ogg Vorbis store the exact sample count
// (data size / byte rate, STREAMINFO total samples, last granule position),
// and LAME's Info/Xing header carries the frame count plus the encoder delay
// and padding, so those must come within 1 ms of the 3.000 s source. An MP3
// without a Xing header only allows a CBR estimate from its size, which
// includes LAME's delay and padding (576 + up to ~1700 samples, about 80 ms
// at 22.05 kHz), so it gets 100 ms.
var testFiles = []struct {
	file        string
	contentType string
	title       string
	artist      string
	album       string
	durationMS  int64
	tolMS       int64
	bitrateKbps int
}{
	{"Test Artist - Wave Title.wav", ContentTypeWAV, "Wave Title", "Test Artist", "", 3000, 1, 352},
	{"vorbis.ogg", ContentTypeOgg, "Vorbis Title", "Vorbis Artist", "Vorbis Album", 3000, 1, 96},
	{"mpeg.mp3", ContentTypeMP3, "Mpeg Title", "Mpeg Artist", "Mpeg Album", 3000, 1, 128},
	{"flac.flac", ContentTypeFLAC, "Flac Title", "Flac Artist", "Flac Album", 3000, 1, 261},
	{"Vbr Artist - Vbr Title.mp3", ContentTypeMP3, "Vbr Title", "Vbr Artist", "", 3000, 1, 13},
	{"id3v1.mp3", ContentTypeMP3, "Old Title", "Old Artist", "Old Album", 3000, 100, 64},
}

func TestReadMetadata(t *testing.T) {
	for _, tt := range testFiles {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				t.Fatal(err)
			}
			md, err := ReadMetadata(f, st.Size(), tt.file)
			if err != nil {
				t.Fatalf("ReadMetadata(%q) = %v", tt.file, err)
			}
			if md.ContentType != tt.contentType {
				t.Errorf("ReadMetadata(%q).ContentType = %q; want %q", tt.file, md.ContentType, tt.contentType)
			}
			if md.Title != tt.title || md.Artist != tt.artist || md.Album != tt.album {
				t.Errorf("ReadMetadata(%q) tags = %q/%q/%q; want %q/%q/%q", tt.file,
					md.Title, md.Artist, md.Album, tt.title, tt.artist, tt.album)
			}
			if d := md.DurationMS - tt.durationMS; d > tt.tolMS || d < -tt.tolMS {
				t.Errorf("ReadMetadata(%q).DurationMS = %d; want %d ± %d", tt.file, md.DurationMS, tt.durationMS, tt.tolMS)
			}
			if md.BitrateKbps != tt.bitrateKbps {
				t.Errorf("ReadMetadata(%q).BitrateKbps = %d; want %d", tt.file, md.BitrateKbps, tt.bitrateKbps)
			}
		})
	}
}

func TestTitleFromName(t *testing.T) {
	tests := []struct{ name, title, artist string }{
		{"Chorus Ensemble - First Light.wav", "First Light", "Chorus Ensemble"},
		{"/music/dir/Some Song.flac", "Some Song", ""},
		{"A - B - C.mp3", "B - C", "A"},
		{" - Nameless.wav", "- Nameless", ""},
		{".wav", "Untitled", ""},
		{"no-extension", "no-extension", ""},
	}
	for _, tt := range tests {
		title, artist := titleFromName(tt.name, "")
		if title != tt.title || artist != tt.artist {
			t.Errorf("titleFromName(%q) = %q, %q; want %q, %q", tt.name, title, artist, tt.title, tt.artist)
		}
	}
	if _, artist := titleFromName("X - Y.wav", "Tagged"); artist != "Tagged" {
		t.Errorf("titleFromName with a tagged artist replaced it with %q", artist)
	}
}

func TestReadMetadataUnsupported(t *testing.T) {
	wav := readFile(t, filepath.Join("testdata", "Test Artist - Wave Title.wav"))
	ogg := readFile(t, filepath.Join("testdata", "vorbis.ogg"))
	flac := readFile(t, filepath.Join("testdata", "flac.flac"))
	mp3 := readFile(t, filepath.Join("testdata", "mpeg.mp3"))

	// An Ogg stream whose first packet is not Vorbis (an Opus head) with a
	// correct checksum.
	opus := bytes.Clone(ogg[:27+1+30])
	opus[26], opus[27] = 1, 30
	copy(opus[28:], "OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	binary.LittleEndian.PutUint32(opus[22:], oggCRC(opus))

	badCRC := bytes.Clone(ogg)
	badCRC[40] ^= 1

	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"text", []byte("hello, this is not audio at all")},
		{"riff avi", append([]byte("RIFF\x10\x00\x00\x00AVI "), make([]byte, 16)...)},
		{"wav without data", wav[:36]},
		{"wav header only", wav[:12]},
		{"flac magic only", flac[:4]},
		{"flac truncated streaminfo", flac[:20]},
		{"ogg opus", opus},
		{"ogg bad checksum", badCRC},
		{"ogg truncated", ogg[:40]},
		{"id3 without frames", mp3[:0x130]},
		{"mp2 frame", []byte{0xff, 0xfd, 0x90, 0x64, 0, 0, 0, 0}},
	}
	if _, err := ReadMetadata(bytes.NewReader(wav), -1, "negative"); !errors.Is(err, ErrUnsupportedAudio) {
		t.Errorf("ReadMetadata(size -1) = %v; want ErrUnsupportedAudio", err)
	}
	for _, tt := range tests {
		_, err := ReadMetadata(bytes.NewReader(tt.data), int64(len(tt.data)), tt.name)
		want := ErrUnsupportedAudio
		if strings.HasPrefix(tt.name, "flac ") {
			want = ErrTruncated // the header is cut off, the format known
		}
		if !errors.Is(err, want) {
			t.Errorf("ReadMetadata(%s) = %v; want %v", tt.name, err, want)
		}
	}
}

// TestReadMetadataPictureComment checks that a Vorbis comment claiming a
// huge cover picture is dropped before the tag reader sees it.
func TestReadMetadataPictureComment(t *testing.T) {
	entries := []string{
		"TITLE=Pictured",
		// Picture type 3, mime length 0, description length 0, 4 uint32
		// dimensions, then a data length of 4 GiB - 1.
		"METADATA_BLOCK_PICTURE=AAAAAwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAP////8=",
	}
	block := binary.LittleEndian.AppendUint32(nil, 4)
	block = append(block, "test"...)
	block = binary.LittleEndian.AppendUint32(block, uint32(len(entries)))
	for _, e := range entries {
		block = binary.LittleEndian.AppendUint32(block, uint32(len(e)))
		block = append(block, e...)
	}
	title, _, _ := vorbisCommentTags(block)
	if title != "Pictured" {
		t.Errorf("vorbisCommentTags(picture comment) title = %q; want %q", title, "Pictured")
	}
}

func TestCleanTag(t *testing.T) {
	tests := []struct{ in, want string }{
		{"  plain  ", "plain"},
		{"nul\x00padded\x00\x00", "nulpadded"},
		{"bad \xff utf8", "bad \uFFFD utf8"},
		{string(bytes.Repeat([]byte("é"), 300)), string(bytes.Repeat([]byte("é"), maxTagRunes))},
	}
	for _, tt := range tests {
		if got := cleanTag(tt.in); got != tt.want {
			t.Errorf("cleanTag(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzReadMetadata(f *testing.F) {
	// Seed corpus: testdata/fuzz/FuzzReadMetadata (heads of the test files,
	// two whole short files, and hostile headers).
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		md, err := ReadMetadata(bytes.NewReader(data), int64(len(data)), name)
		if err != nil {
			return
		}
		if md.ContentType == "" || md.Title == "" || md.DurationMS < 0 || md.BitrateKbps < 0 {
			t.Errorf("ReadMetadata accepted input with %+v", md)
		}
	})
}

func TestReadMetadataWAVInfo(t *testing.T) {
	wav := readFile(t, filepath.Join("testdata", "Test Artist - Wave Title.wav"))
	sub := func(id, v string) []byte {
		b := append([]byte(id), 0, 0, 0, 0)
		v += "\x00"
		if len(v)%2 == 1 {
			v += "\x00"
		}
		binary.LittleEndian.PutUint32(b[4:], uint32(len(v)))
		return append(b, v...)
	}
	info := []byte("INFO")
	info = append(info, sub("INAM", "Info Title")...)
	info = append(info, sub("IART", "Info Artist")...)
	info = append(info, sub("IPRD", "Info Album")...)
	list := binary.LittleEndian.AppendUint32([]byte("LIST"), uint32(len(info)))
	list = append(list, info...)
	data := append(bytes.Clone(wav), list...)
	binary.LittleEndian.PutUint32(data[4:], uint32(len(data)-8))

	md, err := ReadMetadata(bytes.NewReader(data), int64(len(data)), "Name Artist - Name Title.wav")
	if err != nil {
		t.Fatalf("ReadMetadata(wav with INFO) = %v", err)
	}
	if md.Title != "Info Title" || md.Artist != "Info Artist" || md.Album != "Info Album" || md.DurationMS != 3000 {
		t.Errorf("ReadMetadata(wav with INFO) = %+v; want the INFO tags and 3000 ms", md)
	}
}

// countingFile is a virtual file: head, then zeros up to size. It counts
// the bytes read from it.
type countingFile struct {
	head []byte
	size int64
	off  int64
	read int64
}

func (f *countingFile) Read(p []byte) (int, error) {
	if f.off >= f.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), f.size-f.off))
	for i := range n {
		if at := f.off + int64(i); at < int64(len(f.head)) {
			p[i] = f.head[at]
		} else {
			p[i] = 0
		}
	}
	f.off += int64(n)
	f.read += int64(n)
	return n, nil
}

func (f *countingFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += f.off
	case io.SeekEnd:
		off += f.size
	}
	if off < 0 {
		return 0, errors.New("negative seek")
	}
	f.off = off
	return off, nil
}

// TestReadMetadataBoundedReads checks that the header parsers read only
// headers from a large file, never its audio.
func TestReadMetadataBoundedReads(t *testing.T) {
	const size = 1 << 30
	wav := readFile(t, filepath.Join("testdata", "Test Artist - Wave Title.wav"))[:44]
	wav = bytes.Clone(wav)
	binary.LittleEndian.PutUint32(wav[40:], size-44) // data chunk size
	flac := readFile(t, filepath.Join("testdata", "flac.flac"))
	mp3 := readFile(t, filepath.Join("testdata", "mpeg.mp3"))
	ogg := readFile(t, filepath.Join("testdata", "vorbis.ogg"))
	tests := []struct {
		name   string
		head   []byte
		ctype  string
		budget int64
	}{
		{"Big - Wave.wav", wav, ContentTypeWAV, 1 << 10},
		{"Big - Flac.flac", flac[:8<<10], ContentTypeFLAC, 16 << 10},
		// The first-frame search window (64 KiB) after the ID3v2 tag.
		{"Big - Mpeg.mp3", mp3[:8<<10], ContentTypeMP3, 80 << 10},
		// The first pages, then two maximal pages at the end for the last
		// granule position (none there: the duration comes out unknown).
		{"Big - Vorbis.ogg", ogg[:8<<10], ContentTypeOgg, 160 << 10},
	}
	for _, tt := range tests {
		f := &countingFile{head: tt.head, size: size}
		md, err := ReadMetadata(f, size, tt.name)
		if err != nil {
			t.Fatalf("ReadMetadata(%q, 1 GiB) = %v", tt.name, err)
		}
		if md.ContentType != tt.ctype || (md.DurationMS == 0) != (tt.ctype == ContentTypeOgg) {
			t.Errorf("ReadMetadata(%q, 1 GiB) = %+v; want %s", tt.name, md, tt.ctype)
		}
		if f.read > tt.budget {
			t.Errorf("ReadMetadata(%q, 1 GiB) read %d bytes; want at most %d", tt.name, f.read, tt.budget)
		}
	}
}
