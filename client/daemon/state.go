package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
)

// savedState is state.json: what plays, where, and what comes next, so a
// restart (or a crash) can resume there. No audio, no key.
type savedState struct {
	Track      *Track  `json:"track,omitempty"`
	PositionMS int64   `json:"position_ms"`
	Paused     bool    `json:"paused"`
	Queue      []Track `json:"queue"`
	History    []Track `json:"history,omitempty"`
}

// saveStateLocked records the state to save; the saver goroutine writes
// it (synced, atomically) off the caller's path, latest first. d.mu is
// held.
func (d *Daemon) saveStateLocked() error {
	now := d.clock.Now()
	st := savedState{Queue: d.queue, History: d.history}
	if p := d.cur; p != nil {
		t := p.track
		st.Track = &t
		st.PositionMS = bytesToMS(p.m, p.position(now))
		st.Paused = p.paused
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	d.savedAt = now
	d.saveMu.Lock()
	d.pending = data
	d.saveMu.Unlock()
	select {
	case d.saveWake <- struct{}{}:
	default:
	}
	return nil
}

// saver writes the recorded state until ctx ends.
func (d *Daemon) saver(ctx context.Context) {
	for {
		select {
		case <-d.saveWake:
			_ = d.flushState()
		case <-ctx.Done():
			return
		}
	}
}

// flushState writes the latest recorded state, if any.
func (d *Daemon) flushState() error {
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	d.saveMu.Lock()
	data := d.pending
	d.pending = nil
	d.saveMu.Unlock()
	if data == nil {
		return nil
	}
	if err := writeFileAtomic(d.opts.Paths.stateFile(), data, 0o600); err != nil {
		d.log.Warn("could not save the play state", "err", err)
		return err
	}
	return nil
}

// ReadState reads a config directory's saved play state (for tests and
// tools); a missing file is an empty state.
func ReadState(p Paths) (track *Track, positionMS int64, queue []Track, err error) {
	st, err := readState(p)
	return st.Track, st.PositionMS, st.Queue, err
}

func readState(p Paths) (savedState, error) {
	var st savedState
	data, err := os.ReadFile(p.stateFile())
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	err = json.Unmarshal(data, &st)
	return st, err
}

// restoreState loads state.json after connecting: the saved track comes
// back paused at its saved position (a crash or a restart never starts
// the music by itself), with the queue.
func (d *Daemon) restoreState(ctx context.Context) {
	st, err := readState(d.opts.Paths)
	if err != nil {
		d.log.Warn("saved play state unreadable; starting empty", "file", d.opts.Paths.stateFile(), "err", err)
		return
	}
	d.mu.Lock()
	if d.cur != nil || len(d.queue) > 0 {
		d.mu.Unlock()
		return
	}
	d.queue, d.history = st.Queue, st.History
	d.mu.Unlock()
	if st.Track == nil {
		return
	}
	m, err := d.manifest(ctx, st.Track.ID)
	if err != nil {
		d.log.Warn("saved track cannot be restored", "track", st.Track.ID, "err", err)
		return
	}
	p := d.newPlay(trackFromManifest(st.Track.ID, m), m, nil, min(msToBytes(m, st.PositionMS), m.ByteLength-1))
	p.paused = true
	d.mu.Lock()
	if d.cur == nil {
		d.cur = p
	}
	d.mu.Unlock()
	d.log.Info("restored the saved play, paused", "track", st.Track.Title, "position_ms", st.PositionMS, "queued", len(st.Queue))
}
