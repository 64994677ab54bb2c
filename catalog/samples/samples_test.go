package samples

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/chorus-music/chorus/catalog"
)

func TestWriteWAVParses(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
	}{
		{"defaults", Spec{Seconds: 2, Seed: 1}},
		{"mono 22k", Spec{Seconds: 1.5, SampleRate: 22050, Channels: 1, Seed: 2}},
		{"odd length", Spec{Seconds: 0.3337, SampleRate: 48000, Seed: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteWAV(&buf, tt.spec); err != nil {
				t.Fatalf("WriteWAV(%+v) = %v", tt.spec, err)
			}
			md, err := catalog.ReadMetadata(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "A - B.wav")
			if err != nil {
				t.Fatalf("ReadMetadata(WriteWAV(%+v)) = %v", tt.spec, err)
			}
			if md.ContentType != "audio/wav" {
				t.Errorf("ContentType = %q; want audio/wav", md.ContentType)
			}
			want := tt.spec.Seconds * 1000
			if d := math.Abs(float64(md.DurationMS) - want); d > 1 {
				t.Errorf("DurationMS = %d; want %v within 1 ms", md.DurationMS, want)
			}
		})
	}
}

func TestWriteWAVDeterministic(t *testing.T) {
	s := Spec{Seconds: 1, Seed: 42}
	sum := func(s Spec) [32]byte {
		var buf bytes.Buffer
		if err := WriteWAV(&buf, s); err != nil {
			t.Fatalf("WriteWAV(%+v) = %v", s, err)
		}
		return sha256.Sum256(buf.Bytes())
	}
	if a, b := sum(s), sum(s); a != b {
		t.Errorf("WriteWAV(%+v) twice gave different bytes", s)
	}
	other := s
	other.Seed = 43
	if a, b := sum(s), sum(other); a == b {
		t.Errorf("WriteWAV with seeds 42 and 43 gave the same bytes")
	}
}

func TestWriteWAVNotSilent(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteWAV(&buf, Spec{Seconds: 1, Channels: 1, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	var peak int
	pcm := buf.Bytes()[44:]
	for i := 0; i+1 < len(pcm); i += 2 {
		v := int(int16(uint16(pcm[i]) | uint16(pcm[i+1])<<8))
		peak = max(peak, v, -v)
	}
	if peak < 3000 {
		t.Errorf("peak sample = %d; want an audible signal (>= 3000)", peak)
	}
}

func TestWriteWAVBadSpec(t *testing.T) {
	for _, s := range []Spec{
		{},
		{Seconds: -1},
		{Seconds: math.NaN()},
		{Seconds: MaxSeconds + 1},
		{Seconds: 1, SampleRate: 100},
		{Seconds: 1, Channels: 3},
	} {
		if err := WriteWAV(&bytes.Buffer{}, s); !errors.Is(err, ErrBadSpec) {
			t.Errorf("WriteWAV(%+v) = %v; want ErrBadSpec", s, err)
		}
	}
}

func TestDemo(t *testing.T) {
	demo := Demo()
	if len(demo) < 4 {
		t.Fatalf("len(Demo()) = %d; want at least 4", len(demo))
	}
	names := map[string]bool{}
	shortest := demo[0]
	for _, d := range demo {
		if names[d.FileName] {
			t.Errorf("Demo() repeats %q", d.FileName)
		}
		names[d.FileName] = true
		if d.Spec.Seconds < 10 || d.Spec.Seconds > 30 {
			t.Errorf("Demo() %q lasts %v s; want 10 to 30", d.FileName, d.Spec.Seconds)
		}
		if _, err := d.Spec.normalize(); err != nil {
			t.Errorf("Demo() %q: %v", d.FileName, err)
		}
		if d.Spec.Seconds < shortest.Spec.Seconds {
			shortest = d
		}
	}
	// Rendering is the same code for every demo track (TestWriteWAVParses
	// covers the parameters); render one, the shortest, to keep -race fast.
	var buf bytes.Buffer
	if err := WriteWAV(&buf, shortest.Spec); err != nil {
		t.Fatalf("WriteWAV(%q) = %v", shortest.FileName, err)
	}
	md, err := catalog.ReadMetadata(bytes.NewReader(buf.Bytes()), int64(buf.Len()), shortest.FileName)
	if err != nil {
		t.Fatalf("ReadMetadata(%q) = %v", shortest.FileName, err)
	}
	if md.Artist == "" || md.Title == "" || md.ContentType != "audio/wav" {
		t.Errorf("ReadMetadata(%q) = %+v; want artist, title and audio/wav", shortest.FileName, md)
	}
	if d := math.Abs(float64(md.DurationMS) - shortest.Spec.Seconds*1000); d > 1 {
		t.Errorf("ReadMetadata(%q).DurationMS = %d; want within 1 ms of %v s", shortest.FileName, md.DurationMS, shortest.Spec.Seconds)
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "Artist - Title.wav")
	if err := WriteFile(good, Spec{Seconds: 0.25, SampleRate: 8000, Channels: 1}); err != nil {
		t.Fatalf("WriteFile(good) = %v", err)
	}
	if info, err := os.Stat(good); err != nil || info.Size() <= 44 {
		t.Fatalf("WriteFile(good) left %v, %v; want a WAV with audio", info, err)
	}
	bad := filepath.Join(dir, "bad.wav")
	if err := WriteFile(bad, Spec{Seconds: -1}); !errors.Is(err, ErrBadSpec) {
		t.Fatalf("WriteFile(bad spec) = %v; want ErrBadSpec", err)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Fatalf("WriteFile(bad spec) left a file (stat err %v)", err)
	}
}
