package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestSecondDHTServerOnOneDataDirRefused: a second tracker started with
// --dht-listen on a data directory whose DHT server already runs would
// run a second host with the same peer ID; it refuses at once, naming the
// first and what to do, and the first keeps serving.
func TestSecondDHTServerOnOneDataDirRefused(t *testing.T) {
	bin := buildChorus(t)
	data := t.TempDir()
	dht := func() string { return fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", freePort(t)) }
	first, _ := startTrackerProc(t, bin, dataEnv(data), "--listen", "127.0.0.1:0", "--dht-listen", dht())
	first.waitFor("dht server serving")

	start := time.Now()
	_, errOut, err := runEnv(t, bin, dataEnv(data), "", "tracker", "--listen", "127.0.0.1:0", "--dht-listen", dht())
	if err == nil {
		t.Fatal("a second tracker with --dht-listen on the same data directory started; want a refusal")
	}
	want := fmt.Sprintf("in use by process %d (chorus tracker --dht-listen", first.cmd.Process.Pid)
	if !strings.Contains(errOut, want) || !strings.Contains(errOut, "without --dht-listen") {
		t.Errorf("second tracker said %q; want %q and what to do", errOut, want)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("refusal took %v; want at once", d)
	}
	// Without --dht-listen a second tracker on the same store is fine.
	second, _ := startTrackerProc(t, bin, dataEnv(data), "--listen", "127.0.0.1:0")
	second.stop()
	first.stop()
}

// TestDHTPortInUseSaysSoOnce: a tracker whose --dht-listen port is taken
// fails at once with one line naming the address, without libp2p's own
// ERROR logs (source paths inside the module cache) before it.
func TestDHTPortInUseSaysSoOnce(t *testing.T) {
	bin := buildChorus(t)
	dht := fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", freePort(t))
	first, _ := startTrackerProc(t, bin, dataEnv(t.TempDir()), "--listen", "127.0.0.1:0", "--dht-listen", dht)
	first.waitFor("dht server serving")
	_, errOut, err := runEnv(t, bin, dataEnv(t.TempDir()), "", "tracker", "--listen", "127.0.0.1:0", "--dht-listen", dht)
	if err == nil {
		t.Fatal("a second tracker on a DHT port in use started; want a failure")
	}
	if !strings.Contains(errOut, "address already in use") || strings.Contains(errOut, "go.uber.org") || strings.Contains(errOut, "level=error") {
		t.Errorf("tracker on a DHT port in use said:\n%s\nwant one line saying the address is in use, no libp2p internals", errOut)
	}
}
