/**
 * The live view side of `xasmap serve` (docs/protocol.md, "Live view"): what the `watch`
 * observers (stream/live-page.ts and any other client) are told. A `scan` frame whenever a
 * scan opens, changes state or gets fits (`announce`); after every micro-batch an `update`
 * frame per scan with its new pixels, their L3 peak and SE and the newest spectrum
 * (`publish`). A watcher whose socket buffers more than WATCH_BUFFER gets no updates until
 * it drains, then a `snapshot` of the scans it missed.
 *
 * The watchers themselves (a map by socket) belong to stream/server.ts, which adds them on
 * `watch`, removes them on close and counts them; it hands them over in the context.
 */
import type { WebSocket } from 'ws';
import { type Frame, SERVE_CHANNELS as CHANNELS, type Scan, send } from './server-scan.js';

/** A watcher whose socket buffers more than this gets no updates until it drains, then a snapshot. */
const WATCH_BUFFER = 4 * 1024 * 1024;
/** Pixels per `update` frame of a snapshot. */
const SNAPSHOT_CHUNK = 50_000;

export interface Watcher {
  ws: WebSocket;
  /** scans whose updates were dropped (slow socket): a snapshot follows when it drains */
  stale: Set<Scan>;
}

/** What the live view needs from the server. */
export interface WatchersContext {
  /** the connections that sent `watch` (shared: the server adds and removes them) */
  readonly watchers: ReadonlyMap<WebSocket, Watcher>;
}

export interface Watchers {
  /** `scan` + the computed pixels: a `full` update, continued in updates of SNAPSHOT_CHUNK pixels. */
  snapshot(w: Watcher, s: Scan): void;
  /** Tells every watcher the scan's `scan` frame (opened, new state, first fit, files). */
  announce(s: Scan): void;
  /** Sends every watcher the `update` frames of a micro-batch (snapshots to those that were stale). */
  publish(updates: Map<Scan, number[]>): void;
}

/** JSON has no NaN: null. Rounded to 6 significant digits (the live view only). */
function num(v: number): number | null {
  return Number.isFinite(v) ? Number(v.toPrecision(6)) : null;
}

/** The newest spectrum of a scan for watchers: 5 significant digits keep the frames small. */
function newestSpectrum(s: { nx: number; spectra: Float32Array }, at: { x: number; y: number }): { x: number; y: number; data: number[] } {
  const p = at.y * s.nx + at.x;
  return { ...at, data: Array.from(s.spectra.subarray(p * CHANNELS, (p + 1) * CHANNELS), (v) => Number(v.toPrecision(5))) };
}

const scanInfo = (s: Scan): Frame => ({
  type: 'scan',
  scan: s.id,
  ion: s.ion,
  width: s.nx,
  height: s.ny,
  state: s.phase,
  received: s.received,
  computed: s.computed,
  ...(s.hasFit ? { fit: true, fitted: s.fitted } : {}),
  energy: Array.from(s.grid, (v) => Number(v.toPrecision(7))),
  ...(s.files.length ? { files: s.files } : {}),
});

/** An `update` frame: pixels (x, y pairs), their L3 peak and SE, the newest spectrum. */
const updateFrame = (s: Scan, pixels: number[], full: boolean): Frame => {
  const px: number[] = [];
  const l3: (number | null)[] = [];
  const se: (number | null)[] = [];
  let anySe = false;
  for (const p of pixels) {
    px.push(p % s.nx, Math.floor(p / s.nx));
    l3.push(num(s.maps.l3Peak[p] as number));
    const v = s.maps.se[p] as number;
    if (Number.isFinite(v)) anySe = true;
    se.push(num(v));
  }
  return {
    type: 'update',
    scan: s.id,
    full,
    received: s.received,
    computed: s.computed,
    px,
    l3,
    ...(anySe ? { se } : {}),
    ...(s.lastSpectrum ? { spectrum: newestSpectrum(s, s.lastSpectrum) } : {}),
  };
};

export function createWatchers(ctx: WatchersContext): Watchers {
  const { watchers } = ctx;

  const snapshot = (w: Watcher, s: Scan): void => {
    send(w.ws, scanInfo(s));
    const done: number[] = [];
    for (let p = 0; p < s.state.length; p++) if (s.state[p] === 2) done.push(p);
    let k = 0;
    do {
      send(w.ws, updateFrame(s, done.slice(k, k + SNAPSHOT_CHUNK), k === 0));
      k += SNAPSHOT_CHUNK;
    } while (k < done.length);
  };

  const tellWatchers = (frame: (w: Watcher) => void): void => {
    for (const w of watchers.values()) frame(w);
  };

  const announce = (s: Scan): void => tellWatchers((w) => send(w.ws, scanInfo(s)));

  const publish = (updates: Map<Scan, number[]>): void => {
    if (watchers.size === 0) return;
    for (const w of watchers.values()) {
      if (w.ws.bufferedAmount > WATCH_BUFFER) {
        for (const s of updates.keys()) w.stale.add(s);
        continue;
      }
      for (const s of w.stale) snapshot(w, s);
      for (const [s, pixels] of updates) if (!w.stale.has(s)) send(w.ws, updateFrame(s, pixels, false));
      w.stale.clear();
    }
  };

  return { snapshot, announce, publish };
}
