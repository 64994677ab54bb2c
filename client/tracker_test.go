package client_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/chorus-music/chorus/client"
	"github.com/chorus-music/chorus/internal/clock"
	"github.com/chorus-music/chorus/tracker/trackertest"
)

// TestTrackerRenewsOnceForConcurrentCalls: when the access token has
// expired, concurrent calls renew the session once (a refresh token is good
// for one renewal) and all succeed.
func TestTrackerRenewsOnceForConcurrentCalls(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	h := trackertest.New(t, trackertest.WithClock(clk))
	h.CreateUser(t, "carol", trackertest.DefaultPassword)
	tr, err := client.NewTracker(client.TrackerOptions{URL: h.URL, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := tr.Login(ctx, "carol", trackertest.DefaultPassword); err != nil {
		t.Fatalf("Login: %v", err)
	}
	clk.Advance(time.Hour) // past the access token's lifetime
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := tr.Tracks(ctx, 10, 0)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Tracks after expiry = %v; want a renewed session", err)
		}
	}
}
