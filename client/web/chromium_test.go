package web_test

// Helpers to drive headless Chromium with chromedp: start it, wait on the
// page's state, type keys, watch requests, run axe-core, walk the Tab
// order, take screenshots.

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
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
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

// scriptErrors records the page's uncaught exceptions (unhandled promise
// rejections included) and console.error calls: the page must have none.
type scriptErrors struct {
	mu   sync.Mutex // guards errs
	errs []string
}

func (e *scriptErrors) watch(ctx context.Context) {
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	console := chromedp.Events(ctx, runtime.ConsoleAPICalled)
	add := func(msg string) {
		e.mu.Lock()
		e.errs = append(e.errs, msg)
		e.mu.Unlock()
	}
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg += " " + d.Exception.Description
			}
			add(fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber+1, msg))
		}
	}()
	go func() {
		for ev, err := range console {
			if err != nil {
				return
			}
			if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
				continue
			}
			var args []string
			for _, a := range ev.Args {
				args = append(args, a.Description+string(a.Value))
			}
			add("console." + string(ev.Type) + ": " + strings.Join(args, " "))
		}
	}()
}

func (e *scriptErrors) all() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.errs...)
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
