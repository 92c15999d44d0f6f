/**
 * `xasmap fit MEASURED --ion ION [--out FIT.h5] [--model DIR|simulator] [--fix T=300,...]
 * [--bounds Dq=0:0.2,...] [--shift auto|EV] [--preedge auto|on|off] [--starts N]
 * [--iterations N] [--refine K|all] [--columns E,S[,I0]] [--force] [--json]`
 *
 * Measured spectra (NeXus stack, column text, EMSA/MAS) -> pre-edge removal -> global energy
 * shift -> resampling onto the model grid and box normalisation -> per-pixel fit through the
 * network (ops/fit.ts), optionally refined with the simulator -> parameter maps with sigmas,
 * SE and flag maps (NeXus, io/fit-file.ts) and PNG maps. Outputs are written under temporary
 * names and renamed at the end; on an error or Ctrl-C nothing is left.
 */
import { renameSync, rmSync } from 'node:fs';
import { XasmapError } from '../errors.js';
import { assertWritable, tempNameFor } from '../io/atomic-write.js';
import { writeFitFile } from '../io/fit-file.js';
import { fitOutputs, fitPngPaths, writeFitPngs } from '../io/fit-previews.js';
import { type MeasuredAnyReader, openMeasuredAny } from '../io/measured-any.js';
import { loadModelDir, loadShippedModel, shippedModelDir } from '../io/model-registry.js';
import { type BackendKind, initBackend } from '../model/backend.js';
import { type FitReport, type Forward, type LibrarySet, type MatMul, fitSpectra, fitSpectraBlocks, predictLibrary } from '../ops/fit.js';
import { meanSpectrum, profileShift, shiftFromLibrary } from '../ops/fit-shift.js';
import { type NeighbourReport, improveFromNeighbours } from '../ops/fit-neighbours.js';
import { FIT_FLAG, type FitMaps, PARAM_FLAG } from '../ops/fit-types.js';
import { tfMatMul } from '../ops/matmul.js';
import { predictSpectra } from '../ops/predict.js';
import { defaultPreEdge, modelGridStart, preprocessStack } from '../ops/preprocess.js';
import { edgeStep } from '../ops/edge-step.js';
import { prepareAxis, resampleSpectrum } from '../ops/resample.js';
import { simulatorForward } from '../ops/simulator-forward.js';
import { stats } from '../ops/render-maps.js';
import { type IonName, PARAM_NAMES, PARAM_RANGES, PARAM_UNITS, type ParamName, energyWindow, windowAxes } from '../physics/ions.js';
import { VERSION } from '../version.js';
import { parseIon } from './ion-option.js';
import type { CliIo } from './io.js';
import { countOrAll, intOption, numberOption } from './options.js';
import { watchStopSignals } from './stop-signals.js';
import { Progress, formatDuration } from './progress.js';
import { type AsyncPredictor, startPredictorPool, startSimulatorPool } from './worker-predictor.js';

export interface FitCliOptions {
  ion?: string;
  out?: string;
  model?: string;
  fix?: string;
  bounds?: string;
  shift?: string;
  preedge?: string;
  edgeStep?: string;
  starts?: string;
  iterations?: string;
  library?: string;
  refine?: string;
  neighbours?: string;
  refineLibrary?: string;
  columns?: string;
  backend?: string;
  workers?: string;
  force?: boolean;
  json?: boolean;
}

const P = PARAM_NAMES.length;
/** Pixels fitted at each trial shift of the automatic shift search (ops/fit-shift.ts profileShift). */
const SHIFT_SAMPLE = 48;
/** Simulator refinement: library starts added to the network's end points, and the least iterations. */
const REFINE_LIBRARY_STARTS = 8;
const REFINE_MIN_ITERATIONS = 20;
/** Pixels fitted at once (as render's batches): bounds the optimiser's state (starts x channels per pixel). */
const FIT_BLOCK = 10_000;
/** Rows per model call inside a worker (as render). */
const PREDICT_CHUNK = 2048;

export interface FitSettings {
  lower: number[];
  upper: number[];
  /** NaN = free */
  fixed: number[];
}

/** --fix and --bounds on top of the training ranges; the network cannot go outside them. */
export function parseFitSettings(fix: string | undefined, bounds: string | undefined, simulator: boolean): FitSettings {
  const lower = PARAM_NAMES.map((k) => PARAM_RANGES[k][0]);
  const upper = PARAM_NAMES.map((k) => PARAM_RANGES[k][1]);
  const fixed = PARAM_NAMES.map(() => NaN);
  const where = simulator ? '' : " (the network's training range; use --model simulator to go beyond it)";
  for (const [name, value] of assignments('fix', fix)) {
    const k = paramIndex('fix', name);
    const v = Number(value);
    if (value.trim() === '' || !Number.isFinite(v)) throw new XasmapError('BAD_ARGS', `--fix ${name}=${value}: not a number`);
    const [lo, hi] = PARAM_RANGES[name as ParamName];
    if (!simulator && (v < lo || v > hi)) throw new XasmapError('BAD_ARGS', `--fix ${name}=${value} is outside [${lo}, ${hi}]${where}`);
    if (name === 'T' && !(v > 0)) throw new XasmapError('BAD_ARGS', `--fix T=${value}: T must be > 0 K`);
    fixed[k] = v;
  }
  for (const [name, value] of assignments('bounds', bounds)) {
    const k = paramIndex('bounds', name);
    const m = /^\s*([^:]+):([^:]+)\s*$/.exec(value);
    const lo = m ? Number(m[1]) : NaN;
    const hi = m ? Number(m[2]) : NaN;
    if (!Number.isFinite(lo) || !Number.isFinite(hi) || !(lo < hi)) {
      throw new XasmapError('BAD_ARGS', `--bounds ${name}=${value}: expected LOW:HIGH with LOW < HIGH, e.g. ${name}=${PARAM_RANGES[name as ParamName].join(':')}`);
    }
    const [tlo, thi] = PARAM_RANGES[name as ParamName];
    if (!simulator && (lo < tlo || hi > thi)) throw new XasmapError('BAD_ARGS', `--bounds ${name}=${value} goes outside [${tlo}, ${thi}]${where}`);
    if (!Number.isNaN(fixed[k] as number)) throw new XasmapError('BAD_ARGS', `${name} is both fixed (--fix) and bounded (--bounds); give one`);
    lower[k] = lo;
    upper[k] = hi;
  }
  if (fixed.every((v) => !Number.isNaN(v))) throw new XasmapError('BAD_ARGS', '--fix fixes all nine parameters: nothing to fit');
  return { lower, upper, fixed };
}

function assignments(flag: string, text: string | undefined): [string, string][] {
  if (text === undefined || text.trim() === '') return [];
  return text.split(',').map((part) => {
    const eq = part.indexOf('=');
    if (eq < 0) throw new XasmapError('BAD_ARGS', `--${flag} '${part}': expected NAME=VALUE, e.g. --${flag} ${flag === 'fix' ? 'T=300' : 'Dq=0:0.2'}`);
    return [part.slice(0, eq).trim(), part.slice(eq + 1).trim()];
  });
}

function paramIndex(flag: string, name: string): number {
  const k = PARAM_NAMES.indexOf(name as ParamName);
  if (k < 0) throw new XasmapError('BAD_ARGS', `--${flag}: unknown parameter '${name}'; the parameters are ${PARAM_NAMES.join(', ')}`);
  return k;
}

function parseColumns(text: string | undefined): { energy: number; signal: number; i0?: number } | undefined {
  if (text === undefined) return undefined;
  const v = text.split(',').map((s) => Number(s.trim()));
  if ((v.length !== 2 && v.length !== 3) || v.some((x) => !Number.isInteger(x) || x < 1)) {
    throw new XasmapError('BAD_ARGS', `--columns ${text}: expected ENERGY,SIGNAL[,I0] as 1-based column numbers, e.g. 1,3,2`);
  }
  return v.length === 3 ? { energy: v[0] as number, signal: v[1] as number, i0: v[2] as number } : { energy: v[0] as number, signal: v[1] as number };
}

export async function runFit(measuredPath: string | undefined, opts: FitCliOptions, io: CliIo): Promise<number> {
  const t0 = performance.now();
  if (!measuredPath) throw new XasmapError('BAD_ARGS', 'fit needs a measured file: xasmap fit MEASURED.h5 --ion ION');
  const ion: IonName = parseIon(opts.ion);
  const useSimulator = opts.model?.trim().toLowerCase() === 'simulator';
  const settings = parseFitSettings(opts.fix, opts.bounds, useSimulator);
  const starts = intOption('starts', opts.starts, 1, 3);
  const iterations = intOption('iterations', opts.iterations, 1, 12);
  const library = intOption('library', opts.library, 16, useSimulator ? 256 : 4096);
  const refine = countOrAll('refine', opts.refine);
  const neighbours = intOption('neighbours', opts.neighbours, 0, 0);
  const refineLibrary = intOption('refine-library', opts.refineLibrary, 16, 1024);
  const workers = intOption('workers', opts.workers, 0, 2);
  const columns = parseColumns(opts.columns);
  const shiftAuto = opts.shift === undefined || opts.shift.trim().toLowerCase() === 'auto';
  let shift = shiftAuto ? 0 : numberOption('shift', opts.shift, 0);
  const preedgeMode = (opts.preedge ?? 'auto').trim().toLowerCase();
  if (!['auto', 'on', 'off'].includes(preedgeMode)) throw new XasmapError('BAD_ARGS', `--preedge ${opts.preedge}: expected auto, on or off`);
  const stepMode = (opts.edgeStep ?? 'auto').trim().toLowerCase();
  if (!['auto', 'on', 'off'].includes(stepMode)) throw new XasmapError('BAD_ARGS', `--edge-step ${opts.edgeStep}: expected auto, on or off`);
  const free = settings.fixed.map((v) => Number.isNaN(v));
  const outputs = fitOutputs(measuredPath, opts.out);
  const pngs = fitPngPaths(outputs.pngStem, free);
  const force = opts.force ?? false;
  for (const p of [outputs.h5, ...pngs]) assertWritable(p, force);

  let reader: MeasuredAnyReader | null = null;
  let pool: AsyncPredictor | null = null;
  const simPool: { p: AsyncPredictor | null } = { p: null };
  // the simulator as a forward model: in `workers` threads when the worker script is built
  const simulatorFwd = async (): Promise<Forward> => {
    simPool.p ??= workers > 0 ? await startSimulatorPool(ion, workers) : null;
    const p = simPool.p;
    return p ? (x, rows) => p.predict(x, rows) : simulatorForward(ion).forward;
  };
  const tmpH5 = tempNameFor(outputs.h5);
  const stop = watchStopSignals();
  const checkStop = (): void => {
    if (stop.signal) throw new XasmapError('INTERRUPTED', `fit stopped by ${stop.signal}; nothing was written`, 130);
  };
  const timing: Record<string, number> = {};
  const lap = (name: string, since: number): number => {
    const now = performance.now();
    timing[name] = (timing[name] ?? 0) + (now - since) / 1000;
    return now;
  };
  try {
    let t = performance.now();
    reader = await openMeasuredAny(measuredPath, columns ? { columns } : {});
    const info = reader.info;
    const { ny, nx } = info;
    const n = ny * nx;
    const ne = info.energy.length;
    const raw = reader.readRows(0, ny);
    reader.close();
    reader = null;
    t = lap('read', t);

    // forward model
    let modelName: string;
    let forward: Forward;
    let matmul: MatMul | undefined;
    if (useSimulator) {
      modelName = 'simulator';
      forward = await simulatorFwd();
    } else {
      await initBackend((opts.backend ?? 'wasm') as BackendKind);
      const dir = opts.model ?? shippedModelDir(ion);
      const loaded = opts.model ? await loadModelDir(opts.model) : await loadShippedModel(ion);
      modelName = loaded.dir;
      pool = workers > 0 ? await startPredictorPool(dir, (opts.backend ?? 'wasm') as BackendKind, PREDICT_CHUNK, workers) : null;
      const model = loaded.model;
      matmul = tfMatMul;
      forward = pool ? (p, rows) => pool!.predict(p, rows) : async (p, rows) => predictSpectra(model, p, rows, PREDICT_CHUNK);
    }
    t = lap('setup', t);

    // pre-edge removal (auto: only when the data reach at least 3 eV below the model window)
    const gridStart = modelGridStart(ion);
    let eMin = Infinity;
    for (const e of info.energy) eMin = Math.min(eMin, e);
    const preedgeOn = preedgeMode === 'on' || (preedgeMode === 'auto' && eMin + shift <= gridStart - 3);
    const pre = preprocessStack(raw, n, info.energy, { preEdge: preedgeOn ? defaultPreEdge(ion, shift) : false });
    const spectra = pre.spectra;
    t = lap('preprocess', t);

    const grid = windowAxes(energyWindow(ion)).energy;
    const C = grid.length;
    // edge-jump background (auto: with the pre-edge removal, i.e. for scans wider than the model window)
    const stepOn = stepMode === 'on' || (stepMode === 'auto' && preedgeOn);
    const stepOpt = stepOn ? { edgeStep: edgeStep(ion, grid) } : {};
    const setup = { lower: settings.lower, upper: settings.upper, fixed: settings.fixed };
    const progress = new Progress(io, `fit ${ion}`, 100, '%');
    let lib: LibrarySet = await predictLibrary(setup, library, 1, forward);
    t = lap('library', t);
    checkStop();

    // global shift: library match of the mean spectrum, then render's shift fit on a fitted sample
    let shiftInfo: Record<string, unknown> = { mode: shiftAuto ? 'auto' : 'given', shift };
    if (shiftAuto) {
      const mean = meanSpectrum(spectra, n, ne);
      if (!mean) throw new XasmapError('MEASURED_BAD', `${info.path}: no pixel has a finite spectrum; nothing to fit`);
      const coarse = shiftFromLibrary(mean, info.energy, grid, lib.spectra, lib.size);
      if (!Number.isFinite(coarse.distance)) {
        throw new XasmapError(
          'MEASURED_RANGE',
          `${info.path}: the measured energies (${fmt(eMin)}..${fmt(Math.max(...info.energy))} eV) do not cover half of the ${ion} model window (${fmt(grid[0] as number)}..${fmt(grid[C - 1] as number)} eV) at any shift within +-5 eV; pass --shift EV`,
        );
      }
      const sample = samplePixels(n, SHIFT_SAMPLE);
      const sub = new Float32Array(sample.length * ne);
      sample.forEach((i, j) => sub.set(spectra.subarray(i * ne, (i + 1) * ne), j * ne));
      const sp = new Progress(io, `fit ${ion}: energy shift`, 39, 'fits');
      let evals = 0;
      const profile = await profileShift(async (s) => {
        checkStop();
        const { measured: m } = resampleAll(sub, sample.length, info.energy, s, grid);
        const r = await fitSpectra(m, sample.length, C, setup, forward, { starts: 2, iterations: 6, librarySet: lib, ...stepOpt, ...(matmul ? { matmul } : {}) });
        sp.update(++evals);
        return stats(r.maps.se).median ?? Infinity;
      }, coarse.shift);
      sp.finish(evals);
      shift = profile.shift;
      shiftInfo = { mode: 'auto', shift, libraryShift: coarse.shift, samplePixels: sample.length, sampleMedianSe: profile.value, profile: profile.curve };
      t = lap('shift', t);
    }
    checkStop();

    const { measured } = resampleAll(spectra, n, info.energy, shift, grid);
    t = lap('resample', t);
    const phaseWeight = { library: 0, starts: 10, iterate: 80, uncertainty: 10 } as const;
    const phaseBase = { library: 0, starts: 0, iterate: 10, uncertainty: 90 } as const;
    // blocks of FIT_BLOCK pixels bound the optimiser's memory; progress in per cent of all pixels
    let blockDone = 0;
    const fit = await fitSpectraBlocks(measured, n, C, setup, forward, {
      starts,
      iterations,
      librarySet: lib,
      block: FIT_BLOCK,
      ...stepOpt,
      ...(matmul ? { matmul } : {}),
      onProgress: (phase, done, total) => {
        checkStop();
        const inBlock = (phaseBase[phase] + (phaseWeight[phase] * done) / Math.max(1, total)) / 100;
        progress.update(Math.round((100 * (blockDone + inBlock * Math.min(FIT_BLOCK, n - blockDone))) / n));
      },
      onBlock: (done) => (blockDone = done),
    });
    progress.finish(100);
    t = lap('fit', t);
    lib = { size: 0, params: new Float32Array(0), spectra: new Float32Array(0) };
    const maps = fit.maps;
    let neighbourReport: NeighbourReport | null = null;
    if (neighbours > 0 && ny * nx > 1) {
      neighbourReport = await improveFromNeighbours(maps, ny, nx, setup, forward, {
        passes: neighbours,
        iterations,
        fit: { ...stepOpt, ...(matmul ? { matmul } : {}), onProgress: () => checkStop() },
        onPass: (pass, improved) => io.stderr(`fit ${ion}: neighbour pass ${pass + 1}: ${improved} pixels improved from a neighbour's solution`),
      });
      t = lap('neighbours', t);
    }

    // simulator refinement of the chosen pixels (worst SE first), from every start's end point
    let refined = 0;
    let refineReport: FitReport | null = null;
    if (refine !== 0 && !useSimulator) {
      const order = Array.from({ length: n }, (_, i) => i).filter((i) => (maps.flags[i]! & FIT_FLAG.NOT_FITTED) === 0);
      order.sort((a, b) => (maps.se[b] as number) - (maps.se[a] as number));
      const chosen = refine === 'all' ? order : order.slice(0, refine);
      if (chosen.length > 0) {
        // the end point of every network start, and the network's best with Ds, Dt reversed
        const SN = fit.report.starts;
        const S = SN + 1;
        const sub = new Float32Array(chosen.length * C);
        const init = new Float32Array(chosen.length * S * P);
        chosen.forEach((i, j) => {
          sub.set(measured.subarray(i * C, (i + 1) * C), j * C);
          init.set(fit.startParams.subarray(i * SN * P, (i + 1) * SN * P), j * S * P);
          const o = (j * S + SN) * P;
          init.set(maps.params.subarray(i * P, (i + 1) * P), o);
          for (const k of [1, 2]) init[o + k] = Math.min(settings.upper[k] as number, Math.max(settings.lower[k] as number, -(init[o + k] as number)));
        });
        const rp = new Progress(io, `refine ${ion} (simulator)`, 100, '%');
        try {
          // starts: the end point of every network start, plus the nearest spectra of a simulator library
          const simForward = await simulatorFwd();
          const simLib = await predictLibrary(setup, refineLibrary, 3, simForward);
          checkStop();
          const r = await fitSpectra(sub, chosen.length, C, setup, simForward, {
            initial: init,
            initialStarts: S,
            ...stepOpt,
            librarySet: simLib,
            starts: REFINE_LIBRARY_STARTS,
            iterations: Math.max(iterations, REFINE_MIN_ITERATIONS),
            concurrency: 1,
            chunk: 128,
            onProgress: (phase, done, total) => {
              checkStop();
              rp.update(Math.round(phaseBase[phase] + (phaseWeight[phase] * done) / Math.max(1, total)));
            },
          });
          rp.finish(100);
          refineReport = r.report;
          chosen.forEach((i, j) => mergePixel(maps, i, r.maps, j));
          refined = chosen.length;
        } catch (e) {
          if (e instanceof XasmapError && e.code === 'INTERRUPTED') throw e;
          for (const i of chosen) maps.flags[i] = (maps.flags[i] as number) | FIT_FLAG.REFINE_FAILED;
          io.stderr(`fit: the simulator refinement failed (${(e as Error).message}); the network fit is kept for those pixels`);
        }
      }
      t = lap('refine', t);
    }
    checkStop();

    // outputs
    const fixedOut = settings.fixed.map((v) => (Number.isNaN(v) ? null : v));
    const optionsOut = {
      starts,
      iterations,
      library,
      refine,
      refineLibrary,
      neighbours: neighbourReport ?? neighbours,
      preedge: { mode: preedgeMode, applied: preedgeOn, region: pre.region },
      edgeStep: { mode: stepMode, applied: stepOn },
      shift: shiftInfo,
      model: modelName,
      report: fit.report,
      ...(refineReport ? { refineReport } : {}),
    };
    await writeFitFile(
      tmpH5,
      {
        ion,
        model: modelName,
        version: VERSION,
        commandLine: process.argv.slice(1).join(' '),
        date: new Date().toISOString(),
        source: info.path,
        energy: grid,
        shift,
        options: optionsOut,
        bounds: { lower: settings.lower, upper: settings.upper },
        fixed: fixedOut,
      },
      maps,
      { ny, nx },
    );
    checkStop();
    const pngTmpStem = `${outputs.pngStem}.${process.pid}.tmp`;
    const written = await writeFitPngs(pngTmpStem, maps, { ny, nx }, { ion, free, energy: grid });
    renameSync(tmpH5, outputs.h5);
    const files = [outputs.h5];
    for (const w of written) {
      const final = outputs.pngStem + w.slice(pngTmpStem.length);
      renameSync(w, final);
      files.push(final);
    }
    lap('write', t);

    const summary = summarise(maps, ion, modelName, n, fit.report, refined, shift, shiftInfo, files, (performance.now() - t0) / 1000, timing);
    summary.neighbours = neighbourReport;
    if (opts.json) io.stdout(JSON.stringify(summary) + '\n');
    else io.stdout(formatSummary(summary));
    return 0;
  } catch (e) {
    rmSync(tmpH5, { force: true });
    for (const p of pngs) rmSync(`${outputs.pngStem}.${process.pid}.tmp${p.slice(outputs.pngStem.length)}`, { force: true });
    throw e;
  } finally {
    stop.dispose();
    reader?.close();
    await pool?.close();
    await simPool.p?.close();
  }
}

/** Up to k pixel indices spread evenly over 0..n-1. */
function samplePixels(n: number, k: number): number[] {
  if (n <= k) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: k }, (_, j) => Math.floor(((j + 0.5) * n) / k));
}

/** m spectra (file energy order) -> m x C on the model grid, box-normalised, NaN outside coverage. */
function resampleAll(rows: Float32Array, m: number, energy: Float64Array, shift: number, grid: Float64Array): { measured: Float32Array } {
  const ne = energy.length;
  const C = grid.length;
  const axis = prepareAxis(energy, shift);
  const measured = new Float32Array(m * C);
  for (let i = 0; i < m; i++) resampleSpectrum(axis, rows.subarray(i * ne, (i + 1) * ne), grid, measured.subarray(i * C, (i + 1) * C));
  return { measured };
}

/** Pixel j of `src` (a refinement) replaces pixel i of `dst`, flagged REFINED. */
function mergePixel(dst: FitMaps, i: number, src: FitMaps, j: number): void {
  const C = dst.channels;
  if ((src.flags[j]! & FIT_FLAG.NOT_FITTED) !== 0) {
    dst.flags[i] = (dst.flags[i] as number) | FIT_FLAG.REFINE_FAILED;
    return;
  }
  dst.params.set(src.params.subarray(j * P, (j + 1) * P), i * P);
  dst.sigma.set(src.sigma.subarray(j * P, (j + 1) * P), i * P);
  dst.paramFlags.set(src.paramFlags.subarray(j * P, (j + 1) * P), i * P);
  dst.fitted.set(src.fitted.subarray(j * C, (j + 1) * C), i * C);
  dst.se[i] = src.se[j] as number;
  dst.flags[i] = (src.flags[j] as number) | FIT_FLAG.REFINED;
  dst.bestStart[i] = src.bestStart[j] as number;
}

interface FitSummary {
  neighbours?: NeighbourReport | null;
  ion: string;
  model: string;
  pixels: number;
  fitted: number;
  refined: number;
  shift: number;
  shiftInfo: Record<string, unknown>;
  se: ReturnType<typeof stats>;
  params: Record<string, { median: number | null; sigmaMedian: number | null; units: string; atBound: number; undetermined: number; fixed?: number }>;
  flags: { notFitted: number; partial: number; atBound: number; undetermined: number; refined: number; refineFailed: number };
  starts: number;
  iterations: number;
  library: number;
  forwardRows: number;
  seconds: number;
  timing: Record<string, number>;
  files: string[];
}

function summarise(
  maps: FitMaps,
  ion: string,
  model: string,
  n: number,
  report: FitReport,
  refined: number,
  shift: number,
  shiftInfo: Record<string, unknown>,
  files: string[],
  seconds: number,
  timing: Record<string, number>,
): FitSummary {
  const count = (bit: number): number => maps.flags.reduce((a, f) => a + ((f & bit) !== 0 ? 1 : 0), 0);
  const params: FitSummary['params'] = {};
  PARAM_NAMES.forEach((name, k) => {
    const v = new Float32Array(n);
    const s = new Float32Array(n);
    let atBound = 0;
    let undetermined = 0;
    let fixed: number | undefined;
    for (let i = 0; i < n; i++) {
      v[i] = maps.params[i * P + k] as number;
      s[i] = maps.sigma[i * P + k] as number;
      const pf = maps.paramFlags[i * P + k] as number;
      if (pf & (PARAM_FLAG.AT_LOWER | PARAM_FLAG.AT_UPPER)) atBound++;
      if (pf & PARAM_FLAG.UNDETERMINED) undetermined++;
      if (pf & PARAM_FLAG.FIXED) fixed = v[i];
    }
    params[name] = { median: round(stats(v).median), sigmaMedian: round(stats(s).median), units: PARAM_UNITS[name], atBound, undetermined, ...(fixed !== undefined ? { fixed } : {}) };
  });
  const se = stats(maps.se);
  return {
    ion,
    model,
    pixels: n,
    fitted: report.fitted,
    refined,
    shift: Number(shift.toFixed(4)),
    shiftInfo,
    se: { ...se, mean: round(se.mean), median: round(se.median), p95: round(se.p95), max: round(se.max) },
    params,
    flags: {
      notFitted: count(FIT_FLAG.NOT_FITTED),
      partial: count(FIT_FLAG.PARTIAL),
      atBound: count(FIT_FLAG.AT_BOUND),
      undetermined: count(FIT_FLAG.UNDETERMINED),
      refined: count(FIT_FLAG.REFINED),
      refineFailed: count(FIT_FLAG.REFINE_FAILED),
    },
    starts: report.starts,
    iterations: report.iterations,
    library: report.library,
    forwardRows: report.forwardRows,
    seconds: Number(seconds.toFixed(2)),
    timing: Object.fromEntries(Object.entries(timing).map(([k, v]) => [k, Number(v.toFixed(3))])),
    files,
  };
}

function formatSummary(s: FitSummary): string {
  const lines = [
    `fit ${s.ion} (${s.model === 'simulator' ? 'simulator' : 'network ' + s.model}): ${s.fitted} of ${s.pixels} pixels fitted` +
      `${s.refined ? `, ${s.refined} refined with the simulator` : ''} in ${formatDuration(s.seconds)} (${s.starts} starts, ${s.iterations} iterations)`,
    `energy shift ${s.shift >= 0 ? '+' : ''}${s.shift.toFixed(3)} eV (${String(s.shiftInfo['mode'])}); SE median ${fmt(s.se.median)} %, 95th percentile ${fmt(s.se.p95)} %`,
  ];
  for (const [name, p] of Object.entries(s.params)) {
    if (p.fixed !== undefined) lines.push(`  ${name.padEnd(6)} fixed at ${p.fixed} ${p.units}`);
    else lines.push(`  ${name.padEnd(6)} median ${fmt(p.median)} ${p.units}, sigma median ${fmt(p.sigmaMedian)}; on a bound: ${p.atBound}, undetermined: ${p.undetermined}`);
  }
  if (s.flags.notFitted) lines.push(`${s.flags.notFitted} pixels not fitted (no usable spectrum; flag 1)`);
  if (s.flags.partial) lines.push(`${s.flags.partial} pixels cover only part of the model window (flag 2)`);
  lines.push(`wrote ${s.files.join(', ')}`);
  return lines.join('\n') + '\n';
}

function fmt(x: number | null): string {
  return x === null || !Number.isFinite(x) ? '--' : Number(x.toPrecision(4)).toString();
}

function round(x: number | null): number | null {
  return x === null ? null : Number(x.toPrecision(6));
}
