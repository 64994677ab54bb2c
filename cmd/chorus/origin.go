package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/chorus-music/chorus/origin"
)

func runOrigin(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(env, "origin", "")
	dataDir := fs.String("data", envOr("CHORUS_DATA", "chorus-data"), "data directory: chunks/ holds the encrypted chunks, tls/ the dev certificate (env CHORUS_DATA)")
	chunks := fs.String("chunks", "", "chunk directory (default DATA/chunks)")
	listen := fs.String("listen", envOr("CHORUS_ORIGIN_LISTEN", "127.0.0.1:4433"), "host:port for HTTP/3 (UDP) and HTTPS/1.1+2 (TCP) (env CHORUS_ORIGIN_LISTEN)")
	tlsFlags := addTLSFlags(fs)
	posArgs, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(posArgs) > 0 {
		return fmt.Errorf("unexpected argument %q", posArgs[0])
	}
	if *chunks == "" {
		*chunks = filepath.Join(*dataDir, "chunks")
	}
	store, err := openChunks(*chunks, env)
	if err != nil {
		return err
	}
	tlsConf, err := tlsFlags.config(*dataDir, env)
	if err != nil {
		return err
	}
	srv, err := origin.New(origin.Options{Store: store, TLS: tlsConf, Logger: env.log.With("component", "origin")})
	if err != nil {
		return err
	}
	ls, err := origin.Listen(*listen)
	if err != nil {
		return err
	}
	env.log.Info("origin serving", "url", ls.URL(), "chunks", *chunks)
	return srv.Serve(ctx, ls.UDP, ls.TCP)
}

// tlsFlags choose between a production certificate and dev mode.
type tlsFlags struct {
	cert, key *string
	dev       *bool
}

func addTLSFlags(fs interface {
	String(name, value, usage string) *string
	Bool(name string, value bool, usage string) *bool
}) tlsFlags {
	return tlsFlags{
		cert: fs.String("tls-cert", envOr("CHORUS_TLS_CERT", ""), "PEM certificate chain for production (env CHORUS_TLS_CERT)"),
		key:  fs.String("tls-key", envOr("CHORUS_TLS_KEY", ""), "PEM private key for production (env CHORUS_TLS_KEY)"),
		dev:  fs.Bool("dev", false, "dev mode: make (or reuse) a self-signed CA and certificate under DATA/tls; clients trust DATA/tls/origin-ca.pem"),
	}
}

func (t tlsFlags) config(dataDir string, env *cmdEnv) (*tls.Config, error) {
	switch {
	case *t.cert != "" || *t.key != "":
		if *t.dev {
			return nil, errors.New("--dev and --tls-cert/--tls-key are exclusive")
		}
		cert, err := origin.LoadCertificate(*t.cert, *t.key)
		if err != nil {
			return nil, err
		}
		return origin.ServerTLSConfig(cert), nil
	case *t.dev:
		dir := filepath.Join(dataDir, "tls")
		cert, _, err := origin.DevCertificate(dir, nil)
		if err != nil {
			return nil, err
		}
		env.log.Info("dev certificate: clients must trust the CA", "ca", filepath.Join(dir, origin.DevCAFile))
		return origin.ServerTLSConfig(cert), nil
	}
	return nil, fmt.Errorf("an origin needs --tls-cert and --tls-key, or --dev")
}

// openChunks opens a chunk store for serving and removes temporary files
// that a crashed writer left more than an hour ago.
func openChunks(dir string, env *cmdEnv) (*origin.DirStore, error) {
	store, err := origin.OpenDirStore(dir)
	if err != nil {
		return nil, err
	}
	if n, err := store.RemoveTemp(time.Now().Add(-time.Hour)); err != nil {
		env.log.Warn("removing stale temporary chunk files", "dir", dir, "err", err)
	} else if n > 0 {
		env.log.Info("removed stale temporary chunk files", "dir", dir, "count", n)
	}
	return store, nil
}
