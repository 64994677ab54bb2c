// Package metricstest reads a running server's Prometheus /metrics in
// tests, with Prometheus's own text parser: the sum of a counter's series
// whose labels match, so whole-process tests assert on what a server did
// (requests by route, logins) rather than on its logs.
package metricstest
