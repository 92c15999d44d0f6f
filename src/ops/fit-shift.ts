/**
 * The global energy shift of a measured stack before any parameter is known (`fit --shift
 * auto`): the mean measured spectrum (pre-processed, file energy order) is resampled onto the
 * model grid for each trial shift, box-normalised, and compared with every spectrum of the
 * fit's starting library (mean squared difference over the covered channels); the shift whose
 * best library match is closest wins. A grid search, then a finer one around the best value.
 * cli/fit.ts polishes the result with ops/shift.ts on a sample of fitted pixels.
 */
import { prepareAxis, resampleSpectrum } from './resample.js';
import { gridMinimise } from './shift.js';

export interface LibraryShift {
  shift: number;
  /** mean squared difference of the best library match at that shift */
  distance: number;
  /** (shift, distance) of the coarse search */
  curve: [number, number][];
}

/** Mean of the finite rows of an m x ne block (NaN rows are skipped); null if none. */
export function meanSpectrum(rows: Float32Array, m: number, ne: number): Float64Array | null {
  const mean = new Float64Array(ne);
  let used = 0;
  for (let p = 0; p < m; p++) {
    let ok = true;
    for (let e = 0; e < ne; e++) if (!Number.isFinite(rows[p * ne + e] as number)) ok = false;
    if (!ok) continue;
    for (let e = 0; e < ne; e++) mean[e] = (mean[e] as number) + (rows[p * ne + e] as number);
    used++;
  }
  if (used === 0) return null;
  for (let e = 0; e < ne; e++) mean[e] = (mean[e] as number) / used;
  return mean;
}

export function shiftFromLibrary(
  mean: ArrayLike<number>,
  energy: ArrayLike<number>,
  grid: ArrayLike<number>,
  lib: Float32Array,
  L: number,
  opts: { range?: number; step?: number; fine?: number; minCoverage?: number } = {},
): LibraryShift {
  const range = opts.range ?? 5;
  const step = opts.step ?? 0.05;
  const fine = opts.fine ?? 0.005;
  const minCov = opts.minCoverage ?? 0.5;
  const C = grid.length;
  const buf = new Float32Array(C);
  const dist = (s: number): number => {
    const status = resampleSpectrum(prepareAxis(energy, s), mean, grid, buf);
    if (status === 'bad') return Infinity;
    let cov = 0;
    for (let c = 0; c < C; c++) if (!Number.isNaN(buf[c] as number)) cov++;
    if (cov < minCov * C) return Infinity;
    let best = Infinity;
    for (let l = 0; l < L; l++) {
      let d = 0;
      const o = l * C;
      for (let c = 0; c < C; c++) {
        const v = buf[c] as number;
        if (Number.isNaN(v)) continue;
        const r = v - (lib[o + c] as number);
        d += r * r;
        if (d >= best * cov) break;
      }
      if (d < best * cov) best = d / cov;
    }
    return best;
  };
  const g = gridMinimise(dist, range, step, fine);
  return { shift: Math.round(g.best / fine) * fine, distance: g.value, curve: g.curve };
}

/**
 * Profile of the fit quality against the global shift: `evalAt(s)` fits a sample of pixels at
 * shift s and returns a figure to minimise (e.g. their median SE). A grid of `step` over
 * centre +- range, then a grid of `fine` around the best point, then the vertex of the
 * parabola through the best fine point and its neighbours (kept only if it lies between them).
 */
export async function profileShift(
  evalAt: (shift: number) => Promise<number>,
  centre: number,
  opts: { range?: number; step?: number; fine?: number } = {},
): Promise<{ shift: number; value: number; curve: [number, number][] }> {
  const range = opts.range ?? 2;
  const step = opts.step ?? 0.25;
  const fine = opts.fine ?? 0.05;
  const curve: [number, number][] = [];
  const seen = new Map<string, number>();
  const at = async (s: number): Promise<number> => {
    const key = s.toFixed(6);
    const hit = seen.get(key);
    if (hit !== undefined) return hit;
    const v = await evalAt(s);
    seen.set(key, Number.isFinite(v) ? v : Infinity);
    curve.push([s, v]);
    return Number.isFinite(v) ? v : Infinity;
  };
  let best = centre;
  let bestV = Infinity;
  const n = Math.round(range / step);
  for (let i = -n; i <= n; i++) {
    const s = centre + i * step;
    const v = await at(s);
    if (v < bestV) [best, bestV] = [s, v];
  }
  const c2 = best;
  const m = Math.round(step / fine);
  for (let i = -m; i <= m; i++) {
    const s = c2 + i * fine;
    const v = await at(s);
    if (v < bestV) [best, bestV] = [s, v];
  }
  const lo = await at(best - fine);
  const hi = await at(best + fine);
  const den = lo - 2 * bestV + hi;
  let shift = best;
  if (Number.isFinite(den) && den > 0) {
    const off = (0.5 * fine * (lo - hi)) / den;
    if (Math.abs(off) < fine) shift = best + off;
  }
  curve.sort((a, b) => a[0] - b[0]);
  return { shift, value: bestV, curve };
}
