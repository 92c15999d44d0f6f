/**
 * Feature engineering step (FES) of Lüder 2021, section 2: the nine crystal-
 * field/broadening parameters are box-normalised over the D4h training ranges
 * (physics.md sections 7 and 8) to [0, 1] and expanded into all monomials
 * g^n h^m ... i^p with n + m + ... + p <= 3.
 *
 * Count: the number of monomials of 9 variables of total degree <= 3 is
 * C(9 + 3, 3) = 220 = 1 (constant) + 9 (degree 1) + 45 (degree 2) + 165
 * (degree 3). The paper states 252 features for M = 3; 252 = C(10, 5) is not a
 * monomial count of 9 variables up to degree 3, so we use the exact count 220.
 *
 * Ordering (graded lexicographic, fixed; a trained model depends on it): with
 * x_0..x_8 the normalised Dq, Ds, Dt, S1, S2, T, sigmaG, Gamma1, Gamma2,
 *   index 0          : 1
 *   indices 1..9     : x_i, i = 0..8
 *   indices 10..54   : x_i x_j, i <= j, in lexicographic order of (i, j)
 *                      (x0x0, x0x1, ..., x0x8, x1x1, ..., x8x8)
 *   indices 55..219  : x_i x_j x_k, i <= j <= k, lexicographic in (i, j, k)
 * FES_MONOMIALS lists the variable indices of every feature.
 *
 * Parameters outside the training ranges are normalised linearly all the
 * same (values outside [0, 1]); T is normalised linearly, as in physics.md.
 */
import { PARAM_NAMES, PARAM_RANGES } from '../physics/ions.js';

export const N_PARAMS = PARAM_NAMES.length; // 9
export const FES_DEGREE = 3;

function buildMonomials(nVars: number, degree: number): number[][] {
  const out: number[][] = [[]];
  const rec = (prefix: number[], start: number, left: number): void => {
    if (left === 0) {
      out.push(prefix.slice());
      return;
    }
    for (let i = start; i < nVars; i++) {
      prefix.push(i);
      rec(prefix, i, left - 1);
      prefix.pop();
    }
  };
  for (let d = 1; d <= degree; d++) rec([], 0, d);
  return out;
}

/** Variable indices of each feature, in feature order (the constant is []). */
export const FES_MONOMIALS: readonly (readonly number[])[] = buildMonomials(N_PARAMS, FES_DEGREE);

/** Column of the degree-1 feature of parameter p (its box-normalised value). */
export function degreeOneFeature(p: number): number {
  const f = FES_MONOMIALS.findIndex((m) => m.length === 1 && m[0] === p);
  if (f < 0) throw new RangeError(`no degree-1 FES feature for parameter ${p}`);
  return f;
}

/** Number of FES features: 220. */
export const FES_SIZE = FES_MONOMIALS.length;

const LO = Float64Array.from(PARAM_NAMES, (k) => PARAM_RANGES[k][0]);
const INV_SPAN = Float64Array.from(PARAM_NAMES, (k) => 1 / (PARAM_RANGES[k][1] - PARAM_RANGES[k][0]));

/** Box normalisation of an N x 9 parameter batch (order of PARAM_NAMES) to [0, 1] over the training ranges. */
export function normaliseParams(params: ArrayLike<number>, n: number, out = new Float32Array(n * N_PARAMS)): Float32Array {
  checkLength(params, n);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < N_PARAMS; i++) {
      const o = r * N_PARAMS + i;
      out[o] = (params[o]! - LO[i]!) * INV_SPAN[i]!;
    }
  }
  return out;
}

/**
 * FES features of an N x 9 parameter batch (row-major, order of PARAM_NAMES,
 * physical units) as a row-major N x FES_SIZE Float32Array. Products are
 * formed in float64 and rounded once.
 */
export function fesFeatures(params: ArrayLike<number>, n: number, out = new Float32Array(n * FES_SIZE)): Float32Array {
  checkLength(params, n);
  if (out.length < n * FES_SIZE) throw new RangeError(`fesFeatures: out has ${out.length} elements, need ${n * FES_SIZE}`);
  const x = new Float64Array(N_PARAMS);
  const x2 = new Float64Array((N_PARAMS * (N_PARAMS + 1)) / 2);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < N_PARAMS; i++) x[i] = (params[r * N_PARAMS + i]! - LO[i]!) * INV_SPAN[i]!;
    let o = r * FES_SIZE;
    out[o++] = 1;
    for (let i = 0; i < N_PARAMS; i++) out[o++] = x[i]!;
    let q = 0;
    for (let i = 0; i < N_PARAMS; i++) {
      for (let j = i; j < N_PARAMS; j++) {
        const v = x[i]! * x[j]!;
        x2[q++] = v;
        out[o++] = v;
      }
    }
    // degree 3: x_i * (x_j x_k) for j >= i; x2 row j starts at offset(j)
    for (let i = 0; i < N_PARAMS; i++) {
      for (let q2 = pairOffset(i); q2 < x2.length; q2++) out[o++] = x[i]! * x2[q2]!;
    }
  }
  return out;
}

/** Index in the (i <= j) lexicographic pair list of the first pair (j, j). */
function pairOffset(j: number): number {
  return j * N_PARAMS - (j * (j - 1)) / 2;
}

function checkLength(params: ArrayLike<number>, n: number): void {
  if (!Number.isInteger(n) || n < 0 || params.length < n * N_PARAMS) {
    throw new RangeError(`FES: need ${n} x ${N_PARAMS} parameters, got ${params.length} values`);
  }
}
