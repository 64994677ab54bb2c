// Chorus web player. It talks only to the daemon that served it (the local
// API in README.md, "The daemon's API"): no framework, no build step.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const el = {
    q: $('q'), form: $('search-form'), results: $('results'), resultsNote: $('results-note'),
    queue: $('queue'), queueEmpty: $('queue-empty'), queueClear: $('queue-clear'),
    tracker: $('tracker'), trackerText: $('tracker-text'), peersN: $('peers-n'), peersWord: $('peers-word'),
    sharing: $('sharing'), sharingText: $('sharing-text'),
    help: $('help'), helpBtn: $('help-btn'), helpClose: $('help-close'),
    alert: $('alert'), alertText: $('alert-text'), alertClose: $('alert-close'),
    nowTitle: $('now-title'), nowSub: $('now-sub'), nowState: $('now-state'),
    prev: $('prev'), next: $('next'), playpause: $('playpause'), playpauseIcon: $('playpause-icon'),
    seek: $('seek'), pos: $('pos'), dur: $('dur'), buffered: $('buffered'), played: $('played'),
    chart: $('chart'), aheadNow: $('ahead-now'), startLatency: $('start-latency'),
    srcbar: $('srcbar'), segs: { cache: $('seg-cache'), peer: $('seg-peer'), origin: $('seg-origin') },
    src: { cache: $('src-cache'), peer: $('src-peer'), origin: $('src-origin') },
    pct: { cache: $('pct-cache'), peer: $('pct-peer'), origin: $('pct-origin') },
    down: $('down-rate'), up: $('up-rate'), cache: $('cache-use'), cacheMax: $('cache-max'),
    after: $('after-title'),
    audio: $('audio'),
  };

  const SEEK_STEP_MS = 5000;
  const SEARCH_DEBOUNCE_MS = 180;
  const WARM_AGAIN_MS = 120000; // a track shown again after this is warmed again
  const REPORT_EVERY_MS = 1000;
  const CHART_WINDOW_MS = 60000; // the chart shows at most the last minute
  const CHART_MIN_WINDOW_MS = 20000; // and at least 20 s, while a play is young
  const QUIET_AFTER_ACTION_MS = 1500; // events older than an action must not undo it
  const PLAYING = new Set(['playing', 'loading', 'stalled']);

  const st = {
    status: null,
    audioURL: '',
    audioTrack: '', // the track of the audio element's stream
    queue: [],
    results: [],
    resultsFor: '',
    warmed: new Map(), // track ID → when it was last warmed
    pending: 0, // control requests in flight
    queueOps: 0, // queue requests in flight
    quietUntil: 0,
    scrubbing: false,
    samples: [], // {t, ahead} for the chart
    lastReport: 0,
    lastPlayError: '',
    trackID: '',
  };

  // ---- talking to the daemon ----

  class APIError extends Error {
    constructor(message, status) { super(message); this.status = status; }
  }

  async function api(method, path, body, signal) {
    const init = { method, credentials: 'same-origin', cache: 'no-store', headers: {}, signal };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new APIError('The daemon is not answering. Is “chorus daemon” still running?', 0);
    }
    if (res.status === 204) return null;
    const text = await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (_) { data = null; }
    }
    if (!res.ok) {
      let msg = data && typeof data.error === 'string' && data.error ? data.error : `the daemon answered ${res.status} ${res.statusText}`.trim();
      if (res.status === 401) msg = `This page is not logged in to the daemon (${msg}). Open the login link the daemon printed, or run “chorus ctl open” for a new one.`;
      throw new APIError(msg, res.status);
    }
    return data;
  }

  // ---- messages ----

  // Messages by kind: a new message replaces the one of its kind, so the
  // page can say both that the daemon is gone and what could not be done.
  const alerts = new Map();
  function renderAlerts() {
    const frag = document.createDocumentFragment();
    for (const text of alerts.values()) {
      const p = document.createElement('p');
      p.textContent = text;
      frag.appendChild(p);
    }
    el.alertText.replaceChildren(frag);
    el.alert.hidden = alerts.size === 0;
  }
  function showAlert(text, kind = 'action') {
    if (alerts.get(kind) === text) return;
    alerts.delete(kind); // the newest last
    alerts.set(kind, text);
    renderAlerts();
  }
  function clearAlert(kind) {
    if (kind === undefined) alerts.clear();
    else if (!alerts.delete(kind)) return;
    renderAlerts();
  }
  const hasAlert = (kind) => alerts.has(kind);
  function fail(what, err) {
    if (err && err.name === 'AbortError') return;
    const msg = err && err.message ? err.message : String(err);
    showAlert(`${what}: ${msg}`);
  }
  el.alertClose.addEventListener('click', () => clearAlert());

  // ---- formatting ----

  function fmtTime(ms) {
    if (!Number.isFinite(ms) || ms < 0) ms = 0;
    const s = Math.floor(ms / 1000);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    const ss = String(sec).padStart(2, '0');
    return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
  }
  function fmtSpoken(ms) {
    const s = Math.floor(Math.max(0, ms) / 1000), m = Math.floor(s / 60);
    return m > 0 ? `${m} min ${s % 60} s` : `${s} s`;
  }
  function fmtBytes(n) {
    if (!Number.isFinite(n) || n <= 0) return '0 B';
    const units = ['B', 'kB', 'MB', 'GB', 'TB'];
    let i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
    return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
  }
  const fmtRate = (n) => `${fmtBytes(n)}/s`;
  function trackSub(t) {
    return [t.artist, t.album].filter(Boolean).join(' — ') || t.format || '';
  }

  // ---- icons and small DOM helpers ----

  function icon(name) {
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('class', 'icon');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    const use = document.createElementNS(ns, 'use');
    use.setAttribute('href', `#i-${name}`);
    svg.appendChild(use);
    return svg;
  }
  function iconButton(name, label, onClick, cls = 'icon-btn small') {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = cls;
    b.setAttribute('aria-label', label);
    b.title = label;
    b.appendChild(icon(name));
    b.addEventListener('click', onClick);
    return b;
  }
  function trackMain(t) {
    const main = document.createElement('div');
    main.className = 't-main';
    const title = document.createElement('div');
    title.className = 't-title';
    title.textContent = t.title || t.id;
    const sub = document.createElement('div');
    sub.className = 't-sub';
    sub.textContent = trackSub(t);
    main.append(title, sub);
    return main;
  }

  // ---- search ----

  let searchTimer = 0;
  let searchAbort = null;
  let searchSeq = 0;

  function scheduleSearch() {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(runSearch, SEARCH_DEBOUNCE_MS);
  }

  async function runSearch() {
    clearTimeout(searchTimer);
    const q = el.q.value.trim();
    if (searchAbort) searchAbort.abort();
    const seq = ++searchSeq;
    if (!q) {
      st.results = [];
      st.resultsFor = '';
      renderResults();
      el.resultsNote.textContent = 'Type to search the catalog.';
      return;
    }
    searchAbort = new AbortController();
    el.resultsNote.textContent = 'Searching…';
    try {
      const data = await api('GET', `/api/search?q=${encodeURIComponent(q)}`, undefined, searchAbort.signal);
      if (seq !== searchSeq) return;
      st.results = (data && Array.isArray(data.tracks)) ? data.tracks : [];
      st.resultsFor = q;
      renderResults();
      const n = st.results.length;
      el.resultsNote.textContent = n === 0 ? `No tracks match “${q}”.` : `${n} track${n === 1 ? '' : 's'} for “${q}”`;
      warm(st.results);
    } catch (e) {
      if (e.name === 'AbortError' || seq !== searchSeq) return;
      el.resultsNote.textContent = 'Search failed.';
      fail('Search failed', e);
    }
  }

  // Shown tracks are warmed: the daemon looks up their peers now, so a
  // press of play starts at once.
  function warm(tracks) {
    const now = performance.now();
    const ids = tracks.slice(0, 25).map((t) => t.id).filter((id) => !(now - (st.warmed.get(id) ?? -Infinity) < WARM_AGAIN_MS));
    if (ids.length === 0) return;
    ids.forEach((id) => st.warmed.set(id, now));
    api('POST', '/api/warm', { ids }).catch((e) => {
      ids.forEach((id) => st.warmed.delete(id));
      fail('Could not prepare the results for playing', e);
    });
  }

  function renderResults() {
    const frag = document.createDocumentFragment();
    const cur = st.status && st.status.track ? st.status.track.id : '';
    for (const t of st.results) {
      const li = document.createElement('li');
      li.className = 'track';
      li.dataset.id = t.id;
      if (t.id === cur) { li.classList.add('current'); li.setAttribute('aria-current', 'true'); }
      const dur = document.createElement('span');
      dur.className = 't-dur';
      dur.textContent = fmtTime(t.duration_ms);
      const actions = document.createElement('div');
      actions.className = 't-actions';
      const name = t.title || t.id;
      actions.append(
        iconButton('play', `Play ${name}`, () => playTrack(t.id)),
        iconButton('add', `Add ${name} to the queue`, () => queueAdd(t.id)),
      );
      li.append(trackMain(t), dur, actions);
      li.addEventListener('dblclick', (e) => { if (!e.target.closest('button')) playTrack(t.id); });
      frag.appendChild(li);
    }
    el.results.replaceChildren(frag);
  }

  el.q.addEventListener('input', scheduleSearch);
  el.form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (st.resultsFor !== el.q.value.trim()) await runSearch();
    if (st.results.length > 0) playTrack(st.results[0].id);
  });

  // ---- controls ----

  function quiet() { st.quietUntil = performance.now() + QUIET_AFTER_ACTION_MS; }

  // control sends one request to the daemon and shows its answer.
  async function control(what, method, path, body) {
    st.pending++;
    quiet();
    let s = null;
    try {
      s = await api(method, path, body);
    } catch (e) {
      fail(what, e);
    } finally {
      st.pending--;
    }
    if (s) applyStatus(s, true);
    return s;
  }

  async function playTrack(id) {
    const s = await control('Could not play', 'POST', '/api/play', { id, position_ms: 0 });
    if (s) playAudio();
  }

  function isPlaying() {
    if (st.audioURL) return !el.audio.paused;
    return !!(st.status && PLAYING.has(st.status.state));
  }

  async function togglePlay() {
    const s = st.status;
    if (!s || !s.track) {
      if (st.results.length > 0) playTrack(st.results[0].id);
      else if (st.queue.length > 0) control('Could not play', 'POST', '/api/next');
      return;
    }
    if (isPlaying()) {
      el.audio.pause();
      control('Could not pause', 'POST', '/api/pause');
    } else if (el.audio.ended) {
      playTrack(s.track.id);
    } else {
      playAudio();
      control('Could not resume', 'POST', '/api/resume');
    }
  }

  async function seekTo(ms) {
    const dur = durationMs();
    if (!(dur > 0)) return;
    ms = Math.max(0, Math.min(Math.round(ms), dur - 1));
    if (st.audioURL) el.audio.currentTime = ms / 1000;
    renderProgress(ms);
    await control('Could not seek', 'POST', '/api/seek', { position_ms: ms });
    st.scrubbing = false;
  }

  function playAudio() {
    if (!st.audioURL || el.audio.ended) return;
    const p = el.audio.play();
    if (p && p.catch) {
      p.catch((e) => {
        if (e.name === 'NotAllowedError') showAlert('The browser held back the sound until you press play on this page.', 'autoplay');
        else if (e.name !== 'AbortError') fail('The browser could not play the stream', e);
      });
    }
  }

  el.playpause.addEventListener('click', togglePlay);
  el.next.addEventListener('click', () => control('Could not skip to the next track', 'POST', '/api/next'));
  el.prev.addEventListener('click', async () => {
    const url = st.audioURL;
    const s = await control('Could not go back', 'POST', '/api/previous');
    // Past the first seconds previous starts the same play again: same
    // stream, new position.
    if (s && s.audio_url && s.audio_url === url) {
      el.audio.currentTime = (s.position_ms || 0) / 1000;
      playAudio();
    }
  });
  el.seek.addEventListener('input', () => {
    st.scrubbing = true;
    renderProgress(Number(el.seek.value));
  });
  el.seek.addEventListener('change', () => seekTo(Number(el.seek.value)));
  el.sharing.addEventListener('click', () => {
    const on = el.sharing.getAttribute('aria-pressed') !== 'true';
    control(on ? 'Could not turn sharing on' : 'Could not turn sharing off', 'POST', '/api/sharing', { on });
  });

  // ---- the <audio> element: what is heard drives the daemon's clock ----

  function report(force) {
    if (!st.audioURL) return;
    const now = performance.now();
    if (!force && now - st.lastReport < REPORT_EVERY_MS) return;
    st.lastReport = now;
    if (el.audio.ended) return;
    // The report names its track: one that arrives after the daemon went on
    // to the next track is refused (409) instead of moving that one.
    const body = { position_ms: Math.round(el.audio.currentTime * 1000), paused: el.audio.paused, id: st.audioTrack };
    api('POST', '/api/player', body).then(() => clearAlert('report'), (e) => {
      if (e.status === 409) return; // about the track before; the event stream brings the new one
      // While the event stream is down the page already says the daemon is gone.
      if (e.status === 0 && hasAlert('conn')) return;
      showAlert(`Could not tell the daemon where playback is: ${e.message}`, 'report');
    });
  }

  el.audio.addEventListener('timeupdate', () => {
    report(false);
    if (!st.scrubbing) renderProgress(el.audio.currentTime * 1000);
  });
  for (const ev of ['play', 'pause', 'seeked']) el.audio.addEventListener(ev, () => { report(true); renderButtons(); });
  el.audio.addEventListener('playing', () => { clearAlert('autoplay'); renderButtons(); });
  // At the end nothing is reported: the daemon's clock, told last that the
  // track plays, runs out with it and goes on to the queue's next track.
  el.audio.addEventListener('ended', renderButtons);
  el.audio.addEventListener('error', () => {
    if (!st.audioURL || !el.audio.error) return;
    const codes = { 1: 'the load was aborted', 2: 'a network error', 3: 'the audio could not be decoded', 4: 'the stream is not a format this browser plays' };
    showAlert(`The browser could not play this track: ${codes[el.audio.error.code] || 'unknown error'}${el.audio.error.message ? ` (${el.audio.error.message})` : ''}.`, 'audio');
  });
  setInterval(() => { if (st.audioURL && !el.audio.paused) report(false); }, REPORT_EVERY_MS);

  function syncAudio(s, fromAction) {
    const a = el.audio;
    if (!s.track || !s.audio_url) {
      if (st.audioURL) {
        st.audioURL = '';
        a.pause();
        a.removeAttribute('src');
        a.load();
      }
      return;
    }
    if (s.audio_url !== st.audioURL) {
      // A new play is newer than any action: follow it at once (a paused
      // element would report itself paused to the new play).
      st.audioURL = s.audio_url;
      st.audioTrack = s.track.id;
      a.src = s.audio_url;
      if (s.position_ms > 0) a.currentTime = s.position_ms / 1000;
      if (PLAYING.has(s.state)) playAudio();
      return;
    }
    // An event sent before our last action must not undo it.
    if (!fromAction && (st.pending > 0 || performance.now() < st.quietUntil)) return;
    if (PLAYING.has(s.state) && a.paused && !a.ended) playAudio();
    else if (s.state === 'paused' && !a.paused) a.pause();
  }

  // ---- status ----

  function durationMs() {
    const s = st.status;
    if (!s) return 0;
    return s.duration_ms || (s.track && s.track.duration_ms) || 0;
  }

  function applyStatus(s, fromAction = false) {
    if (!s || typeof s !== 'object') return;
    const prevTrack = st.trackID;
    st.status = s;
    st.trackID = s.track ? s.track.id : '';
    syncAudio(s, fromAction);
    renderNet(s);
    renderNow(s);
    renderStats(s);
    if (!st.scrubbing) renderProgress(st.audioURL && !el.audio.paused ? el.audio.currentTime * 1000 : s.position_ms);
    renderBuffered(s);
    renderButtons();
    if (prevTrack !== st.trackID) {
      st.samples = [];
      renderResults();
      loadQueue();
    } else if (typeof s.queued === 'number' && s.queued !== st.queue.length && st.queueOps === 0) {
      loadQueue(); // changed elsewhere (chorus ctl queue ...)
    }
    if (s.error && s.error !== st.lastPlayError) showAlert(`Playback problem: ${s.error}`, 'play');
    if (!s.error) clearAlert('play');
    st.lastPlayError = s.error || '';
    sample(s);
  }

  function renderNet(s) {
    const ok = s.tracker_reachable;
    el.tracker.dataset.ok = ok ? 'yes' : 'no';
    el.trackerText.textContent = ok ? 'Tracker reachable' : 'Tracker unreachable';
    el.tracker.title = (ok ? 'The tracker answers' : 'The tracker does not answer: buffered and cached tracks still play') +
      (s.account ? ` · logged in as ${s.account}` : '');
    // Beyond the contract the daemon says whether it has joined yet.
    if (s.connected === false && s.connecting) showAlert(`Not connected yet: ${s.connecting}`, 'joining');
    else clearAlert('joining');
    const n = Number(s.peers) || 0;
    el.peersN.textContent = String(n);
    el.peersWord.textContent = n === 1 ? 'peer' : 'peers';
    el.sharing.setAttribute('aria-pressed', s.sharing ? 'true' : 'false');
    el.sharingText.textContent = s.sharing ? 'Sharing on' : 'Sharing off';
  }

  function renderNow(s) {
    const t = s.track;
    if (!t) {
      el.nowTitle.textContent = 'Nothing playing';
      el.nowSub.textContent = st.queue.length > 0 ? 'Press play to start the queue.' : 'Search and press play.';
      el.nowState.textContent = '';
      document.title = 'Chorus';
      return;
    }
    el.nowTitle.textContent = t.title || t.id;
    el.nowSub.textContent = trackSub(t);
    const words = { loading: 'Starting…', stalled: 'Waiting for chunks…', paused: 'Paused', playing: 'Playing', stopped: 'Stopped' };
    el.nowState.textContent = words[s.state] || '';
    el.nowState.classList.toggle('warn', s.state === 'stalled');
    document.title = `${PLAYING.has(s.state) ? '▶ ' : ''}${t.title || t.id} · Chorus`;
    if ('mediaSession' in navigator && window.MediaMetadata) {
      navigator.mediaSession.metadata = new MediaMetadata({ title: t.title || t.id, artist: t.artist || '', album: t.album || '' });
    }
  }

  function renderButtons() {
    const has = !!(st.status && st.status.track);
    const playing = has && isPlaying();
    el.playpauseIcon.setAttribute('href', playing ? '#i-pause' : '#i-play');
    el.playpause.setAttribute('aria-label', playing ? 'Pause' : 'Play');
    el.playpause.title = playing ? 'Pause (Space)' : 'Play (Space)';
    el.seek.disabled = !(has && durationMs() > 0);
    el.next.disabled = st.queue.length === 0;
    el.prev.disabled = !has;
  }

  function renderProgress(ms) {
    const dur = durationMs();
    ms = Math.max(0, Math.min(ms || 0, dur || 0));
    el.seek.max = String(dur);
    el.seek.value = String(Math.round(ms));
    el.seek.setAttribute('aria-valuetext', `${fmtSpoken(ms)} of ${fmtSpoken(dur)}`);
    el.pos.textContent = fmtTime(ms);
    el.dur.textContent = fmtTime(dur);
    el.played.style.width = dur > 0 ? `${(ms / dur) * 100}%` : '0';
  }

  function renderBuffered(s) {
    const dur = durationMs();
    const frag = document.createDocumentFragment();
    if (dur > 0 && Array.isArray(s.buffered)) {
      for (const r of s.buffered) {
        const a = Math.max(0, Math.min(dur, r.start_ms)), b = Math.max(0, Math.min(dur, r.end_ms));
        if (!(b > a)) continue;
        const span = document.createElement('span');
        span.style.left = `${(a / dur) * 100}%`;
        span.style.width = `${((b - a) / dur) * 100}%`;
        frag.appendChild(span);
      }
    }
    el.buffered.replaceChildren(frag);
  }

  function renderStats(s) {
    const bytes = (s.play && s.play.bytes) || {};
    const parts = { cache: Number(bytes.cache) || 0, peer: Number(bytes.peer) || 0, origin: Number(bytes.origin) || 0 };
    const total = parts.cache + parts.peer + parts.origin;
    const names = { cache: 'cache', peer: 'peers', origin: 'origin' };
    const spoken = [];
    for (const k of Object.keys(parts)) {
      const pct = total > 0 ? (parts[k] / total) * 100 : 0;
      el.segs[k].style.width = `${pct}%`;
      el.src[k].textContent = fmtBytes(parts[k]);
      el.pct[k].textContent = total > 0 ? `${Math.round(pct)}%` : '';
      el.src[k].dataset.bytes = String(parts[k]);
      spoken.push(`${names[k]} ${fmtBytes(parts[k])}`);
    }
    el.srcbar.setAttribute('aria-label', `Bytes by source for this play: ${spoken.join(', ')}`);
    const start = s.play ? s.play.start_ms : null;
    const startText = (ms) => (ms < 1 ? 'under 1 ms' : `${Math.round(ms)} ms`);
    el.startLatency.textContent = (start !== null && start !== undefined) ? `Started in ${startText(start)}` : (s.track ? 'Starting…' : '');
    el.down.textContent = fmtRate(Number(s.download_bps) || 0);
    el.up.textContent = fmtRate(Number(s.upload_bps) || 0);
    el.cache.textContent = s.cache ? fmtBytes(s.cache.used_bytes) : '–';
    el.cacheMax.textContent = s.cache && s.cache.max_bytes > 0 ? `of ${fmtBytes(s.cache.max_bytes)}` : '';
    el.aheadNow.textContent = s.track ? `${(Math.max(0, s.buffered_ahead_ms || 0) / 1000).toFixed(1)} s` : '–';
  }

  // ---- the chart of buffer ahead ----

  function sample(s) {
    if (!s.track) return;
    const now = performance.now();
    st.samples.push({ t: now, ahead: Math.max(0, Number(s.buffered_ahead_ms) || 0) });
    while (st.samples.length > 0 && st.samples[0].t < now - CHART_WINDOW_MS - 5000) st.samples.shift();
    drawChart();
  }

  function drawChart() {
    const c = el.chart;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth, h = c.clientHeight;
    if (w === 0 || h === 0) return;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const ctx = c.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const css = getComputedStyle(document.documentElement);
    const color = (name) => css.getPropertyValue(name).trim();
    const now = performance.now();
    const pts = st.samples;
    let max = 10000;
    for (const p of pts) max = Math.max(max, p.ahead);
    const stepMs = max > 60000 ? 30000 : 10000;
    max = Math.ceil(max / stepMs) * stepMs;
    const top = 16, bottom = h - 18, left = 0, right = w;
    const y = (v) => bottom - (v / max) * (bottom - top);
    const span = pts.length > 0 ? Math.min(CHART_WINDOW_MS, Math.max(CHART_MIN_WINDOW_MS, Math.ceil((now - pts[0].t) / 10000) * 10000)) : CHART_MIN_WINDOW_MS;
    const x = (t) => right - ((now - t) / span) * (right - left);

    ctx.font = `11px ${color('--font') || 'sans-serif'}`;
    ctx.textBaseline = 'bottom';
    ctx.lineWidth = 1;
    for (let v = stepMs; v <= max; v += stepMs) {
      const yy = Math.round(y(v)) + 0.5;
      ctx.strokeStyle = color('--chart-grid');
      ctx.beginPath(); ctx.moveTo(left, yy); ctx.lineTo(right, yy); ctx.stroke();
      ctx.fillStyle = color('--muted');
      ctx.fillText(`${v / 1000} s`, 6, yy - 2);
    }
    ctx.textAlign = 'right';
    ctx.strokeStyle = color('--chart-grid');
    ctx.beginPath(); ctx.moveTo(left, bottom + 0.5); ctx.lineTo(right, bottom + 0.5); ctx.stroke();
    ctx.fillStyle = color('--muted');
    ctx.fillText('now', right - 6, h - 3);
    ctx.fillText(`−${span / 1000} s`, left + 40, h - 3);
    ctx.textAlign = 'left';
    if (pts.length === 0) return;
    ctx.beginPath();
    ctx.moveTo(Math.max(left, x(pts[0].t)), bottom);
    for (const p of pts) ctx.lineTo(Math.max(left, x(p.t)), y(p.ahead));
    ctx.lineTo(right, y(pts[pts.length - 1].ahead));
    ctx.lineTo(right, bottom);
    ctx.closePath();
    ctx.fillStyle = color('--chart-fill');
    ctx.fill();
    ctx.beginPath();
    pts.forEach((p, i) => { const xx = Math.max(left, x(p.t)); if (i === 0) ctx.moveTo(xx, y(p.ahead)); else ctx.lineTo(xx, y(p.ahead)); });
    ctx.lineTo(right, y(pts[pts.length - 1].ahead));
    ctx.strokeStyle = color('--chart-line');
    ctx.lineWidth = 2;
    ctx.lineJoin = 'round';
    ctx.stroke();
    const last = pts[pts.length - 1].ahead;
    c.setAttribute('aria-label', `Buffered ahead over the last ${span / 1000} seconds, now ${(last / 1000).toFixed(1)} seconds`);
  }
  setInterval(() => { if (st.samples.length > 0 && isPlaying()) drawChart(); }, 1000);
  window.addEventListener('resize', drawChart);
  window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', drawChart);

  // ---- the queue ----

  async function loadQueue() {
    st.queueOps++;
    try {
      setQueue(await api('GET', '/api/queue'));
    } catch (e) {
      fail('Could not load the queue', e);
    } finally {
      st.queueOps--;
    }
  }
  function setQueue(q) {
    st.queue = (q && Array.isArray(q.items)) ? q.items : [];
    renderQueue();
  }
  async function queueOp(what, method, path, body) {
    st.queueOps++;
    try {
      setQueue(await api(method, path, body));
    } catch (e) {
      fail(what, e);
    } finally {
      st.queueOps--;
    }
  }
  const queueAdd = (id) => queueOp('Could not add to the queue', 'POST', '/api/queue', { id });
  const queueRemove = async (i) => {
    await queueOp('Could not remove from the queue', 'DELETE', `/api/queue/${i}`);
    // Keyboard users stay in the queue: focus the next track's remove button.
    const rms = el.queue.querySelectorAll('button[data-focus-key^="rm:"]');
    if (rms.length > 0) rms[Math.min(i, rms.length - 1)].focus();
  };
  const queueMove = (from, to) => {
    if (from === to || to < 0 || to >= st.queue.length) return Promise.resolve();
    return queueOp('Could not move the track', 'POST', '/api/queue/move', { from, to });
  };
  el.queueClear.addEventListener('click', () => queueOp('Could not clear the queue', 'DELETE', '/api/queue'));

  let dragFrom = -1;
  function renderQueue() {
    const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.focusKey : '';
    const frag = document.createDocumentFragment();
    st.queue.forEach((t, i) => {
      const li = document.createElement('li');
      li.className = 'track';
      li.draggable = true;
      li.dataset.index = String(i);
      const grip = document.createElement('span');
      grip.className = 'grip';
      grip.title = 'Drag to reorder';
      grip.appendChild(icon('grip'));
      const actions = document.createElement('div');
      actions.className = 't-actions';
      const name = t.title || t.id;
      const up = iconButton('up', `Move ${name} up`, () => queueMove(i, i - 1));
      const down = iconButton('down', `Move ${name} down`, () => queueMove(i, i + 1));
      const rm = iconButton('close', `Remove ${name} from the queue`, () => queueRemove(i));
      up.disabled = i === 0;
      down.disabled = i === st.queue.length - 1;
      rm.dataset.focusKey = `rm:${t.id}`;
      up.dataset.focusKey = `up:${t.id}`;
      down.dataset.focusKey = `down:${t.id}`;
      actions.append(up, down, rm);
      li.append(grip, trackMain(t), actions);
      li.addEventListener('dragstart', (e) => {
        dragFrom = i;
        li.classList.add('dragging');
        e.dataTransfer.effectAllowed = 'move';
        e.dataTransfer.setData('text/plain', String(i));
      });
      li.addEventListener('dragend', () => { dragFrom = -1; li.classList.remove('dragging'); clearDropMarks(); });
      li.addEventListener('dragover', (e) => {
        if (dragFrom < 0) return;
        e.preventDefault();
        e.dataTransfer.dropEffect = 'move';
        clearDropMarks();
        li.classList.add(dropAfter(e, li) ? 'drop-after' : 'drop-before');
      });
      li.addEventListener('drop', (e) => {
        e.preventDefault();
        const from = dragFrom;
        clearDropMarks();
        if (from < 0) return;
        let to = dropAfter(e, li) ? i + 1 : i; // the slot before which it lands
        if (from < to) to--;
        queueMove(from, to);
      });
      frag.appendChild(li);
    });
    el.queue.replaceChildren(frag);
    el.queueEmpty.hidden = st.queue.length > 0;
    el.after.textContent = st.queue.length > 0 ? `${st.queue[0].title || st.queue[0].id}${st.queue[0].artist ? ` · ${st.queue[0].artist}` : ''}` : 'Nothing queued';
    el.queueClear.disabled = st.queue.length === 0;
    renderButtons();
    if (focused) {
      const again = el.queue.querySelector(`[data-focus-key="${CSS.escape(focused)}"]`);
      if (again && !again.disabled) again.focus();
    }
    if (st.status && !st.status.track) renderNow(st.status);
  }
  function dropAfter(e, li) {
    const r = li.getBoundingClientRect();
    return e.clientY > r.top + r.height / 2;
  }
  function clearDropMarks() {
    el.queue.querySelectorAll('.drop-before, .drop-after').forEach((n) => n.classList.remove('drop-before', 'drop-after'));
  }

  // ---- keyboard ----

  function openHelp() { if (!el.help.open) el.help.showModal(); }
  el.helpBtn.addEventListener('click', openHelp);
  el.helpClose.addEventListener('click', () => el.help.close());
  el.help.addEventListener('click', (e) => { if (e.target === el.help) el.help.close(); });

  document.addEventListener('keydown', (e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    const typing = t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t.isContentEditable;
    if (el.help.open) {
      if (e.key === '?') { e.preventDefault(); el.help.close(); }
      return;
    }
    if (t === el.q) {
      if (e.key === 'Escape') { e.preventDefault(); el.q.blur(); }
      return;
    }
    if (typing && t !== el.seek) return;
    switch (e.key) {
      case '/':
        e.preventDefault(); el.q.focus(); el.q.select(); break;
      case '?':
        e.preventDefault(); openHelp(); break;
      case ' ':
        if (t instanceof HTMLButtonElement || t instanceof HTMLAnchorElement || t === el.seek) return;
        e.preventDefault(); togglePlay(); break;
      case 'ArrowLeft':
      case 'ArrowRight': {
        const fwd = e.key === 'ArrowRight';
        if (e.shiftKey) {
          e.preventDefault();
          (fwd ? el.next : el.prev).click();
        } else if (t !== el.seek && st.status && st.status.track) {
          e.preventDefault();
          const cur = st.audioURL ? el.audio.currentTime * 1000 : st.status.position_ms;
          seekTo(cur + (fwd ? SEEK_STEP_MS : -SEEK_STEP_MS));
        }
        break;
      }
      default:
    }
  });

  if ('mediaSession' in navigator) {
    const ms = navigator.mediaSession;
    const on = (a, f) => { try { ms.setActionHandler(a, f); } catch (_) { /* not supported here */ } };
    on('play', togglePlay);
    on('pause', togglePlay);
    on('nexttrack', () => el.next.click());
    on('previoustrack', () => el.prev.click());
  }

  // ---- the event stream ----

  let events = null;
  function connect() {
    events = new EventSource('/api/events');
    events.addEventListener('open', () => { clearAlert('conn'); clearAlert('audio'); });
    events.addEventListener('status', (e) => {
      let s;
      try { s = JSON.parse(e.data); } catch (_) { return; }
      applyStatus(s);
    });
    events.addEventListener('error', async () => {
      if (events.readyState === EventSource.CLOSED) {
        // The browser gave up (the daemon refused the stream): say why, retry later.
        try {
          await api('GET', '/api/status');
          showAlert('The live status stream closed; reconnecting…', 'conn');
        } catch (err) {
          showAlert(`Lost the daemon: ${err.message}`, 'conn');
        }
        setTimeout(connect, 3000);
      } else {
        showAlert('Lost the connection to the daemon; reconnecting…', 'conn');
      }
      if (st.status && st.status.track) el.nowState.textContent = 'Daemon offline';
      el.tracker.dataset.ok = 'offline';
      el.trackerText.textContent = 'Daemon offline';
      el.tracker.title = 'The daemon does not answer';
    });
  }

  async function start() {
    try {
      applyStatus(await api('GET', '/api/status'));
    } catch (e) {
      fail('Could not reach the daemon', e);
    }
    loadQueue();
    connect();
  }
  start();
})();
