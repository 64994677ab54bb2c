package web_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/chorus-music/chorus/client/daemon/daemontest"
)

var update = flag.Bool("update", false, "write the screenshots into client/web/screenshots/ (also CHORUS_UPDATE_SCREENSHOTS=1)")

// chromiumPath finds Debian's chromium. Where CI is set a missing browser
// fails the test: .ci/run installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium on PATH: apt-get install -y --no-install-recommends chromium fonts-dejavu-core"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// newBrowser starts headless Chromium for one test; the context ends it.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, // the tests run as root
		chromedp.Flag("headless", "new"),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		// The network is closed: nothing may try to phone home.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// within runs steps with a deadline, so a page that never gets there fails
// in seconds with what it was waiting for.
func within(t *testing.T, ctx context.Context, d time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, pageState(ctx))
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %.60q: %v", js, err)
	}
	return v
}

// waitFor waits until the page's predicate holds.
func waitFor(t *testing.T, ctx context.Context, d time.Duration, what, predicate string) {
	t.Helper()
	within(t, ctx, d, "waiting until "+what, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Poll[chromedp.Void](predicate, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(d))(ctx, tg)
		return err
	}))
}

// pageState is what a failure message shows of the page.
func pageState(ctx context.Context) string {
	c, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	s, err := chromedp.Run(c, chromedp.Evaluate[string](`JSON.stringify({
		alert: document.getElementById('alert').hidden ? '' : document.getElementById('alert-text').textContent,
		now: document.getElementById('now-title').textContent + ' / ' + document.getElementById('now-state').textContent,
		results: document.getElementById('results-note').textContent,
		audio: (a => ({src: a.currentSrc, t: a.currentTime, paused: a.paused, ready: a.readyState, err: a.error && a.error.code}))(document.getElementById('audio')),
	})`))
	if err != nil {
		return "(page state unavailable: " + err.Error() + ")"
	}
	return "page: " + s
}

func setScheme(ctx context.Context, dark bool) chromedp.Action[chromedp.Void] {
	v := "light"
	if dark {
		v = "dark"
	}
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v}},
		})
		return err
	})
}

// press types one key as a person does: one keyDown that carries the text
// (so a handler that prevents the default stops the character, as in a real
// browser; chromedp.KeyEvent sends the character as a separate event).
func press(key string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		for _, r := range key {
			evs := kb.Encode(r)
			var seq []*input.DispatchKeyEventParams
			for _, ev := range evs {
				if ev.Type == kb.KeyChar {
					seq[0].Text, seq[0].UnmodifiedText = ev.Text, ev.UnmodifiedText
					continue
				}
				seq = append(seq, ev)
			}
			for _, ev := range seq {
				if _, err := cdp.Call(ctx, tg, input.DispatchKeyEvent, *ev); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// requestLog records every URL the page asks for.
type requestLog struct {
	mu      sync.Mutex // guards the fields below
	urls    []string
	changed chan struct{} // closed and replaced on each request
}

// wait reports whether a request matching ok was made within d.
func (l *requestLog) wait(d time.Duration, ok func(string) bool) bool {
	timeout := time.After(d)
	for {
		l.mu.Lock()
		for _, u := range l.urls {
			if ok(u) {
				l.mu.Unlock()
				return true
			}
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-timeout:
			return false
		}
	}
}

func (l *requestLog) watch(ctx context.Context) {
	l.changed = make(chan struct{})
	reqs := chromedp.Events(ctx, network.RequestWillBeSent)
	go func() {
		for ev, err := range reqs {
			if err != nil {
				return
			}
			l.mu.Lock()
			l.urls = append(l.urls, ev.Request.Method+" "+ev.Request.URL)
			close(l.changed)
			l.changed = make(chan struct{})
			l.mu.Unlock()
		}
	}()
}

func (l *requestLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.urls...)
}

type axeResult struct {
	Violations []struct {
		ID     string `json:"id"`
		Impact string `json:"impact"`
		Help   string `json:"help"`
		Nodes  []struct {
			Target []any  `json:"target"`
			HTML   string `json:"html"`
		} `json:"nodes"`
	} `json:"violations"`
}

// checkAxe runs the vendored axe-core on the page as it is and fails on a
// serious or critical violation.
func checkAxe(t *testing.T, ctx context.Context, where string) {
	t.Helper()
	if !eval[bool](t, ctx, `typeof window.axe !== 'undefined'`) {
		src, err := os.ReadFile(filepath.Join("testdata", "axe.min.js"))
		if err != nil {
			t.Fatalf("read the vendored axe-core: %v (see testdata/README.md)", err)
		}
		c, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(c, chromedp.Evaluate[chromedp.Void](string(src))); err != nil {
			t.Fatalf("load axe-core: %v", err)
		}
	}
	raw := eval[string](t, ctx, `axe.run(document, {resultTypes: ['violations']}).then(r => JSON.stringify(r))`)
	var res axeResult
	if err := json.Unmarshal([]byte(raw), &res); err != nil {
		t.Fatalf("axe result: %v", err)
	}
	for _, v := range res.Violations {
		var nodes []string
		for _, n := range v.Nodes {
			nodes = append(nodes, n.HTML)
		}
		msg := fmt.Sprintf("axe (%s): %s [%s] %s at %s", where, v.ID, v.Impact, v.Help, strings.Join(nodes, " | "))
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Error(msg)
		} else {
			t.Log(msg)
		}
	}
}

// checkTabOrder presses Tab through the page and fails if a visible,
// enabled control is never reached, or is reached without a focus ring.
func checkTabOrder(t *testing.T, ctx context.Context, where string) {
	t.Helper()
	n := eval[int](t, ctx, `(() => {
		document.activeElement && document.activeElement.blur();
		const all = [...document.querySelectorAll('a[href], button, input, select, textarea, [tabindex]')]
			.filter(e => !e.disabled && e.tabIndex >= 0 && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden');
		all.forEach((e, i) => e.dataset.tabCheck = String(i));
		window.__reached = new Set();
		window.__noRing = [];
		return all.length;
	})()`)
	if n < 8 {
		t.Fatalf("%s: only %d focusable controls on the page", where, n)
	}
	for i := 0; i < n+3; i++ {
		within(t, ctx, 5*time.Second, "press Tab", press(kb.Tab))
		eval[chromedp.Void](t, ctx, `(() => {
			const e = document.activeElement;
			if (!e || !e.dataset || e.dataset.tabCheck === undefined) return;
			window.__reached.add(e.dataset.tabCheck);
			const s = getComputedStyle(e);
			if (s.outlineStyle === 'none' || parseFloat(s.outlineWidth) < 2) window.__noRing.push(e.outerHTML.slice(0, 120));
		})()`)
	}
	missed := eval[[]string](t, ctx, `[...document.querySelectorAll('[data-tab-check]')].filter(e => !window.__reached.has(e.dataset.tabCheck)).map(e => e.outerHTML.slice(0, 120))`)
	for _, m := range missed {
		t.Errorf("%s: Tab never reaches %s", where, m)
	}
	for _, m := range eval[[]string](t, ctx, `window.__noRing`) {
		t.Errorf("%s: no visible focus ring on %s", where, m)
	}
}

func screenshotDir(t *testing.T) string {
	if *update || os.Getenv("CHORUS_UPDATE_SCREENSHOTS") != "" {
		return "screenshots"
	}
	return t.TempDir()
}

func shoot(t *testing.T, ctx context.Context, dir, name string, width, height int64, mobile, dark bool) {
	t.Helper()
	opts := []chromedp.EmulateViewportOption{}
	scale := 1.0
	if mobile {
		scale = 2
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
	}
	opts = append(opts, chromedp.EmulateScale(scale))
	within(t, ctx, 10*time.Second, "set the viewport for "+name,
		chromedp.EmulateViewport(width, height, opts...),
		setScheme(ctx, dark),
	)
	// No hover highlight in the pictures: the pointer rests on the page's margin.
	within(t, ctx, 5*time.Second, "move the mouse away", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, input.DispatchMouseEvent, input.DispatchMouseEventParams{Type: chromedp.MouseMoved, X: 1, Y: float64(height) - 1})
		return err
	}))
	// The layout settles in a frame; the chart redraws on resize.
	eval[chromedp.Void](t, ctx, `new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))`)
	if w := eval[int](t, ctx, `document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
		t.Errorf("%s: the page scrolls sideways by %d px at %d px wide", name, w, width)
	}
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(c, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if len(png) > 1<<20 {
		t.Errorf("screenshot %s is %d bytes; keep it under 1 MB", name, len(png))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d bytes)", p, len(png))
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// daemonQueue is the daemon's queue as the page's own session reads it.
func daemonQueue(t *testing.T, ctx context.Context) string {
	return eval[string](t, ctx, `fetch('/api/queue').then(r => r.json()).then(q => q.items.map(i => i.title).join('|'))`)
}

// onlyLocal fails for any request the page made to another host.
func onlyLocal(t *testing.T, log *requestLog, base string) {
	t.Helper()
	bu, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range log.all() {
		_, raw, _ := strings.Cut(r, " ")
		u, err := url.Parse(raw)
		if err != nil {
			t.Errorf("page requested an unparsable URL %q", raw)
			continue
		}
		if u.Scheme == "data" || u.Scheme == "blob" {
			continue
		}
		if u.Host != bu.Host {
			t.Errorf("page requested %s: only the daemon at %s may be asked", r, bu.Host)
		}
	}
}

// player is the daemon the browser test runs against.
type player struct {
	Base     string // http://127.0.0.1:PORT
	LoginURL string // the one-time link the daemon prints
	Search   string // a query that finds at least two tracks
}

func TestPlayerInBrowser(t *testing.T) {
	ctx := newBrowser(t)
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

		// Keyboard: space pauses (and the daemon's clock with it) and plays.
		eval[chromedp.Void](t, ctx, `document.activeElement.blur()`)
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
