package dhtserver

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chorus-music/chorus/node"
)

// keys is a one-key Signer.
type keys struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

func (k keys) CurrentID() string                { return "k1" }
func (k keys) Sign(msg []byte) (string, []byte) { return "k1", ed25519.Sign(k.priv, msg) }
func (k keys) PublicKeys() map[string]ed25519.PublicKey {
	return map[string]ed25519.PublicKey{"k1": k.pub}
}

func newKeys(t *testing.T) keys {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return keys{pub, priv}
}

func TestStartRefusesBadOptions(t *testing.T) {
	ok := Options{Dir: t.TempDir(), Listen: "/ip4/127.0.0.1/udp/0/quic-v1", Signer: newKeys(t), RecordLifetime: time.Hour, TicketTTL: time.Hour}
	for name, mod := range map[string]func(*Options){
		"no dir":       func(o *Options) { o.Dir = "" },
		"no listen":    func(o *Options) { o.Listen = "" },
		"no signer":    func(o *Options) { o.Signer = nil },
		"no lifetime":  func(o *Options) { o.RecordLifetime = 0 },
		"negative ttl": func(o *Options) { o.TicketTTL = -time.Second },
	} {
		o := ok
		mod(&o)
		if s, err := Start(context.Background(), o); !errors.Is(err, ErrBadOptions) {
			if s != nil {
				s.Close()
			}
			t.Errorf("%s: Start = %v; want ErrBadOptions", name, err)
		}
	}
}

// TestServerConnsOutlastAListeners: a server's connection manager keeps a
// connection to far more peers than a listener's node does (it is every
// listener's first DHT contact), and explicit limits are kept, raised only
// to stay consistent.
func TestServerConnsOutlastAListeners(t *testing.T) {
	def := Options{}.conns()
	if def.LowWater <= 10*node.DefaultHighWater || def.HighWater < def.LowWater || def.MaxConns < def.HighWater {
		t.Errorf("default conns %+v; want a low watermark far above a listener's high one (%d), high >= low, max >= high", def, node.DefaultHighWater)
	}
	set := Options{Conns: node.ConnOptions{LowWater: 100, HighWater: 120, MaxConns: 200, GracePeriod: time.Second}}.conns()
	if set != (node.ConnOptions{LowWater: 100, HighWater: 120, MaxConns: 200, GracePeriod: time.Second}) {
		t.Errorf("explicit conns became %+v", set)
	}
	if c := (Options{Conns: node.ConnOptions{LowWater: 3000}}).conns(); c.HighWater < 3000 || c.MaxConns < c.HighWater {
		t.Errorf("LowWater 3000 alone gave %+v; want the defaults raised to fit", c)
	}
}

// TestServerKeepsItsIdentity: the server listens where told, lists itself
// as bootstrap entries ending in its peer ID, and keeps that ID across a
// restart on the same directory.
func TestServerKeepsItsIdentity(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir, Listen: "/ip4/127.0.0.1/udp/0/quic-v1", Signer: newKeys(t), RecordLifetime: time.Hour, TicketTTL: time.Hour}
	s, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	id := s.Node().ID().String()
	addrs := s.BootstrapAddrs()
	if len(addrs) == 0 {
		t.Fatal("no bootstrap addresses")
	}
	for _, a := range addrs {
		if !strings.HasPrefix(a, "/ip4/127.0.0.1/udp/") || !strings.HasSuffix(a, "/p2p/"+id) {
			t.Errorf("bootstrap address %q; want a loopback QUIC address ending in /p2p/%s", a, id)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got := again.Node().ID().String(); got != id {
		t.Errorf("peer ID after a restart = %s; want %s", got, id)
	}
}
