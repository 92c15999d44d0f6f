/**
 * Parameter sampling for training databases (physics.md section 8).
 *
 * Every value is a pure function of (seed, parameter, row): hashUniform, so a database
 * is identical whatever the worker count or the order in which chunks finish, and a
 * resumed run continues with exactly the rows an uninterrupted run would have made.
 *
 * Ranges: 'd4h' uniform in the D4h table; 'oh' the same with Ds = Dt = 0; 'c4v' (the
 * paper's extrapolation set) Dq uniform in [-0.2, 0] with Ds = Dt = 0.
 *
 * perDiag = K > 1 draws (Dq, Ds, Dt, S1, S2) once per group of K consecutive rows
 * (group g = floor(row / K)) and (T, sigmaG, Gamma1, Gamma2) per row: one
 * diagonalisation then serves K spectra. Each parameter's marginal stays uniform;
 * rows of a group share their crystal field, so train/validation/test splits must
 * split by group (the group size is stored in the file as attribute per_diag).
 */
import { hashUniform } from '../physics/random.js';
import { PARAM_NAMES, PARAM_RANGES, type ParamName, type Params } from '../physics/ions.js';

export const RANGE_SETS = ['d4h', 'oh', 'c4v'] as const;
export type RangeSet = (typeof RANGE_SETS)[number];

const CRYSTAL: readonly ParamName[] = ['Dq', 'Ds', 'Dt', 'S1', 'S2'];

export function rangeOf(set: RangeSet, k: ParamName): readonly [number, number] {
  if (set !== 'd4h' && (k === 'Ds' || k === 'Dt')) return [0, 0];
  if (set === 'c4v' && k === 'Dq') return [-0.2, 0];
  return PARAM_RANGES[k];
}

export function sampleRow(seed: number, set: RangeSet, perDiag: number, row: number): Params {
  const group = Math.floor(row / perDiag);
  const p = {} as Params;
  PARAM_NAMES.forEach((k, i) => {
    const [lo, hi] = rangeOf(set, k);
    const u = hashUniform(seed, i, CRYSTAL.includes(k) ? group : row);
    p[k] = lo + u * (hi - lo);
  });
  return p;
}
