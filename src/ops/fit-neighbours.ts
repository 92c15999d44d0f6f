/**
 * Neighbour starts for map fits: a pixel stuck in a poor local minimum often has a neighbour
 * (same phase, nearly the same parameters) that found a better one. For every fitted pixel,
 * the solutions of its four neighbours with a lower SE are evaluated on the pixel's own
 * spectrum (one model row each); pixels where one of them beats the pixel's own residual are
 * refitted from it, and the refit is kept if it is better. Repeated `passes` times, good
 * solutions spread across a domain one pixel per pass.
 */
import { PARAM_NAMES } from '../physics/ions.js';
import { type FitOptions, type FitSetup, type Forward, fitSpectra, linearFit } from './fit.js';
import { FIT_FLAG, type FitMaps } from './fit-types.js';

const P = PARAM_NAMES.length;

export interface NeighbourReport {
  passes: number;
  /** candidate solutions evaluated */
  evaluated: number;
  /** pixels refitted from a neighbour's solution */
  refitted: number;
  /** pixels whose fit improved */
  improved: number;
}

/** Residual sum of squares of pixel i's fitted spectrum against its measured one. */
function ownRss(maps: FitMaps, i: number): number {
  const C = maps.channels;
  let s = 0;
  for (let c = 0; c < C; c++) {
    const m = maps.measured[i * C + c] as number;
    if (Number.isNaN(m)) continue;
    s += (m - (maps.fitted[i * C + c] as number)) ** 2;
  }
  return s;
}

/** Improves `maps` (ny x nx pixels, in place) from neighbour solutions. */
export async function improveFromNeighbours(
  maps: FitMaps,
  ny: number,
  nx: number,
  setup: FitSetup,
  forward: Forward,
  opts: { passes?: number; iterations?: number; fit?: FitOptions; onPass?: (pass: number, improved: number) => void } = {},
): Promise<NeighbourReport> {
  const C = maps.channels;
  const passes = opts.passes ?? 2;
  const report: NeighbourReport = { passes: 0, evaluated: 0, refitted: 0, improved: 0 };
  const fitted = (i: number) => (maps.flags[i]! & FIT_FLAG.NOT_FITTED) === 0;
  for (let pass = 0; pass < passes; pass++) {
    report.passes++;
    // candidates: (pixel, neighbour) with the neighbour fitting its own spectrum better
    const pix: number[] = [];
    const from: number[] = [];
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        const i = y * nx + x;
        if (!fitted(i)) continue;
        for (const [dy, dx] of [[-1, 0], [1, 0], [0, -1], [0, 1]] as const) {
          const yy = y + dy;
          const xx = x + dx;
          if (yy < 0 || yy >= ny || xx < 0 || xx >= nx) continue;
          const j = yy * nx + xx;
          if (fitted(j) && (maps.se[j] as number) < (maps.se[i] as number)) {
            pix.push(i);
            from.push(j);
          }
        }
      }
    }
    if (pix.length === 0) break;
    const params = new Float32Array(pix.length * P);
    from.forEach((j, r) => params.set(maps.params.subarray(j * P, (j + 1) * P), r * P));
    const y = await forward(params, pix.length);
    report.evaluated += pix.length;
    // best candidate per pixel that beats the pixel's own residual
    const best = new Map<number, { rss: number; r: number }>();
    const own = new Map<number, number>();
    pix.forEach((i, r) => {
      let o = own.get(i);
      if (o === undefined) {
        o = ownRss(maps, i);
        own.set(i, o);
      }
      const { rss } = linearFit(maps.measured.subarray(i * C, (i + 1) * C), y.subarray(r * C, (r + 1) * C), opts.fit?.edgeStep ?? null);
      const b = best.get(i);
      if (rss < o * (1 - 1e-3) && (!b || rss < b.rss)) best.set(i, { rss, r });
    });
    if (best.size === 0) break;
    const sub = [...best.keys()];
    const meas = new Float32Array(sub.length * C);
    const init = new Float32Array(sub.length * P);
    sub.forEach((i, k) => {
      meas.set(maps.measured.subarray(i * C, (i + 1) * C), k * C);
      init.set(params.subarray(best.get(i)!.r * P, (best.get(i)!.r + 1) * P), k * P);
    });
    const r = await fitSpectra(meas, sub.length, C, setup, forward, { ...opts.fit, initial: init, initialStarts: 1, ...(opts.iterations !== undefined ? { iterations: opts.iterations } : {}) });
    report.refitted += sub.length;
    let improved = 0;
    sub.forEach((i, k) => {
      if ((r.maps.flags[k]! & FIT_FLAG.NOT_FITTED) !== 0) return;
      const newRss = ownRss(r.maps, k);
      if (!(newRss < (own.get(i) as number))) return;
      maps.params.set(r.maps.params.subarray(k * P, (k + 1) * P), i * P);
      maps.sigma.set(r.maps.sigma.subarray(k * P, (k + 1) * P), i * P);
      maps.paramFlags.set(r.maps.paramFlags.subarray(k * P, (k + 1) * P), i * P);
      maps.fitted.set(r.maps.fitted.subarray(k * C, (k + 1) * C), i * C);
      maps.se[i] = r.maps.se[k] as number;
      maps.flags[i] = (r.maps.flags[k] as number) | ((maps.flags[i] as number) & (FIT_FLAG.REFINED | FIT_FLAG.REFINE_FAILED));
      maps.bestStart[i] = -2;
      improved++;
    });
    report.improved += improved;
    opts.onPass?.(pass, improved);
    if (improved === 0) break;
  }
  return report;
}
