package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chorus-music/chorus/catalog"
	"github.com/chorus-music/chorus/client"
)

// tokenTTL bounds a per-play audio token's life; it also ends when the
// play is replaced.
const tokenTTL = time.Hour

// play is the current track. Its position is the daemon's playback clock:
// the listener's clock (anchored where the first chunk arrived, stopped
// while paused, moved by seeks and by what a player reports heard), never
// ahead of the scheduler's playhead (which stops on a stall). Pause,
// Resume and Heard go to the Playback too, so the scheduler's clock, and
// with it prefetch, follows what is heard.
type play struct {
	track    Track
	m        *catalog.Manifest
	pb       *client.Playback // nil until resumed, after a restart
	token    string
	tokenExp time.Time
	rate     float64 // bytes per second of the daemon's clock

	started   bool      // the first chunk arrived
	paused    bool      // the listener paused
	anchorPos int64     // listener position at anchorAt
	anchorAt  time.Time // while running
	schedPos  int64     // the scheduler's playhead at the last refresh
	startMS   *float64  // first start latency of this play
	prevBytes map[client.SourceKind]int64
	prevStall int
	failed    error // why the client ended the play before its end, or nil
}

// positionLocked is the daemon's playback position at now.
func (p *play) position(now time.Time) int64 {
	pos := p.anchorPos
	if p.started && !p.paused {
		pos += int64(now.Sub(p.anchorAt).Seconds() * p.rate)
		if p.pb != nil && pos > p.schedPos {
			pos = p.schedPos
		}
	}
	return min(max(pos, 0), p.m.ByteLength)
}

// refresh reads the scheduler's playhead. It reports whether it found the
// play ended by the client just now (p.failed says why).
func (p *play) refresh(now time.Time) (failedNow bool) {
	if p.pb == nil {
		return false
	}
	pos, ok := p.pb.Position()
	if !ok {
		// A play whose playhead is gone was ended by the client: Err
		// says why (nil at its end, ErrClosed when replaced).
		if err := p.pb.Err(); err != nil && !errors.Is(err, client.ErrClosed) && p.failed == nil {
			p.failed = err
			return true
		}
		return false
	}
	if !p.started {
		// Started once the first audio was delivered too (the scheduler's
		// playhead may start a moment before the Playback has the chunk).
		ms := p.pb.Stats().StartLatencyMS
		if ms <= 0 {
			return false
		}
		p.started = true
		p.anchorPos, p.anchorAt = pos, now
		if p.startMS == nil {
			// The first start of this play (a seek's restart does not
			// count).
			p.startMS = &ms
		}
	}
	p.schedPos = pos
	return false
}

// refreshLocked refreshes p and says so when the client ended its play.
func (d *Daemon) refreshLocked(p *play, now time.Time) {
	if p.refresh(now) {
		d.log.Warn("the play stopped: no source delivered", "track", p.track.ID, "title", p.track.Title, "err", p.failed)
		d.events.notify()
	}
}

// reanchor moves the listener's clock to off at now.
func (p *play) reanchor(off int64, now time.Time) {
	p.anchorPos, p.anchorAt = off, now
}

// stalled reports that the scheduler's playhead stands on a missing chunk
// while the listener's clock runs.
func (p *play) stalled(now time.Time) bool {
	if !p.started || p.paused || p.pb == nil {
		return false
	}
	model := p.anchorPos + int64(now.Sub(p.anchorAt).Seconds()*p.rate)
	return p.schedPos < p.m.ByteLength && float64(model-p.schedPos) > p.rate/2
}

// readyClient returns the client, or ErrNotReady.
func (d *Daemon) readyClient() (*client.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.client == nil {
		if d.connErr != "" {
			return nil, fmt.Errorf("%w: %s", ErrNotReady, d.connErr)
		}
		return nil, ErrNotReady
	}
	return d.client, nil
}

// Play replaces the current track with id from posMS; the queue is kept.
func (d *Daemon) Play(ctx context.Context, id string, posMS int64) error {
	c, err := d.readyClient()
	if err != nil {
		return err
	}
	m, err := d.manifest(ctx, id)
	if err != nil {
		return err
	}
	if posMS < 0 || posMS >= durationMS(m) {
		return fmt.Errorf("%w: position %d ms is outside the track's %d ms", ErrOutOfRange, posMS, durationMS(m))
	}
	off := msToBytes(m, posMS)
	pb, err := c.PlayFrom(ctx, id, min(off, m.ByteLength-1))
	if err != nil {
		return d.playError(id, err)
	}
	p := d.newPlay(trackFromManifest(id, m), m, pb, off)
	d.mu.Lock()
	old := d.cur
	if old != nil && old.track.ID != id {
		d.history = append(d.history, old.track)
		if len(d.history) > 100 {
			d.history = d.history[1:]
		}
	}
	var oldPB *client.Playback
	if old != nil {
		oldPB = old.pb
	}
	d.installLocked(p)
	d.mu.Unlock()
	if oldPB != nil && oldPB != pb {
		oldPB.Close()
	}
	d.metrics.plays.Inc()
	d.prefetchNext()
	d.events.notify()
	return nil
}

func (d *Daemon) playError(id string, err error) error {
	d.mu.Lock()
	d.lastErr = fmt.Sprintf("play %s: %v", id, err)
	d.mu.Unlock()
	d.events.notify()
	if errors.Is(err, client.ErrNotFound) {
		return fmt.Errorf("%w: %v", ErrUnknownTrack, err)
	}
	return err
}

func (d *Daemon) newPlay(t Track, m *catalog.Manifest, pb *client.Playback, off int64) *play {
	return &play{
		track:     t,
		m:         m,
		pb:        pb,
		token:     randomToken(18),
		tokenExp:  d.clock.Now().Add(tokenTTL),
		rate:      audioRate(m) * d.cfg.Speed,
		anchorPos: off,
		schedPos:  off,
		prevBytes: map[client.SourceKind]int64{},
	}
}

// installLocked makes p the current play.
func (d *Daemon) installLocked(p *play) {
	d.cur = p
	d.lastErr = ""
	d.keys = map[string]catalog.TrackKey{}
	_ = d.saveStateLocked()
}

// replacePlayback gives the current play a new Playback from off (a
// player's seek, or a second reader): the old one is closed, which wakes
// any reader blocked on it. It returns the new Playback.
func (d *Daemon) replacePlayback(ctx context.Context, p *play, off int64) (*client.Playback, error) {
	c, err := d.readyClient()
	if err != nil {
		return nil, err
	}
	pb, err := c.PlayFrom(ctx, p.track.ID, min(off, p.m.ByteLength-1))
	if err != nil {
		return nil, d.playError(p.track.ID, err)
	}
	d.mu.Lock()
	if d.cur != p {
		d.mu.Unlock()
		pb.Close()
		return nil, ErrNothingPlaying
	}
	old := p.pb
	if old != nil {
		st := old.Stats()
		for k, v := range st.BytesBySource {
			p.prevBytes[k] += v
		}
		p.prevStall += st.Stalls
	}
	p.pb = pb
	p.started, p.failed = false, nil
	p.reanchor(off, d.clock.Now())
	p.schedPos = off
	if p.paused {
		pb.Pause()
	}
	d.mu.Unlock()
	if old != nil {
		old.Close()
	}
	d.events.notify()
	return pb, nil
}

// Pause pauses the current track.
func (d *Daemon) Pause() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.cur
	if p == nil {
		return ErrNothingPlaying
	}
	if p.paused {
		return nil
	}
	now := d.clock.Now()
	d.refreshLocked(p, now)
	p.reanchor(p.position(now), now)
	p.paused = true
	if p.pb != nil {
		p.pb.Pause()
	}
	_ = d.saveStateLocked()
	d.events.notify()
	return nil
}

// Resume resumes the current track; after a restart it starts the saved
// track at its saved position.
func (d *Daemon) Resume(ctx context.Context) error {
	d.mu.Lock()
	p := d.cur
	if p == nil {
		d.mu.Unlock()
		return ErrNothingPlaying
	}
	if p.pb == nil {
		off := p.anchorPos
		p.paused = false
		d.mu.Unlock()
		if _, err := d.replacePlayback(ctx, p, off); err != nil {
			d.mu.Lock()
			p.paused = true
			d.mu.Unlock()
			return err
		}
		return nil
	}
	if p.paused {
		p.paused = false
		now := d.clock.Now()
		p.anchorAt = now
		p.pb.Resume()
	}
	_ = d.saveStateLocked()
	d.mu.Unlock()
	d.events.notify()
	return nil
}

// Seek moves the current track to posMS.
func (d *Daemon) Seek(ctx context.Context, posMS int64) error {
	d.mu.Lock()
	p := d.cur
	d.mu.Unlock()
	if p == nil {
		return ErrNothingPlaying
	}
	if posMS < 0 || posMS >= durationMS(p.m) {
		return fmt.Errorf("%w: position %d ms is outside the track's %d ms", ErrOutOfRange, posMS, durationMS(p.m))
	}
	_, err := d.replacePlayback(ctx, p, msToBytes(p.m, posMS))
	return err
}

// Heard takes a player's report of what it plays (of track id, when not
// ""): the daemon's clock (and
// the scheduler's, once Playback has Heard) follows it.
func (d *Daemon) Heard(id string, posMS int64, paused bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.cur
	if p == nil {
		return ErrNothingPlaying
	}
	if id != "" && id != p.track.ID {
		return fmt.Errorf("%w: the report is about %s, but %s plays now", ErrNothingPlaying, id, p.track.ID)
	}
	if posMS < 0 || posMS > durationMS(p.m) {
		return fmt.Errorf("%w: position %d ms is outside the track's %d ms", ErrOutOfRange, posMS, durationMS(p.m))
	}
	now := d.clock.Now()
	off := msToBytes(p.m, posMS)
	d.refreshLocked(p, now)
	p.reanchor(off, now)
	if p.pb != nil {
		if err := p.pb.Heard(min(off, p.m.ByteLength)); err != nil {
			return fmt.Errorf("%w: %v", ErrOutOfRange, err)
		}
	}
	if paused != p.paused {
		p.paused = paused
		if p.pb != nil && paused {
			p.pb.Pause()
		} else if p.pb != nil {
			p.pb.Resume()
		}
		_ = d.saveStateLocked()
		d.events.notify()
	}
	return nil
}

// Next plays the first queued track.
func (d *Daemon) Next(ctx context.Context) error {
	d.mu.Lock()
	if len(d.queue) == 0 {
		d.mu.Unlock()
		return fmt.Errorf("%w: the queue is empty", ErrOutOfRange)
	}
	next := d.queue[0]
	d.queue = d.queue[1:]
	d.mu.Unlock()
	if err := d.Play(ctx, next.ID, 0); err != nil {
		d.mu.Lock()
		d.queue = append([]Track{next}, d.queue...)
		d.mu.Unlock()
		return err
	}
	return nil
}

// Previous restarts the current track if more than 3 s of it played, else
// plays the track before it (the current one goes back to the queue's
// front).
func (d *Daemon) Previous(ctx context.Context) error {
	d.mu.Lock()
	p := d.cur
	if p == nil {
		d.mu.Unlock()
		return ErrNothingPlaying
	}
	pos := bytesToMS(p.m, p.position(d.clock.Now()))
	if pos > 3000 || len(d.history) == 0 {
		d.mu.Unlock()
		_, err := d.replacePlayback(ctx, p, 0)
		return err
	}
	prev := d.history[len(d.history)-1]
	d.history = d.history[:len(d.history)-1]
	d.queue = append([]Track{p.track}, d.queue...)
	d.mu.Unlock()
	if err := d.Play(ctx, prev.ID, 0); err != nil {
		return err
	}
	d.mu.Lock()
	// Play pushed the track we left onto the history; it is queued now.
	if n := len(d.history); n > 0 && d.history[n-1].ID == p.track.ID {
		d.history = d.history[:n-1]
	}
	d.mu.Unlock()
	return nil
}

// stop ends the current play (at the end of the track with nothing
// queued).
func (d *Daemon) stopLocked() {
	if p := d.cur; p != nil {
		if p.pb != nil {
			go p.pb.Close()
		}
		d.history = append(d.history, p.track)
		d.cur = nil
	}
	_ = d.saveStateLocked()
}

// prefetchNext tells the client what comes next, so its start is
// prefetched.
func (d *Daemon) prefetchNext() {
	d.mu.Lock()
	c := d.client
	var next string
	if len(d.queue) > 0 {
		next = d.queue[0].ID
	}
	d.mu.Unlock()
	if c == nil || next == "" {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(d.ctx, 30*time.Second)
		defer cancel()
		if err := c.Queue(ctx, next); err != nil && ctx.Err() == nil {
			d.log.Debug("queue prefetch", "track", next, "err", err)
		}
	}()
}

// QueueAdd appends a track to the queue.
func (d *Daemon) QueueAdd(ctx context.Context, id string) ([]Track, error) {
	if _, err := d.readyClient(); err != nil {
		return nil, err
	}
	m, err := d.manifest(ctx, id)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.queue = append(d.queue, trackFromManifest(id, m))
	first := len(d.queue) == 1
	q := d.queueLocked()
	d.mu.Unlock()
	if first {
		d.prefetchNext()
	}
	d.events.notify()
	return q, nil
}

// QueueRemove removes the i-th queued track.
func (d *Daemon) QueueRemove(i int) ([]Track, error) {
	d.mu.Lock()
	if i < 0 || i >= len(d.queue) {
		n := len(d.queue)
		d.mu.Unlock()
		return nil, fmt.Errorf("%w: queue index %d; the queue has %d tracks", ErrOutOfRange, i, n)
	}
	d.queue = append(d.queue[:i], d.queue[i+1:]...)
	q := d.queueLocked()
	d.mu.Unlock()
	if i == 0 {
		d.prefetchNext()
	}
	d.events.notify()
	return q, nil
}

// QueueMove moves the track at from to index to.
func (d *Daemon) QueueMove(from, to int) ([]Track, error) {
	d.mu.Lock()
	n := len(d.queue)
	if from < 0 || from >= n || to < 0 || to >= n {
		d.mu.Unlock()
		return nil, fmt.Errorf("%w: move %d to %d; the queue has %d tracks", ErrOutOfRange, from, to, n)
	}
	t := d.queue[from]
	d.queue = append(d.queue[:from], d.queue[from+1:]...)
	d.queue = append(d.queue[:to], append([]Track{t}, d.queue[to:]...)...)
	q := d.queueLocked()
	d.mu.Unlock()
	d.prefetchNext()
	d.events.notify()
	return q, nil
}

// QueueClear empties the queue.
func (d *Daemon) QueueClear() []Track {
	d.mu.Lock()
	d.queue = nil
	q := d.queueLocked()
	d.mu.Unlock()
	d.events.notify()
	return q
}

// Queue returns the queue.
func (d *Daemon) Queue() []Track {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.queueLocked()
}

func (d *Daemon) queueLocked() []Track {
	_ = d.saveStateLocked()
	return append([]Track{}, d.queue...)
}

// SetSharing turns serving other peers on or off, and keeps the choice in
// config.json.
func (d *Daemon) SetSharing(on bool) error {
	d.sharing.Store(on)
	d.mu.Lock()
	d.cfg.Sharing = on
	d.mu.Unlock()
	stored, _, err := LoadConfig(d.opts.Paths)
	if err == nil {
		stored.Sharing = on
		err = SaveConfig(d.opts.Paths, stored)
	}
	d.log.Info("sharing", "on", on)
	d.events.notify()
	return err
}

// tickLoop advances the playback clock: it starts the next track at the
// end of one, and saves the position often enough that no more than 2 s of
// audio is lost to a crash.
func (d *Daemon) tickLoop(ctx context.Context) {
	saveEvery := time.Duration(float64(2*time.Second) / d.cfg.Speed)
	tick := min(saveEvery, 500*time.Millisecond)
	for d.wait(ctx, tick) {
		now := d.clock.Now()
		d.mu.Lock()
		p := d.cur
		var ended bool
		if p != nil {
			d.refreshLocked(p, now)
			ended = p.started && !p.paused && p.position(now) >= p.m.ByteLength
			if !p.paused && now.Sub(d.savedAt) >= saveEvery {
				_ = d.saveStateLocked()
			}
		}
		hasNext := len(d.queue) > 0
		if ended && !hasNext {
			d.stopLocked()
		}
		d.mu.Unlock()
		if ended {
			if hasNext {
				if err := d.Next(ctx); err != nil && ctx.Err() == nil {
					d.log.Warn("next track", "err", err)
					d.mu.Lock()
					d.stopLocked()
					d.mu.Unlock()
				}
			}
			d.events.notify()
		}
	}
}
