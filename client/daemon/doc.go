// Package daemon is the listener's desktop daemon behind `chorus daemon`:
// one per user, it keeps the tracker session, runs a swarm node with a
// bounded ciphertext cache, plays tracks through a client.Client with a
// queue, and serves a local HTTP API (search, playback control, queue,
// status, server-sent events, Prometheus metrics) and the current track's
// decrypted audio to players on the same machine.
//
// Files, where the OS expects them (see Paths):
//   - the config directory (os.UserConfigDir()/chorus): config.json, the
//     API key (api-key, 0600), the tracker session (session.json, 0600,
//     kept by client.Tracker: its tokens, the refresh token rotated at each
//     renewal), the pinned tracker keys (tracker-keys.json), the node
//     identity, listen addresses and held-track list (node/), the play state
//     (state.json: current track, position, queue) and the running API's
//     address (api-address, for `chorus ctl`).
//   - the cache directory (os.UserCacheDir()/chorus): the chunk cache
//     (cache/), ciphertext only.
//
// Track keys and decrypted audio are kept in memory only; nothing here
// writes plaintext or a key to disk.
//
// The API is a contract with the web player (client/web); see README.md,
// "The daemon's API". daemon imports client, node, catalog and protocol;
// nothing in the module but cmd/chorus and tests imports daemon.
package daemon
