package dhtserver

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/chorus-music/chorus/internal/clock"
	"github.com/chorus-music/chorus/node"
	"github.com/chorus-music/chorus/node/dhtstore"
	"github.com/chorus-music/chorus/protocol"
)

// Account is the account named in the tickets of a DHT server.
const Account = "chorus-dht-server"

// Signer signs the server's admission tickets: the tracker's keyring.
type Signer interface {
	// CurrentID names the key Sign signs with now.
	CurrentID() string
	// Sign signs msg and names the key it used.
	Sign(msg []byte) (keyID string, sig []byte)
	// PublicKeys returns the keys tickets are checked against.
	PublicKeys() map[string]ed25519.PublicKey
}

// Options configure a Server.
type Options struct {
	// Dir holds the server's identity, listen port and records
	// (Dir/records.db). Required.
	Dir string
	// Listen is the QUIC multiaddr to listen on. Required.
	Listen string
	// Signer signs the server's tickets. Required.
	Signer Signer
	// RecordLifetime is how long a record is kept after its last
	// announcement. Required.
	RecordLifetime time.Duration
	// TicketTTL is each ticket's lifetime (the node renews it). Required.
	TicketTTL time.Duration
	// ListenUDP, when set, opens the node's UDP sockets (a link shaper in
	// simulations).
	ListenUDP func(network string, laddr *net.UDPAddr) (net.PacketConn, error)
	// Conns tunes the server's connection manager. Zero fields mean
	// DefaultLowWater, DefaultHighWater and DefaultMaxConns: a server
	// keeps a connection to every listener it serves, where a listener's
	// node keeps 50-60 neighbours.
	Conns  node.ConnOptions
	Clock  clock.Clock
	Logger *slog.Logger
}

// The server's connection limits for zero Options.Conns fields. Every
// listener puts its records to the server first and asks it first, so it
// is connected to them all: with a listener's watermarks
// (50-60) it would trim the connections its busiest askers use and be
// dialled (and admitted) again at once, round after round.
const (
	DefaultLowWater  = 1600
	DefaultHighWater = 2000
	DefaultMaxConns  = 4096
)

// conns is o.Conns with the server's defaults filled in.
func (o Options) conns() node.ConnOptions {
	c := o.Conns
	if c.LowWater == 0 {
		c.LowWater = DefaultLowWater
	}
	if c.HighWater == 0 {
		c.HighWater = max(DefaultHighWater, c.LowWater)
	}
	if c.MaxConns == 0 {
		c.MaxConns = max(DefaultMaxConns, c.HighWater)
	}
	return c
}

// Server is a running DHT server.
type Server struct {
	node    *node.Node
	records *dhtstore.Store
}

// ErrBadOptions reports missing or nonsense Options.
var ErrBadOptions = errors.New("dhtserver: bad options")

// Start starts a server.
func Start(ctx context.Context, o Options) (*Server, error) {
	switch {
	case o.Dir == "" || o.Listen == "" || o.Signer == nil:
		return nil, fmt.Errorf("%w: Dir, Listen and Signer are required", ErrBadOptions)
	case o.RecordLifetime <= 0 || o.TicketTTL <= 0:
		return nil, fmt.Errorf("%w: RecordLifetime and TicketTTL must be positive", ErrBadOptions)
	}
	clk := clock.Or(o.Clock)
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("dht server: %w", err)
	}
	records, err := dhtstore.Open(filepath.Join(o.Dir, "records.db"))
	if err != nil {
		return nil, err
	}
	sign := o.Signer
	n, err := node.New(ctx, node.Options{
		DataDir:     o.Dir,
		ListenAddrs: []string{o.Listen},
		TrackerKeys: sign.PublicKeys,
		Tickets: node.TicketFunc(func(_ context.Context, p peer.ID) (protocol.Ticket, error) {
			now := clk.Now()
			body := protocol.TicketBody{
				Version: protocol.TicketVersion, PeerID: p.String(), Account: Account,
				IssuedAt: now.Unix(), ExpiresAt: now.Add(o.TicketTTL).Unix(), KeyID: sign.CurrentID(),
			}
			id, sig := sign.Sign(protocol.TicketSigningBytes(body))
			if id != body.KeyID {
				return protocol.Ticket{}, fmt.Errorf("dht server ticket: the signing key rotated while signing; try again")
			}
			return protocol.Ticket{TicketBody: body, Signature: sig}, nil
		}),
		Upload:    node.UploadOptions{Disabled: true},
		DHT:       node.DHTOptions{Records: records, RecordLifetime: o.RecordLifetime},
		Conns:     o.conns(),
		ListenUDP: o.ListenUDP,
		Clock:     o.Clock,
		Logger:    log,
	})
	if err != nil {
		records.Close()
		return nil, fmt.Errorf("dht server: %w", err)
	}
	return &Server{node: n, records: records}, nil
}

// Node is the server's node.
func (s *Server) Node() *node.Node { return s.node }

// BootstrapAddrs are the server's addresses as bootstrap list entries
// (each ending in /p2p/<id>), for tracker.Server.SetDHTServers.
func (s *Server) BootstrapAddrs() []string {
	var out []string
	for _, a := range s.node.Addrs() {
		out = append(out, a.String()+"/p2p/"+s.node.ID().String())
	}
	return out
}

// Close stops the node and closes the records.
func (s *Server) Close() error {
	return errors.Join(s.node.Close(), s.records.Close())
}
