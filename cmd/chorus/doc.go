// Command chorus is the one binary of Chorus: the tracker, the origin, the
// listener's node and player, operator tools, and the demo.
//
// Every subcommand parses its own flags (with CHORUS_* environment
// fallbacks), builds an options struct and runs the service until SIGINT or
// SIGTERM, then shuts down gracefully. One file per subcommand; the
// services themselves live in the packages they run.
package main
