// Package origin owns Chorus's origin servers: the HTTP server that hands
// encrypted chunks out by CID, so that any HTTP cache or CDN can front it,
// from a DirStore (internal/chunkstore, the same directory format as a
// node's cache).
//
// A Server answers on one port number over two sockets: HTTP/3 on UDP and
// HTTPS with HTTP/2 and HTTP/1.1 (chosen by ALPN) on TCP; TCP responses carry
// Alt-Svc to offer h3. Routes:
//
//	GET, HEAD /chunks/{cid}  the chunk's ciphertext (application/octet-stream,
//	                         Range and If-None-Match supported, ETag "<cid>",
//	                         Cache-Control: public, max-age=31536000, immutable);
//	                         400 for a bad CID, 404 for an unknown one, both as
//	                         protocol.Error JSON; 405 for other methods
//	GET /metrics             Prometheus text from the server's own registry
//	GET /healthz             "ok"
//	anything else            Options.Extra (the tracker, when one process is
//	                         both), or 404
//
// Chunks are named by CIDv1 raw sha2-256 and are immutable, which is why they
// can be cached for a year: the origin never sees plaintext or keys.
//
// tlsconfig.go makes a development CA and certificate (clients trust
// <dir>/origin-ca.pem) or loads a production pair; httpclient.go builds the
// HTTP/3-only, HTTP/2-only and HTTP/1.1-only clients, and autoclient.go the
// one listeners use by default (NewClient): HTTP/3 first, with HTTP/2 raced
// beside it when HTTP/3 has not answered within 300 ms (UDP blocked on the
// way, or a CDN in front that speaks no HTTP/3), remembering per origin
// which one answered. NewClientFor picks one by name (--origin-proto).
//
// origin imports catalog, protocol and internal/chunkstore. It must not import node, client,
// tracker or cmd: they build on it.
package origin
