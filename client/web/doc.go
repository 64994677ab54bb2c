// Package web is the listener's web player: plain HTML, CSS and JavaScript
// embedded in the binary and served by the daemon (client/daemon) at its
// local address. The page talks only to the daemon's local API (see
// README.md, "The daemon's API"); no request leaves the machine, so fonts,
// icons and scripts are all served from here.
//
// web imports nothing from the module: it is assets and one http.Handler.
package web
