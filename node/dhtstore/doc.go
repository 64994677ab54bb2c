// Package dhtstore is a persistent record store for always-on DHT server
// nodes: a go-datastore Batching datastore on one SQLite file (WAL,
// synchronous=NORMAL: durable across process crashes), which kad-dht's
// provider manager uses (node.Options.DHT.Records) to keep the provider
// records other nodes put to it across restarts. The provider manager
// stores, per record, the key, the provider's peer ID and the time it was
// last announced; it drops records older than their lifetime
// (node.Options.DHT.RecordLifetime) itself.
//
// dhtstore imports only go-datastore and the SQLite driver; it must not
// import node, client, tracker or origin.
package dhtstore
