package main

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/chorus-music/chorus/tracker/store"
	"github.com/chorus-music/chorus/tracker/store/postgres"
	"github.com/chorus-music/chorus/tracker/store/sqlite"
)

// storeFlag is the --store flag of the commands that open the tracker's
// store: empty for SQLite in the data directory, or a PostgreSQL URL.
func storeFlag(fs interface {
	String(name, value, usage string) *string
}) *string {
	return fs.String("store", envOr("CHORUS_STORE", ""),
		"tracker store: empty for SQLite at DATA/tracker.db, or postgres://USER:PASS@HOST/DB (env CHORUS_STORE)")
}

// openStore opens the store --store names.
func openStore(dataDir, storeURL string) (store.Store, error) {
	switch {
	case storeURL == "":
		return sqlite.Open(trackerHome{dataDir}.db())
	case postgres.IsURL(storeURL):
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		st, err := postgres.Open(ctx, storeURL)
		if err != nil {
			return nil, fmt.Errorf("--store: %w (is the server running, and does the database exist?)", err)
		}
		return st, nil
	}
	return nil, fmt.Errorf("--store %q: want empty (SQLite in the data directory) or a postgres:// URL", storeName(storeURL))
}

// storeName describes --store for logs, without a password.
func storeName(storeURL string) string {
	if storeURL == "" {
		return "sqlite"
	}
	if i := strings.Index(storeURL, "://"); i >= 0 {
		if j := strings.LastIndex(storeURL, "@"); j > i {
			return storeURL[:i+3] + "…" + storeURL[j:]
		}
	}
	return storeURL
}

// prefixList is a repeatable CIDR flag; a bare address is its own /32 or
// /128.
type prefixList []netip.Prefix

func (p *prefixList) String() string {
	s := make([]string, len(*p))
	for i, v := range *p {
		s[i] = v.String()
	}
	return strings.Join(s, ",")
}

func (p *prefixList) Set(v string) error {
	if pf, err := netip.ParsePrefix(v); err == nil {
		*p = append(*p, pf.Masked())
		return nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return fmt.Errorf("%q is not a network (10.0.0.0/8, fd00::/8) or an address", v)
	}
	*p = append(*p, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	return nil
}
