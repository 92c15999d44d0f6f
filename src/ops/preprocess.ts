/**
 * Pre-processing of measured spectra before `xasmap fit` resamples them onto the model grid
 * and box-normalises them (resample.ts). Pure: energies in eV and values in, new arrays out.
 *
 * Pre-edge line removal (removePreEdge): measured L-edge spectra sit on a sloping background
 * (I0 drift, absorption of lower edges, EELS power-law tail). The model spectra are zero below
 * the edge. A straight line a + b E is least-squares fitted to the pre-edge region and
 * subtracted from the whole spectrum:
 *
 * - region: the points with edgeStart - window <= E <= edgeStart - margin (window 10 eV,
 *   margin 1 eV by default);
 * - fewer than 3 finite points there: the lowest-energy 5 % of the points (fallbackFraction),
 *   keeping only those below edgeStart;
 * - still fewer than 3: the spectrum is returned unchanged, with the reason.
 *
 * Points with non-finite values are left out of the fit and stay non-finite. If all region
 * points share one energy the line is flat (their mean). A constant offset alone would not
 * change the fit (box normalisation removes offset and scale); the slope is what matters.
 *
 * Default edge start (defaultPreEdge): the model grid of an ion starts 5 eV below its L3
 * (src/physics/ions.ts energyWindow), so edgeStart = grid start + 2 eV, i.e. 3 eV below L3,
 * on the measured axis: minus the measured -> model shift (measured + shift = model energy).
 */
import { energyWindow, windowAxes, type IonName } from '../physics/ions.js';

export interface PreEdgeOptions {
  /** energy (eV, measured axis) where the edge starts; the fitted region ends `margin` below it */
  edgeStart: number;
  /** width of the pre-edge region, eV (default 10) */
  window?: number;
  /** gap between the region and edgeStart, eV (default 1) */
  margin?: number;
  /** fallback region: this fraction of the points with the lowest energies (default 0.05) */
  fallbackFraction?: number;
}

export type PreEdgeRegion = 'window' | 'fallback' | 'none';

export interface PreEdgeResult {
  /** the spectrum minus the fitted line (a copy of the input when not applied) */
  values: Float64Array;
  applied: boolean;
  /** line: value = intercept + slope * (E - eRef); 0 when not applied */
  slope: number;
  intercept: number;
  eRef: number;
  /** number of points used in the fit */
  nPoints: number;
  region: PreEdgeRegion;
  /** why the line was not removed, or why the fallback region was used */
  reason?: string;
}

export const PRE_EDGE_DEFAULTS = { window: 10, margin: 1, fallbackFraction: 0.05, minPoints: 3 } as const;

/** Region chosen from the energy axis only (shared by all pixels of a stack). */
export interface PreEdgePlan {
  /** indices (file order) of the region points */
  indices: Int32Array;
  region: PreEdgeRegion;
  reason?: string;
}

/** Picks the pre-edge points for an energy axis (any order). */
export function planPreEdge(energy: ArrayLike<number>, opts: PreEdgeOptions): PreEdgePlan {
  const window = opts.window ?? PRE_EDGE_DEFAULTS.window;
  const margin = opts.margin ?? PRE_EDGE_DEFAULTS.margin;
  const frac = opts.fallbackFraction ?? PRE_EDGE_DEFAULTS.fallbackFraction;
  const lo = opts.edgeStart - window;
  const hi = opts.edgeStart - margin;
  const n = energy.length;
  const inWindow: number[] = [];
  for (let i = 0; i < n; i++) {
    const e = energy[i] as number;
    if (e >= lo && e <= hi) inWindow.push(i);
  }
  if (inWindow.length >= PRE_EDGE_DEFAULTS.minPoints) return { indices: Int32Array.from(inWindow), region: 'window' };
  const why = `${inWindow.length} point(s) in the pre-edge window [${fmt(lo)}, ${fmt(hi)}] eV`;
  const sorted = Array.from({ length: n }, (_, i) => i)
    .filter((i) => Number.isFinite(energy[i] as number))
    .sort((a, b) => (energy[a] as number) - (energy[b] as number));
  const k = Math.round(frac * n);
  const fb = sorted.slice(0, k).filter((i) => (energy[i] as number) < opts.edgeStart);
  if (fb.length >= PRE_EDGE_DEFAULTS.minPoints) {
    return { indices: Int32Array.from(fb), region: 'fallback', reason: `${why}; used the lowest ${fb.length} points below ${fmt(opts.edgeStart)} eV` };
  }
  return {
    indices: new Int32Array(0),
    region: 'none',
    reason: `${why} and ${fb.length} of the lowest ${(frac * 100).toFixed(0)} % below ${fmt(opts.edgeStart)} eV; need ${PRE_EDGE_DEFAULTS.minPoints}: pre-edge line not removed`,
  };
}

function fmt(x: number): string {
  return Number.isFinite(x) ? (Math.round(x * 1000) / 1000).toString() : String(x);
}

interface Line {
  slope: number;
  intercept: number;
  eRef: number;
  n: number;
}

/** Least-squares line through the finite (energy, value) points of `idx`; null if fewer than 3. */
function fitLine(energy: ArrayLike<number>, values: ArrayLike<number>, idx: Int32Array): Line | null {
  let n = 0;
  let se = 0;
  let sv = 0;
  for (const i of idx) {
    const v = values[i] as number;
    if (!Number.isFinite(v)) continue;
    n++;
    se += energy[i] as number;
    sv += v;
  }
  if (n < PRE_EDGE_DEFAULTS.minPoints) return null;
  const eRef = se / n;
  const mean = sv / n;
  let sxx = 0;
  let sxy = 0;
  for (const i of idx) {
    const v = values[i] as number;
    if (!Number.isFinite(v)) continue;
    const dx = (energy[i] as number) - eRef;
    sxx += dx * dx;
    sxy += dx * (v - mean);
  }
  return { slope: sxx > 0 ? sxy / sxx : 0, intercept: mean, eRef, n };
}

function applyPlan(energy: ArrayLike<number>, values: ArrayLike<number>, plan: PreEdgePlan, out: Float64Array | Float32Array, o: number): Line | null {
  const n = energy.length;
  const line = plan.region === 'none' ? null : fitLine(energy, values, plan.indices);
  if (line === null) {
    for (let i = 0; i < n; i++) out[o + i] = values[i] as number;
    return null;
  }
  for (let i = 0; i < n; i++) out[o + i] = (values[i] as number) - (line.intercept + line.slope * ((energy[i] as number) - line.eRef));
  return line;
}

/** Fits a line to the pre-edge region and subtracts it (see the file comment). */
export function removePreEdge(energy: ArrayLike<number>, values: ArrayLike<number>, opts: PreEdgeOptions): PreEdgeResult {
  if (energy.length !== values.length) throw new RangeError(`removePreEdge: ${energy.length} energies but ${values.length} values`);
  const plan = planPreEdge(energy, opts);
  const out = new Float64Array(values.length);
  const line = applyPlan(energy, values, plan, out, 0);
  if (line === null) {
    const reason = plan.region === 'none' ? plan.reason : `fewer than ${PRE_EDGE_DEFAULTS.minPoints} finite values in the pre-edge region: pre-edge line not removed`;
    return { values: out, applied: false, slope: 0, intercept: 0, eRef: 0, nPoints: 0, region: 'none', ...(reason !== undefined ? { reason } : {}) };
  }
  return {
    values: out,
    applied: true,
    slope: line.slope,
    intercept: line.intercept,
    eRef: line.eRef,
    nPoints: line.n,
    region: plan.region,
    ...(plan.reason !== undefined ? { reason: plan.reason } : {}),
  };
}

/** Pre-processing switches for `fit`; every step is off unless given. */
export interface PreprocessOptions {
  /** remove a straight pre-edge line; false/undefined: off */
  preEdge?: PreEdgeOptions | false;
}

export interface PreprocessStackResult {
  /** m spectra of energy.length values, pixel-major, file energy order (a new array) */
  spectra: Float32Array;
  /** per pixel: 1 if the pre-edge line was removed, 0 if not (step off, too few finite points) */
  applied: Uint8Array;
  region: PreEdgeRegion;
  /** the plan's reason (window empty, fallback used, step off) */
  reason?: string;
}

/**
 * Applies the switched-on steps to m spectra (pixel-major rows as returned by
 * MeasuredReader.readRows). The pre-edge region is chosen once from the energy axis; the line
 * is fitted per pixel in float64.
 */
export function preprocessStack(rows: Float32Array, m: number, energy: ArrayLike<number>, opts: PreprocessOptions): PreprocessStackResult {
  const ne = energy.length;
  if (!(Number.isInteger(m) && m >= 0) || rows.length !== m * ne) {
    throw new RangeError(`preprocessStack: ${rows.length} values are not ${m} spectra of ${ne} energies`);
  }
  const spectra = new Float32Array(rows.length);
  const applied = new Uint8Array(m);
  if (!opts.preEdge) {
    spectra.set(rows);
    return { spectra, applied, region: 'none', reason: 'pre-edge removal off' };
  }
  const plan = planPreEdge(energy, opts.preEdge);
  const buf = new Float64Array(ne);
  for (let p = 0; p < m; p++) {
    const o = p * ne;
    for (let i = 0; i < ne; i++) buf[i] = rows[o + i] as number;
    if (applyPlan(energy, buf, plan, spectra, o) !== null) applied[p] = 1;
  }
  return { spectra, applied, region: plan.region, ...(plan.reason !== undefined ? { reason: plan.reason } : {}) };
}

/** First absolute energy (eV) of the ion's 501-channel model grid. */
export function modelGridStart(ion: IonName): number {
  return windowAxes(energyWindow(ion)).energy[0] as number;
}

/**
 * Default pre-edge options for an ion: edgeStart = model grid start + 2 eV - shift (on the
 * measured axis, where measured + shift = model energy), window 10 eV, margin 1 eV.
 */
export function defaultPreEdge(ion: IonName, shift = 0): Required<PreEdgeOptions> {
  return {
    edgeStart: modelGridStart(ion) + 2 - shift,
    window: PRE_EDGE_DEFAULTS.window,
    margin: PRE_EDGE_DEFAULTS.margin,
    fallbackFraction: PRE_EDGE_DEFAULTS.fallbackFraction,
  };
}
