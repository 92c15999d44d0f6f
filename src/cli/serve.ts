/**
 * `xasmap serve [--host 127.0.0.1] [--port 8765] [--token T] [--out DIR] [--max-payload BYTES]
 * [--max-connections N] [--max-queued N] [--batch N] [--batch-ms MS] [--resume-timeout S]`:
 * the websocket server and live view of stream/server.ts (protocol: docs/protocol.md). Runs
 * until SIGINT/SIGTERM, then finishes the in-flight batches, writes the open and orphaned scans
 * and exits 0.
 *
 * This is where the server's file side is wired (serveIo): the model registry and predictor,
 * the NeXus render-file writer and the PNG previews of `xasmap render`, and for `fit` frames the
 * fit file and PNGs of `xasmap fit` (io/fit-file.ts, io/fit-previews.ts) and tf matrix products.
 */
import { XasmapError } from '../errors.js';
import { loadModelDir, loadShippedModel } from '../io/model-registry.js';
import { rmSync } from 'node:fs';
import { writeFitFile } from '../io/fit-file.js';
import { fitPngPaths, writeFitPngs } from '../io/fit-previews.js';
import { createRenderFile } from '../io/render-file.js';
import { previewPixels, writeRenderPreviews } from '../io/render-previews.js';
import { type BackendKind, initBackend } from '../model/backend.js';
import { tfMatMul } from '../ops/matmul.js';
import { predictSpectra } from '../ops/predict.js';
import { type AsyncPredictor, startWorkerPredictor } from './worker-predictor.js';
import type { IonName } from '../physics/ions.js';
import { type FitScanData, SERVE_CHANNELS, SERVE_DEFAULTS, type ScanData, type ServeIo, type ServeModel, type ServeOptions, type XasServer, startServer } from '../stream/server.js';
import { VERSION } from '../version.js';
import type { CliIo } from './io.js';
import { intOption, numberOption } from './options.js';

/** Rows per model call (same as render). */
const PREDICT_CHUNK = 2048;

export interface ServeCliOptions {
  host?: string;
  port?: string;
  token?: string;
  out?: string;
  maxPayload?: string;
  maxConnections?: string;
  maxQueued?: string;
  batch?: string;
  batchMs?: string;
  resumeTimeout?: string;
  model?: string;
  backend?: string;
}

/**
 * The file side of the server: shipped models (or `modelDir` for every ion), the NeXus writer
 * of io/render-file.ts and the previews of io/render-previews.ts (the same as `xasmap render`).
 */
export function serveIo(modelDir?: string, backend: BackendKind = 'wasm'): ServeIo {
  let fixed: Promise<ServeModel> | null = null;
  // one prediction worker per model directory, started at the first fit (fits make many model calls)
  const workers = new Map<string, Promise<AsyncPredictor | null>>();
  const workerFor = (dir: string): Promise<AsyncPredictor | null> => {
    let w = workers.get(dir);
    if (!w) {
      w = startWorkerPredictor(dir, backend, PREDICT_CHUNK).catch(() => null);
      workers.set(dir, w);
    }
    return w;
  };
  const wrap = async (ion: IonName): Promise<ServeModel> => {
    const m = modelDir !== undefined ? await loadModelDir(modelDir) : await loadShippedModel(ion);
    const ch = m.model.outputs[0]?.shape[1];
    if (ch !== SERVE_CHANNELS) throw new XasmapError('MODEL_CORRUPT', `${m.dir}: the model gives ${String(ch)} channels, expected ${SERVE_CHANNELS}`);
    if (modelDir === undefined && m.meta.ion !== ion) throw new XasmapError('NO_MODEL', `no model for ${ion}`);
    return {
      dir: m.dir,
      description: `${m.dir} (${m.meta.arch}, ${m.meta.ion}, trained ${m.meta.training?.finished ?? '?'})`,
      predict: (x, n) => predictSpectra(m.model, x, n, PREDICT_CHUNK),
      predictAsync: async (x, n) => {
        const w = await workerFor(m.dir);
        return w ? w.predict(x, n) : predictSpectra(m.model, x, n, PREDICT_CHUNK);
      },
    };
  };
  return {
    close: async () => {
      const all = await Promise.all(workers.values());
      workers.clear();
      await Promise.all(all.map((w) => w?.close()));
    },
    loadModel: (ion) => {
      if (modelDir === undefined) return wrap(ion);
      fixed ??= wrap(ion);
      fixed.catch(() => (fixed = null));
      return fixed;
    },
    writeRender: async (path: string, s: ScanData) => {
      const writer = await createRenderFile(path, {
        ny: s.ny,
        nx: s.nx,
        energy: s.energy,
        ion: s.ion,
        model: s.model.description,
        version: VERSION,
        commandLine: `xasmap serve (scan ${s.id})`,
        date: new Date().toISOString(),
        scalars: {},
        verify: false,
        measured: s.hasMeasured ? `stream:${s.id}` : null,
        shift: 0,
      });
      try {
        writer.writeBlock({ y0: 0, y1: s.ny, x0: 0, x1: s.nx, spectra: s.spectra, params: s.params });
        writer.finish({ se: s.se, flags: s.flags, seVerify: null });
      } catch (e) {
        writer.abort();
        throw e;
      }
    },
    matmul: tfMatMul,
    writeFit: async (paths, s: FitScanData) => {
      const st = s.settings;
      const free = st.fixed.map((v) => Number.isNaN(v));
      const fixed = st.fixed.map((v) => (Number.isNaN(v) ? null : v));
      try {
        await writeFitFile(
          paths.h5,
          {
            ion: s.ion,
            model: s.model.dir,
            version: VERSION,
            commandLine: `xasmap serve (scan ${s.id})`,
            date: new Date().toISOString(),
            source: `stream:${s.id}`,
            energy: s.energy,
            shift: st.shift,
            options: { source: 'serve', starts: st.starts, iterations: st.iterations, library: st.library, shift: st.shift, measuredEnergies: s.measuredEnergies, preedge: st.preedge ? 'on' : 'off', edgeStep: st.edgeStep ? 'on' : 'off' },
            bounds: { lower: st.lower, upper: st.upper },
            fixed,
          },
          s.maps,
          { ny: s.ny, nx: s.nx },
        );
        return await writeFitPngs(paths.pngStem, s.maps, { ny: s.ny, nx: s.nx }, { ion: s.ion, free, energy: s.energy });
      } catch (e) {
        rmSync(paths.h5, { force: true });
        for (const p of fitPngPaths(paths.pngStem, free)) rmSync(p, { force: true });
        throw e;
      }
    },
    writePreviews: async (paths, s: ScanData) => {
      const C = SERVE_CHANNELS;
      const pick = previewPixels(s.se, s.l3Peak);
      const predicted = new Map(pick.shown.map((p) => [p, s.spectra.subarray(p * C, (p + 1) * C)]));
      const m = s.measuredOnGrid;
      return writeRenderPreviews(paths, {
        ion: s.ion,
        geom: { ny: s.ny, nx: s.nx },
        energy: s.energy,
        seMap: s.se,
        seTitle: s.hasMeasured ? `SE against measured data, ${s.ion}` : `SE: no reference (no measured spectra sent), ${s.ion}`,
        l3Peak: s.l3Peak,
        rgb: s.rgb,
        pick,
        predicted,
        reference: (p) => {
          const y = m?.subarray(p * C, (p + 1) * C);
          return y && !Number.isNaN(y[0] as number) ? { y, label: 'measured' } : null;
        },
      });
    },
  };
}

/** startServer with the file side of serveIo (what `xasmap serve` runs; tests use it too). */
export async function startServeWithIo(o: Omit<ServeOptions, 'io'> & { model?: string; backend?: BackendKind }): Promise<XasServer> {
  const { model, backend, ...rest } = o;
  await initBackend(backend ?? 'wasm');
  return startServer({ ...rest, io: serveIo(model, backend ?? 'wasm') });
}

export async function runServe(opts: ServeCliOptions, io: CliIo, stop?: Promise<unknown>): Promise<number> {
  const resumeS = numberOption('resume-timeout', opts.resumeTimeout, SERVE_DEFAULTS.resumeTimeoutMs / 1000, { min: 0 });
  const server = await startServeWithIo({
    host: opts.host ?? SERVE_DEFAULTS.host,
    port: intOption('port', opts.port, 0, SERVE_DEFAULTS.port),
    ...(opts.token !== undefined ? { token: opts.token } : {}),
    out: opts.out ?? '.',
    maxPayload: intOption('max-payload', opts.maxPayload, 1024, SERVE_DEFAULTS.maxPayload),
    maxConnections: intOption('max-connections', opts.maxConnections, 1, SERVE_DEFAULTS.maxConnections),
    maxQueued: intOption('max-queued', opts.maxQueued, 1, SERVE_DEFAULTS.maxQueued),
    batchSize: intOption('batch', opts.batch, 1, SERVE_DEFAULTS.batchSize),
    batchMs: intOption('batch-ms', opts.batchMs, 0, SERVE_DEFAULTS.batchMs),
    resumeTimeoutMs: resumeS * 1000,
    backend: (opts.backend ?? 'wasm') as BackendKind,
    ...(opts.model !== undefined ? { model: opts.model } : {}),
    log: (l) => io.stderr(l),
  });
  io.stderr(
    `xasmap serve: listening on ${server.url} (protocol v1, docs/protocol.md); live view ${server.httpUrl}${opts.token !== undefined ? '?token=...; token required' : ''}`,
  );
  let onInt = (): void => undefined;
  let onTerm = (): void => undefined;
  const signalled = new Promise<string>((res) => {
    onInt = () => res('SIGINT');
    onTerm = () => res('SIGTERM');
  });
  process.once('SIGINT', onInt);
  process.once('SIGTERM', onTerm);
  const why = await Promise.race([signalled, stop ?? new Promise<never>(() => undefined)]);
  process.off('SIGINT', onInt);
  process.off('SIGTERM', onTerm);
  io.stderr(`xasmap serve: ${typeof why === 'string' ? why : 'stop'}: finishing in-flight batches and writing open and orphaned scans`);
  await server.close();
  return 0;
}
