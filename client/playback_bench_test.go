package client

import (
	"context"
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/client/sched"
	"github.com/chorus-music/chorus/internal/clock"
)

// lazyTrack is a long track whose chunks are made again on each fetch
// (from a seeded generator), so the fixture itself holds only the CIDs.
type lazyTrack struct {
	t     track
	index map[cid.Cid]int
}

const lazyChunk = catalog.ChunkSize

func lazyPlain(i int, buf []byte) {
	for j := 0; j+8 <= len(buf); j += 8 {
		binary.LittleEndian.PutUint64(buf[j:], uint64(i)*0x9e3779b97f4a7c15+uint64(j)*0xbf58476d1ce4e5b9)
	}
}

func (lt *lazyTrack) cipher(i int) []byte {
	b := make([]byte, lazyChunk)
	lazyPlain(i, b)
	if err := lt.t.key.XORChunk(int64(i)*lazyChunk, b); err != nil {
		panic(err)
	}
	return b
}

// makeLazyTrack builds a track of d at 320 kbit/s in 16 KiB chunks.
func makeLazyTrack(b *testing.B, d time.Duration) *lazyTrack {
	key, err := catalog.ParseTrackKey(make([]byte, 48))
	if err != nil {
		b.Fatal(err)
	}
	n := int(d.Seconds() * 40_000 / lazyChunk)
	m := &catalog.Manifest{Version: catalog.ManifestVersion, ContentType: "audio/wav", Title: "long",
		ByteLength: int64(n) * lazyChunk, DurationMS: int64(n) * lazyChunk / 40, ChunkSize: lazyChunk}
	lt := &lazyTrack{index: map[cid.Cid]int{}}
	lt.t = track{m: m, key: key}
	for i := range n {
		c := catalog.ChunkCID(lt.cipher(i))
		lt.index[c] = i
		m.Chunks = append(m.Chunks, catalog.Chunk{CID: c, Size: lazyChunk})
	}
	canonical, err := m.Encode()
	if err != nil {
		b.Fatal(err)
	}
	tc := catalog.ManifestID(canonical)
	lt.t.id, lt.t.cid = tc.String(), tc
	return lt
}

// lazyOrigin serves a lazyTrack.
type lazyOrigin struct{ lt *lazyTrack }

func (o lazyOrigin) Name() string     { return "origin https://lazy.test" }
func (o lazyOrigin) Kind() SourceKind { return KindOrigin }
func (o lazyOrigin) Fetch(ctx context.Context, c cid.Cid) ([]byte, error) {
	i, ok := o.lt.index[c]
	if !ok {
		return nil, &FetchError{Source: o.Name(), Reason: sched.FailDontHave, Err: ErrNotFound}
	}
	return o.lt.cipher(i), nil
}

// BenchmarkPlaybackMemory plays a 30-second and a 20-minute track at
// 320 kbit/s through the player (fake clock, synchronous runner, Speed 32,
// reading up to Position as an audio output would) and reports the most
// decrypted audio the Playback held at once and the peak growth of the live
// Go heap during the play (after a GC, every 200 steps of 5 ms).
//
// go test -run '^$' -bench BenchmarkPlaybackMemory -benchtime 1x ./client/
func BenchmarkPlaybackMemory(b *testing.B) {
	for _, d := range []time.Duration{30 * time.Second, 20 * time.Minute} {
		b.Run(d.String(), func(b *testing.B) {
			lt := makeLazyTrack(b, d)
			for b.Loop() {
				clk := clock.NewFake(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
				run := &syncRunner{}
				pl, err := newPlayer(playerConfig{sched: sched.Config{Speed: 32}, clock: clk, giveUp: 5 * time.Second, maxProv: 20},
					playerSources{origins: []ChunkSource{lazyOrigin{lt}}}, run)
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				base := ms.HeapInuse
				pb := newPlayback(lt.t.m, clk, clk.Now(), 0, PlayStats{TrackID: lt.t.id}, pl)
				pl.Start(pb, lt.t, 0)
				buf := make([]byte, 32<<10)
				var read int64
				peakHeld, peakHeap := 0, uint64(0)
				for step := 0; read < lt.t.m.ByteLength; step++ {
					clk.Advance(5 * time.Millisecond)
					run.drain(b)
					pos, _ := pb.Position()
					pos = min(pos, lt.t.m.ByteLength)
					for read < pos && pb.has(int(read/lazyChunk)) {
						n, err := pb.Read(buf[:min(int64(len(buf)), pos-read)])
						if err != nil {
							b.Fatal(err)
						}
						read += int64(n)
					}
					run.drain(b)
					peakHeld = max(peakHeld, countHeld(pb))
					if step%200 == 0 {
						runtime.GC()
						runtime.ReadMemStats(&ms)
						if ms.HeapInuse > base {
							peakHeap = max(peakHeap, ms.HeapInuse-base)
						}
					}
					if step > 1_000_000 {
						b.Fatal("the play does not end")
					}
				}
				pb.Close()
				pl.close()
				b.ReportMetric(float64(peakHeld*lazyChunk), "peak-decrypted-B")
				b.ReportMetric(float64(peakHeap), "peak-live-heap-growth-B")
				b.ReportMetric(float64(lt.t.m.ByteLength), "track-B")
			}
		})
	}
}
