/**
 * The `xasmap serve` websocket server (protocol v1, docs/protocol.md).
 *
 * Clients open a scan (`start`), send pixels (`pixel` / `pixels`) and close it (`end`). Every
 * accepted pixel goes into one RxJS stream, is micro-batched (stream/micro-batch.ts) in front
 * of the model and answered with exactly one `result` or `error` frame. On `end` (or when an
 * orphaned scan times out, or the server shuts down) the scan is written as the same NeXus
 * file and PNG previews as `xasmap render`, under temporary names renamed at the end.
 * Unreceived pixels are flagged MASKED with NaN spectra. A client that vanishes mid-scan can
 * resume the scan from a new connection within `resumeTimeoutMs`.
 *
 * `fit` / `fits` frames carry measured spectra (on the scan's `energy` axis) to be fitted
 * (ops/fit.ts fitSpectra): they go through a second micro-batched stream (fitBatchSize pixels
 * or batchMs), with one start library per scan predicted at its first fit batch and reused,
 * and are answered with one `fitResult` or `error` each. A pixel is either rendered (`pixel`)
 * or fitted (`fit`); a fitted pixel also enters the render maps (fitted spectrum and
 * parameters, the fit's SE), so the live view shows the fit SE. On `end` a scan with fits
 * also gets `<scan>.fit.h5` and the fit PNGs (injected writer ServeIo.writeFit).
 *
 * The same port serves the live view (stream/live-page.ts) over HTTP `GET /`; the page is a
 * `watch` observer of every scan.
 *
 * No file access to models or outputs here: the model loader, the NeXus writer and the
 * preview writer are injected (ServeIo, wired by cli/serve.ts), so src/stream imports no
 * src/io module.
 *
 * The fit batches live in stream/server-fits.ts and the live view's frames in
 * stream/server-watchers.ts, each created here with an explicit context (the state and
 * callbacks it needs); the scan state all three share is stream/server-scan.ts.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Subject, type Subscription, concatMap, of } from 'rxjs';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { XasmapError } from '../errors.js';
import { type MatMul, jsMatMul } from '../ops/fit.js';
import type { FitMaps } from '../ops/fit-types.js';
import { validateParams } from '../ops/params-check.js';
import { FLAG, RenderMaps, pixelFlags, previewRegions, stats } from '../ops/render-maps.js';
import { type MeasuredAxis, boxNormaliseFinite, prepareAxis, resampleSpectrum, seAgainstMeasured } from '../ops/resample.js';
import { ION_NAMES, type IonName, PARAM_NAMES, energyWindow, windowAxes } from '../physics/ions.js';
import { spectralError } from '../physics/spectrum.js';
import { decodePixelsFrame } from './binary-pixels.js';
import { FitSettingsError, type ServeFitSettings, type ServePreEdge, parseServeFit, servePreEdge } from './fit-settings.js';
import { LIVE_PAGE_HTML } from './live-page.js';
import { microBatch } from './micro-batch.js';
import { createFits } from './server-fits.js';
import { type Frame, SERVE_CHANNELS, type Scan, type ServeModel, finiteArray, groupBy, send } from './server-scan.js';
import { type Watcher, createWatchers } from './server-watchers.js';

export { SERVE_CHANNELS, type ServeModel };

export const PROTOCOL_VERSION = 1;
const P = PARAM_NAMES.length;
const CHANNELS = SERVE_CHANNELS;
const SCAN_ID = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const MAX_SIDE = 10_000;
/** Finished scans kept (small maps only) for the live view. */
const KEEP_FINISHED = 4;

/** What every finished scan handed to a writer has: its id, ion, size, grid and model. */
export interface ScanHeader {
  id: string;
  ion: IonName;
  ny: number;
  nx: number;
  /** the model grid, 501 energies (eV) */
  energy: Float64Array;
  model: ServeModel;
}

/** One finished (or written-at-shutdown) scan, as handed to the injected writers. */
export interface ScanData extends ScanHeader {
  /** ny * nx * 501, NaN for pixels not computed */
  spectra: Float32Array;
  /** ny * nx * 9 */
  params: Float32Array;
  /** ny * nx: SE (%) against the measured spectrum, NaN without */
  se: Float32Array;
  /** ny * nx: /entry/maps/flags bits; MASKED for pixels never received */
  flags: Uint8Array;
  /** ny * nx: energy of the L3 maximum */
  l3Peak: Float32Array;
  /** 3 x (ny * nx): RGB region means */
  rgb: Float32Array;
  /** ny * nx * 501 measured spectra on the model grid (NaN where none), or null when the scan had none */
  measuredOnGrid: Float32Array | null;
  /** at least one pixel came with a measured spectrum */
  hasMeasured: boolean;
}

export type PreviewKind = 'se' | 'l3peak' | 'rgb' | 'spectra';

/** The fits of a finished scan, as handed to the injected fit writer. */
export interface FitScanData extends ScanHeader {
  /** ny * nx pixels; pixels not fitted (never received, rendered, or too little coverage) are NOT_FITTED */
  maps: FitMaps;
  settings: ServeFitSettings;
  /** number of energies of the scan's measured spectra */
  measuredEnergies: number;
}

/** The file side of the server, injected by cli/serve.ts. */
export interface ServeIo {
  /** The model of an ion (cached by the caller or not: the server asks once per ion). */
  loadModel(ion: IonName): Promise<ServeModel>;
  /** Writes the NeXus render file of a scan at `path` (a temporary name; the server renames it). */
  writeRender(path: string, scan: ScanData): Promise<void>;
  /** Writes the PNG previews at the given (temporary) paths; returns the kinds written. */
  writePreviews?(paths: Record<PreviewKind, string>, scan: ScanData): Promise<PreviewKind[]>;
  /**
   * Writes the fit file at `h5` and the fit PNGs under `pngStem` (temporary names; the server
   * renames them); returns the PNG paths written (each starting with `pngStem`). Removes its
   * partial files when it throws.
   */
  writeFit?(paths: { h5: string; pngStem: string }, scan: FitScanData): Promise<string[]>;
  /** matrix product for the library search of fits (default: plain loops) */
  matmul?: MatMul;
  /** releases what the file side holds (e.g. prediction workers); called last by close() */
  close?(): Promise<void>;
}

export interface ServeOptions {
  io: ServeIo;
  host?: string;
  port?: number;
  token?: string;
  /** output directory of the .render.h5 files */
  out: string;
  /** largest accepted frame in bytes; larger frames close the connection with 1009 */
  maxPayload?: number;
  maxConnections?: number;
  /** accepted pixels waiting for the model, over all scans; beyond it pixels get QUEUE_FULL */
  maxQueued?: number;
  /** micro-batch: flush after this many pixels ... */
  batchSize?: number;
  /** ... or this many milliseconds */
  batchMs?: number;
  /** fit micro-batch: flush after this many fit pixels (or batchMs) */
  fitBatchSize?: number;
  /** how long the scan of a vanished client waits for a `start` that resumes it (0 = write at once) */
  resumeTimeoutMs?: number;
  log?: (line: string) => void;
}

export const SERVE_DEFAULTS = {
  host: '127.0.0.1',
  port: 8765,
  maxPayload: 16 * 1024 * 1024,
  maxConnections: 16,
  maxQueued: 100_000,
  batchSize: 1024,
  batchMs: 20,
  fitBatchSize: 512,
  resumeTimeoutMs: 10 * 60 * 1000,
} as const;

export interface ScanStats {
  pixels: number;
  received: number;
  computed: number;
  extrapolated: number;
  errors: number;
  measuredBad: number;
  /** fit pixels answered with a fitResult (only for scans with fits) */
  fitted?: number;
  se: Record<string, number | null>;
  seconds: number;
}

/** A snapshot of the server's load (tests and monitoring). */
export interface ServerStats {
  /** accepted pixels waiting for or in the model now */
  queued: number;
  /** the largest `queued` ever seen (never above maxQueued) */
  peakQueued: number;
  maxQueued: number;
  connections: number;
  watchers: number;
  /** open scans with a connected owner */
  openScans: number;
  /** scans whose client vanished, waiting for a resume */
  orphanedScans: number;
}

export interface XasServer {
  readonly host: string;
  readonly port: number;
  /** ws://host:port */
  readonly url: string;
  /** http://host:port/ (the live view) */
  readonly httpUrl: string;
  stats(): ServerStats;
  /** Stops accepting, finishes in-flight batches, writes open and orphaned scans, closes everything. */
  close(): Promise<void>;
}

interface Job {
  scan: Scan;
  x: number;
  y: number;
  params: Float32Array;
  measured: number[] | null;
  spectrum: boolean;
}

/** A client frame handler; throws FrameError for an `error` answer. */
type Handler = (ws: WebSocket, f: Frame) => Promise<void> | void;

class FrameError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

/** Accepted pixels as a bitmap: bit p = y * width + x, byte p >> 3, LSB first; base64. */
export function acceptedBitmap(state: Uint8Array): string {
  const bits = new Uint8Array(Math.ceil(state.length / 8));
  for (let p = 0; p < state.length; p++) if (state[p] !== 0) bits[p >> 3] = (bits[p >> 3] as number) | (1 << (p & 7));
  return Buffer.from(bits).toString('base64');
}

/** Decodes acceptedBitmap (for clients and tests). */
export function decodeBitmap(b64: string, n: number): boolean[] {
  const bits = Buffer.from(b64, 'base64');
  return Array.from({ length: n }, (_, p) => (((bits[p >> 3] ?? 0) >> (p & 7)) & 1) === 1);
}

export async function startServer(o: ServeOptions): Promise<XasServer> {
  const host = o.host ?? SERVE_DEFAULTS.host;
  const maxPayload = o.maxPayload ?? SERVE_DEFAULTS.maxPayload;
  const maxConnections = o.maxConnections ?? SERVE_DEFAULTS.maxConnections;
  const maxQueued = o.maxQueued ?? SERVE_DEFAULTS.maxQueued;
  const batchSize = o.batchSize ?? SERVE_DEFAULTS.batchSize;
  const batchMs = o.batchMs ?? SERVE_DEFAULTS.batchMs;
  const fitBatchSize = o.fitBatchSize ?? SERVE_DEFAULTS.fitBatchSize;
  const resumeMs = o.resumeTimeoutMs ?? SERVE_DEFAULTS.resumeTimeoutMs;
  const outDir = resolve(o.out);
  const log = o.log ?? (() => undefined);
  const io = o.io;
  mkdirSync(outDir, { recursive: true });

  const models = new Map<IonName, Promise<ServeModel>>();
  const getModel = (ion: IonName): Promise<ServeModel> => {
    let p = models.get(ion);
    if (!p) {
      p = io.loadModel(ion);
      p.catch(() => models.delete(ion));
      models.set(ion, p);
    }
    return p;
  };

  const scans = new Map<string, Scan>();
  const finished: Scan[] = [];
  const clients = new Set<WebSocket>();
  const watchers = new Map<WebSocket, Watcher>();
  let queued = 0;
  let peakQueued = 0;
  let inFlight = 0;
  let closing: Promise<void> | null = null;
  const idle: (() => void)[] = [];
  const jobs = new Subject<Job>();

  // ---- live view (watchers, stream/server-watchers.ts) ----

  const live = createWatchers({ watchers });
  const { announce } = live;

  /** A micro-batch (pixels or fits) is answered: release its queue slots, update watchers, wake close(). */
  const batchDone = (count: number, updates: Map<Scan, number[]>): void => {
    queued -= count;
    inFlight--;
    try {
      live.publish(updates);
    } catch (e) {
      log(`live view: ${(e as Error).message}`);
    }
    if (inFlight === 0 && queued === 0) for (const f of idle.splice(0)) f();
  };

  // ---- pixels ----

  const pixelError = (scan: Scan, ws: WebSocket | null, code: string, message: string, x: unknown, y: unknown): void => {
    scan.errors++;
    send(ws, { type: 'error', scan: scan.id, code, message, x, y });
  };

  const settle = (scan: Scan, n: number): void => {
    scan.pending -= n;
    if (scan.pending === 0) for (const f of scan.drained.splice(0)) f();
  };

  /** Predict one micro-batch, grouped by model; SE; maps; answer each pixel. */
  /** The model failed for these jobs: each gets an INTERNAL error and may be sent again. */
  const failJobs = (list: readonly { scan: Scan; x: number; y: number }[], message: string): void => {
    for (const j of list) {
      j.scan.state[j.y * j.scan.nx + j.x] = 0;
      j.scan.received--;
      pixelError(j.scan, j.scan.owner, 'INTERNAL', message, j.x, j.y);
      settle(j.scan, 1);
    }
  };

  const runBatch = (batch: Job[]): void => {
    inFlight++;
    const updates = new Map<Scan, number[]>();
    try {
      for (const [model, list] of groupBy(batch, (j) => j.scan.model)) {
        const n = list.length;
        const x = new Float32Array(n * P);
        list.forEach((j, i) => x.set(j.params, i * P));
        let pred: Float32Array;
        try {
          pred = model.predict(x, n);
        } catch (e) {
          failJobs(list, `prediction failed: ${(e as Error).message}`);
          continue;
        }
        const a = new Float32Array(CHANNELS);
        list.forEach((j, i) => {
          const s = j.scan;
          const p = j.y * s.nx + j.x;
          const spec = pred.subarray(i * CHANNELS, (i + 1) * CHANNELS);
          let flags = pixelFlags(j.params, 0, null);
          let se: number | null = null;
          if (j.measured !== null) {
            se = NaN;
            let usable = false;
            if (s.axis !== null) {
              const status = resampleSpectrum(s.axis, j.measured, s.grid, a);
              if (status === 'bad') flags |= FLAG.MEASURED_BAD;
              else {
                if (status === 'partial') flags |= FLAG.MEASURED_PARTIAL;
                se = seAgainstMeasured(spec, a);
                usable = true;
              }
            } else {
              a.set(j.measured);
              if (boxNormaliseFinite(a)) {
                se = spectralError(spec, a);
                usable = true;
              } else flags |= FLAG.MEASURED_BAD;
            }
            if (usable) {
              s.measuredOnGrid ??= new Float32Array(s.ny * s.nx * CHANNELS).fill(NaN);
              s.measuredOnGrid.set(a, p * CHANNELS);
            }
          }
          s.spectra.set(spec, p * CHANNELS);
          s.params.set(j.params, p * P);
          s.maps.add(
            { y0: j.y, y1: j.y + 1, x0: j.x, x1: j.x + 1, flags: Uint8Array.of(flags), spectra: spec, se: se === null ? null : Float32Array.of(se), seVerify: null },
            CHANNELS,
          );
          s.state[p] = 2;
          s.computed++;
          s.lastSpectrum = { x: j.x, y: j.y };
          const u = updates.get(s);
          if (u) u.push(p);
          else updates.set(s, [p]);
          const frame: Frame = {
            type: 'result',
            scan: s.id,
            x: j.x,
            y: j.y,
            extrapolated: (flags & FLAG.EXTRAPOLATED) !== 0,
            flags,
          };
          if (se !== null) frame.se = Number.isNaN(se) ? null : se;
          if (j.spectrum) frame.spectrum = Array.from(spec);
          send(s.owner, frame);
          settle(s, 1);
        });
      }
    } finally {
      batchDone(batch.length, updates);
    }
  };

  const sub: Subscription = jobs
    .pipe(
      microBatch<Job>(batchSize, batchMs),
      concatMap((b) => {
        runBatch(b);
        return of(null);
      }),
    )
    .subscribe();

  /** x, y and pixel index of a pixel/fit item, checked against the map and the pixels already received; null after an error frame. */
  const itemPixel = (ws: WebSocket, scan: Scan, item: unknown, where: string, fields: string): { it: Frame; x: number; y: number; p: number } | null => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      pixelError(scan, ws, 'BAD_FRAME', `${where}: expected an object with ${fields}`, null, null);
      return null;
    }
    const it = item as Frame;
    const { x, y } = it;
    if (!isInt(x) || !isInt(y)) {
      pixelError(scan, ws, 'BAD_FRAME', `${where}: x and y must be integers`, x ?? null, y ?? null);
      return null;
    }
    if (x < 0 || y < 0 || x >= scan.nx || y >= scan.ny) {
      pixelError(scan, ws, 'OUT_OF_MAP', `${where}: pixel (x=${x}, y=${y}) is outside the ${scan.nx} x ${scan.ny} map (width x height)`, x, y);
      return null;
    }
    const p = y * scan.nx + x;
    if (scan.state[p] !== 0) {
      pixelError(scan, ws, 'DUPLICATE', `${where}: pixel (x=${x}, y=${y}) was already received`, x, y);
      return null;
    }
    return { it, x, y, p };
  };

  /** Takes pixel p into the queue, or answers QUEUE_FULL (false). */
  const admit = (ws: WebSocket, scan: Scan, x: number, y: number, p: number): boolean => {
    if (queued >= maxQueued) {
      pixelError(scan, ws, 'QUEUE_FULL', `the server has ${queued} pixels waiting (max ${maxQueued}); slow down and send (x=${x}, y=${y}) again later`, x, y);
      return false;
    }
    scan.state[p] = 1;
    scan.received++;
    scan.pending++;
    queued++;
    if (queued > peakQueued) peakQueued = queued;
    return true;
  };

  // ---- fits (stream/server-fits.ts) ----

  const fits = createFits({
    fitBatchSize,
    batchMs,
    matmul: io.matmul ?? jsMatMul,
    itemPixel,
    pixelError,
    admit,
    failJobs,
    settle,
    batchStart: () => {
      inFlight++;
    },
    batchDone,
    announce,
  });

  const acceptPixel = (ws: WebSocket, scan: Scan, item: unknown, index: number | null): void => {
    const where = index === null ? 'pixel' : `pixels item ${index}`;
    const px = itemPixel(ws, scan, item, where, 'x, y and params');
    if (!px) return;
    const { it, x, y, p } = px;
    let params: Float32Array;
    try {
      const v = validateParams(it.params, `${where} (x=${x}, y=${y}): params`);
      params = Float32Array.from(PARAM_NAMES, (k) => v[k]);
    } catch (e) {
      pixelError(scan, ws, e instanceof XasmapError ? e.code : 'BAD_PARAMS', (e as Error).message, x, y);
      return;
    }
    let measured: number[] | null = null;
    if (it.measured !== undefined && it.measured !== null) {
      if (!finiteArray(it.measured, scan.nMeasured)) {
        pixelError(
          scan,
          ws,
          'BAD_MEASURED',
          `${where} (x=${x}, y=${y}): measured must be an array of ${scan.nMeasured} finite numbers (${scan.axis ? "one per energy of 'start'" : 'the 501-channel model grid'})`,
          x,
          y,
        );
        return;
      }
      measured = it.measured;
    }
    if (it.spectrum !== undefined && typeof it.spectrum !== 'boolean') {
      pixelError(scan, ws, 'BAD_FRAME', `${where} (x=${x}, y=${y}): spectrum must be true or false`, x, y);
      return;
    }
    if (admit(ws, scan, x, y, p)) jobs.next({ scan, x, y, params, measured, spectrum: it.spectrum === true });
  };

  // ---- writing ----

  const scanData = (s: Scan): ScanData => ({
    id: s.id,
    ion: s.ion,
    ny: s.ny,
    nx: s.nx,
    energy: s.grid,
    model: s.model,
    spectra: s.spectra,
    params: s.params,
    se: s.maps.se,
    flags: s.maps.flags,
    l3Peak: s.maps.l3Peak,
    rgb: s.maps.rgb,
    measuredOnGrid: s.measuredOnGrid,
    hasMeasured: s.measuredOnGrid !== null || s.maps.se.some((v) => !Number.isNaN(v)),
  });

  /** Waits for the scan's queued pixels, writes its file and previews, forgets it. */
  const finishScan = async (scan: Scan): Promise<{ files: string[]; stats: ScanStats }> => {
    scan.ended = true;
    if (scan.orphanTimer) clearTimeout(scan.orphanTimer);
    scan.orphanTimer = null;
    scan.phase = 'writing';
    announce(scan);
    if (scan.pending > 0) await new Promise<void>((r) => scan.drained.push(r));
    const h5 = join(outDir, `${scan.id}.render.h5`);
    const pngs: Record<PreviewKind, string> = {
      se: join(outDir, `${scan.id}.render.se.png`),
      l3peak: join(outDir, `${scan.id}.render.l3peak.png`),
      rgb: join(outDir, `${scan.id}.render.rgb.png`),
      spectra: join(outDir, `${scan.id}.render.spectra.png`),
    };
    const tmp = (p: string): string => `${p}.${process.pid}.tmp`;
    const data = scanData(scan);
    const fitH5 = join(outDir, `${scan.id}.fit.h5`);
    const fitStem = join(outDir, `${scan.id}.fit`);
    const fitTmpStem = tmp(fitStem);
    const allTmp = [h5, ...Object.values(pngs), fitH5].map(tmp);
    let fitPngs: string[] = [];
    const files: string[] = [];
    try {
      await io.writeRender(tmp(h5), data);
      const kinds = io.writePreviews
        ? await io.writePreviews({ se: tmp(pngs.se), l3peak: tmp(pngs.l3peak), rgb: tmp(pngs.rgb), spectra: tmp(pngs.spectra) }, data)
        : [];
      const fitMaps = scan.fitMaps;
      if (fitMaps !== null && io.writeFit) {
        fitPngs = await io.writeFit(
          { h5: tmp(fitH5), pngStem: fitTmpStem },
          { id: scan.id, ion: scan.ion, ny: scan.ny, nx: scan.nx, energy: scan.grid, model: scan.model, maps: fitMaps, settings: scan.fit, measuredEnergies: scan.nMeasured },
        );
      } else if (fitMaps !== null) log(`scan ${scan.id}: no fit writer; the fits are not written`);
      renameSync(tmp(h5), h5);
      files.push(h5);
      for (const k of kinds) {
        renameSync(tmp(pngs[k]), pngs[k]);
        files.push(pngs[k]);
      }
      if (fitMaps !== null && io.writeFit) {
        renameSync(tmp(fitH5), fitH5);
        files.push(fitH5);
        for (const w of fitPngs) {
          const final = fitStem + w.slice(fitTmpStem.length);
          renameSync(w, final);
          files.push(final);
        }
      }
    } catch (e) {
      for (const t of [...allTmp, ...fitPngs]) rmSync(t, { force: true });
      throw e;
    } finally {
      if (scans.get(scan.id) === scan) scans.delete(scan.id);
      scan.phase = 'done';
      scan.files = files;
      // keep the small maps for the live view, drop the cubes
      scan.spectra = new Float32Array(0);
      scan.params = new Float32Array(0);
      scan.measuredOnGrid = null;
      scan.fitMaps = null;
      scan.library = null;
      const old = finished.findIndex((f) => f.id === scan.id);
      if (old >= 0) finished.splice(old, 1);
      finished.push(scan);
      if (finished.length > KEEP_FINISHED) finished.shift();
      announce(scan);
    }
    let extrapolated = 0;
    let measuredBad = 0;
    const flags = scan.maps.flags;
    for (let p = 0; p < flags.length; p++) {
      if (scan.state[p] !== 2) continue;
      if ((flags[p] as number) & FLAG.EXTRAPOLATED) extrapolated++;
      if ((flags[p] as number) & FLAG.MEASURED_BAD) measuredBad++;
    }
    const s = stats(scan.maps.se);
    const st: ScanStats = {
      pixels: scan.ny * scan.nx,
      received: scan.received,
      computed: scan.computed,
      extrapolated,
      errors: scan.errors,
      measuredBad,
      ...(scan.hasFit ? { fitted: scan.fitted } : {}),
      se: Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v === null || !Number.isFinite(v) ? null : Number(v.toPrecision(6))])),
      seconds: Number(((performance.now() - scan.t0) / 1000).toPrecision(6)),
    };
    log(`scan ${scan.id}: ${scan.computed} of ${st.pixels} pixels computed; wrote ${files.join(', ')}`);
    return { files, stats: st };
  };

  const finishQuietly = (scan: Scan): Promise<void> =>
    finishScan(scan).then(
      () => undefined,
      (e: unknown) => log(`scan ${scan.id}: writing failed: ${(e as Error).message}`),
    );

  /** The owner vanished: keep the scan for a resume, or write it now. */
  const orphan = (scan: Scan): Promise<void> => {
    if (resumeMs <= 0 || closing) return finishQuietly(scan);
    scan.owner = null;
    scan.phase = 'orphaned';
    scan.orphanTimer = setTimeout(() => {
      scan.orphanTimer = null;
      log(`scan ${scan.id}: no resume within ${resumeMs / 1000} s; writing the partial map`);
      void finishQuietly(scan);
    }, resumeMs);
    scan.orphanTimer.unref();
    log(`scan ${scan.id}: client gone with ${scan.received} of ${scan.nx * scan.ny} pixels; kept ${resumeMs / 1000} s for a resume`);
    announce(scan);
    return Promise.resolve();
  };

  // ---- frames ----

  const checkToken = (ws: WebSocket, f: Frame): boolean => {
    if (o.token === undefined || f.token === o.token) return true;
    send(ws, {
      type: 'error',
      code: 'UNAUTHORIZED',
      message: f.token === undefined ? `this server needs a token: add "token" to ${String(f.type)}` : 'wrong token',
      scan: f.scan ?? null,
    });
    ws.close(1008, 'unauthorized');
    return false;
  };

  const readyFrame = (scan: Scan, resumed: boolean): Frame => ({
    type: 'ready',
    protocol: PROTOCOL_VERSION,
    scan: scan.id,
    ion: scan.ion,
    width: scan.nx,
    height: scan.ny,
    channels: CHANNELS,
    energy: [scan.grid[0], scan.grid[CHANNELS - 1]],
    model: scan.model.dir,
    measured: scan.axis ? { energies: scan.axis.energy.length } : { energies: CHANNELS, grid: 'model' },
    batch: { size: batchSize, ms: batchMs },
    maxQueued,
    resumeTimeout: resumeMs / 1000,
    resumed,
    ...(resumed ? { received: scan.received, accepted: acceptedBitmap(scan.state) } : {}),
  });

  const onStart: Handler = async (ws, f) => {
    if (!checkToken(ws, f)) return;
    const id = f.scan;
    if (typeof id !== 'string' || !SCAN_ID.test(id)) {
      throw new FrameError('BAD_FRAME', "start: 'scan' must be 1-128 characters of letters, digits, '.', '_' or '-' (not starting with '.' or '-')");
    }
    const existing = scans.get(id);
    if (existing && (existing.owner !== null || existing.ended)) throw new FrameError('SCAN_EXISTS', `start: scan '${id}' is already open`, { scan: id });
    const ionIn = f.ion;
    const ion = typeof ionIn === 'string' ? ION_NAMES.find((n) => n.toLowerCase() === ionIn.trim().toLowerCase()) : undefined;
    if (ion === undefined) throw new FrameError('BAD_ION', `start: 'ion' must be one of ${ION_NAMES.join(', ')}`, { scan: id });
    const { width, height } = f;
    if (!isInt(width) || !isInt(height) || width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE) {
      throw new FrameError('BAD_FRAME', `start: width and height must be integers in [1, ${MAX_SIDE}]`, { scan: id });
    }
    let axis: MeasuredAxis | null = null;
    if (f.energy !== undefined && f.energy !== null) {
      const e = f.energy;
      if (!Array.isArray(e) || e.length < 2 || !e.every((v) => typeof v === 'number' && Number.isFinite(v))) {
        throw new FrameError('BAD_FRAME', "start: 'energy' must be an array of at least 2 finite numbers (eV)", { scan: id });
      }
      axis = prepareAxis(e as number[]);
    }
    const energyKey = axis ? JSON.stringify(f.energy) : '';
    let fit: ServeFitSettings;
    let preEdge: ServePreEdge | null;
    try {
      fit = parseServeFit(f.fit);
      preEdge = servePreEdge(fit, ion, axis ? (f.energy as number[]) : null);
    } catch (e) {
      if (e instanceof FitSettingsError) throw new FrameError('BAD_FIT', e.message, { scan: id });
      throw e;
    }
    const fitKey = f.fit === undefined || f.fit === null ? '' : JSON.stringify(f.fit);
    if (existing) {
      // resume an orphaned scan
      if (existing.ion !== ion || existing.nx !== width || existing.ny !== height || existing.energyKey !== energyKey || existing.fitKey !== fitKey) {
        throw new FrameError(
          'SCAN_EXISTS',
          `start: scan '${id}' (${existing.ion}, ${existing.nx} x ${existing.ny}${existing.axis ? `, ${existing.nMeasured} energies` : ''}) is waiting to be resumed; resume it with the same ion, width, height, energy and fit, or use another id`,
          { scan: id },
        );
      }
      if (existing.orphanTimer) clearTimeout(existing.orphanTimer);
      existing.orphanTimer = null;
      existing.owner = ws;
      existing.phase = 'open';
      log(`scan ${id}: resumed with ${existing.received} of ${width * height} pixels received`);
      send(ws, readyFrame(existing, true));
      announce(existing);
      return;
    }
    let model: ServeModel;
    try {
      model = await getModel(ion);
    } catch (e) {
      throw new FrameError(e instanceof XasmapError ? e.code : 'NO_MODEL', (e as Error).message, { scan: id });
    }
    if (ws.readyState !== WebSocket.OPEN) return;
    if (scans.has(id)) throw new FrameError('SCAN_EXISTS', `start: scan '${id}' is already open`, { scan: id });
    const n = width * height;
    const { w, energy } = windowAxes(energyWindow(ion));
    const maps = new RenderMaps(height, width, energy, previewRegions(w, energyWindow(ion).split));
    maps.flags.fill(FLAG.MASKED);
    const scan: Scan = {
      id,
      ion,
      ny: height,
      nx: width,
      owner: ws,
      orphanTimer: null,
      model,
      grid: energy,
      axis,
      energyKey,
      nMeasured: axis ? axis.energy.length : CHANNELS,
      spectra: new Float32Array(n * CHANNELS).fill(NaN),
      params: new Float32Array(n * P).fill(NaN),
      maps,
      measuredOnGrid: null,
      state: new Uint8Array(n),
      received: 0,
      computed: 0,
      errors: 0,
      pending: 0,
      drained: [],
      ended: false,
      phase: 'open',
      files: [],
      lastSpectrum: null,
      t0: performance.now(),
      fit,
      fitKey,
      fitAxis: axis ? prepareAxis(f.energy as number[], fit.shift) : null,
      preEdge,
      fitMaps: null,
      hasFit: false,
      fitted: 0,
      library: null,
    };
    scans.set(id, scan);
    const old = finished.findIndex((s) => s.id === id);
    if (old >= 0) finished.splice(old, 1);
    log(`scan ${id}: ${ion}, ${width} x ${height}`);
    send(ws, readyFrame(scan, false));
    announce(scan);
  };

  const ownScan = (ws: WebSocket, f: Frame): Scan => {
    const id = f.scan;
    const scan = typeof id === 'string' ? scans.get(id) : undefined;
    if (!scan || scan.owner !== ws) {
      const at = f.type === 'pixel' || f.type === 'fit' ? { x: f.x ?? null, y: f.y ?? null } : {};
      throw new FrameError('UNKNOWN_SCAN', `${String(f.type)}: no open scan '${String(id)}' on this connection (send start first)`, { scan: id ?? null, ...at });
    }
    if (scan.ended) throw new FrameError('SCAN_ENDED', `${String(f.type)}: scan '${scan.id}' has ended`, { scan: scan.id });
    return scan;
  };

  const onWatch: Handler = (ws, f) => {
    if (!checkToken(ws, f)) return;
    const w: Watcher = { ws, stale: new Set() };
    watchers.set(ws, w);
    const all = [...finished, ...scans.values()];
    send(ws, { type: 'watching', protocol: PROTOCOL_VERSION, scans: all.map((s) => s.id) });
    for (const s of all) live.snapshot(w, s);
  };

  type Accept = (ws: WebSocket, scan: Scan, item: unknown, index: number | null) => void;
  /** A frame that is itself one item (pixel, fit): the frame minus type and scan. */
  const oneItem =
    (accept: Accept): Handler =>
    (ws, f) => {
      const scan = ownScan(ws, f);
      const { type: _t, scan: _s, ...item } = f;
      accept(ws, scan, item, null);
    };
  /** A frame carrying `items` (pixels, fits). */
  const manyItems =
    (type: string, accept: Accept): Handler =>
    (ws, f) => {
      const scan = ownScan(ws, f);
      if (!Array.isArray(f.items)) throw new FrameError('BAD_FRAME', `${type}: 'items' must be an array`, { scan: scan.id });
      f.items.forEach((it, i) => accept(ws, scan, it, i));
    };

  /**
   * Frame handlers by `type`. A new frame type is one more entry here; it gets the connection
   * and the parsed frame and throws FrameError for an `error` answer.
   */
  const handlers: Record<string, Handler> = {
    start: onStart,
    pixel: oneItem(acceptPixel),
    pixels: manyItems('pixels', acceptPixel),
    // fits (docs/protocol.md, "Fitting"): measured spectra on the scan's energy axis
    fit: oneItem(fits.acceptFit),
    fits: manyItems('fits', fits.acceptFit),
    end: async (ws, f) => {
      const scan = ownScan(ws, f);
      let r: Awaited<ReturnType<typeof finishScan>>;
      try {
        r = await finishScan(scan);
      } catch (e) {
        throw new FrameError('WRITE_FAILED', `end: writing scan '${scan.id}' failed: ${(e as Error).message}`, { scan: scan.id });
      }
      send(ws, { type: 'done', scan: scan.id, files: r.files, stats: r.stats });
    },
    watch: onWatch,
  };

  const onFrame = async (ws: WebSocket, data: RawData, isBinary: boolean): Promise<void> => {
    if (isBinary) {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      const d = decodePixelsFrame(buf);
      if (typeof d === 'string') throw new FrameError('BAD_FRAME', d);
      const fr: Frame = { type: 'pixels', scan: d.scan };
      const scan = ownScan(ws, fr);
      d.items.forEach((it, i) => acceptPixel(ws, scan, it, i));
      return;
    }
    let f: unknown;
    try {
      f = JSON.parse(data.toString());
    } catch (e) {
      throw new FrameError('BAD_JSON', `not valid JSON (${(e as Error).message})`);
    }
    if (typeof f !== 'object' || f === null || Array.isArray(f)) throw new FrameError('BAD_FRAME', 'a frame must be a JSON object with a "type"');
    const fr = f as Frame;
    const h = typeof fr.type === 'string' && Object.hasOwn(handlers, fr.type) ? handlers[fr.type] : undefined;
    if (!h) {
      throw new FrameError('UNKNOWN_TYPE', `unknown frame type ${JSON.stringify(fr.type ?? null)} (protocol v1: ${Object.keys(handlers).join(', ')})`, { scan: fr.scan ?? null });
    }
    await h(ws, fr);
  };

  // ---- transport ----

  const http: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if ((req.method === 'GET' || req.method === 'HEAD') && (path === '/' || path === '/index.html')) {
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self' ws: wss:; img-src data:",
        'x-content-type-options': 'nosniff',
      });
      res.end(req.method === 'HEAD' ? undefined : LIVE_PAGE_HTML);
      return;
    }
    res.writeHead(path === '/' ? 405 : 404, { 'content-type': 'text/plain' });
    res.end(`xasmap serve: the live view is GET /, the websocket (protocol v${PROTOCOL_VERSION}, docs/protocol.md) is on this port\n`);
  });
  const wss = new WebSocketServer({ server: http, maxPayload });

  wss.on('connection', (ws: WebSocket, _req: IncomingMessage) => {
    if (clients.size >= maxConnections) {
      send(ws, { type: 'error', code: 'TOO_MANY_CONNECTIONS', message: `the server allows ${maxConnections} connections` });
      ws.close(1013, 'too many connections');
      return;
    }
    clients.add(ws);
    // frames of one connection are handled in order (start awaits the model)
    let chain = Promise.resolve();
    ws.on('message', (data, isBinary) => {
      chain = chain.then(() =>
        onFrame(ws, data, isBinary).catch((e: unknown) => {
          if (e instanceof FrameError) send(ws, { type: 'error', code: e.code, message: e.message, ...e.extra });
          else send(ws, { type: 'error', code: 'INTERNAL', message: (e as Error).message });
        }),
      );
    });
    ws.on('error', () => undefined);
    ws.on('close', () => {
      clients.delete(ws);
      watchers.delete(ws);
      // a client that vanishes mid-scan: its scan waits for a resume (or is written)
      void chain.then(async () => {
        for (const s of [...scans.values()]) if (s.owner === ws && !s.ended) await orphan(s);
      });
    });
  });

  await new Promise<void>((res, rej) => {
    http.once('error', rej);
    http.listen(o.port ?? SERVE_DEFAULTS.port, host, () => {
      http.off('error', rej);
      res();
    });
  });
  const addr = http.address() as AddressInfo;
  const port = addr.port;
  const hostPart = host.includes(':') ? `[${host}]` : host;

  return {
    host,
    port,
    url: `ws://${hostPart}:${port}`,
    httpUrl: `http://${hostPart}:${port}/`,
    stats: () => {
      let open = 0;
      let orphaned = 0;
      for (const s of scans.values()) {
        if (s.ended) continue;
        if (s.owner === null) orphaned++;
        else open++;
      }
      return { queued, peakQueued, maxQueued, connections: clients.size, watchers: watchers.size, openScans: open, orphanedScans: orphaned };
    },
    close(): Promise<void> {
      closing ??= (async () => {
        for (const ws of clients) ws.close(1001, 'server shutting down');
        await Promise.all([...scans.values()].filter((s) => !s.ended).map((s) => finishQuietly(s)));
        if (inFlight > 0 || queued > 0) await new Promise<void>((r) => idle.push(r));
        sub.unsubscribe();
        fits.stop();
        jobs.complete();
        for (const ws of clients) ws.terminate();
        await new Promise<void>((r) => wss.close(() => r()));
        await new Promise<void>((r) => http.close(() => r()));
        await io.close?.();
      })();
      return closing;
    },
  };
}
