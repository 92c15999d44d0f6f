/**
 * `xasmap render PARAMS.h5 [--out FILE] [--ion ION] [--model DIR] [--measured FILE.h5]
 * [--shift EV] [--batch N] [--verify K|all] [--force] [--json]`: parameter maps -> spectrum
 * cube, SE/flag maps (NeXus, io/render-file.ts) and PNG previews, through the RxJS pipeline
 * of src/stream. Every output is written under a temporary name and renamed at the end;
 * on an error or Ctrl-C the temporary files are removed and nothing is left.
 */
import { existsSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { from, lastValueFrom, tap } from 'rxjs';
import { XasmapError } from '../errors.js';
import { assertWritable } from '../io/atomic-write.js';
import { type MeasuredReader, openMeasured } from '../io/measured.js';
import { loadModelDir, loadShippedModel } from '../io/model-registry.js';
import { type ParamsMapReader, openParamsMap } from '../io/params-map.js';
import { createRenderFile, type RenderWriter } from '../io/render-file.js';
import { previewPixels, writeRenderPreviews } from '../io/render-previews.js';
import { type BackendKind, initBackend } from '../model/backend.js';
import { predictSpectra } from '../ops/predict.js';
import { FLAG, RenderMaps, pixelFlags, previewRegions, stats } from '../ops/render-maps.js';
import { prepareAxis, resampleSpectrum } from '../ops/resample.js';
import { fitGlobalShift } from '../ops/shift.js';
import { PARAM_NAMES, energyWindow, isIonName, ION_NAMES, type IonName, windowAxes } from '../physics/ions.js';
import { mulberry32 } from '../physics/random.js';
import { simulate, spectralError } from '../physics/spectrum.js';
import { measuredSE } from '../stream/measured-se.js';
import { predictBatch, predictBatchAsync } from '../stream/predict.js';
import { type AsyncPredictor, startWorkerPredictor } from './worker-predictor.js';
import { readTiles } from '../stream/read-tiles.js';
import { toBatches } from '../stream/to-batches.js';
import type { Batch, Tile, TileSpec } from '../stream/types.js';
import { type BatchDone, updateMaps } from '../stream/update-maps.js';
import { verifyPixels } from '../stream/verify.js';
import { writeBatch } from '../stream/write-batch.js';
import { VERSION } from '../version.js';
import { parseIon } from './ion-option.js';
import type { CliIo } from './io.js';
import { countOrAll, intOption, numberOption } from './options.js';
import { watchStopSignals } from './stop-signals.js';
import { Progress, formatDuration } from './progress.js';

export interface RenderOptions {
  out?: string;
  ion?: string;
  model?: string;
  measured?: string;
  shift?: string;
  batch?: string;
  verify?: string;
  force?: boolean;
  json?: boolean;
  backend?: string;
  /** false (--no-worker): predict on the main thread, in series with writing (for comparison) */
  worker?: boolean;
}

export const DEFAULT_RENDER_BATCH = 10_000;
/** Seed of the choice of --verify pixels (fixed: the same command verifies the same pixels). */
const VERIFY_SEED = 20240501;
const P = PARAM_NAMES.length;
/** Rows per model call inside a batch (ops/predict.ts passes it as predict()'s batchSize): 1024-4096 are equally fast, 0.62-0.64 s per 10k on wasm. */
const PREDICT_CHUNK = 2048;

/** Output names: OUT.h5 and OUT.{se,l3peak,rgb,spectra}.png next to it. */
export function renderOutputs(paramsPath: string, out: string | undefined): { h5: string; pngs: Record<'se' | 'l3peak' | 'rgb' | 'spectra', string> } {
  const h5 = out ?? join(dirname(paramsPath), `${basename(paramsPath, extname(paramsPath))}.render.h5`);
  const stem = extname(h5) === '.h5' || extname(h5) === '.nxs' || extname(h5) === '.hdf5' ? h5.slice(0, -extname(h5).length) : h5;
  return { h5, pngs: { se: `${stem}.se.png`, l3peak: `${stem}.l3peak.png`, rgb: `${stem}.rgb.png`, spectra: `${stem}.spectra.png` } };
}

export async function runRender(paramsPath: string | undefined, opts: RenderOptions, io: CliIo): Promise<number> {
  const t0 = performance.now();
  if (!paramsPath) throw new XasmapError('BAD_ARGS', 'render needs a parameter-map file: xasmap render PARAMS.h5');
  const batchSize = intOption('batch', opts.batch, 1, DEFAULT_RENDER_BATCH);
  const shiftAuto = opts.shift !== undefined && opts.shift.trim().toLowerCase() === 'auto';
  if (shiftAuto && !opts.measured) throw new XasmapError('BAD_ARGS', '--shift auto fits the energy shift of measured data: it needs --measured FILE.h5');
  let shift = shiftAuto ? 0 : numberOption('shift', opts.shift, 0);
  const verify = countOrAll('verify', opts.verify);
  const force = opts.force ?? false;
  const outputs = renderOutputs(paramsPath, opts.out);
  const allOut = [outputs.h5, ...Object.values(outputs.pngs)];
  for (const p of allOut) assertWritable(p, force);

  const timing: Record<string, number> = { read: 0, predict: 0, se: 0, verify: 0, write: 0, maps: 0, png: 0, setup: 0 };
  let params: ParamsMapReader | null = null;
  let measured: MeasuredReader | null = null;
  let writer: RenderWriter | null = null;
  let asyncPredictor: AsyncPredictor | null = null;
  const tmp = allOut.map((p) => `${p}.${process.pid}.tmp`);
  const cleanup = (): void => {
    for (const t of tmp) rmSync(t, { force: true });
  };
  const stop = watchStopSignals();
  try {
    params = await openParamsMap(paramsPath);
    const info = params.info;
    const ion = resolveIon(opts.ion, info.ion, info.path);
    const { ny, nx } = info;
    if (opts.measured) {
      measured = await openMeasured(opts.measured);
      const m = measured.info;
      if (m.ny !== ny || m.nx !== nx) {
        throw new XasmapError(
          'MEASURED_SHAPE',
          `measured file ${m.path}: '${m.signal}' has ${m.ny} x ${m.nx} pixels (ny x nx) but the parameter map ${info.path} has ${ny} x ${nx}`,
        );
      }
    }
    await initBackend((opts.backend ?? 'wasm') as BackendKind);
    const loaded = opts.model ? await loadModelDir(opts.model) : await loadShippedModel(ion);
    if (loaded.meta.ion !== ion) {
      throw new XasmapError('MODEL_ION_MISMATCH', `${loaded.dir} is a model for ${loaded.meta.ion}, but the map is ${ion}`);
    }
    const win = energyWindow(ion);
    const { w, energy } = windowAxes(win);
    const channels = energy.length;
    const outShape = loaded.model.outputs[0]?.shape[1];
    if (outShape !== channels) {
      throw new XasmapError('MODEL_CORRUPT', `${loaded.dir}: the model gives ${String(outShape)} channels, expected ${channels}`);
    }

    const rowsPerTile = nx <= batchSize ? Math.max(1, Math.floor(batchSize / nx)) : 1;
    const specs: TileSpec[] = [];
    for (let y = 0, k = 0; y < ny; y += rowsPerTile, k++) specs.push({ index: k, y0: y, y1: Math.min(ny, y + rowsPerTile) });
    const pr = params;
    const me = measured;
    const readTile = (s: TileSpec): Tile => {
      const t = pr.readRows(s.y0, s.y1);
      return { ...s, nx, params: t.params, mask: t.mask, measured: me ? me.readRows(s.y0, s.y1) : null };
    };

    // --shift auto: fit one global shift on a sample of pixels (up to 16 rows x 16 pixels)
    if (shiftAuto && me) {
      const ts = performance.now();
      const rows = Array.from(new Set(Array.from({ length: Math.min(16, ny) }, (_, i) => Math.floor(((i + 0.5) * ny) / Math.min(16, ny)))));
      const cols = Array.from(new Set(Array.from({ length: Math.min(16, nx) }, (_, i) => Math.floor(((i + 0.5) * nx) / Math.min(16, nx)))));
      const nE = me.info.energy.length;
      const sp: number[] = [];
      const sm: number[] = [];
      for (const y of rows) {
        const t = pr.readRows(y, y + 1);
        const mrow = me.readRows(y, y + 1);
        for (const x of cols) {
          if ((pixelFlags(t.params, x, t.mask) & (FLAG.MASKED | FLAG.INVALID_PARAM)) !== 0) continue;
          sp.push(...t.params.subarray(x * P, (x + 1) * P));
          sm.push(...mrow.subarray(x * nE, (x + 1) * nE));
        }
      }
      const m = sp.length / P;
      if (m === 0) throw new XasmapError('SHIFT_UNFITTABLE', `--shift auto: no computable pixel in the sample of ${info.path}; give --shift EV`);
      const pred = predictSpectra(loaded.model, Float32Array.from(sp), m, PREDICT_CHUNK);
      const fit = fitGlobalShift(pred, Float32Array.from(sm), m, me.info.energy, energy);
      if (!Number.isFinite(fit.se)) throw new XasmapError('SHIFT_UNFITTABLE', `--shift auto: the measured energies of ${me.info.path} do not overlap the ${ion} window at any shift within +-5 eV; give --shift EV`);
      shift = fit.shift;
      io.stderr(`fitted global energy shift ${shift.toFixed(3)} eV (measured + shift = model energy; mean SE ${fit.se.toFixed(2)} % on ${m} sample pixels)`);
      timing.read = (timing.read ?? 0) + performance.now() - ts;
    }

    // --verify: choose K computable pixels (a pre-pass over the parameters only)
    let selected: ((p: number) => boolean) | null = null;
    let verifyTarget = 0;
    if (verify === 'all') {
      selected = () => true;
    } else if (verify > 0) {
      const tv = performance.now();
      const candidates: number[] = [];
      for (const s of specs) {
        const t = pr.readRows(s.y0, s.y1);
        const n = (s.y1 - s.y0) * nx;
        for (let i = 0; i < n; i++) if ((pixelFlags(t.params, i, t.mask) & (FLAG.MASKED | FLAG.INVALID_PARAM)) === 0) candidates.push(s.y0 * nx + i);
      }
      const rnd = mulberry32(VERIFY_SEED);
      const k = Math.min(verify, candidates.length);
      for (let i = 0; i < k; i++) {
        const j = i + Math.floor(rnd() * (candidates.length - i));
        const a = candidates[i] as number;
        candidates[i] = candidates[j] as number;
        candidates[j] = a;
      }
      const set = new Set(candidates.slice(0, k));
      verifyTarget = k;
      selected = (p) => set.has(p);
      timing.read = (timing.read ?? 0) + performance.now() - tv;
    }

    const date = new Date().toISOString();
    writer = await createRenderFile(tmp[0] as string, {
      ny,
      nx,
      energy,
      ion,
      model: `${loaded.dir} (${loaded.meta.arch}, ${loaded.meta.ion}, trained ${loaded.meta.training?.finished ?? '?'})`,
      version: VERSION,
      commandLine: ['xasmap', ...process.argv.slice(2)].join(' '),
      date,
      scalars: info.scalars,
      verify: selected !== null,
      measured: measured ? measured.info.path : null,
      shift,
    });
    const wr = writer;
    const maps = new RenderMaps(ny, nx, energy, previewRegions(w, win.split));
    const axis = measured ? prepareAxis(measured.info.energy, shift) : null;
    const model = loaded.model;
    timing.setup = performance.now() - t0;

    const total = ny * nx;
    io.stderr(
      `render ${ion}: ${ny} x ${nx} pixels from ${info.path} with ${loaded.dir}` +
        `${measured ? `, SE against ${measured.info.path} (${measured.info.energy.length} energies, shift ${shift} eV)` : ''}` +
        `${selected ? `, verifying ${verify === 'all' ? 'all' : verifyTarget} pixels with the simulator` : ''}; batches of ${Math.min(batchSize, total)}`,
    );
    const progress = new Progress(io, `render ${ion}`, total, 'pixels');
    let done = 0;
    let computed = 0;
    const stopError = (): Error | null =>
      stop.signal ? new XasmapError('INTERRUPTED', `interrupted (${stop.signal}); no output written`, 130) : null;
    const simulateOne = (p: Float32Array): ArrayLike<number> => {
      const q = Object.fromEntries(PARAM_NAMES.map((k, j) => [k, p[j] as number])) as Record<(typeof PARAM_NAMES)[number], number>;
      return simulate(ion, q).spectrum;
    };
    // several batches: predict in a worker thread while this thread writes (gzip) the previous batch
    const ap = total > batchSize && opts.worker !== false ? await startWorkerPredictor(loaded.dir, (opts.backend ?? 'wasm') as BackendKind, PREDICT_CHUNK) : null;
    asyncPredictor = ap;
    const pipeline = from(specs).pipe(
      readTiles({ read: readTile }, stopError, (ms) => (timing.read = (timing.read ?? 0) + ms)),
      toBatches(batchSize),
      ap
        ? predictBatchAsync((x, n) => ap.predict(x, n), channels)
        : predictBatch((x, n) => predictSpectra(model, x, n, PREDICT_CHUNK), channels),
      measuredSE(axis, energy),
      verifyPixels(selected, simulateOne, spectralError, channels),
      writeBatch({
        write: (b: Batch) => {
          if (b.spectra === null) throw new Error('internal: batch without spectra');
          wr.writeBlock({ y0: b.y0, y1: b.y1, x0: b.x0, x1: b.x1, spectra: b.spectra, params: b.params });
        },
      }),
      updateMaps(maps, channels),
      tap((d: BatchDone) => {
        done += d.pixels;
        computed += d.computed;
        for (const [k, v] of Object.entries(d.timing)) timing[k] = (timing[k] ?? 0) + v;
        progress.update(done);
      }),
    );
    await lastValueFrom(pipeline, { defaultValue: null });
    const stopErr = stopError();
    if (stopErr) throw stopErr;
    progress.finish(done);

    // SE map: against measured data, else against the simulator where verified
    const seMap = measured ? maps.se : maps.seVerify;
    const pick = previewPixels(seMap, maps.l3Peak);
    const predicted = new Map(pick.shown.map((p) => [p, wr.readSpectrum(Math.floor(p / nx), p % nx)]));
    const tw = performance.now();
    wr.finish({ se: seMap, flags: maps.flags, seVerify: selected ? maps.seVerify : null });
    writer = null;
    timing.write = (timing.write ?? 0) + performance.now() - tw;

    // PNG previews (temporary names, renamed with the .h5 below)
    const tp = performance.now();
    const [, tmpSe, tmpPeak, tmpRgb, tmpSpectra] = tmp as [string, string, string, string, string];
    const reference = (pixel: number): { y: ArrayLike<number>; label: string } | null => {
      const y = Math.floor(pixel / nx);
      const x = pixel % nx;
      if (measured && axis) {
        const ne = measured.info.energy.length;
        const row = measured.readRows(y, y + 1).subarray(x * ne, (x + 1) * ne);
        const a = new Float32Array(channels);
        return resampleSpectrum(axis, row, energy, a) === 'bad' ? null : { y: a, label: 'measured' };
      }
      const t = pr.readRows(y, y + 1);
      return { y: simulateOne(t.params.subarray(x * P, (x + 1) * P)), label: 'simulator' };
    };
    await writeRenderPreviews(
      { se: tmpSe, l3peak: tmpPeak, rgb: tmpRgb, spectra: tmpSpectra },
      {
        ion,
        geom: { ny, nx, pixelSize: info.pixelSize, pixelUnit: info.pixelUnit },
        energy,
        seMap,
        seTitle: measured ? `SE against measured data, ${ion}` : selected ? `SE against the simulator (verified pixels), ${ion}` : `SE: no reference (use --measured or --verify), ${ion}`,
        l3Peak: maps.l3Peak,
        rgb: maps.rgb,
        pick,
        predicted,
        reference,
      },
    );
    timing.png = performance.now() - tp;

    // rename everything into place
    const made: string[] = [];
    allOut.forEach((final, i) => {
      const t = tmp[i] as string;
      if (!existsSync(t)) return;
      renameSync(t, final);
      made.push(final);
    });
    const seconds = (performance.now() - t0) / 1000;
    const seStats = stats(seMap);
    const verifyStats = selected ? stats(maps.seVerify) : null;
    const flagged = { masked: 0, invalid: 0, extrapolated: 0, measuredPartial: 0, measuredBad: 0, verified: 0, verifyFailed: 0 };
    for (const f of maps.flags) {
      if (f & FLAG.MASKED) flagged.masked++;
      if (f & FLAG.INVALID_PARAM) flagged.invalid++;
      if (f & FLAG.EXTRAPOLATED) flagged.extrapolated++;
      if (f & FLAG.MEASURED_PARTIAL) flagged.measuredPartial++;
      if (f & FLAG.MEASURED_BAD) flagged.measuredBad++;
      if (f & FLAG.VERIFIED) flagged.verified++;
      if (f & FLAG.VERIFY_FAILED) flagged.verifyFailed++;
    }
    const summary = {
      ion,
      input: info.path,
      model: loaded.dir,
      measured: measured ? measured.info.path : null,
      shift,
      ny,
      nx,
      pixels: total,
      computed,
      flags: flagged,
      seconds: round(seconds),
      pixelsPerSecond: round(total / seconds),
      timing: Object.fromEntries(Object.entries(timing).map(([k, v]) => [k, round(v / 1000)])),
      se: roundStats(seStats),
      seVerify: verifyStats ? roundStats(verifyStats) : null,
      files: made,
    };
    io.stderr(
      `rendered ${computed} of ${total} pixels of ${ion} in ${formatDuration(seconds)} (${Math.round(total / seconds)} pixels/s)` +
        `${seStats.count > 0 ? `; SE median ${seStats.median?.toFixed(2)} %, 95th percentile ${seStats.p95?.toFixed(2)} %` : ''}` +
        `${flagged.extrapolated ? `; ${flagged.extrapolated} extrapolated` : ''}${flagged.masked ? `; ${flagged.masked} masked` : ''}` +
        `${flagged.invalid ? `; ${flagged.invalid} with invalid parameters` : ''}${flagged.measuredBad ? `; ${flagged.measuredBad} unusable measured spectra` : ''}` +
        `\nwrote ${made.join(', ')}`,
    );
    if (opts.json) io.stdout(JSON.stringify(summary) + '\n');
    return 0;
  } catch (e) {
    writer?.abort();
    cleanup();
    if (e instanceof XasmapError && e.code === 'INTERRUPTED') {
      io.stderr(`\nrender ${e.message}`);
      return 130;
    }
    throw e;
  } finally {
    stop.dispose();
    await asyncPredictor?.close();
    params?.close();
    measured?.close();
  }
}

function resolveIon(opt: string | undefined, attr: string | undefined, path: string): IonName {
  if (opt !== undefined) return parseIon(opt);
  if (attr === undefined) {
    throw new XasmapError('PARAMS_FIELD_MISSING', `${path}: missing root attribute 'ion' (e.g. "Fe2+"); add it or pass --ion`);
  }
  const hit = ION_NAMES.find((n) => n.toLowerCase() === attr.trim().toLowerCase());
  if (!hit || !isIonName(hit)) {
    throw new XasmapError('BAD_ION', `${path}: root attribute 'ion' is '${attr}', not a supported ion; supported: ${ION_NAMES.join(', ')} (or pass --ion)`);
  }
  return hit;
}


function round(x: number): number {
  return Number(x.toPrecision(6));
}

function roundStats(s: ReturnType<typeof stats>): Record<string, number | null> {
  return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v === null ? null : round(v)]));
}
