/**
 * The multiplet simulator as a forward model for ops/fit.ts (used by `fit --refine` and
 * `fit --model simulator`): rows x 9 parameters -> rows x 501 box-normalised spectra.
 *
 * Rows that share the Hamiltonian parameters (Dq, Ds, Dt, S1, S2) share one diagonalisation:
 * sticks are computed once for T up to `tMax` and broadened for each row's T, sigmaG, Gamma1
 * and Gamma2. A forward-difference Jacobian therefore costs 1 + 5 diagonalisations per
 * point, not 10. The cache keeps the sticks of the most recent keys (LRU, `cacheSize`).
 */
import { type IonName, PARAM_NAMES } from '../physics/ions.js';
import { type StickSet, boxNormalise, broaden, computeSticks, ionModel, ionSpec } from '../physics/spectrum.js';
import type { Forward } from './fit.js';

const P = PARAM_NAMES.length;

export interface SimulatorForward {
  forward: Forward;
  /** diagonalisations done so far */
  readonly diagonalisations: () => number;
}

export function simulatorForward(ion: IonName, tMax = 1000, cacheSize = 64): SimulatorForward {
  const model = ionModel(ion);
  const C = model.window.n;
  const cache = new Map<string, StickSet>();
  let diag = 0;
  const sticksFor = (Dq: number, Ds: number, Dt: number, S1: number, S2: number, T: number): StickSet => {
    const key = `${Dq},${Ds},${Dt},${S1},${S2}`;
    let s = cache.get(key);
    if (s && s.tMax >= T) {
      cache.delete(key);
      cache.set(key, s);
      return s;
    }
    s = computeSticks(ionSpec(model, { Dq, Ds, Dt, S1, S2 }), { tMax: Math.max(tMax, T) });
    diag++;
    cache.set(key, s);
    if (cache.size > cacheSize) cache.delete(cache.keys().next().value as string);
    return s;
  };
  const forward: Forward = async (params, rows) => {
    const out = new Float32Array(rows * C);
    const buf = new Float64Array(C);
    for (let r = 0; r < rows; r++) {
      const p = params.subarray(r * P, (r + 1) * P);
      const [Dq, Ds, Dt, S1, S2, T, sigmaG, Gamma1, Gamma2] = Array.from(p) as [number, number, number, number, number, number, number, number, number];
      const sticks = sticksFor(Dq, Ds, Dt, S1, S2, T);
      const raw = broaden(sticks, model.window, { T, sigmaG, Gamma1, Gamma2 });
      boxNormalise(raw, buf);
      out.set(buf, r * C);
      // let other work (progress, signals) run between rows of a long batch
      if ((r & 15) === 15) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return out;
  };
  return { forward, diagonalisations: () => diag };
}
