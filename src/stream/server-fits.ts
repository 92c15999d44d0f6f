/**
 * The fits of `xasmap serve` (docs/protocol.md, "Fitting"): `fit` / `fits` items carry a
 * measured spectrum on the scan's `energy` axis. Each accepted item is resampled onto the
 * model grid and goes into its own micro-batched stream (fitBatchSize pixels or batchMs);
 * a batch is fitted per scan (ops/fit.ts fitSpectra) with the scan's settings and its start
 * library, predicted at the scan's first fit batch and reused. `fit.preedge` removes the
 * pre-edge line before the resampling (ops/preprocess.ts), `fit.edgeStep` adds the L3/L2 step
 * background to the fit (ops/edge-step.ts), both as `xasmap fit` does. Every item is answered with
 * one `fitResult` (or an `error` via the server's callbacks); a fitted pixel also enters the
 * scan's render maps (fitted spectrum and parameters, the fit's SE).
 *
 * The pixel checks, the queue, the batch accounting and the live view stay in
 * stream/server.ts and come in through the context.
 */
import { Subject, type Subscription, concatMap } from 'rxjs';
import type { WebSocket } from 'ws';
import { edgeStep } from '../ops/edge-step.js';
import { type Forward, type LibrarySet, type MatMul, emptyMaps, fitSpectra, predictLibrary } from '../ops/fit.js';
import { FIT_FLAG, type FitMaps } from '../ops/fit-types.js';
import { preprocessStack } from '../ops/preprocess.js';
import { FLAG, pixelFlags } from '../ops/render-maps.js';
import { resampleSpectrum } from '../ops/resample.js';
import { PARAM_NAMES } from '../physics/ions.js';
import type { ServeFitSettings } from './fit-settings.js';
import { microBatch } from './micro-batch.js';
import { type Frame, SERVE_CHANNELS as CHANNELS, type Scan, type ServeModel, finiteArray, groupBy, send } from './server-scan.js';

const P = PARAM_NAMES.length;

interface FitJob {
  scan: Scan;
  x: number;
  y: number;
  /** 501 values on the model grid, box-normalised, NaN where not covered */
  measured: Float32Array;
}

/** What the fits need from the server (its pixel checks, queue and batch accounting, live view). */
export interface FitsContext {
  /** fit micro-batch: flush after this many fit pixels ... */
  readonly fitBatchSize: number;
  /** ... or this many milliseconds */
  readonly batchMs: number;
  /** matrix product of the library search */
  readonly matmul: MatMul;
  /** x, y and pixel index of an item, checked against the map and the pixels already received; null after an error frame */
  itemPixel(ws: WebSocket, scan: Scan, item: unknown, where: string, fields: string): { it: Frame; x: number; y: number; p: number } | null;
  /** counts an error of the scan and answers it */
  pixelError(scan: Scan, ws: WebSocket | null, code: string, message: string, x: unknown, y: unknown): void;
  /** takes pixel p into the queue, or answers QUEUE_FULL (false) */
  admit(ws: WebSocket, scan: Scan, x: number, y: number, p: number): boolean;
  /** the model failed for these jobs: each gets an INTERNAL error and may be sent again */
  failJobs(list: readonly { scan: Scan; x: number; y: number }[], message: string): void;
  /** n of the scan's queued pixels are answered */
  settle(scan: Scan, n: number): void;
  /** a micro-batch starts */
  batchStart(): void;
  /** a micro-batch is answered: release its queue slots, update watchers */
  batchDone(count: number, updates: Map<Scan, number[]>): void;
  /** tells the watchers the scan's new state (here: it has fits) */
  announce(scan: Scan): void;
}

export interface Fits {
  /** A `fit` frame (index null) or item `index` of a `fits` frame: checked, resampled, queued. */
  acceptFit(ws: WebSocket, scan: Scan, item: unknown, index: number | null): void;
  /** Stops the fit stream (at shutdown, once no batch is in flight). */
  stop(): void;
}

const fitSetup = (f: ServeFitSettings): { lower: number[]; upper: number[]; fixed: number[] } => ({ lower: f.lower, upper: f.upper, fixed: f.fixed });
const forwardOf =
  (model: ServeModel): Forward =>
  async (params, rows) =>
    model.predictAsync ? model.predictAsync(params, rows) : model.predict(params, rows);

/** The scan's start library: predicted at its first fit batch, reused by all later ones. */
const libraryOf = (scan: Scan): Promise<LibrarySet> => {
  if (!scan.library) {
    scan.library = predictLibrary(fitSetup(scan.fit), scan.fit.library, 1, forwardOf(scan.model));
    scan.library.catch(() => (scan.library = null));
  }
  return scan.library;
};

const fitValues = (v: Float32Array, off: number): Record<string, number | null> =>
  Object.fromEntries(PARAM_NAMES.map((k, i) => [k, Number.isFinite(v[off + i] as number) ? (v[off + i] as number) : null]));

export function createFits(ctx: FitsContext): Fits {
  const fitJobs = new Subject<FitJob>();

  /** Copies pixel i of a batch fit into the scan's maps (fit and render) and answers it. */
  const storeFit = (j: FitJob, r: FitMaps, i: number, updates: Map<Scan, number[]>): void => {
    const s = j.scan;
    const fm = s.fitMaps as FitMaps;
    const p = j.y * s.nx + j.x;
    fm.params.set(r.params.subarray(i * P, (i + 1) * P), p * P);
    fm.sigma.set(r.sigma.subarray(i * P, (i + 1) * P), p * P);
    fm.paramFlags.set(r.paramFlags.subarray(i * P, (i + 1) * P), p * P);
    fm.fitted.set(r.fitted.subarray(i * CHANNELS, (i + 1) * CHANNELS), p * CHANNELS);
    fm.measured.set(r.measured.subarray(i * CHANNELS, (i + 1) * CHANNELS), p * CHANNELS);
    fm.se[p] = r.se[i] as number;
    fm.flags[p] = r.flags[i] as number;
    fm.bestStart[p] = r.bestStart[i] as number;
    const flags = r.flags[i] as number;
    const fittedOk = (flags & FIT_FLAG.NOT_FITTED) === 0;
    if (fittedOk) {
      // the render side of the pixel: the fitted spectrum and parameters, the fit's SE
      const params = r.params.subarray(i * P, (i + 1) * P);
      const spec = r.fitted.subarray(i * CHANNELS, (i + 1) * CHANNELS);
      const rflags = pixelFlags(params, 0, null) | ((flags & FIT_FLAG.PARTIAL) !== 0 ? FLAG.MEASURED_PARTIAL : 0);
      s.spectra.set(spec, p * CHANNELS);
      s.params.set(params, p * P);
      s.measuredOnGrid ??= new Float32Array(s.ny * s.nx * CHANNELS).fill(NaN);
      s.measuredOnGrid.set(j.measured, p * CHANNELS);
      s.maps.add({ y0: j.y, y1: j.y + 1, x0: j.x, x1: j.x + 1, flags: Uint8Array.of(rflags), spectra: spec, se: Float32Array.of(r.se[i] as number), seVerify: null }, CHANNELS);
      s.computed++;
      s.lastSpectrum = { x: j.x, y: j.y };
    }
    s.state[p] = 2;
    s.fitted++;
    const u = updates.get(s);
    if (u) u.push(p);
    else updates.set(s, [p]);
    const pf: Record<string, number> = {};
    PARAM_NAMES.forEach((k, q) => {
      const v = r.paramFlags[i * P + q] as number;
      if (v !== 0) pf[k] = v;
    });
    const se = r.se[i] as number;
    send(s.owner, {
      type: 'fitResult',
      scan: s.id,
      x: j.x,
      y: j.y,
      params: fitValues(r.params, i * P),
      sigma: fitValues(r.sigma, i * P),
      se: Number.isFinite(se) ? se : null,
      flags,
      ...(Object.keys(pf).length ? { paramFlags: pf } : {}),
    });
    ctx.settle(s, 1);
  };

  /** Fits one micro-batch, grouped by scan (each scan has its own settings and library). */
  const runFitBatch = async (batch: FitJob[]): Promise<void> => {
    ctx.batchStart();
    const updates = new Map<Scan, number[]>();
    try {
      for (const [scan, list] of groupBy(batch, (j) => j.scan)) {
        const n = list.length;
        const m = new Float32Array(n * CHANNELS);
        list.forEach((j, i) => m.set(j.measured, i * CHANNELS));
        let r: FitMaps;
        try {
          const lib = await libraryOf(scan);
          const fit = await fitSpectra(m, n, CHANNELS, fitSetup(scan.fit), forwardOf(scan.model), {
            starts: scan.fit.starts,
            iterations: scan.fit.iterations,
            librarySet: lib,
            matmul: ctx.matmul,
            concurrency: 1,
            ...(scan.fit.edgeStep ? { edgeStep: edgeStep(scan.ion, scan.grid) } : {}),
          });
          r = fit.maps;
        } catch (e) {
          ctx.failJobs(list, `fit failed: ${(e as Error).message}`);
          continue;
        }
        list.forEach((j, i) => storeFit(j, r, i, updates));
      }
    } finally {
      ctx.batchDone(batch.length, updates);
    }
  };

  const fitSub: Subscription = fitJobs.pipe(microBatch<FitJob>(ctx.fitBatchSize, ctx.batchMs), concatMap(runFitBatch)).subscribe();

  const acceptFit = (ws: WebSocket, scan: Scan, item: unknown, index: number | null): void => {
    const where = index === null ? 'fit' : `fits item ${index}`;
    const px = ctx.itemPixel(ws, scan, item, where, 'x, y and measured');
    if (!px) return;
    const { it, x, y, p } = px;
    if (scan.fitAxis === null) {
      ctx.pixelError(scan, ws, 'NO_ENERGY', `${where} (x=${x}, y=${y}): scan '${scan.id}' has no 'energy' axis; a scan with fits needs 'energy' in its start frame`, x, y);
      return;
    }
    const mv = it.measured;
    if (!finiteArray(mv, scan.nMeasured)) {
      ctx.pixelError(scan, ws, 'BAD_MEASURED', `${where} (x=${x}, y=${y}): measured must be an array of ${scan.nMeasured} finite numbers (one per energy of 'start')`, x, y);
      return;
    }
    // fit.preedge: the pre-edge line off the spectrum as read (file order), as `xasmap fit --preedge on`
    const values = scan.preEdge ? preprocessStack(Float32Array.from(mv), 1, scan.preEdge.energy, { preEdge: scan.preEdge.options }).spectra : mv;
    const measured = new Float32Array(CHANNELS);
    const status = resampleSpectrum(scan.fitAxis, values, scan.grid, measured);
    if (status === 'bad') {
      ctx.pixelError(scan, ws, 'BAD_MEASURED', `${where} (x=${x}, y=${y}): the measured spectrum is flat or covers fewer than 2 channels of the model window (with fit.shift ${scan.fit.shift} eV)`, x, y);
      return;
    }
    if (scan.fitMaps === null) {
      const fm = emptyMaps(scan.ny * scan.nx, CHANNELS);
      fm.flags.fill(FIT_FLAG.NOT_FITTED);
      scan.fitMaps = fm;
      if (!scan.hasFit) {
        scan.hasFit = true;
        ctx.announce(scan);
      }
    }
    if (ctx.admit(ws, scan, x, y, p)) fitJobs.next({ scan, x, y, measured });
  };

  const stop = (): void => {
    fitSub.unsubscribe();
    fitJobs.complete();
  };

  return { acceptFit, stop };
}
