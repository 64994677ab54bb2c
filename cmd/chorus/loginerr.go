package main

import (
	"errors"
	"fmt"

	"github.com/chorus-music/chorus/client"
)

// loginError adds to a failed login what the user can do about it: the
// tracker not answering (start it, or name another with --tracker), or
// the account name or password wrong. Other errors pass unchanged.
func loginError(trackerURL, user string, err error) error {
	switch {
	case errors.Is(err, client.ErrTrackerUnreachable):
		return fmt.Errorf("no tracker answers at %s: start it (chorus tracker) or give its address with --tracker URL: %w", trackerURL, err)
	case errors.Is(err, client.ErrUnauthorized):
		return fmt.Errorf("wrong account name or password for %s at %s (the tracker's operator creates accounts with chorus user add NAME): %w", user, trackerURL, err)
	}
	return err
}
