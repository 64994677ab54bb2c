// Package web is the listener's web player: plain HTML, CSS and JavaScript
// embedded in the binary (static/) and served by the daemon (client/daemon)
// at its local address through Handler. The page talks only to the daemon's
// local API (README.md, the daemon's API table); no request leaves the
// machine, so fonts (the system's), icons (inline SVG) and scripts are all
// served from here, and a Content-Security-Policy holds the page to that.
//
// The page plays the daemon's audio stream in an <audio> element and
// reports what is heard to POST /api/player, so the scheduler's clock
// follows the browser. Its state comes from the event stream /api/events.
//
// browser_test.go drives the page in headless Chromium (chromedp) against a
// real daemon in a test swarm (client/daemon/daemontest), runs the vendored
// axe-core (testdata/) and writes the README's screenshots (screenshots/)
// when asked with -update.
//
// web imports nothing from the module: it is assets and one http.Handler.
package web
