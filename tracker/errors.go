package tracker

import "errors"

var (
	// ErrOptions reports invalid Options.
	ErrOptions = errors.New("tracker: invalid options")
	// ErrBadHash reports a stored password hash that does not parse.
	ErrBadHash = errors.New("tracker: bad password hash")
	// ErrAccountName reports an account name CreateAccount refuses.
	ErrAccountName = errors.New("tracker: bad account name")
	// ErrPassword reports a password CreateAccount refuses.
	ErrPassword = errors.New("tracker: bad password")
	// ErrKeyring reports a signing key set that is corrupt or does not
	// chain to a pinned key.
	ErrKeyring = errors.New("tracker: signing keys")
)
