/**
 * The client side of `xasmap replay` (issue 6, "simulated microscope"): streams a parameter
 * map (and optionally a measured stack) to an `xasmap serve` server row by row, as an
 * acquisition would, using protocol v1 (docs/protocol.md): start -> ready, `pixels` frames of
 * up to `batch` items (optionally rate-limited), one `result` or `error` per pixel (QUEUE_FULL
 * pixels are resent), end -> done. Measures throughput and request-to-result latency.
 *
 * Latency of a pixel = time from the send of the frame that first carried it to the receipt of
 * its `result` (a pixel resent after QUEUE_FULL keeps its first send time).
 */
import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import { XasmapError } from '../errors.js';
import { PARAM_NAMES } from '../physics/ions.js';

/** What replay reads of a parameter map (io/params-map.ts's reader, injected by cli/replay.ts). */
export interface ParamsRows {
  readonly info: { readonly path: string; readonly ny: number; readonly nx: number };
  /** rows [y0, y1): (y1 - y0) * nx * 9 parameters, and the mask (0 = skip) or null */
  readRows(y0: number, y1: number): { params: Float32Array; mask: Uint8Array | null };
}

/** What replay reads of a measured stack (io/measured.ts's reader). */
export interface MeasuredRows {
  readonly info: { readonly path: string; readonly ny: number; readonly nx: number; readonly energy: ArrayLike<number> };
  /** rows [y0, y1): (y1 - y0) * nx spectra of info.energy.length values */
  readRows(y0: number, y1: number): Float32Array;
}

const P = PARAM_NAMES.length;
export const REPLAY_PROTOCOL = 1;

export interface ReplayOptions {
  url: string;
  ion: string;
  scan: string;
  token?: string;
  /** items per `pixels` frame */
  batch: number;
  /** pixels per second; undefined or Infinity = unlimited */
  rate?: number;
  params: ParamsRows;
  measured?: MeasuredRows | null;
  /** rows read from the files at a time */
  tileRows?: number;
  /** give up when nothing arrives for this long while answers are outstanding (ms) */
  idleTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface LatencySummary {
  count: number;
  mean: number | null;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

export interface ReplaySummary {
  url: string;
  scan: string;
  ion: string;
  width: number;
  height: number;
  /** width * height */
  pixels: number;
  /** pixels sent (not masked, finite parameters) */
  sent: number;
  /** pixels skipped: mask 0 */
  masked: number;
  /** pixels skipped: a NaN (non-finite) parameter */
  nanParams: number;
  /** pixels sent without their measured spectrum (it had non-finite values) */
  measuredOmitted: number;
  results: number;
  extrapolated: number;
  errors: number;
  errorCodes: Record<string, number>;
  /** resends after QUEUE_FULL */
  resent: number;
  frames: number;
  /** from the start frame to the last result (s) */
  seconds: number;
  /** results / seconds (send of the first pixel to the last result) */
  pixelsPerSecond: number;
  /** request-to-result latency (ms) */
  latencyMs: LatencySummary;
  /** end -> done (s) */
  endSeconds: number;
  done: { files: unknown; stats: unknown };
}

type Frame = Record<string, unknown>;

interface Item {
  x: number;
  y: number;
  params: Record<string, number>;
  measured?: number[];
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: ArrayLike<number>, p: number): number | null {
  const n = sorted.length;
  if (n === 0) return null;
  const k = Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1));
  return sorted[k] as number;
}

export function latencySummary(values: Float64Array): LatencySummary {
  const s = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of s) sum += v;
  return {
    count: s.length,
    mean: s.length ? sum / s.length : null,
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    max: s.length ? (s[s.length - 1] as number) : null,
  };
}

/** Validates a ws:// or wss:// URL (XasmapError BAD_URL, exit 2). */
export function checkUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new XasmapError('BAD_URL', `--to: not a URL: '${url}' (expected ws://HOST:PORT/)`);
  }
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new XasmapError('BAD_URL', `--to: expected a ws:// or wss:// URL, got '${url}'`);
  if (u.hostname === '') throw new XasmapError('BAD_URL', `--to: no host in '${url}'`);
  return u;
}

class Connection {
  readonly ws: WebSocket;
  readonly inbox: Frame[] = [];
  closed: { code: number; reason: string } | null = null;
  #wake: (() => void)[] = [];
  onFrame: ((f: Frame) => boolean) | null = null;

  constructor(
    readonly url: string,
    maxPayload: number,
  ) {
    this.ws = new WebSocket(url, { maxPayload });
  }

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error & { code?: string }): void => {
        const why = e.code === 'ECONNREFUSED' ? 'connection refused' : e.code === 'ENOTFOUND' ? 'host not found' : e.message;
        reject(new XasmapError('CONNECT_FAILED', `cannot connect to ${this.url}: ${why}${e.code === 'ECONNREFUSED' ? ' (is `xasmap serve` running there?)' : ''}`));
      };
      this.ws.once('error', onError);
      this.ws.once('open', () => {
        this.ws.off('error', onError);
        this.ws.on('error', () => undefined);
        resolve();
      });
      this.ws.on('message', (d, binary) => {
        if (binary) return;
        let f: Frame;
        try {
          f = JSON.parse(d.toString()) as Frame;
        } catch {
          return;
        }
        if (!(this.onFrame?.(f) ?? false)) this.inbox.push(f);
        this.#notify();
      });
      this.ws.on('close', (code, reason) => {
        this.closed = { code, reason: reason.toString() };
        this.#notify();
      });
    });
  }

  #notify(): void {
    for (const f of this.#wake.splice(0)) f();
  }

  /** Resolves on the next frame or close, or after ms. */
  changed(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(r, ms);
      this.#wake.push(() => {
        clearTimeout(t);
        r();
      });
    });
  }

  closedError(what: string): XasmapError {
    const c = this.closed;
    return new XasmapError('CONNECTION_CLOSED', `${this.url}: connection closed ${what}${c ? ` (code ${c.code}${c.reason ? `: ${c.reason}` : ''})` : ''}`);
  }

  /** Removes and returns the first inbox frame matching pred. */
  async next(pred: (f: Frame) => boolean, what: string, ms: number): Promise<Frame> {
    const end = Date.now() + ms;
    for (;;) {
      const i = this.inbox.findIndex(pred);
      if (i >= 0) return this.inbox.splice(i, 1)[0] as Frame;
      if (this.closed) throw this.closedError(`while waiting for ${what}`);
      const left = end - Date.now();
      if (left <= 0) throw new XasmapError('TIMEOUT', `${this.url}: no ${what} within ${Math.round(ms / 1000)} s`);
      await this.changed(left);
    }
  }

  send(frame: Frame): void {
    if (this.closed || this.ws.readyState !== WebSocket.OPEN) throw this.closedError('while sending');
    this.ws.send(JSON.stringify(frame));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function replay(o: ReplayOptions): Promise<ReplaySummary> {
  const { params } = o;
  const { nx, ny } = params.info;
  const measured = o.measured ?? null;
  if (measured && (measured.info.nx !== nx || measured.info.ny !== ny)) {
    throw new XasmapError('MEASURED_SHAPE', `${measured.info.path}: the measured stack is ${measured.info.ny} x ${measured.info.nx} (ny x nx), the parameter map ${params.info.path} is ${ny} x ${nx}`);
  }
  const ne = measured ? measured.info.energy.length : 0;
  const rate = o.rate !== undefined && Number.isFinite(o.rate) ? o.rate : Infinity;
  const idle = o.idleTimeoutMs ?? 120_000;
  const tileRows = Math.max(1, o.tileRows ?? Math.max(1, Math.floor(100_000 / nx)));
  checkUrl(o.url);

  const conn = new Connection(o.url, 256 * 1024 * 1024);
  await conn.open();
  try {
    conn.send({
      type: 'start',
      scan: o.scan,
      ion: o.ion,
      width: nx,
      height: ny,
      ...(measured ? { energy: Array.from(measured.info.energy) } : {}),
      ...(o.token !== undefined ? { token: o.token } : {}),
    });
    const ready = await conn.next((f) => (f.type === 'ready' && f.scan === o.scan) || f.type === 'error', 'ready', 60_000);
    if (ready.type === 'error') {
      throw new XasmapError(`SERVER_${String(ready.code)}`, `${o.url}: the server refused the scan '${o.scan}': ${String(ready.code)}: ${String(ready.message)}`);
    }
    if (ready.protocol !== REPLAY_PROTOCOL) {
      throw new XasmapError('PROTOCOL', `${o.url}: server speaks protocol ${String(ready.protocol)}, this client version ${REPLAY_PROTOCOL}`);
    }

    // Outstanding pixels by key y*nx+x: first send time (ms), and the item for resends.
    const sentAt = new Map<number, number>();
    const items = new Map<number, Item>();
    const latencies = new Float64Array(nx * ny);
    let nLat = 0;
    let results = 0;
    let extrapolated = 0;
    let errors = 0;
    const errorCodes: Record<string, number> = {};
    const retry: number[] = [];
    let resent = 0;
    let lastArrival = performance.now();
    let tLastResult = 0;
    let doneFrame: Frame | null = null;
    let scanError: Frame | null = null;

    conn.onFrame = (f) => {
      lastArrival = performance.now();
      if (f.scan !== o.scan) return false;
      if (f.type === 'result' && typeof f.x === 'number' && typeof f.y === 'number') {
        const k = f.y * nx + f.x;
        const t0 = sentAt.get(k);
        if (t0 !== undefined) {
          latencies[nLat++] = lastArrival - t0;
          sentAt.delete(k);
          items.delete(k);
        }
        results++;
        if (f.extrapolated === true) extrapolated++;
        tLastResult = lastArrival;
        return true;
      }
      if (f.type === 'error' && typeof f.x === 'number' && typeof f.y === 'number') {
        const k = f.y * nx + f.x;
        if (f.code === 'QUEUE_FULL' && items.has(k)) {
          retry.push(k);
          return true;
        }
        errors++;
        const code = String(f.code);
        errorCodes[code] = (errorCodes[code] ?? 0) + 1;
        sentAt.delete(k);
        items.delete(k);
        return true;
      }
      if (f.type === 'done') {
        doneFrame = f;
        return true;
      }
      if (f.type === 'error') {
        scanError = f;
        return true;
      }
      return false;
    };

    let masked = 0;
    let nanParams = 0;
    let measuredOmitted = 0;
    let sent = 0;
    let frames = 0;
    const tStart = performance.now();
    let tFirst = -1;
    const pending: Item[] = [];

    const checkScanError = (): void => {
      const e = scanError as Frame | null;
      if (e) throw new XasmapError(`SERVER_${String(e.code)}`, `${o.url}: server error for scan '${o.scan}': ${String(e.code)}: ${String(e.message)}`);
    };

    const sendFrame = async (batch: Item[], fresh: boolean): Promise<void> => {
      if (batch.length === 0) return;
      checkScanError();
      if (fresh && rate !== Infinity && tFirst >= 0) {
        const due = tFirst + (sent / rate) * 1000;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
      }
      // Socket backpressure: let the kernel buffer drain before queueing more.
      while (conn.ws.bufferedAmount > 8 * 1024 * 1024) {
        if (conn.closed) throw conn.closedError('while sending');
        await sleep(2);
      }
      const now = performance.now();
      if (tFirst < 0) tFirst = now;
      for (const it of batch) {
        const k = it.y * nx + it.x;
        if (fresh) {
          sentAt.set(k, now);
          items.set(k, it);
        }
      }
      conn.send({ type: 'pixels', scan: o.scan, items: batch });
      frames++;
      if (fresh) sent += batch.length;
      else resent += batch.length;
    };

    const flushRetries = async (): Promise<void> => {
      if (retry.length === 0) return;
      await sleep(20);
      const keys = retry.splice(0);
      for (let i = 0; i < keys.length; i += o.batch) {
        await sendFrame(keys.slice(i, i + o.batch).map((k) => items.get(k)).filter((it): it is Item => it !== undefined), false);
      }
    };

    for (let y0 = 0; y0 < ny; y0 += tileRows) {
      const y1 = Math.min(ny, y0 + tileRows);
      const tile = params.readRows(y0, y1);
      const spectra = measured ? measured.readRows(y0, y1) : null;
      for (let y = y0; y < y1; y++) {
        for (let x = 0; x < nx; x++) {
          const i = (y - y0) * nx + x;
          if (tile.mask && tile.mask[i] === 0) {
            masked++;
            continue;
          }
          const p: Record<string, number> = {};
          let finite = true;
          for (let j = 0; j < P; j++) {
            const v = tile.params[i * P + j] as number;
            if (!Number.isFinite(v)) finite = false;
            p[PARAM_NAMES[j] as string] = v;
          }
          if (!finite) {
            nanParams++;
            continue;
          }
          const item: Item = { x, y, params: p };
          if (spectra) {
            const s = spectra.subarray(i * ne, (i + 1) * ne);
            if (s.every((v) => Number.isFinite(v))) item.measured = Array.from(s);
            else measuredOmitted++;
          }
          pending.push(item);
          if (pending.length >= o.batch) {
            await sendFrame(pending.splice(0), true);
            await flushRetries();
          }
        }
      }
    }
    await sendFrame(pending.splice(0), true);

    // Wait for one answer per pixel, resending QUEUE_FULL pixels.
    while (sentAt.size > 0) {
      checkScanError();
      await flushRetries();
      if (sentAt.size === 0) break;
      if (conn.closed) throw conn.closedError(`with ${sentAt.size} pixels unanswered`);
      if (performance.now() - lastArrival > idle) throw new XasmapError('TIMEOUT', `${o.url}: no answer for ${Math.round(idle / 1000)} s with ${sentAt.size} pixels outstanding`);
      await conn.changed(200);
    }
    const tAll = performance.now();

    conn.send({ type: 'end', scan: o.scan });
    const tEnd = performance.now();
    while (!doneFrame) {
      checkScanError();
      if (conn.closed) throw conn.closedError("while waiting for 'done'");
      if (performance.now() - tEnd > Math.max(idle, 300_000)) throw new XasmapError('TIMEOUT', `${o.url}: no 'done' for scan '${o.scan}'`);
      await conn.changed(200);
    }
    const done = doneFrame as Frame;
    const endSeconds = (performance.now() - tEnd) / 1000;
    const active = tFirst < 0 ? 0 : ((results > 0 ? tLastResult : tAll) - tFirst) / 1000;
    return {
      url: o.url,
      scan: o.scan,
      ion: o.ion,
      width: nx,
      height: ny,
      pixels: nx * ny,
      sent,
      masked,
      nanParams,
      measuredOmitted,
      results,
      extrapolated,
      errors,
      errorCodes,
      resent,
      frames,
      seconds: (tAll - tStart) / 1000,
      pixelsPerSecond: active > 0 ? results / active : 0,
      latencyMs: latencySummary(latencies.subarray(0, nLat)),
      endSeconds,
      done: { files: done.files, stats: done.stats },
    };
  } finally {
    conn.onFrame = null;
    if (!conn.closed) {
      const closed = new Promise<void>((r) => conn.ws.once('close', () => r()));
      conn.ws.close(1000);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([closed, new Promise<void>((r) => (timer = setTimeout(r, 2000)))]);
      clearTimeout(timer);
      if (!conn.closed) conn.ws.terminate();
    }
  }
}
