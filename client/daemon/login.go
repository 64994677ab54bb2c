package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chorus-music/chorus/client"
)

// Login logs in to the tracker at cfg.Tracker with a password, pins the
// tracker's keys on first use (in the config directory, where the daemon
// finds them) and stores the session (session.json, 0600), so the daemon
// resumes it without the password. It records the tracker and the account
// in config.json. The password is not stored.
func Login(ctx context.Context, p Paths, trackerURL, user, password string) error {
	if user == "" {
		return fmt.Errorf("%w: login needs an account name", ErrBadConfig)
	}
	cfg, _, err := LoadConfig(p)
	if err != nil {
		return err
	}
	cfg.Tracker, cfg.User = trackerURL, user
	if err := cfg.Validate(); err != nil {
		return err
	}
	tr, err := newTracker(p, trackerURL, 30*time.Second, nil, nil)
	if err != nil {
		return err
	}
	defer tr.Close()
	if err := tr.Login(ctx, user, password); err != nil {
		if errors.Is(err, client.ErrUnauthorized) {
			return fmt.Errorf("wrong account name or password for %s: %w", user, err)
		}
		return err
	}
	return SaveConfig(p, cfg)
}
