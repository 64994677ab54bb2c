package web_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/chorus-music/chorus/client/daemon/daemontest"
)

// player is the daemon the browser test runs against.
type player struct {
	Base     string // http://127.0.0.1:PORT
	LoginURL string // the one-time link the daemon prints
	Search   string // a query that finds at least three tracks
}

// TestPlayerInBrowser is the web player's acceptance test: a listener
// opens the daemon's login link in Chromium, searches, queues, plays,
// seeks, pauses, skips and goes back, with the page's <audio> element
// checked at each step and the daemon's status compared; axe-core and a
// Tab walk check accessibility at desktop and phone widths in light and
// dark, where the screenshots are taken; then the daemon stops and the page
// must say so.
func TestPlayerInBrowser(t *testing.T) {
	ctx := newBrowser(t)
	var jsErrs scriptErrors
	jsErrs.watch(ctx)
	defer func() {
		for _, e := range jsErrs.all() {
			t.Errorf("the page's script: %s", e)
		}
	}()
	// The daemon and its swarm live as long as the subtest; the page stays
	// open after them.
	t.Run("daemon", func(t *testing.T) {
		p := startPlayer(t)

		var reqs requestLog
		reqs.watch(ctx)
		within(t, ctx, 20*time.Second, "open the login link",
			chromedp.EmulateViewport(1280, 800),
			chromedp.Navigate(p.LoginURL),
			chromedp.WaitVisible(chromedp.ID("q")),
		)
		waitFor(t, ctx, 10*time.Second, "the tracker pill shows the daemon's status", `document.getElementById('tracker').dataset.ok === 'yes'`)
		if u := eval[string](t, ctx, `location.href`); u != p.Base+"/" {
			t.Errorf("after the login link the page is at %s; want %s/", u, p.Base)
		}

		// Search as a person types.
		within(t, ctx, 10*time.Second, "type a search", chromedp.SendKeys(chromedp.ID("q"), p.Search))
		waitFor(t, ctx, 10*time.Second, "results appear", `document.querySelectorAll('#results li').length >= 2`)
		if !reqs.wait(5*time.Second, func(r string) bool { return r == "POST "+p.Base+"/api/warm" }) {
			t.Errorf("showing results sent no POST /api/warm; requests: %v", reqs.all())
		}

		// The queue: add the second and third results, reorder them by button
		// and by drag, remove one.
		queueTitles := `[...document.querySelectorAll('#queue li .t-title')].map(e => e.textContent).join('|')`
		titles := eval[[]string](t, ctx, `[...document.querySelectorAll('#results li .t-title')].map(e => e.textContent)`)
		if len(titles) < 3 {
			t.Fatalf("search %q found %d tracks; the test needs 3", p.Search, len(titles))
		}
		a, b, c := titles[0], titles[1], titles[2]
		within(t, ctx, 10*time.Second, "add two results to the queue",
			chromedp.Click(chromedp.CSS(`#results li:nth-child(2) button[aria-label$="to the queue"]`)))
		waitFor(t, ctx, 10*time.Second, "the queue shows one", `document.querySelectorAll('#queue li').length === 1`)
		within(t, ctx, 10*time.Second, "add two results to the queue",
			chromedp.Click(chromedp.CSS(`#results li:nth-child(3) button[aria-label$="to the queue"]`)))
		waitFor(t, ctx, 10*time.Second, "the queue shows "+b+", "+c, queueTitles+` === `+jsString(b+"|"+c))
		within(t, ctx, 10*time.Second, "move the second queued track up",
			chromedp.Click(chromedp.CSS(`#queue li:nth-child(2) button[aria-label$=" up"]`)))
		waitFor(t, ctx, 10*time.Second, "the up button reorders the queue", queueTitles+` === `+jsString(c+"|"+b))
		box := eval[[]float64](t, ctx, `[...document.querySelectorAll('#queue li')].flatMap(li => (r => [r.left, r.top, r.width, r.height])(li.getBoundingClientRect()))`)
		within(t, ctx, 10*time.Second, "drag the first queued track below the second",
			chromedp.DragAndDropXY(box[0]+12, box[1]+box[3]/2, box[4]+box[6]/2, box[5]+box[7]*0.85))
		waitFor(t, ctx, 10*time.Second, "dragging reorders the queue", queueTitles+` === `+jsString(b+"|"+c))
		within(t, ctx, 10*time.Second, "remove the second queued track",
			chromedp.Click(chromedp.CSS(`#queue li:nth-child(2) button[aria-label$="from the queue"]`)))
		waitFor(t, ctx, 10*time.Second, "the remove button empties the slot", queueTitles+` === `+jsString(b))
		if q := daemonQueue(t, ctx); q != b {
			t.Errorf("the daemon's queue is %q; want %q", q, b)
		}

		// Play the first result (the one the swarm's peers hold).
		within(t, ctx, 10*time.Second, "press play on the first result",
			chromedp.Click(chromedp.CSS(`#results li:first-child button[aria-label^="Play"]`)))
		waitFor(t, ctx, 20*time.Second, "the audio element plays", `document.getElementById('audio').currentTime > 0.5`)
		t0 := eval[float64](t, ctx, `document.getElementById('audio').currentTime`)
		waitFor(t, ctx, 10*time.Second, "currentTime advances", fmt.Sprintf(`document.getElementById('audio').currentTime > %f`, t0+0.5))
		if now := eval[string](t, ctx, `document.getElementById('now-title').textContent`); now != a {
			t.Errorf("now playing shows %q; want %q", now, a)
		}

		// Bytes from peers, fed by the event stream.
		waitFor(t, ctx, 20*time.Second, "the page shows bytes from peers", `Number(document.getElementById('src-peer').dataset.bytes) > 0`)
		if s := eval[string](t, ctx, `document.getElementById('src-peer').textContent`); !strings.HasSuffix(s, "B") {
			t.Errorf("peer bytes shown as %q; want a size", s)
		}
		waitFor(t, ctx, 10*time.Second, "the chart has samples", `document.getElementById('chart').getAttribute('aria-label').includes('now')`)
		waitFor(t, ctx, 5*time.Second, "the source bar shows the peers' share", `parseFloat(document.getElementById('seg-peer').style.width) > 0`)
		waitFor(t, ctx, 5*time.Second, "the progress bar shows what is buffered", `document.querySelectorAll('#buffered span').length > 0`)
		if n := eval[int](t, ctx, `Number(document.getElementById('peers-n').textContent)`); n < 1 {
			t.Errorf("the page shows %d peers connected; the test swarm has 2", n)
		}

		// The sharing switch turns sharing off and on, in the daemon too.
		within(t, ctx, 5*time.Second, "press the sharing switch", chromedp.Click(chromedp.ID("sharing")))
		waitFor(t, ctx, 10*time.Second, "sharing is off", `document.getElementById('sharing').getAttribute('aria-pressed') === 'false' && document.getElementById('sharing-text').textContent === 'Sharing off'`)
		waitFor(t, ctx, 10*time.Second, "the daemon stopped sharing", `fetch('/api/status').then(r => r.json()).then(s => s.sharing === false)`)
		within(t, ctx, 5*time.Second, "press the sharing switch", chromedp.Click(chromedp.ID("sharing")))
		waitFor(t, ctx, 10*time.Second, "sharing is on", `document.getElementById('sharing').getAttribute('aria-pressed') === 'true'`)
		waitFor(t, ctx, 10*time.Second, "the daemon shares again", `fetch('/api/status').then(r => r.json()).then(s => s.sharing === true)`)

		// Seek by clicking half way along the progress bar.
		dur := eval[float64](t, ctx, `Number(document.getElementById('seek').max) / 1000`)
		if dur <= 0 {
			t.Fatalf("the seek bar has no duration\n%s", pageState(ctx))
		}
		box = eval[[]float64](t, ctx, `(r => [r.left, r.top, r.width, r.height])(document.getElementById('seek').getBoundingClientRect())`)
		within(t, ctx, 10*time.Second, "click on the progress bar", chromedp.MouseClickXY(box[0]+box[2]*0.5, box[1]+box[3]/2))
		target := dur * 0.5
		waitFor(t, ctx, 10*time.Second, "the seek lands", fmt.Sprintf(`(a => a.currentTime > %f && a.currentTime < %f && !a.seeking)(document.getElementById('audio'))`, target-1, target+2.5))
		waitFor(t, ctx, 10*time.Second, "the daemon's position follows the seek", fmt.Sprintf(`fetch('/api/status').then(r => r.json()).then(s => s.position_ms > %d)`, int((target-1)*1000)))

		// Keyboard: → and ← seek 5 s.
		eval[chromedp.Void](t, ctx, `document.activeElement.blur()`)
		t1 := eval[float64](t, ctx, `document.getElementById('audio').currentTime`)
		within(t, ctx, 5*time.Second, "press →", chromedp.KeyEvent(kb.ArrowRight))
		waitFor(t, ctx, 10*time.Second, "→ seeks 5 s ahead", fmt.Sprintf(`(a => a.currentTime > %f && a.currentTime < %f && !a.seeking)(document.getElementById('audio'))`, t1+4, t1+7.5))
		t2 := eval[float64](t, ctx, `document.getElementById('audio').currentTime`)
		within(t, ctx, 5*time.Second, "press ←", chromedp.KeyEvent(kb.ArrowLeft))
		waitFor(t, ctx, 10*time.Second, "← seeks 5 s back", fmt.Sprintf(`(a => a.currentTime > %f && a.currentTime < %f && !a.seeking)(document.getElementById('audio'))`, t2-6, t2-2.5))

		// Keyboard: space pauses (and the daemon's clock with it) and plays.
		within(t, ctx, 5*time.Second, "press space", press(" "))
		waitFor(t, ctx, 5*time.Second, "space pauses", `document.getElementById('audio').paused`)
		waitFor(t, ctx, 10*time.Second, "the daemon shows the pause", `fetch('/api/status').then(r => r.json()).then(s => s.state === 'paused')`)
		within(t, ctx, 5*time.Second, "press space", press(" "))
		waitFor(t, ctx, 5*time.Second, "space plays again", `!document.getElementById('audio').paused`)
		waitFor(t, ctx, 10*time.Second, "the daemon plays again", `fetch('/api/status').then(r => r.json()).then(s => s.state === 'playing')`)
		within(t, ctx, 5*time.Second, "press space", press(" "))
		waitFor(t, ctx, 5*time.Second, "space pauses for the screenshots", `document.getElementById('audio').paused`)

		// / goes to the search, Escape leaves it, ? opens the shortcuts.
		within(t, ctx, 5*time.Second, "press /", press("/"))
		waitFor(t, ctx, 5*time.Second, "/ focuses the search", `document.activeElement === document.getElementById('q')`)
		within(t, ctx, 5*time.Second, "press Escape", press(kb.Escape))
		if q := eval[string](t, ctx, `document.getElementById('q').value`); q != p.Search {
			t.Errorf("after / and Escape the search box holds %q; want %q", q, p.Search)
		}
		waitFor(t, ctx, 5*time.Second, "Escape leaves the search", `document.activeElement !== document.getElementById('q')`)
		within(t, ctx, 5*time.Second, "press ?", press("?"))
		waitFor(t, ctx, 5*time.Second, "? opens the shortcuts", `document.getElementById('help').open`)
		checkAxe(t, ctx, "shortcuts open")

		// Screenshots: the help overlay at desktop width, then the player,
		// paused on the first track with a track queued.
		dir := screenshotDir(t)
		shoot(t, ctx, dir, "help-1280-dark", 1280, 800, false, true)
		within(t, ctx, 5*time.Second, "press Escape", press(kb.Escape))
		waitFor(t, ctx, 5*time.Second, "Escape closes the shortcuts", `!document.getElementById('help').open`)
		bg := map[bool]string{}
		for _, v := range []struct {
			name          string
			width, height int64
			mobile, dark  bool
		}{
			{"player-1280-light", 1280, 800, false, false},
			{"player-1280-dark", 1280, 800, false, true},
			{"player-390-light", 390, 844, true, false},
			{"player-390-dark", 390, 844, true, true},
		} {
			shoot(t, ctx, dir, v.name, v.width, v.height, v.mobile, v.dark)
			checkAxe(t, ctx, v.name)
			bg[v.dark] = eval[string](t, ctx, `getComputedStyle(document.body).backgroundColor`)
		}
		if bg[false] == bg[true] {
			t.Errorf("light and dark have the same background %s; prefers-color-scheme is not followed", bg[false])
		}
		within(t, ctx, 10*time.Second, "back to desktop", chromedp.EmulateViewport(1280, 800), setScheme(ctx, false))
		checkTabOrder(t, ctx, "desktop")

		// The play button resumes; Shift+→ goes to the queued track, which
		// plays in the page.
		within(t, ctx, 5*time.Second, "press the play button", chromedp.Click(chromedp.ID("playpause")))
		waitFor(t, ctx, 5*time.Second, "the play button plays", `!document.getElementById('audio').paused`)
		eval[chromedp.Void](t, ctx, `document.activeElement.blur()`)
		src0 := eval[string](t, ctx, `document.getElementById('audio').currentSrc`)
		within(t, ctx, 5*time.Second, "press Shift+→", chromedp.KeyEvent(kb.ArrowRight, chromedp.KeyModifiers(chromedp.ModifierShift)))
		waitFor(t, ctx, 10*time.Second, "next plays "+b, `document.getElementById('now-title').textContent === `+jsString(b))
		waitFor(t, ctx, 20*time.Second, "the next track's audio plays", fmt.Sprintf(`(a => a.currentSrc !== %s && a.currentTime > 0.5)(document.getElementById('audio'))`, jsString(src0)))
		waitFor(t, ctx, 10*time.Second, "the queue is empty", `document.querySelectorAll('#queue li').length === 0`)

		// Past 3 s, previous starts the track again, and the page hears it.
		waitFor(t, ctx, 10*time.Second, "4 s of the next track play", `document.getElementById('audio').currentTime > 4`)
		waitFor(t, ctx, 10*time.Second, "the daemon hears 4 s of it", `fetch('/api/status').then(r => r.json()).then(s => s.position_ms > 4000)`)
		within(t, ctx, 5*time.Second, "press previous", chromedp.Click(chromedp.ID("prev")))
		waitFor(t, ctx, 10*time.Second, "previous starts the track again", `(a => a.currentTime < 2.5 && !a.paused)(document.getElementById('audio'))`)
		if now := eval[string](t, ctx, `document.getElementById('now-title').textContent`); now != b {
			t.Errorf("after previous past 3 s, now playing shows %q; want %q again\n%s", now, b, pageState(ctx))
		}
		if msg := eval[string](t, ctx, `document.getElementById('alert').hidden ? '' : document.getElementById('alert-text').textContent`); msg != "" {
			t.Errorf("the page shows an error: %s", msg)
		}

		// Played to its end, a track gives way to the queued one: the page
		// tells the daemon, which goes on, and the page plays that.
		within(t, ctx, 10*time.Second, "queue the third result",
			chromedp.Click(chromedp.CSS(`#results li:nth-child(3) button[aria-label$="to the queue"]`)))
		waitFor(t, ctx, 10*time.Second, "the queue shows "+c, queueTitles+` === `+jsString(c))
		src1 := eval[string](t, ctx, `document.getElementById('audio').currentSrc`)
		box = eval[[]float64](t, ctx, `(r => [r.left, r.top, r.width, r.height])(document.getElementById('seek').getBoundingClientRect())`)
		within(t, ctx, 10*time.Second, "click near the end of the progress bar", chromedp.MouseClickXY(box[0]+box[2]*0.92, box[1]+box[3]/2))
		waitFor(t, ctx, 20*time.Second, "the queued track follows", `document.getElementById('now-title').textContent === `+jsString(c))
		waitFor(t, ctx, 20*time.Second, "the queued track's audio plays", fmt.Sprintf(`(a => a.currentSrc !== %s && a.currentTime > 0.5 && !a.paused)(document.getElementById('audio'))`, jsString(src1)))

		// Clear empties the queue, in the daemon too.
		for _, n := range []int{1, 2} {
			within(t, ctx, 10*time.Second, "queue a result",
				chromedp.Click(chromedp.CSS(fmt.Sprintf(`#results li:nth-child(%d) button[aria-label$="to the queue"]`, n))))
			waitFor(t, ctx, 10*time.Second, "the queue grows", fmt.Sprintf(`document.querySelectorAll('#queue li').length === %d`, n))
		}
		within(t, ctx, 5*time.Second, "press Clear", chromedp.Click(chromedp.ID("queue-clear")))
		waitFor(t, ctx, 10*time.Second, "Clear empties the queue", `document.querySelectorAll('#queue li').length === 0 && !document.getElementById('queue-empty').hidden`)
		if q := daemonQueue(t, ctx); q != "" {
			t.Errorf("after Clear the daemon's queue is %q; want it empty", q)
		}

		// Enter in the search box plays the first result.
		within(t, ctx, 5*time.Second, "press / and Enter", press("/"), press(kb.Enter))
		waitFor(t, ctx, 10*time.Second, "Enter plays "+a, `document.getElementById('now-title').textContent === `+jsString(a))
		waitFor(t, ctx, 20*time.Second, "its audio plays", `(a => a.currentTime > 0.5 && !a.paused)(document.getElementById('audio'))`)

		onlyLocal(t, &reqs, p.Base)
	})
	if t.Failed() {
		return
	}

	// The daemon has stopped: the page says so in words, and says why a
	// press of the play button did nothing.
	waitFor(t, ctx, 20*time.Second, "the page says the daemon is gone", `document.getElementById('alert-text').textContent.includes('Lost the connection to the daemon')`)
	if s := eval[string](t, ctx, `document.getElementById('tracker-text').textContent`); s != "Daemon offline" {
		t.Errorf("with the daemon gone the status pill says %q; want Daemon offline", s)
	}
	within(t, ctx, 5*time.Second, "press the play button", chromedp.Click(chromedp.ID("playpause")))
	waitFor(t, ctx, 10*time.Second, "the page says the press failed", `/Could not (pause|resume): The daemon is not answering/.test(document.getElementById('alert-text').textContent)`)
	shoot(t, ctx, screenshotDir(t), "offline-1280-light", 1280, 800, false, false)
}

// startPlayer starts a real daemon in a test swarm (tracker, origin, two
// peers that hold the first track) at the speed of the browser's clock.
func startPlayer(t *testing.T) player {
	s := daemontest.Start(t, daemontest.Options{Speed: 1})
	return player{Base: s.URL, LoginURL: s.LoginLink, Search: "Test"}
}
