package samples

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
)

// Spec describes one synthetic track.
type Spec struct {
	// Seconds is the length, more than 0 and at most MaxSeconds.
	Seconds float64
	// SampleRate in Hz; 0 means 44100. Otherwise 8000 to 192000.
	SampleRate int
	// Channels is 1 or 2; 0 means 2.
	Channels int
	// Seed picks the melody, tempo, key and timbre. The same Spec always
	// gives the same bytes.
	Seed int64
}

// MaxSeconds bounds Spec.Seconds.
const MaxSeconds = 600

// ErrBadSpec reports a Spec out of range.
var ErrBadSpec = errors.New("samples: bad spec")

// Named is a demo track and the file name that carries its artist and
// title ("Artist - Title.wav").
type Named struct {
	FileName string
	Spec     Spec
}

// Demo returns the demo catalog: a few tracks of 10 to 30 seconds.
func Demo() []Named {
	return []Named{
		{FileName: "Chorus Ensemble - First Light.wav", Spec: Spec{Seconds: 24, Seed: 1}},
		{FileName: "Chorus Ensemble - Harbour Lights.wav", Spec: Spec{Seconds: 18, Seed: 2}},
		{FileName: "The Peer Review - Kademlia Waltz.wav", Spec: Spec{Seconds: 30, Seed: 3}},
		{FileName: "The Peer Review - Cold Start.wav", Spec: Spec{Seconds: 12, Seed: 4}},
		{FileName: "Origin Story - Last Chunk Home.wav", Spec: Spec{Seconds: 20, Seed: 5}},
	}
}

// normalize applies defaults and checks ranges.
func (s Spec) normalize() (Spec, error) {
	if s.SampleRate == 0 {
		s.SampleRate = 44100
	}
	if s.Channels == 0 {
		s.Channels = 2
	}
	switch {
	case !(s.Seconds > 0 && s.Seconds <= MaxSeconds):
		return s, fmt.Errorf("%w: %v seconds", ErrBadSpec, s.Seconds)
	case s.SampleRate < 8000 || s.SampleRate > 192000:
		return s, fmt.Errorf("%w: sample rate %d", ErrBadSpec, s.SampleRate)
	case s.Channels != 1 && s.Channels != 2:
		return s, fmt.Errorf("%w: %d channels", ErrBadSpec, s.Channels)
	}
	return s, nil
}

// Frames returns the number of sample frames WriteWAV writes for s.
func (s Spec) Frames() int64 {
	s, err := s.normalize()
	if err != nil {
		return 0
	}
	return int64(math.Round(s.Seconds * float64(s.SampleRate)))
}

// note is one scheduled tone.
type note struct {
	start, length int64   // in frames
	freq          float64 // Hz
	amp           float64
	pan           float64 // 0 left .. 1 right
	bright        float64 // weight of the harmonics
}

// pentatonic major scale steps in semitones.
var pentatonic = []int{0, 2, 4, 7, 9}

// compose lays out a melody over a bass line for s.
func compose(s Spec, frames int64) []note {
	rng := rand.New(rand.NewPCG(uint64(s.Seed), 0x63686f727573)) // "chorus"
	rate := float64(s.SampleRate)
	root := 196.0 * math.Pow(2, float64(rng.IntN(7))/12) // G3 up to C#4
	beat := int64(rate * (0.28 + 0.14*rng.Float64()))    // 107-214 bpm
	bright := 0.2 + 0.4*rng.Float64()
	freq := func(degree int) float64 {
		oct, step := degree/len(pentatonic), degree%len(pentatonic)
		return root * math.Pow(2, float64(oct)+float64(pentatonic[step])/12)
	}
	var notes []note
	// Melody: a random walk on the scale, mostly one beat, sometimes two.
	degree := 5
	for t := int64(0); t < frames; {
		n := int64(1 + rng.IntN(4)/3)
		degree = min(max(degree+rng.IntN(5)-2, 2), 10)
		if rng.IntN(8) > 0 { // an occasional rest
			notes = append(notes, note{
				start: t, length: n * beat, freq: freq(degree),
				amp: 0.22, pan: 0.3 + 0.4*rng.Float64(), bright: bright,
			})
		}
		t += n * beat
	}
	// Bass: the root or fifth an octave down, every four beats.
	for t, i := int64(0), 0; t < frames; t, i = t+4*beat, i+1 {
		f := root / 2
		if i%2 == 1 {
			f *= 1.5
		}
		notes = append(notes, note{start: t, length: 4 * beat, freq: f, amp: 0.18, pan: 0.5, bright: 0.1})
	}
	return notes
}

// render adds note n's frames [lo, hi) into left and right, which start
// at frame b0. The tone is a sine with its second and third harmonics, under
// a 10 ms attack, an exponential decay and a release of up to 50 ms at the
// end so notes never click. The oscillator and the decay run as
// recurrences (one rotation and one multiplication per frame, restarted
// exactly at every block), so rendering needs no trigonometry per sample.
func render(n note, lo, hi, b0 int64, rate float64, left, right []float64) {
	attack := int64(rate * 0.01)
	release := min(int64(rate*0.05), n.length/2)
	i0 := lo - n.start
	s, c := math.Sincos(2 * math.Pi * n.freq * float64(i0) / rate)
	sr, cr := math.Sincos(2 * math.Pi * n.freq / rate)
	e := math.Exp(-3 * float64(i0) / rate)
	decay := math.Exp(-3 / rate)
	for t := lo; t < hi; t++ {
		i := t - n.start
		// sin 2x = 2 sin x cos x; sin 3x = 3 sin x - 4 sin³ x.
		v := s + n.bright*(s*c+0.25*(3*s-4*s*s*s))
		g := e
		switch {
		case i < attack:
			g *= float64(i) / float64(attack)
		case i >= n.length-release:
			g *= float64(n.length-i) / float64(release)
		}
		v *= n.amp * g
		left[t-b0] += v * (1 - n.pan)
		right[t-b0] += v * n.pan
		s, c = s*cr+c*sr, c*cr-s*sr
		e *= decay
	}
}

// WriteWAV writes s as a 16-bit PCM WAV file to w.
func WriteWAV(w io.Writer, s Spec) error {
	s, err := s.normalize()
	if err != nil {
		return err
	}
	frames := s.Frames()
	blockAlign := 2 * s.Channels
	dataSize := frames * int64(blockAlign)

	bw := bufio.NewWriterSize(w, 64<<10)
	hdr := make([]byte, 0, 44)
	hdr = append(hdr, "RIFF"...)
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(36+dataSize))
	hdr = append(hdr, "WAVEfmt "...)
	hdr = binary.LittleEndian.AppendUint32(hdr, 16)
	hdr = binary.LittleEndian.AppendUint16(hdr, 1) // PCM
	hdr = binary.LittleEndian.AppendUint16(hdr, uint16(s.Channels))
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(s.SampleRate))
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(s.SampleRate*blockAlign))
	hdr = binary.LittleEndian.AppendUint16(hdr, uint16(blockAlign))
	hdr = binary.LittleEndian.AppendUint16(hdr, 16)
	hdr = append(hdr, "data"...)
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(dataSize))
	if _, err := bw.Write(hdr); err != nil {
		return fmt.Errorf("samples: write header: %w", err)
	}

	rate := float64(s.SampleRate)
	notes := compose(s, frames)
	// Render in blocks so memory stays small for long tracks.
	const block = 4096
	left := make([]float64, block)
	right := make([]float64, block)
	out := make([]byte, 0, block*blockAlign)
	for b0 := int64(0); b0 < frames; b0 += block {
		b1 := min(b0+block, frames)
		clear(left)
		clear(right)
		for _, n := range notes {
			lo, hi := max(b0, n.start), min(b1, n.start+n.length)
			if lo < hi {
				render(n, lo, hi, b0, rate, left, right)
			}
		}
		out = out[:0]
		for k := range b1 - b0 {
			l, r := left[k], right[k]
			if s.Channels == 1 {
				out = binary.LittleEndian.AppendUint16(out, uint16(pcm16(l+r)))
				continue
			}
			out = binary.LittleEndian.AppendUint16(out, uint16(pcm16(2*l)))
			out = binary.LittleEndian.AppendUint16(out, uint16(pcm16(2*r)))
		}
		if _, err := bw.Write(out); err != nil {
			return fmt.Errorf("samples: write audio: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("samples: write audio: %w", err)
	}
	return nil
}

// pcm16 converts a sample in [-1, 1] to 16-bit PCM with soft clipping.
func pcm16(v float64) int16 {
	return int16(math.Round(math.Tanh(v) * 32000))
}

// WriteFile writes the WAV for s to path (creating or truncating it); a
// failed write removes the partial file.
func WriteFile(path string, s Spec) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("samples: %w", err)
	}
	if err := WriteWAV(f, s); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("samples: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("samples: write %s: %w", path, err)
	}
	return nil
}
