package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/chorus-music/chorus/internal/flock"
	"github.com/chorus-music/chorus/node/dhtserver"
	"github.com/chorus-music/chorus/tracker"
)

// dhtServer is the always-on DHT server beside the tracker
// (node/dhtserver), with the lock on its data directory.
type dhtServer struct {
	*dhtserver.Server
	lock *flock.Lock // on dir/lock: one server per identity
}

// startDHTServer starts the tracker's DHT server on listen, with its
// identity, listen port and records under dir. Its admission tickets are
// signed by the tracker's own keyring, for TicketTTL each (renewed by the
// node).
func startDHTServer(ctx context.Context, env *cmdEnv, srv *tracker.Server, dir, listen string, lifetime, ticketTTL time.Duration) (*dhtServer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("dht server: %w", err)
	}
	// One process owns the server's identity: a second tracker on the
	// same data directory would run a second host with the same peer ID.
	lock, err := flock.TryLock(filepath.Join(dir, "lock"), flock.Exclusive, "chorus tracker --dht-listen", time.Now())
	if who, held := lockHolder(err); held {
		return nil, fmt.Errorf("dht server: %s is in use by %s, which runs the DHT server of this data directory: "+
			"stop it, or start this tracker without --dht-listen (one DHT server serves every tracker) or with its own --data", dir, who)
	}
	if err != nil {
		return nil, fmt.Errorf("dht server: %w", err)
	}
	s, err := dhtserver.Start(ctx, dhtserver.Options{
		Dir: dir, Listen: listen, Signer: srv.Keyring(),
		RecordLifetime: lifetime, TicketTTL: ticketTTL,
		Logger: env.log.With("component", "dht-server"),
	})
	if err != nil {
		lock.Release()
		return nil, err
	}
	env.log.Info("dht server serving", "peer", s.Node().ID().String(), "addrs", fmt.Sprint(s.Node().Addrs()),
		"records", filepath.Join(dir, "records.db"), "record_lifetime", lifetime.String())
	return &dhtServer{Server: s, lock: lock}, nil
}

func (d *dhtServer) Close() error {
	err := d.Server.Close()
	d.lock.Release()
	return err
}

// dhtRecordLifetime is the DHT server's default record lifetime; see
// README ("Always-on DHT servers") for why.
const dhtRecordLifetime = 48 * time.Hour
