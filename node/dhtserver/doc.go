// Package dhtserver runs an always-on DHT server node, the kind `chorus
// tracker --dht-listen` starts beside the tracker: a node that holds no
// chunks (every chunk request is answered Busy), keeps the provider records
// listeners put to it in a SQLite file (node/dhtstore) across restarts,
// and admits itself to the swarm with tickets its operator signs (the
// tracker's keyring, through Signer). Listeners learn of it from the
// tracker's network list (protocol.NetworkInfo.DHTServers), put their
// records to it first and ask it first (node.BootstrapList), so it keeps a
// connection to each of them (Options.Conns: watermarks of 1,600-2,000
// connections, where a listener's node keeps 50-60).
//
// It is used by cmd/chorus and by the swarm simulations in sim/cluster, so
// both run the same server.
package dhtserver
