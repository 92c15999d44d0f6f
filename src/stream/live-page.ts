/**
 * The live view of `xasmap serve` (HTTP `GET /` on the websocket's port): one self-contained
 * HTML page, inline CSS and JS, canvas drawing, no framework, no build step, no external URL.
 * It opens a websocket to the same host, sends `{"type":"watch"}` (with the `token` of the
 * page URL's `?token=` when given) and draws, for every scan, the SE map (or, without measured
 * spectra, the L3 peak map) filling in as pixels arrive, and the newest spectrum. For a scan
 * with `fit` pixels (`scan.fit`) the SE map is the fit's SE and the spectrum the newest fit.
 *
 * Its state is `window.xasmapState` (for tests): `{connected, frames, scans: {id: {width,
 * height, ion, state, received, computed, fit, pixels, kind, values, spectrum, files}}}` where
 * `pixels` counts the map pixels with a result and `values` is the drawn map (row-major,
 * null where nothing arrived).
 */
export const LIVE_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>xasmap serve - live view</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1em 2em; color: #222; background: #fafafa; }
h1 { font-size: 18px; margin: 0 0 .5em; }
#status { font-weight: normal; font-size: 13px; color: #666; margin-left: 1em; }
section { background: #fff; border: 1px solid #ddd; border-radius: 4px; padding: .6em 1em; margin: .8em 0; }
section h2 { font-size: 15px; margin: 0 0 .4em; }
.row { display: flex; gap: 2em; flex-wrap: wrap; align-items: flex-start; }
canvas.map { image-rendering: pixelated; border: 1px solid #ccc; background: #e0e0e0; }
canvas.spec { border: 1px solid #ccc; background: #fff; }
.cap { font-size: 12px; color: #555; }
#empty { color: #777; }
</style>
</head>
<body>
<h1>xasmap serve - live view <span id="status">connecting...</span></h1>
<div id="empty">No scans yet. A scan appears here when a client sends <code>start</code>.</div>
<div id="scans"></div>
<script>
(function () {
  'use strict';
  var BG = [224, 224, 224];
  var VIRIDIS = [[68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142], [31, 158, 137], [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37]];
  var MAGMA = [[0, 0, 4], [28, 16, 68], [79, 18, 123], [129, 37, 129], [181, 54, 122], [229, 80, 100], [251, 135, 97], [254, 194, 135], [252, 253, 191]];
  var token = new URLSearchParams(location.search).get('token');
  var state = { connected: false, closed: null, frames: 0, errors: [], order: [], scans: {} };
  window.xasmapState = state;
  var views = {};
  var statusEl = document.getElementById('status');

  function setStatus(text) { statusEl.textContent = text; }

  function color(t, map) {
    if (!(t >= 0)) t = 0;
    if (t > 1) t = 1;
    var f = t * (map.length - 1), i = Math.min(map.length - 2, Math.floor(f)), u = f - i;
    var a = map[i], b = map[i + 1];
    return [a[0] + u * (b[0] - a[0]), a[1] + u * (b[1] - a[1]), a[2] + u * (b[2] - a[2])];
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function newScan(f) {
    var n = f.width * f.height;
    return { id: f.scan, ion: f.ion, width: f.width, height: f.height, state: f.state, received: f.received || 0,
      computed: f.computed || 0, fit: !!f.fit, pixels: 0, kind: 'l3peak', energy: f.energy || [], files: f.files || [],
      l3: new Array(n).fill(null), se: new Array(n).fill(null), has: new Uint8Array(n), hasSe: false,
      values: new Array(n).fill(null), spectrum: null };
  }

  function view(s) {
    var v = views[s.id];
    if (v) return v;
    var sec = el('section');
    var h = el('h2');
    var row = el('div', 'row');
    var left = el('div');
    var map = el('canvas', 'map');
    var cap = el('div', 'cap');
    var right = el('div');
    var spec = el('canvas', 'spec');
    var scap = el('div', 'cap');
    spec.width = 480; spec.height = 220;
    left.appendChild(map); left.appendChild(cap);
    right.appendChild(spec); right.appendChild(scap);
    row.appendChild(left); row.appendChild(right);
    sec.appendChild(h); sec.appendChild(row);
    sec.setAttribute('data-scan', s.id);
    map.setAttribute('data-scan', s.id);
    document.getElementById('scans').appendChild(sec);
    document.getElementById('empty').style.display = 'none';
    v = { sec: sec, h: h, map: map, cap: cap, spec: spec, scap: scap, dirty: true };
    views[s.id] = v;
    return v;
  }

  function onScan(f) {
    var s = state.scans[f.scan];
    if (!s || s.width !== f.width || s.height !== f.height || (s.state === 'done' && f.state !== 'done')) {
      s = newScan(f);
      state.scans[f.scan] = s;
      if (state.order.indexOf(f.scan) < 0) state.order.push(f.scan);
    }
    s.ion = f.ion; s.state = f.state; s.received = f.received; s.computed = f.computed;
    if (f.energy) s.energy = f.energy;
    if (f.files) s.files = f.files;
    if (f.fit) s.fit = true;
    var v = view(s);
    v.dirty = true;
    schedule();
  }

  function onUpdate(f) {
    var s = state.scans[f.scan];
    if (!s) return;
    if (f.full) {
      var n = s.width * s.height;
      s.l3 = new Array(n).fill(null); s.se = new Array(n).fill(null); s.has = new Uint8Array(n); s.pixels = 0; s.hasSe = false;
    }
    var px = f.px || [], l3 = f.l3 || [], se = f.se || null;
    for (var i = 0; i < l3.length; i++) {
      var x = px[2 * i], y = px[2 * i + 1];
      if (!(x >= 0 && x < s.width && y >= 0 && y < s.height)) continue;
      var p = y * s.width + x;
      if (!s.has[p]) { s.has[p] = 1; s.pixels++; }
      s.l3[p] = l3[i];
      if (se) { s.se[p] = se[i]; if (se[i] !== null) s.hasSe = true; }
    }
    if (typeof f.received === 'number') s.received = f.received;
    if (typeof f.computed === 'number') s.computed = f.computed;
    if (f.spectrum) s.spectrum = f.spectrum;
    view(s).dirty = true;
    schedule();
  }

  var timer = null;
  function schedule() {
    if (timer === null) timer = setTimeout(function () { timer = null; drawAll(); }, 50);
  }

  function drawAll() {
    for (var i = 0; i < state.order.length; i++) {
      var s = state.scans[state.order[i]], v = views[s.id];
      if (v && v.dirty) { v.dirty = false; draw(s, v); }
    }
  }

  function draw(s, v) {
    s.kind = s.hasSe ? 'se' : 'l3peak';
    var src = s.hasSe ? s.se : s.l3;
    s.values = src.map(function (val, p) { return s.has[p] ? val : null; });
    var lo = Infinity, hi = -Infinity, p;
    for (p = 0; p < src.length; p++) if (s.has[p] && src[p] !== null) { if (src[p] < lo) lo = src[p]; if (src[p] > hi) hi = src[p]; }
    var span = hi > lo ? hi - lo : 1;
    var cmap = s.hasSe ? MAGMA : VIRIDIS;
    var c = v.map;
    if (c.width !== s.width || c.height !== s.height) {
      c.width = s.width; c.height = s.height;
      var scale = Math.max(1, Math.floor(360 / Math.max(s.width, s.height)));
      c.style.width = (s.width * scale) + 'px'; c.style.height = (s.height * scale) + 'px';
    }
    var ctx = c.getContext('2d');
    var img = ctx.createImageData(s.width, s.height), d = img.data;
    for (p = 0; p < src.length; p++) {
      var rgb = !s.has[p] ? BG : src[p] === null ? [136, 136, 136] : color((src[p] - lo) / span, cmap);
      d[4 * p] = rgb[0]; d[4 * p + 1] = rgb[1]; d[4 * p + 2] = rgb[2]; d[4 * p + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
    v.h.textContent = s.id + ' - ' + s.ion + (s.fit ? ' (fit)' : '') + ', ' + s.width + ' x ' + s.height + ' - ' + s.state +
      ' - ' + s.pixels + ' of ' + (s.width * s.height) + ' pixels (' + s.received + ' received)';
    v.cap.textContent = (s.hasSe ? (s.fit ? 'fit SE (%)' : 'SE (%)') : 'L3 peak energy (eV)') + (lo <= hi ? ': ' + lo.toFixed(s.hasSe ? 2 : 2) + ' .. ' + hi.toFixed(2) : ': no pixels yet') +
      (s.files.length ? ' - wrote ' + s.files.join(', ') : '');
    drawSpectrum(s, v);
  }

  function drawSpectrum(s, v) {
    var c = v.spec, ctx = c.getContext('2d'), W = c.width, H = c.height, m = 30;
    ctx.clearRect(0, 0, W, H);
    ctx.strokeStyle = '#999'; ctx.strokeRect(m, 8, W - m - 8, H - m - 8);
    var sp = s.spectrum;
    if (!sp || !sp.data || sp.data.length < 2) { v.scap.textContent = 'no spectrum yet'; return; }
    var y = sp.data, n = y.length, ymax = -Infinity, ymin = Infinity, i;
    for (i = 0; i < n; i++) { if (y[i] > ymax) ymax = y[i]; if (y[i] < ymin) ymin = y[i]; }
    var ys = ymax > ymin ? ymax - ymin : 1;
    ctx.strokeStyle = '#1f77b4'; ctx.lineWidth = 1.5; ctx.beginPath();
    for (i = 0; i < n; i++) {
      var px = m + (i / (n - 1)) * (W - m - 8), py = H - m - ((y[i] - ymin) / ys) * (H - m - 16);
      if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
    }
    ctx.stroke();
    var e = s.energy;
    ctx.fillStyle = '#555'; ctx.font = '11px sans-serif';
    if (e.length) { ctx.fillText(String(e[0]), m, H - 12); ctx.fillText(String(e[e.length - 1]), W - 50, H - 12); }
    v.scap.textContent = (s.fit ? 'newest spectrum (fitted): pixel x=' : 'newest spectrum: pixel x=') + sp.x + ', y=' + sp.y + ' (energy in eV)';
  }

  function handle(f) {
    state.frames++;
    if (f.type === 'scan') onScan(f);
    else if (f.type === 'update') onUpdate(f);
    else if (f.type === 'watching') setStatus('connected (protocol ' + f.protocol + ')');
    else if (f.type === 'error') { state.errors.push(f); setStatus('error ' + f.code + ': ' + f.message); }
  }

  function connect() {
    var ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/');
    ws.onopen = function () {
      state.connected = true;
      setStatus('connected');
      ws.send(JSON.stringify(token ? { type: 'watch', token: token } : { type: 'watch' }));
    };
    ws.onmessage = function (ev) {
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      handle(f);
    };
    ws.onclose = function (ev) {
      state.connected = false;
      state.closed = ev.code;
      if (ev.code === 1008) { setStatus('not authorised: open this page with ?token=...'); return; }
      setStatus('disconnected (' + ev.code + '); reconnecting...');
      setTimeout(connect, 2000);
    };
  }
  connect();
})();
</script>
</body>
</html>
`;
