package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/chorus-music/chorus/client/daemon"
)

const ctlUsage = `COMMAND [ARGS]

commands:
  status                   what plays, where, buffered, peers, cache, sharing
  search WORDS...          search the catalog
  play ID [--at MS]        play a track (the queue is kept)
  pause | resume           pause or resume the current track
  next | previous          skip forward or back
  seek MS                  move the current track to MS milliseconds
  queue ls                 list what plays next
  queue add ID             append a track
  queue rm INDEX           remove the track at INDEX (from 0)
  queue move FROM TO       move a track
  queue clear              empty the queue
  url                      the current track's audio URL, for mpv or VLC
  open                     a new one-time login link for the web player
  sharing on|off           serve cached chunks to other peers, or not`

// runCtl talks to the running daemon's API with the key from the config
// directory.
func runCtl(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(env, "ctl", ctlUsage)
	dirs := addDirFlags(fs)
	apiURL := fs.String("api", envOr("CHORUS_API", ""), "the daemon's API address (env CHORUS_API; default: where the daemon of the config directory listens)")
	asJSON := fs.Bool("json", false, "print the daemon's JSON answer, for scripts")
	at := fs.Int64("at", 0, "play: start position in milliseconds")
	timeout := fs.Duration("timeout", 30*time.Second, "give up on the daemon after this long")
	posArgs, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(posArgs) == 0 {
		fs.Usage()
		return errors.New("ctl needs a command")
	}
	paths, err := dirs.paths()
	if err != nil {
		return err
	}
	cfg, _, err := daemon.LoadConfig(paths)
	if err != nil {
		return err
	}
	base := *apiURL
	if base == "" {
		base = daemon.ReadAddress(paths)
	}
	if base == "" {
		base = cfg.API
	}
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		base = "http://" + base
	}
	key, err := daemon.ReadAPIKey(paths)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	c := ctlClient{ctx: ctx, base: strings.TrimRight(base, "/"), key: key}
	cmd, rest := posArgs[0], posArgs[1:]
	need := func(n int, what string) error {
		if len(rest) != n {
			return fmt.Errorf("ctl %s needs %s", cmd, what)
		}
		return nil
	}
	var raw []byte
	show := func(raw []byte, human func([]byte) error) error {
		if *asJSON {
			_, err := env.stdout.Write(raw)
			return err
		}
		return human(raw)
	}
	printStatus := func(raw []byte) error { return printCtlStatus(env.stdout, raw) }
	printQueue := func(raw []byte) error { return printCtlQueue(env.stdout, raw) }
	switch cmd {
	case "status":
		if raw, err = c.do("GET", "/api/status", nil); err == nil {
			err = show(raw, printStatus)
		}
	case "search":
		if len(rest) == 0 {
			return errors.New("ctl search needs WORDS")
		}
		if raw, err = c.do("GET", "/api/search?q="+url.QueryEscape(strings.Join(rest, " ")), nil); err == nil {
			err = show(raw, func(raw []byte) error { return printCtlTracks(env.stdout, raw, "tracks") })
		}
	case "play":
		if err := need(1, "a track ID"); err != nil {
			return err
		}
		if raw, err = c.do("POST", "/api/play", map[string]any{"id": rest[0], "position_ms": *at}); err == nil {
			err = show(raw, printStatus)
		}
	case "pause", "resume", "next", "previous":
		if err := need(0, "no arguments"); err != nil {
			return err
		}
		if raw, err = c.do("POST", "/api/"+cmd, nil); err == nil {
			err = show(raw, printStatus)
		}
	case "seek":
		if err := need(1, "a position in milliseconds"); err != nil {
			return err
		}
		ms, perr := strconv.ParseInt(rest[0], 10, 64)
		if perr != nil {
			return fmt.Errorf("ctl seek %q: want milliseconds", rest[0])
		}
		if raw, err = c.do("POST", "/api/seek", map[string]any{"position_ms": ms}); err == nil {
			err = show(raw, printStatus)
		}
	case "queue":
		if len(rest) == 0 {
			rest = []string{"ls"}
		}
		sub, qargs := rest[0], rest[1:]
		switch {
		case sub == "ls" && len(qargs) == 0:
			raw, err = c.do("GET", "/api/queue", nil)
		case sub == "add" && len(qargs) == 1:
			raw, err = c.do("POST", "/api/queue", map[string]any{"id": qargs[0]})
		case sub == "rm" && len(qargs) == 1:
			if _, perr := strconv.Atoi(qargs[0]); perr != nil {
				return fmt.Errorf("ctl queue rm %q: want an index", qargs[0])
			}
			raw, err = c.do("DELETE", "/api/queue/"+qargs[0], nil)
		case sub == "move" && len(qargs) == 2:
			from, e1 := strconv.Atoi(qargs[0])
			to, e2 := strconv.Atoi(qargs[1])
			if e1 != nil || e2 != nil {
				return errors.New("ctl queue move needs two indexes")
			}
			raw, err = c.do("POST", "/api/queue/move", map[string]any{"from": from, "to": to})
		case sub == "clear" && len(qargs) == 0:
			raw, err = c.do("DELETE", "/api/queue", nil)
		default:
			return fmt.Errorf("ctl queue %s: want ls, add ID, rm INDEX, move FROM TO or clear", strings.Join(rest, " "))
		}
		if err == nil {
			err = show(raw, printQueue)
		}
	case "url":
		if raw, err = c.do("GET", "/api/status", nil); err != nil {
			return err
		}
		var st daemon.Status
		if err := json.Unmarshal(raw, &st); err != nil {
			return fmt.Errorf("ctl url: %w", err)
		}
		if st.AudioURL == "" {
			return errors.New("nothing is playing: ctl play ID first")
		}
		u := c.base + st.AudioURL
		if *asJSON {
			return json.NewEncoder(env.stdout).Encode(map[string]string{"url": u})
		}
		fmt.Fprintln(env.stdout, u)
	case "open":
		if raw, err = c.do("POST", "/api/login-link", nil); err == nil {
			err = show(raw, func(raw []byte) error {
				var l struct{ URL string }
				if err := json.Unmarshal(raw, &l); err != nil {
					return err
				}
				fmt.Fprintln(env.stdout, l.URL)
				return nil
			})
		}
	case "sharing":
		if err := need(1, "on or off"); err != nil {
			return err
		}
		if rest[0] != "on" && rest[0] != "off" {
			return fmt.Errorf("ctl sharing %q: want on or off", rest[0])
		}
		if raw, err = c.do("POST", "/api/sharing", map[string]any{"on": rest[0] == "on"}); err == nil {
			err = show(raw, printStatus)
		}
	default:
		fs.Usage()
		return fmt.Errorf("unknown ctl command %q", cmd)
	}
	return err
}

// ctlClient calls the daemon's API.
type ctlClient struct {
	ctx  context.Context
	base string
	key  string
}

func (c ctlClient) do(method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(c.ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-API-Key", c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the daemon at %s (is `chorus daemon` running?): %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("read the daemon's answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		var e struct{ Error string }
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			// The daemon's messages start with their package's name
			// already: say it once.
			return nil, fmt.Errorf("daemon: %s (%d)", strings.TrimPrefix(e.Error, "daemon: "), resp.StatusCode)
		}
		return nil, fmt.Errorf("daemon answered %s", resp.Status)
	}
	return data, nil
}

func msClock(ms int64) string {
	s := ms / 1000
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

func printCtlStatus(w io.Writer, raw []byte) error {
	var st daemon.Status
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("the daemon's status: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "state\t%s\n", st.State)
	if st.Track != nil {
		fmt.Fprintf(tw, "track\t%s - %s  (%s)\n", st.Track.Artist, st.Track.Title, st.Track.ID)
		fmt.Fprintf(tw, "position\t%s / %s, %.1f s buffered ahead\n", msClock(st.PositionMS), msClock(st.DurationMS), float64(st.BufferedAheadMS)/1000)
		start := "-"
		if st.Play.StartMS != nil {
			start = fmt.Sprintf("%.1f ms", *st.Play.StartMS)
		}
		b := st.Play.Bytes
		fmt.Fprintf(tw, "this play\tstarted in %s; %s from cache, %s from peers, %s from origins\n", start,
			humanBytes(b["cache"]), humanBytes(b["peer"]), humanBytes(b["origin"]))
	}
	fmt.Fprintf(tw, "queue\t%d tracks\n", st.Queued)
	fmt.Fprintf(tw, "peers\t%d connected\n", st.Peers)
	share := "off"
	if st.Sharing {
		share = fmt.Sprintf("on (%d slots", st.Upload.Slots)
		if st.Upload.BytesPerSecond > 0 {
			share += ", at most " + humanBytes(st.Upload.BytesPerSecond) + "/s"
		}
		share += ")"
	}
	fmt.Fprintf(tw, "sharing\t%s\n", share)
	fmt.Fprintf(tw, "rates\tup %s/s, down %s/s\n", humanBytes(st.UploadBps), humanBytes(st.DownloadBps))
	fmt.Fprintf(tw, "cache\t%s of %s\n", humanBytes(st.Cache.UsedBytes), humanBytes(st.Cache.MaxBytes))
	tracker := "reachable"
	if !st.TrackerReachable {
		tracker = "UNREACHABLE (cached and buffered plays go on)"
	}
	fmt.Fprintf(tw, "tracker\t%s, account %s\n", tracker, st.Account)
	if !st.Connected {
		fmt.Fprintf(tw, "connecting\t%s\n", st.Connecting)
	}
	if st.Error != "" {
		fmt.Fprintf(tw, "error\t%s\n", st.Error)
	}
	return tw.Flush()
}

func printTracks(w io.Writer, ts []daemon.Track) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tid\tartist\ttitle\talbum\tlength")
	for i, t := range ts {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", i, t.ID, t.Artist, t.Title, t.Album, msClock(t.DurationMS))
	}
	return tw.Flush()
}

func printCtlTracks(w io.Writer, raw []byte, field string) error {
	var res map[string][]daemon.Track
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("the daemon's answer: %w", err)
	}
	if len(res[field]) == 0 {
		_, err := fmt.Fprintln(w, "no tracks")
		return err
	}
	return printTracks(w, res[field])
}

func printCtlQueue(w io.Writer, raw []byte) error { return printCtlTracks(w, raw, "items") }
