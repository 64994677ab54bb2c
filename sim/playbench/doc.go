// Package playbench measures whole plays in a warm swarm of real nodes on
// loopback, every node's and the origin's packets shaped to a chosen round
// trip: start latency percentiles (Play() to the first decrypted byte, with
// manifest and key already fetched), plays with a stall, and the share of
// bytes from the origin — the figures of the project's bar. It is what
// `chorus bench plays` runs. Beside them it reports the swarm once warm
// (each listener's plays after its first), the CPU time per play, and
// counters summed over the nodes that do not depend on the machine's load
// (requests answered Busy or DontHave, fetches by result, connections
// closed), to tell a loaded machine from a fault of the swarm.
//
// Each listener's session (its screen of coming plays, then its plays one
// after another) begins at a random time (from the seed) within the first
// track's length: listeners who do not know of each other.
// Options.Together starts them all at once instead, a stress test in which
// every round's plays keep in step.
//
// It drives the real client, node, origin and tracker through
// sim/cluster; nothing imports it but cmd.
package playbench
