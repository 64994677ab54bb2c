package catalog

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/chorus-music/chorus/catalog/samples"
	"github.com/ipfs/go-cid"
)

// discardSink drops every chunk, so the benchmark measures ingest itself.
type discardSink struct{}

func (discardSink) Put(context.Context, cid.Cid, []byte) error { return nil }

// BenchmarkIngest ingests one minute of 160 kbit/s audio (a 10 kHz mono
// 16-bit WAV is exactly 20,000 bytes/s) at each candidate chunk size. It
// reports the manifest size for that minute and how much audio at
// 160 kbit/s one chunk holds, which is what playback must wait for before
// it can start.
//
//	go test -run '^$' -bench BenchmarkIngest -benchtime 20x ./catalog
func BenchmarkIngest(b *testing.B) {
	path := filepath.Join(b.TempDir(), "Bench - One Minute.wav")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := samples.WriteWAV(f, samples.Spec{Seconds: 60, SampleRate: 10000, Channels: 1, Seed: 9}); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	const bytesPerSecond = 160_000 / 8
	for _, kib := range []int{8, 16, 32, 64, 128} {
		b.Run(strconv.Itoa(kib)+"KiB", func(b *testing.B) {
			opts := IngestOptions{Path: path, Key: fixedKey(5), Sink: discardSink{}, ChunkSize: kib << 10}
			b.SetBytes(st.Size())
			var res *IngestResult
			for b.Loop() {
				res, err = Ingest(context.Background(), opts)
				if err != nil {
					b.Fatal(err)
				}
			}
			if res.Manifest.DurationMS != 60_000 || res.Manifest.BitrateKbps != 160 {
				b.Fatalf("bench source is %d ms at %d kbit/s; want 60000 ms at 160", res.Manifest.DurationMS, res.Manifest.BitrateKbps)
			}
			b.ReportMetric(float64(len(res.Canonical)), "manifest-B/min")
			b.ReportMetric(float64(len(res.Manifest.Chunks)), "chunks/min")
			b.ReportMetric(float64(kib<<10)/bytesPerSecond, "audio-s/chunk")
		})
	}
}
