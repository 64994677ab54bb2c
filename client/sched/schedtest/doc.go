// Package schedtest drives sched.Schedulers in virtual time against
// modelled sources: a discrete-event loop that delivers events in time
// order, carries out the schedulers' actions (requests served by modelled
// peers and origins with RTT, FIFO uplink serialisation and scripted
// failures; timers; lookups; warm-ups) and logs every action with its time.
// Tests use it to assert when a request went out. Several clients can share
// one world (AddClient), each also serving the others what it has
// (Source.Client, Harness.Has), which is the core of the swarm simulator's
// virtual-time mode.
//
// It imports only sched and the standard library, and never reads the wall
// clock or sleeps.
package schedtest
