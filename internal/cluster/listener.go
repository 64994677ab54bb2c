package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"

	"github.com/chorus-music/chorus/client"
	"github.com/chorus-music/chorus/origin"
)

// ListenerOptions configure one listener.
type ListenerOptions struct {
	// Name names the listener's data directory under the cluster's.
	Name string
	// User and Password log the listener in; the account must exist.
	User, Password string
	// OriginProto is "h3" (default), "h2" or "h1".
	OriginProto string
	// Window is the client's fetch window; 0 means its default.
	Window int
}

// Listener is one logged-in client.
type Listener struct {
	Name    string
	Dir     string
	Client  *client.Client
	Tracker *client.Tracker

	originHTTP *http.Client
	closeOnce  sync.Once
	closeErr   error
}

// NewListener logs a client in and points it at the cluster's origin.
func (c *Cluster) NewListener(ctx context.Context, o ListenerOptions) (*Listener, error) {
	if o.Name == "" {
		return nil, errors.New("cluster: listener needs a Name")
	}
	l := &Listener{Name: o.Name, Dir: filepath.Join(c.opts.Dir, "listeners", o.Name)}
	switch o.OriginProto {
	case "", "h3":
		l.originHTTP = origin.NewHTTP3Client(c.OriginCA)
	case "h2":
		l.originHTTP = origin.NewHTTP2Client(c.OriginCA)
	case "h1":
		l.originHTTP = origin.NewHTTP1Client(c.OriginCA)
	default:
		return nil, fmt.Errorf("cluster: origin protocol %q", o.OriginProto)
	}
	ok := false
	defer func() {
		if !ok {
			l.Close()
		}
	}()
	pins, err := client.OpenPins(filepath.Join(l.Dir, "tracker-keys.json"))
	if err != nil {
		return nil, err
	}
	l.Tracker, err = client.NewTracker(client.TrackerOptions{URL: c.TrackerURL, Clock: c.opts.Clock, Pins: pins})
	if err != nil {
		return nil, err
	}
	if err := l.Tracker.Login(ctx, o.User, o.Password); err != nil {
		return nil, err
	}
	netinfo, err := l.Tracker.Network(ctx)
	if err != nil {
		return nil, err
	}
	var origins []client.ChunkSource
	for _, u := range netinfo.Origins {
		src, err := client.NewOriginSource(u, l.originHTTP)
		if err != nil {
			return nil, err
		}
		origins = append(origins, src)
	}
	l.Client, err = client.New(client.Options{
		Tracker: l.Tracker,
		Origins: origins,
		Clock:   c.opts.Clock,
		Logger:  c.log.With("listener", o.Name),
		Window:  o.Window,
	})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.listeners = append(c.listeners, l)
	c.mu.Unlock()
	ok = true
	return l, nil
}

// Close logs out and releases the listener's connections.
// It is safe to call more than once.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		var errs []error
		if l.Tracker != nil && l.Tracker.Account() != "" {
			errs = append(errs, l.Tracker.Logout(context.Background()))
		}
		if l.originHTTP != nil {
			errs = append(errs, origin.CloseClient(l.originHTTP))
		}
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}
