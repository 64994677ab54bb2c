package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/client"
)

// ErrBadRange reports a Range header the audio route cannot satisfy.
var ErrBadRange = errors.New("daemon: unsatisfiable range")

// parseRange parses a Range header for a resource of size bytes into one
// inclusive byte range. ok is false when the header is absent, not a
// bytes range, or asks for several ranges (the whole resource is then
// served, as RFC 9110 allows). A range that starts past the end is
// ErrBadRange (416).
func parseRange(h string, size int64) (start, end int64, ok bool, err error) {
	if h == "" || size <= 0 {
		return 0, size - 1, false, nil
	}
	spec, found := strings.CutPrefix(h, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, size - 1, false, nil
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, fmt.Errorf("%w: %q", ErrBadRange, h)
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	if first == "" {
		// Suffix range: the last N bytes.
		n, perr := strconv.ParseInt(last, 10, 64)
		if perr != nil || n <= 0 {
			return 0, 0, false, fmt.Errorf("%w: %q", ErrBadRange, h)
		}
		return max(size-n, 0), size - 1, true, nil
	}
	start, perr := strconv.ParseInt(first, 10, 64)
	if perr != nil || start < 0 {
		return 0, 0, false, fmt.Errorf("%w: %q", ErrBadRange, h)
	}
	if start >= size {
		return 0, 0, false, fmt.Errorf("%w: %q starts past the end (%d bytes)", ErrBadRange, h, size)
	}
	end = size - 1
	if last != "" {
		e, perr := strconv.ParseInt(last, 10, 64)
		if perr != nil || e < start {
			return 0, 0, false, fmt.Errorf("%w: %q", ErrBadRange, h)
		}
		end = min(e, size-1)
	}
	return start, end, true, nil
}

// audioSlot lets one request at a time read the current Playback (which
// has one read position). A second request preempts the first: it gets a
// fresh Playback from its own offset, and the old one is closed, which
// ends the first request even if it was waiting for a chunk. Browsers do
// exactly this on a seek: they drop one request and open another.
type audioSlot struct {
	sem chan struct{}

	mu     sync.Mutex         // guards the fields below
	holder context.CancelFunc // cancels the request reading now, nil if none
	gen    uint64             // counts requests, so only the latest clears holder
}

func newAudioSlot() *audioSlot { return &audioSlot{sem: make(chan struct{}, 1)} }

// handleAudio serves the current track's decrypted audio. The body is
// read from the play's Playback, so the scheduler fetches what the player
// reads; a range that starts in the last chunk (a player probing ID3v1,
// APE or FLAC tags at the tail) is served by separate reads of that chunk
// (cache or origin, verified and decrypted here) and never moves the
// scheduler's playhead.
func (d *Daemon) handleAudio(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	p := d.cur
	resumed := p != nil && p.pb != nil
	d.mu.Unlock()
	if tok := r.URL.Query().Get("t"); tok != "" {
		if p == nil || !equalSecret(tok, p.token) {
			writeError(w, http.StatusGone, errors.New("that audio URL's play has ended; get a new one with `chorus ctl url` or from /api/status"))
			return
		}
		if d.clock.Now().After(p.tokenExp) {
			writeError(w, http.StatusGone, errors.New("that audio URL has expired; get a new one with `chorus ctl url`"))
			return
		}
	}
	if p == nil {
		writeError(w, http.StatusNotFound, ErrNothingPlaying)
		return
	}
	m := p.m
	size := m.ByteLength
	start, end, partial, err := parseRange(r.Header.Get("Range"), size)
	if err != nil {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", size))
		writeError(w, http.StatusRequestedRangeNotSatisfiable, err)
		return
	}
	// begin sends the audio's status line and headers, once the body is
	// sure to follow (an error before it is a JSON answer).
	begin := func() {
		h := w.Header()
		ct := m.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		h.Set("Content-Type", ct)
		h.Set("Accept-Ranges", "bytes")
		// No cache may keep the plaintext.
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Length", strconv.FormatInt(end-start+1, 10))
		code := http.StatusOK
		if partial {
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, size))
			code = http.StatusPartialContent
		}
		w.WriteHeader(code)
	}
	if r.Method == http.MethodHead {
		begin()
		return
	}
	if !resumed {
		writeError(w, http.StatusConflict, errors.New("the track is paused after a restart: resume it first (chorus ctl resume, or POST /api/resume)"))
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a track streams for minutes
	if start >= m.ChunkOffset(len(m.Chunks)-1) {
		d.serveTail(r.Context(), w, begin, p, start, end)
		return
	}
	d.serveStream(w, r, begin, p, start, end)
}

// serveStream copies [start, end] from the play's Playback.
func (d *Daemon) serveStream(w http.ResponseWriter, r *http.Request, begin func(), p *play, start, end int64) {
	a := d.audio
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	rc := http.NewResponseController(w)
	a.mu.Lock()
	preempt := a.holder != nil
	if preempt {
		a.holder()
	}
	a.gen++
	gen := a.gen
	// Preempting cancels the request and also ends a write it is blocked
	// in: a player that opened a new request (ffprobe, mpv) may never
	// read the old connection again, and the old request holds the slot.
	// A deadline in the past is a net deadline (wall time), not the
	// playback clock's.
	a.holder = func() {
		cancel()
		_ = rc.SetWriteDeadline(time.Unix(1, 0))
	}
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		// Only the latest request clears the holder.
		if a.gen == gen {
			a.holder = nil
		}
		a.mu.Unlock()
	}()

	if preempt {
		if _, err := d.replacePlayback(ctx, p, start); err != nil {
			fail(w, err)
			return
		}
	}
	select {
	case a.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-a.sem }()
	d.mu.Lock()
	if d.cur != p {
		d.mu.Unlock()
		writeError(w, http.StatusGone, errors.New("the track changed"))
		return
	}
	pb := p.pb
	d.mu.Unlock()
	if pos, _ := pb.Seek(0, io.SeekCurrent); pos != start {
		if _, err := pb.Seek(start, io.SeekStart); err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		d.mu.Lock()
		if !p.paused {
			p.reanchor(start, d.clock.Now())
		}
		d.mu.Unlock()
	}
	begin()
	buf := make([]byte, 32<<10)
	left := end - start + 1
	for left > 0 && ctx.Err() == nil {
		n, rerr := pb.Read(buf[:min(int64(len(buf)), left)])
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			d.metrics.audioBytes.WithLabelValues("stream").Add(float64(n))
			left -= int64(n)
		}
		if rerr != nil {
			if !errors.Is(rerr, client.ErrClosed) && !errors.Is(rerr, io.EOF) {
				d.mu.Lock()
				d.lastErr = fmt.Sprintf("play %s: %v", p.track.Title, rerr)
				d.mu.Unlock()
				d.events.notify()
			}
			return
		}
	}
}

// serveTail serves [start, end] (inside the last chunk) from separate
// reads of the chunk, leaving the Playback and the scheduler alone.
func (d *Daemon) serveTail(ctx context.Context, w http.ResponseWriter, begin func(), p *play, start, end int64) {
	m := p.m
	i := m.ChunkIndex(start)
	plain, err := d.readChunk(ctx, p.track.ID, m, i)
	if err != nil {
		d.log.Warn("tail read failed", "track", p.track.ID, "chunk", i, "err", err)
		writeError(w, http.StatusBadGateway, fmt.Errorf("the track's last chunk could not be fetched: %w", err))
		return
	}
	begin()
	off := m.ChunkOffset(i)
	n, _ := w.Write(plain[start-off : end-off+1])
	d.metrics.audioBytes.WithLabelValues("tail").Add(float64(n))
}

// readChunk fetches chunk i of a track (cache first, then each origin),
// verifies it against its CID and decrypts it, with the key held in
// memory for the current track only.
func (d *Daemon) readChunk(ctx context.Context, id string, m *catalog.Manifest, i int) ([]byte, error) {
	d.mu.Lock()
	key, haveKey := d.keys[id]
	ch, origins := d.cache, d.origins
	d.mu.Unlock()
	if !haveKey {
		k, err := d.tracker.Key(ctx, id)
		if err != nil {
			return nil, err
		}
		key = k
		d.mu.Lock()
		if d.cur != nil && d.cur.track.ID == id {
			d.keys[id] = k
		}
		d.mu.Unlock()
	}
	c := m.Chunks[i].CID
	var errs []error
	if ch != nil && ch.Has(c) {
		data, err := ch.Get(ctx, c)
		if err == nil {
			return catalog.DecryptChunk(m, key, i, data)
		}
		errs = append(errs, err)
	}
	for _, o := range origins {
		data, err := o.Fetch(ctx, c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		plain, err := catalog.DecryptChunk(m, key, i, data)
		if err == nil {
			return plain, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("daemon: chunk %d of %s: %w", i, id, errors.Join(errs...))
}
