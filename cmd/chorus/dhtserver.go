package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/chorus-music/chorus/internal/flock"
	"github.com/chorus-music/chorus/node"
	"github.com/chorus-music/chorus/node/dhtstore"
	"github.com/chorus-music/chorus/protocol"
	"github.com/chorus-music/chorus/tracker"
)

// dhtServerAccount is the account named in the tickets the tracker issues
// to its own DHT server.
const dhtServerAccount = "chorus-dht-server"

// dhtServer is an always-on DHT server node beside the tracker: it holds
// no chunks, keeps the provider records listeners put to it in a SQLite
// file across restarts, and heads the tracker's bootstrap list.
type dhtServer struct {
	node    *node.Node
	records *dhtstore.Store
	lock    *flock.Lock // on dir/lock: one server per identity
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
	records, err := dhtstore.Open(filepath.Join(dir, "records.db"))
	if err != nil {
		lock.Release()
		return nil, err
	}
	keys := srv.Keyring()
	n, err := node.New(ctx, node.Options{
		DataDir:     dir,
		ListenAddrs: []string{listen},
		TrackerKeys: keys.PublicKeys,
		Tickets: node.TicketFunc(func(_ context.Context, p peer.ID) (protocol.Ticket, error) {
			now := time.Now()
			body := protocol.TicketBody{
				Version: protocol.TicketVersion, PeerID: p.String(), Account: dhtServerAccount,
				IssuedAt: now.Unix(), ExpiresAt: now.Add(ticketTTL).Unix(), KeyID: keys.CurrentID(),
			}
			id, sig := keys.Sign(protocol.TicketSigningBytes(body))
			if id != body.KeyID {
				return protocol.Ticket{}, fmt.Errorf("dht server ticket: the signing key rotated while signing; try again")
			}
			return protocol.Ticket{TicketBody: body, Signature: sig}, nil
		}),
		Upload: node.UploadOptions{Disabled: true},
		DHT:    node.DHTOptions{Records: records, RecordLifetime: lifetime},
		Logger: env.log.With("component", "dht-server"),
	})
	if err != nil {
		records.Close()
		lock.Release()
		return nil, fmt.Errorf("dht server: %w", err)
	}
	env.log.Info("dht server serving", "peer", n.ID().String(), "addrs", fmt.Sprint(n.Addrs()),
		"records", filepath.Join(dir, "records.db"), "record_lifetime", lifetime.String())
	return &dhtServer{node: n, records: records, lock: lock}, nil
}

// bootstrapAddrs are the server's addresses as bootstrap list entries.
func (d *dhtServer) bootstrapAddrs() []string {
	var out []string
	for _, a := range d.node.Addrs() {
		out = append(out, a.String()+"/p2p/"+d.node.ID().String())
	}
	return out
}

func (d *dhtServer) Close() error {
	err := d.node.Close()
	if cerr := d.records.Close(); err == nil {
		err = cerr
	}
	d.lock.Release()
	return err
}

// dhtRecordLifetime is the DHT server's default record lifetime; see
// README ("Always-on DHT servers") for why.
const dhtRecordLifetime = 48 * time.Hour
