/**
 * The `xasmap serve` websocket server (protocol v1, docs/protocol.md).
 *
 * Clients open a scan (`start`), send pixels (`pixel` / `pixels`) and close it (`end`). Every
 * accepted pixel goes into one RxJS stream, is micro-batched (stream/micro-batch.ts) in front
 * of the model (ops/predict.ts) and answered with exactly one `result` or `error` frame. On
 * `end` (or when the client vanishes, or the server shuts down) the scan is written as the
 * same NeXus file as `xasmap render` (io/render-file.ts) into <out>/<scan>.render.h5, under a
 * temporary name renamed at the end. Unreceived pixels are flagged MASKED with NaN spectra.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Subject, type Subscription, concatMap, of } from 'rxjs';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { XasmapError } from '../errors.js';
import { type LoadedModel, loadModelDir, loadShippedModel } from '../io/model-registry.js';
import { validateParams } from '../io/params-json.js';
import { createRenderFile } from '../io/render-file.js';
import { type BackendKind, initBackend } from '../model/backend.js';
import { predictSpectra } from '../ops/predict.js';
import { FLAG, pixelFlags, stats } from '../ops/render-maps.js';
import { type MeasuredAxis, boxNormaliseFinite, prepareAxis, resampleSpectrum, seAgainstMeasured } from '../ops/resample.js';
import { ION_NAMES, type IonName, PARAM_NAMES, energyWindow, windowAxes } from '../physics/ions.js';
import { spectralError } from '../physics/spectrum.js';
import { VERSION } from '../version.js';
import { microBatch } from './micro-batch.js';

export const PROTOCOL_VERSION = 1;
const P = PARAM_NAMES.length;
const CHANNELS = 501;
/** Rows per model call (same as render). */
const PREDICT_CHUNK = 2048;
const SCAN_ID = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const MAX_SIDE = 10_000;

export interface ServeOptions {
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
  backend?: BackendKind;
  /** a model directory instead of the shipped model of each ion */
  model?: string;
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
} as const;

export interface ScanStats {
  pixels: number;
  received: number;
  computed: number;
  extrapolated: number;
  errors: number;
  measuredBad: number;
  se: Record<string, number | null>;
  seconds: number;
}

export interface XasServer {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  /** Stops accepting, finishes in-flight batches, writes open scans, closes everything. */
  close(): Promise<void>;
}

interface Scan {
  id: string;
  ion: IonName;
  ny: number;
  nx: number;
  owner: WebSocket;
  loaded: LoadedModel;
  grid: Float64Array;
  axis: MeasuredAxis | null;
  nMeasured: number;
  spectra: Float32Array;
  params: Float32Array;
  se: Float32Array;
  flags: Uint8Array;
  /** 0 = not received, 1 = queued, 2 = done */
  state: Uint8Array;
  received: number;
  computed: number;
  errors: number;
  pending: number;
  drained: (() => void)[];
  ended: boolean;
  t0: number;
}

interface Job {
  scan: Scan;
  x: number;
  y: number;
  params: Float32Array;
  measured: number[] | null;
  spectrum: boolean;
}

class FrameError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

function send(ws: WebSocket, frame: Record<string, unknown>): void {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
}

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

export async function startServer(o: ServeOptions): Promise<XasServer> {
  const host = o.host ?? SERVE_DEFAULTS.host;
  const maxPayload = o.maxPayload ?? SERVE_DEFAULTS.maxPayload;
  const maxConnections = o.maxConnections ?? SERVE_DEFAULTS.maxConnections;
  const maxQueued = o.maxQueued ?? SERVE_DEFAULTS.maxQueued;
  const batchSize = o.batchSize ?? SERVE_DEFAULTS.batchSize;
  const batchMs = o.batchMs ?? SERVE_DEFAULTS.batchMs;
  const outDir = resolve(o.out);
  const log = o.log ?? (() => undefined);
  mkdirSync(outDir, { recursive: true });
  await initBackend(o.backend ?? 'wasm');

  const models = new Map<string, Promise<LoadedModel>>();
  const getModel = (ion: IonName): Promise<LoadedModel> => {
    const key = o.model ?? ion;
    let p = models.get(key);
    if (!p) {
      p = (o.model ? loadModelDir(o.model) : loadShippedModel(ion)).then((m) => {
        const ch = m.model.outputs[0]?.shape[1];
        if (ch !== CHANNELS) throw new XasmapError('MODEL_CORRUPT', `${m.dir}: the model gives ${String(ch)} channels, expected ${CHANNELS}`);
        return m;
      });
      p.catch(() => models.delete(key));
      models.set(key, p);
    }
    return p;
  };

  const scans = new Map<string, Scan>();
  const clients = new Set<WebSocket>();
  let queued = 0;
  let inFlight = 0;
  const idle: (() => void)[] = [];
  const jobs = new Subject<Job>();

  const pixelError = (scan: Scan, ws: WebSocket, code: string, message: string, x: unknown, y: unknown): void => {
    scan.errors++;
    send(ws, { type: 'error', scan: scan.id, code, message, x, y });
  };

  const settle = (scan: Scan, n: number): void => {
    scan.pending -= n;
    if (scan.pending === 0) for (const f of scan.drained.splice(0)) f();
  };

  /** Predict one micro-batch, grouped by model; SE; answer each pixel. */
  const runBatch = (batch: Job[]): void => {
    inFlight++;
    try {
      const groups = new Map<LoadedModel, Job[]>();
      for (const j of batch) {
        const g = groups.get(j.scan.loaded);
        if (g) g.push(j);
        else groups.set(j.scan.loaded, [j]);
      }
      for (const [loaded, list] of groups) {
        const n = list.length;
        const x = new Float32Array(n * P);
        list.forEach((j, i) => x.set(j.params, i * P));
        let pred: Float32Array;
        try {
          pred = predictSpectra(loaded.model, x, n, PREDICT_CHUNK);
        } catch (e) {
          for (const j of list) {
            j.scan.state[j.y * j.scan.nx + j.x] = 0;
            pixelError(j.scan, j.scan.owner, 'INTERNAL', `prediction failed: ${(e as Error).message}`, j.x, j.y);
            settle(j.scan, 1);
          }
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
            if (s.axis !== null) {
              const status = resampleSpectrum(s.axis, j.measured, s.grid, a);
              if (status === 'bad') flags |= FLAG.MEASURED_BAD;
              else {
                if (status === 'partial') flags |= FLAG.MEASURED_PARTIAL;
                se = seAgainstMeasured(spec, a);
              }
            } else {
              a.set(j.measured);
              if (boxNormaliseFinite(a)) se = spectralError(spec, a);
              else flags |= FLAG.MEASURED_BAD;
            }
            s.se[p] = se;
          }
          s.spectra.set(spec, p * CHANNELS);
          s.params.set(j.params, p * P);
          s.flags[p] = flags;
          s.state[p] = 2;
          s.computed++;
          const frame: Record<string, unknown> = {
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
      queued -= batch.length;
      inFlight--;
      if (inFlight === 0 && queued === 0) for (const f of idle.splice(0)) f();
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

  const acceptPixel = (ws: WebSocket, scan: Scan, item: unknown, index: number | null): void => {
    const where = index === null ? 'pixel' : `pixels item ${index}`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      pixelError(scan, ws, 'BAD_FRAME', `${where}: expected an object with x, y and params`, null, null);
      return;
    }
    const it = item as Record<string, unknown>;
    const { x, y } = it;
    if (!isInt(x) || !isInt(y)) {
      pixelError(scan, ws, 'BAD_FRAME', `${where}: x and y must be integers`, x ?? null, y ?? null);
      return;
    }
    if (x < 0 || y < 0 || x >= scan.nx || y >= scan.ny) {
      pixelError(scan, ws, 'OUT_OF_MAP', `${where}: pixel (x=${x}, y=${y}) is outside the ${scan.nx} x ${scan.ny} map (width x height)`, x, y);
      return;
    }
    const p = y * scan.nx + x;
    if (scan.state[p] !== 0) {
      pixelError(scan, ws, 'DUPLICATE', `${where}: pixel (x=${x}, y=${y}) was already received`, x, y);
      return;
    }
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
      const m = it.measured;
      if (!Array.isArray(m) || m.length !== scan.nMeasured || !m.every((v) => typeof v === 'number' && Number.isFinite(v))) {
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
      measured = m as number[];
    }
    if (it.spectrum !== undefined && typeof it.spectrum !== 'boolean') {
      pixelError(scan, ws, 'BAD_FRAME', `${where} (x=${x}, y=${y}): spectrum must be true or false`, x, y);
      return;
    }
    if (queued >= maxQueued) {
      pixelError(scan, ws, 'QUEUE_FULL', `the server has ${queued} pixels waiting (max ${maxQueued}); slow down and send (x=${x}, y=${y}) again later`, x, y);
      return;
    }
    scan.state[p] = 1;
    scan.received++;
    scan.pending++;
    queued++;
    jobs.next({ scan, x, y, params, measured, spectrum: it.spectrum === true });
  };

  /** Waits for the scan's queued pixels, writes its file, forgets it. */
  const finishScan = async (scan: Scan): Promise<{ files: string[]; stats: ScanStats }> => {
    scan.ended = true;
    if (scan.pending > 0) await new Promise<void>((r) => scan.drained.push(r));
    scans.delete(scan.id);
    const final = join(outDir, `${scan.id}.render.h5`);
    const tmp = `${final}.${process.pid}.tmp`;
    const writer = await createRenderFile(tmp, {
      ny: scan.ny,
      nx: scan.nx,
      energy: scan.grid,
      ion: scan.ion,
      model: `${scan.loaded.dir} (${scan.loaded.meta.arch}, ${scan.loaded.meta.ion}, trained ${scan.loaded.meta.training?.finished ?? '?'})`,
      version: VERSION,
      commandLine: `xasmap serve (scan ${scan.id})`,
      date: new Date().toISOString(),
      scalars: {},
      verify: false,
      measured: scan.nMeasured > 0 && scan.se.some((v) => !Number.isNaN(v)) ? `stream:${scan.id}` : null,
      shift: 0,
    });
    try {
      writer.writeBlock({ y0: 0, y1: scan.ny, x0: 0, x1: scan.nx, spectra: scan.spectra, params: scan.params });
      writer.finish({ se: scan.se, flags: scan.flags, seVerify: null });
      renameSync(tmp, final);
    } catch (e) {
      writer.abort();
      rmSync(tmp, { force: true });
      throw e;
    }
    let extrapolated = 0;
    let measuredBad = 0;
    for (let p = 0; p < scan.flags.length; p++) {
      if (scan.state[p] !== 2) continue;
      if ((scan.flags[p] as number) & FLAG.EXTRAPOLATED) extrapolated++;
      if ((scan.flags[p] as number) & FLAG.MEASURED_BAD) measuredBad++;
    }
    const s = stats(scan.se);
    const st: ScanStats = {
      pixels: scan.ny * scan.nx,
      received: scan.received,
      computed: scan.computed,
      extrapolated,
      errors: scan.errors,
      measuredBad,
      se: Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v === null || !Number.isFinite(v) ? null : Number(v.toPrecision(6))])),
      seconds: Number(((performance.now() - scan.t0) / 1000).toPrecision(6)),
    };
    log(`scan ${scan.id}: ${scan.computed} of ${st.pixels} pixels computed; wrote ${final}`);
    return { files: [final], stats: st };
  };

  const finishQuietly = (scan: Scan): Promise<void> =>
    finishScan(scan).then(
      () => undefined,
      (e: unknown) => log(`scan ${scan.id}: writing failed: ${(e as Error).message}`),
    );

  const onStart = async (ws: WebSocket, f: Record<string, unknown>): Promise<void> => {
    if (o.token !== undefined && f.token !== o.token) {
      send(ws, { type: 'error', code: 'UNAUTHORIZED', message: f.token === undefined ? 'this server needs a token: add "token" to start' : 'wrong token', scan: f.scan ?? null });
      ws.close(1008, 'unauthorized');
      return;
    }
    const id = f.scan;
    if (typeof id !== 'string' || !SCAN_ID.test(id)) {
      throw new FrameError('BAD_FRAME', "start: 'scan' must be 1-128 characters of letters, digits, '.', '_' or '-' (not starting with '.' or '-')");
    }
    if (scans.has(id)) throw new FrameError('SCAN_EXISTS', `start: scan '${id}' is already open`, { scan: id });
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
    let loaded: LoadedModel;
    try {
      loaded = await getModel(ion);
    } catch (e) {
      throw new FrameError(e instanceof XasmapError ? e.code : 'NO_MODEL', (e as Error).message, { scan: id });
    }
    if (!o.model && loaded.meta.ion !== ion) throw new FrameError('NO_MODEL', `no model for ${ion}`, { scan: id });
    if (ws.readyState !== WebSocket.OPEN) return;
    if (scans.has(id)) throw new FrameError('SCAN_EXISTS', `start: scan '${id}' is already open`, { scan: id });
    const n = width * height;
    const scan: Scan = {
      id,
      ion,
      ny: height,
      nx: width,
      owner: ws,
      loaded,
      grid: windowAxes(energyWindow(ion)).energy,
      axis,
      nMeasured: axis ? axis.energy.length : CHANNELS,
      spectra: new Float32Array(n * CHANNELS).fill(NaN),
      params: new Float32Array(n * P).fill(NaN),
      se: new Float32Array(n).fill(NaN),
      flags: new Uint8Array(n).fill(FLAG.MASKED),
      state: new Uint8Array(n),
      received: 0,
      computed: 0,
      errors: 0,
      pending: 0,
      drained: [],
      ended: false,
      t0: performance.now(),
    };
    scans.set(id, scan);
    log(`scan ${id}: ${ion}, ${width} x ${height}`);
    send(ws, {
      type: 'ready',
      protocol: PROTOCOL_VERSION,
      scan: id,
      ion,
      width,
      height,
      channels: CHANNELS,
      energy: [scan.grid[0], scan.grid[CHANNELS - 1]],
      model: loaded.dir,
      measured: axis ? { energies: axis.energy.length } : { energies: CHANNELS, grid: 'model' },
      batch: { size: batchSize, ms: batchMs },
      maxQueued,
    });
  };

  const ownScan = (ws: WebSocket, f: Record<string, unknown>): Scan => {
    const id = f.scan;
    const scan = typeof id === 'string' ? scans.get(id) : undefined;
    if (!scan || scan.owner !== ws) {
      const at = f.type === 'pixel' ? { x: f.x ?? null, y: f.y ?? null } : {};
      throw new FrameError('UNKNOWN_SCAN', `${String(f.type)}: no open scan '${String(id)}' on this connection (send start first)`, { scan: id ?? null, ...at });
    }
    if (scan.ended) throw new FrameError('SCAN_ENDED', `${String(f.type)}: scan '${scan.id}' has ended`, { scan: scan.id });
    return scan;
  };

  const onFrame = async (ws: WebSocket, data: RawData, isBinary: boolean): Promise<void> => {
    if (isBinary) throw new FrameError('BAD_FRAME', 'binary frames are not part of protocol v1; send JSON text frames');
    let f: unknown;
    try {
      f = JSON.parse(data.toString());
    } catch (e) {
      throw new FrameError('BAD_JSON', `not valid JSON (${(e as Error).message})`);
    }
    if (typeof f !== 'object' || f === null || Array.isArray(f)) throw new FrameError('BAD_FRAME', 'a frame must be a JSON object with a "type"');
    const fr = f as Record<string, unknown>;
    switch (fr.type) {
      case 'start':
        await onStart(ws, fr);
        return;
      case 'pixel': {
        const scan = ownScan(ws, fr);
        const { type: _t, scan: _s, ...item } = fr;
        acceptPixel(ws, scan, item, null);
        return;
      }
      case 'pixels': {
        const scan = ownScan(ws, fr);
        if (!Array.isArray(fr.items)) throw new FrameError('BAD_FRAME', "pixels: 'items' must be an array", { scan: scan.id });
        fr.items.forEach((it, i) => acceptPixel(ws, scan, it, i));
        return;
      }
      case 'end': {
        const scan = ownScan(ws, fr);
        try {
          const r = await finishScan(scan);
          send(ws, { type: 'done', scan: scan.id, files: r.files, stats: r.stats });
        } catch (e) {
          throw new FrameError('WRITE_FAILED', `end: writing scan '${scan.id}' failed: ${(e as Error).message}`, { scan: scan.id });
        }
        return;
      }
      default:
        throw new FrameError('UNKNOWN_TYPE', `unknown frame type ${JSON.stringify(fr.type ?? null)} (protocol v1: start, pixel, pixels, end)`, { scan: fr.scan ?? null });
    }
  };

  const http: Server = createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' });
    res.end(`xasmap serve: websocket protocol v${PROTOCOL_VERSION}, see docs/protocol.md\n`);
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
      // a client that vanishes mid-scan: its partial map is written
      void chain.then(async () => {
        for (const s of [...scans.values()]) if (s.owner === ws && !s.ended) await finishQuietly(s);
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
  let closing: Promise<void> | null = null;

  return {
    host,
    port,
    url: `ws://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close(): Promise<void> {
      closing ??= (async () => {
        for (const ws of clients) ws.close(1001, 'server shutting down');
        await Promise.all([...scans.values()].filter((s) => !s.ended).map((s) => finishQuietly(s)));
        if (inFlight > 0 || queued > 0) await new Promise<void>((r) => idle.push(r));
        sub.unsubscribe();
        jobs.complete();
        for (const ws of clients) ws.terminate();
        await new Promise<void>((r) => wss.close(() => r()));
        await new Promise<void>((r) => http.close(() => r()));
      })();
      return closing;
    },
  };
}
