package daemon

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadConfigCreatesDefaults(t *testing.T) {
	p := Paths{Config: filepath.Join(t.TempDir(), "cfg"), Cache: t.TempDir()}
	cfg, created, err := LoadConfig(p)
	if err != nil || !created {
		t.Fatalf("LoadConfig on a first run = %v, created %v; want the defaults written", err, created)
	}
	if got, want := cfg, DefaultConfig(); got.API != want.API || got.Tracker != want.Tracker || !got.Sharing || got.UploadSlots != 4 {
		t.Fatalf("first-run config = %+v; want %+v", got, want)
	}
	if st, err := os.Stat(filepath.Join(p.Config, ConfigFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v", err)
	}
	cfg.UploadSlots = 9
	if err := SaveConfig(p, cfg); err != nil {
		t.Fatal(err)
	}
	again, created, err := LoadConfig(p)
	if err != nil || created || again.UploadSlots != 9 {
		t.Fatalf("LoadConfig after a save = %+v, %v, %v; want the saved slots", again, created, err)
	}
	if err := os.WriteFile(filepath.Join(p.Config, ConfigFile), []byte("{nope"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadConfig(p); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("LoadConfig of a corrupt file = %v; want ErrBadConfig", err)
	}
}

func TestSettingsParseAndValidate(t *testing.T) {
	cfg := DefaultConfig()
	set := map[string]string{
		"upload-slots": "2", "upload-rate": "65536", "sharing": "false", "cache-bytes": "1000000",
		"listen": "/ip4/127.0.0.1/udp/4001/quic-v1, /ip6/::1/udp/4001/quic-v1", "speed": "2",
	}
	for _, s := range Settings() {
		if v, ok := set[s.Flag]; ok {
			if err := s.Set(&cfg, v); err != nil {
				t.Fatalf("Set %s=%s: %v", s.Flag, v, err)
			}
			if got := s.Get(&cfg); got != v && s.Flag != "listen" {
				t.Errorf("Get %s = %q after Set %q", s.Flag, got, v)
			}
		}
	}
	if cfg.UploadSlots != 2 || cfg.UploadBytesPerSecond != 65536 || cfg.Sharing || cfg.CacheMaxBytes != 1e6 || len(cfg.NodeListen) != 2 || cfg.Speed != 2 {
		t.Fatalf("config after settings = %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	for flag, v := range map[string]string{"upload-slots": "x", "sharing": "maybe", "speed": "fast"} {
		for _, s := range Settings() {
			if s.Flag == flag {
				if err := s.Set(&cfg, v); !errors.Is(err, ErrBadConfig) {
					t.Errorf("Set %s=%q = %v; want ErrBadConfig", flag, v, err)
				}
			}
		}
	}
	for _, bad := range []func(*Config){
		func(c *Config) { c.Tracker = "ftp://x" },
		func(c *Config) { c.UploadSlots = 0 },
		func(c *Config) { c.Speed = -1 },
		func(c *Config) { c.OriginProto = "h9" },
		func(c *Config) { c.NodeListen = nil },
		func(c *Config) { c.CacheMaxBytes = -5 },
	} {
		c := DefaultConfig()
		bad(&c)
		if err := c.Validate(); !errors.Is(err, ErrBadConfig) {
			t.Errorf("Validate(%+v) = %v; want ErrBadConfig", c, err)
		}
	}
}

// TestMigrateCacheKeepsIdentityAndPins moves an old cache out of the
// config directory and leaves the node identity and pinned keys alone.
func TestMigrateCacheKeepsIdentityAndPins(t *testing.T) {
	root := t.TempDir()
	p := Paths{Config: filepath.Join(root, "config", "chorus"), Cache: filepath.Join(root, "cache", "chorus")}
	files := map[string]string{
		"cache/ab/chunk1":      "ciphertext 1",
		"cache/cd/chunk2":      "ciphertext 2",
		"node/identity.key":    "identity",
		"node/provided-tracks": "tracks",
		PinsFile:               `{"k1":"..."}`,
	}
	for name, body := range files {
		path := filepath.Join(p.Config, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	moved, err := MigrateCache(p, slog.New(slog.DiscardHandler))
	if err != nil || !moved {
		t.Fatalf("MigrateCache = %v, %v; want moved", moved, err)
	}
	for name, body := range files {
		dir := p.Config
		if rel, ok := cutPrefix(name, "cache/"); ok {
			dir, name = p.cacheDir(), rel
		}
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != body {
			t.Errorf("after migration %s in %s = %q, %v; want %q", name, dir, got, err, body)
		}
	}
	if _, err := os.Stat(filepath.Join(p.Config, "cache")); !os.IsNotExist(err) {
		t.Errorf("the old cache is still in the config directory (%v)", err)
	}
	// A second run has nothing to do; an old cache beside a new one is
	// left alone, never merged or written over.
	if moved, err := MigrateCache(p, slog.New(slog.DiscardHandler)); err != nil || moved {
		t.Fatalf("second MigrateCache = %v, %v; want nothing moved", moved, err)
	}
	if err := os.MkdirAll(filepath.Join(p.Config, "cache", "zz"), 0o700); err != nil {
		t.Fatal(err)
	}
	if moved, err := MigrateCache(p, slog.New(slog.DiscardHandler)); err != nil || moved {
		t.Fatalf("MigrateCache with both caches = %v, %v; want nothing moved", moved, err)
	}
	if _, err := os.Stat(filepath.Join(p.cacheDir(), "ab", "chunk1")); err != nil {
		t.Fatalf("the new cache was touched: %v", err)
	}
}

func TestCopyTree(t *testing.T) {
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "out")
	if err := os.MkdirAll(filepath.Join(src, "a", "b"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "a", "b", "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := copyTree(src, dst); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "a", "b", "f")); err != nil || string(b) != "x" {
		t.Fatalf("copied file = %q, %v", b, err)
	}
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return s, false
}
