// Package schedtest drives a sched.Scheduler in virtual time against
// scripted sources: a discrete-event loop that delivers events in time
// order, carries out the scheduler's actions (requests served by modelled
// peers and origins, timers, lookups, warm-ups) and logs every action with
// its time. Tests use it to assert when a request went out; the swarm
// simulator can use it as the per-client driver of its virtual-time mode.
//
// It imports only sched and the standard library, and never reads the wall
// clock or sleeps.
package schedtest
