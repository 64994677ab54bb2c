package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/chorus-music/chorus/internal/atomicfile"
	"github.com/chorus-music/chorus/origin"
)

// Paths are where the daemon keeps its files.
type Paths struct {
	// Config holds config.json, the API key, the session, pinned tracker
	// keys, the node identity and the play state.
	Config string
	// Cache holds the chunk cache (Cache/cache): ciphertext only, safe to
	// delete while the daemon is stopped.
	Cache string
}

// DefaultPaths returns os.UserConfigDir()/chorus and
// os.UserCacheDir()/chorus.
func DefaultPaths() (Paths, error) {
	cfg, err := os.UserConfigDir()
	if err != nil {
		return Paths{}, fmt.Errorf("daemon: no config directory (set HOME or XDG_CONFIG_HOME): %w", err)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return Paths{}, fmt.Errorf("daemon: no cache directory (set HOME or XDG_CACHE_HOME): %w", err)
	}
	return Paths{Config: filepath.Join(cfg, "chorus"), Cache: filepath.Join(cache, "chorus")}, nil
}

// File names inside Paths.Config.
const (
	ConfigFile  = "config.json"
	APIKeyFile  = "api-key"
	SessionFile = "session.json"
	PinsFile    = "tracker-keys.json"
	StateFile   = "state.json"
	NodeDir     = "node"
	// AddressFile holds the running daemon's API URL, for `chorus ctl`.
	AddressFile = "api-address"
)

func (p Paths) configFile() string { return filepath.Join(p.Config, ConfigFile) }
func (p Paths) apiKeyFile() string { return filepath.Join(p.Config, APIKeyFile) }
func (p Paths) sessionFile() string {
	return filepath.Join(p.Config, SessionFile)
}
func (p Paths) addressFile() string { return filepath.Join(p.Config, AddressFile) }
func (p Paths) pinsFile() string    { return filepath.Join(p.Config, PinsFile) }
func (p Paths) stateFile() string   { return filepath.Join(p.Config, StateFile) }
func (p Paths) nodeDir() string     { return filepath.Join(p.Config, NodeDir) }
func (p Paths) cacheDir() string    { return filepath.Join(p.Cache, "cache") }

// Config is the daemon's settings, stored as config.json in the config
// directory. Every field is also a flag and an environment variable (see
// Settings); a flag beats the environment, which beats the file.
type Config struct {
	// Tracker is the tracker's base URL.
	Tracker string `json:"tracker"`
	// User is the account `chorus login` logged in as.
	User string `json:"user,omitempty"`
	// API is the local API's listen address. Anything but loopback needs
	// the --api-remote flag and logs a warning.
	API string `json:"api"`
	// NodeListen are the swarm node's QUIC multiaddrs.
	NodeListen []string `json:"node_listen"`
	// OriginCA is a PEM file of a CA to trust for origins ("" for the
	// system roots).
	OriginCA string `json:"origin_ca,omitempty"`
	// OriginProto is auto (HTTP/3, and HTTP/2 beside it when HTTP/3 does
	// not answer: origin.NewClient), h3, h2 or h1.
	OriginProto string `json:"origin_proto"`
	// CacheMaxBytes bounds the chunk cache; 0 means 10% of the free disk,
	// at most 10 GiB.
	CacheMaxBytes int64 `json:"cache_max_bytes"`
	// Sharing serves cached chunks to other peers.
	Sharing bool `json:"sharing"`
	// UploadSlots is how many peers are served at once.
	UploadSlots int `json:"upload_slots"`
	// UploadBytesPerSecond caps upload over all peers; 0 means no cap.
	UploadBytesPerSecond int64 `json:"upload_bytes_per_second"`
	// Speed is the playback clock's speed: 1 for listening; tests and the
	// demo play faster.
	Speed float64 `json:"speed"`
}

// DefaultConfig is what a first run writes.
func DefaultConfig() Config {
	return Config{
		Tracker:     "http://127.0.0.1:7070",
		API:         "127.0.0.1:7474",
		NodeListen:  []string{"/ip4/127.0.0.1/udp/0/quic-v1"},
		OriginProto: "auto",
		Sharing:     true,
		UploadSlots: 4,
		Speed:       1,
	}
}

// Validate reports the first setting that makes no sense.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadConfig}, args...)...)
	}
	if !strings.HasPrefix(c.Tracker, "http://") && !strings.HasPrefix(c.Tracker, "https://") {
		return bad("tracker %q: want http(s)://host[:port]", c.Tracker)
	}
	if c.API == "" {
		return bad("api address is empty")
	}
	if len(c.NodeListen) == 0 {
		return bad("node_listen is empty")
	}
	if c.OriginProto == "" {
		return bad("origin_proto is empty: want %s", origin.Protocols)
	}
	if err := origin.CheckProtocol(c.OriginProto); err != nil {
		return bad("origin_proto: %v", err)
	}
	if c.CacheMaxBytes < 0 {
		return bad("cache_max_bytes %d < 0", c.CacheMaxBytes)
	}
	if c.UploadSlots < 1 {
		return bad("upload_slots %d: want at least 1 (sharing=false turns sharing off)", c.UploadSlots)
	}
	if c.UploadBytesPerSecond < 0 {
		return bad("upload_bytes_per_second %d < 0", c.UploadBytesPerSecond)
	}
	if !(c.Speed > 0) || c.Speed > 1000 {
		return bad("speed %v: want a factor in (0, 1000]", c.Speed)
	}
	return nil
}

// LoadConfig reads config.json from the config directory, creating the
// directory and the file with DefaultConfig on first run. Fields missing
// from an older file keep their defaults. created reports a first run.
func LoadConfig(p Paths) (cfg Config, created bool, err error) {
	cfg = DefaultConfig()
	data, err := os.ReadFile(p.configFile())
	if errors.Is(err, fs.ErrNotExist) {
		if err := SaveConfig(p, cfg); err != nil {
			return cfg, false, err
		}
		return cfg, true, nil
	}
	if err != nil {
		return cfg, false, fmt.Errorf("daemon: read config: %w", err)
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return cfg, false, fmt.Errorf("%w: %s is not valid JSON (fix or delete it to get the defaults): %v", ErrBadConfig, p.configFile(), err)
	}
	return cfg, false, nil
}

// SaveConfig writes config.json atomically.
func SaveConfig(p Paths, cfg Config) error {
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("daemon: encode config: %w", err)
	}
	return writeFileAtomic(p.configFile(), append(data, '\n'), 0o600)
}

// ReadAddress returns the API URL the daemon of this config directory
// last listened on, or "" if none has run.
func ReadAddress(p Paths) string {
	b, err := os.ReadFile(p.addressFile())
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Setting is one setting as a flag and an environment variable.
type Setting struct {
	Flag, Env, Help string
	get             func(*Config) string
	set             func(*Config, string) error
}

// Get returns the setting's value in cfg, as text.
func (s Setting) Get(cfg *Config) string { return s.get(cfg) }

// Set parses v into cfg.
func (s Setting) Set(cfg *Config, v string) error {
	if err := s.set(cfg, v); err != nil {
		return fmt.Errorf("%w: --%s / %s %q: %v", ErrBadConfig, s.Flag, s.Env, v, err)
	}
	return nil
}

// Settings lists every Config field as a flag and an environment variable.
func Settings() []Setting {
	str := func(f func(*Config) *string) (func(*Config) string, func(*Config, string) error) {
		return func(c *Config) string { return *f(c) }, func(c *Config, v string) error { *f(c) = v; return nil }
	}
	i64 := func(f func(*Config) *int64) (func(*Config) string, func(*Config, string) error) {
		return func(c *Config) string { return strconv.FormatInt(*f(c), 10) }, func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			*f(c) = n
			return err
		}
	}
	mk := func(flag, env, help string, g func(*Config) string, s func(*Config, string) error) Setting {
		return Setting{Flag: flag, Env: env, Help: help, get: g, set: s}
	}
	var out []Setting
	g, s := str(func(c *Config) *string { return &c.Tracker })
	out = append(out, mk("tracker", "CHORUS_TRACKER", "tracker base URL", g, s))
	g, s = str(func(c *Config) *string { return &c.User })
	out = append(out, mk("user", "CHORUS_USER", "account name (set by chorus login)", g, s))
	g, s = str(func(c *Config) *string { return &c.API })
	out = append(out, mk("api", "CHORUS_API", "local API listen address (loopback unless --api-remote)", g, s))
	out = append(out, mk("listen", "CHORUS_NODE_LISTEN", "swarm node QUIC multiaddrs, comma-separated",
		func(c *Config) string { return strings.Join(c.NodeListen, ",") },
		func(c *Config, v string) error {
			c.NodeListen = nil
			for _, a := range strings.Split(v, ",") {
				if a = strings.TrimSpace(a); a != "" {
					c.NodeListen = append(c.NodeListen, a)
				}
			}
			return nil
		}))
	g, s = str(func(c *Config) *string { return &c.OriginCA })
	out = append(out, mk("origin-ca", "CHORUS_ORIGIN_CA", "PEM file of a CA to trust for origins", g, s))
	g, s = str(func(c *Config) *string { return &c.OriginProto })
	out = append(out, mk("origin-proto", "CHORUS_ORIGIN_PROTO", "protocol to origins: "+origin.Protocols, g, s))
	g, s = i64(func(c *Config) *int64 { return &c.CacheMaxBytes })
	out = append(out, mk("cache-bytes", "CHORUS_CACHE_BYTES", "bound of the chunk cache in bytes (0: 10% of free disk, at most 10 GiB)", g, s))
	out = append(out, mk("sharing", "CHORUS_SHARING", "serve cached chunks to other peers (true or false)",
		func(c *Config) string { return strconv.FormatBool(c.Sharing) },
		func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			c.Sharing = b
			return err
		}))
	out = append(out, mk("upload-slots", "CHORUS_UPLOAD_SLOTS", "peers served at once",
		func(c *Config) string { return strconv.Itoa(c.UploadSlots) },
		func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			c.UploadSlots = n
			return err
		}))
	g, s = i64(func(c *Config) *int64 { return &c.UploadBytesPerSecond })
	out = append(out, mk("upload-rate", "CHORUS_UPLOAD_RATE", "upload cap in bytes per second over all peers (0: no cap)", g, s))
	out = append(out, mk("speed", "CHORUS_SPEED", "playback clock speed (1 for listening; tests and the demo play faster)",
		func(c *Config) string { return strconv.FormatFloat(c.Speed, 'g', -1, 64) },
		func(c *Config, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			c.Speed = f
			return err
		}))
	return out
}

// writeFileAtomic writes data to path through a synced temporary file and
// a rename, so a crash leaves the old file or the new one, never half. The
// directory is made private (0700) if missing.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	if err := atomicfile.WriteFile(path, data, atomicfile.Options{Perm: perm}); err != nil {
		return fmt.Errorf("daemon: write %s: %w", path, err)
	}
	return nil
}
