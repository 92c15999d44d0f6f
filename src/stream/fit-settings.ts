/**
 * The per-scan fit settings of `xasmap serve` (`start.fit`, docs/protocol.md, "Fitting"):
 *
 *   "fit": {"fix": {"T": 300}, "bounds": {"Dq": [0, 0.2]}, "shift": 0, "starts": 3,
 *           "iterations": 12, "library": 4096, "preedge": false, "edgeStep": false}
 *
 * All fields optional. Bounds and fixed values must lie within the network's training ranges
 * (PARAM_RANGES), as for `xasmap fit` without `--model simulator`. `preedge` and `edgeStep`
 * are `xasmap fit --preedge on` and `--edge-step on` (default off). Errors name the field.
 */
import { type PreEdgeOptions, defaultPreEdge, planPreEdge } from '../ops/preprocess.js';
import { type IonName, PARAM_NAMES, PARAM_RANGES, type ParamName } from '../physics/ions.js';

export interface ServeFitSettings {
  /** 9 values each, PARAM_NAMES order */
  lower: number[];
  upper: number[];
  /** NaN = free */
  fixed: number[];
  /** eV: measured energy + shift = model energy */
  shift: number;
  starts: number;
  iterations: number;
  library: number;
  /** remove the pre-edge line before resampling (ops/preprocess.ts, as `xasmap fit --preedge on`) */
  preedge: boolean;
  /** fit the arctangent L3/L2 edge step as a third linear term (ops/edge-step.ts, as `--edge-step on`) */
  edgeStep: boolean;
}

export const SERVE_FIT_DEFAULTS = { shift: 0, starts: 3, iterations: 12, library: 4096, preedge: false, edgeStep: false } as const;
const LIMITS = { starts: [1, 16], iterations: [1, 100], library: [16, 65536] } as const;

/** Thrown with the message of an error frame (code BAD_FIT). */
export class FitSettingsError extends Error {}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function paramIndex(field: string, name: string): number {
  const k = PARAM_NAMES.indexOf(name as ParamName);
  if (k < 0) throw new FitSettingsError(`start: ${field}: unknown parameter '${name}'; the parameters are ${PARAM_NAMES.join(', ')}`);
  return k;
}

/** `start.fit` (undefined/null = defaults) -> settings; throws FitSettingsError naming the field. */
export function parseServeFit(v: unknown): ServeFitSettings {
  const lower = PARAM_NAMES.map((k) => PARAM_RANGES[k][0]);
  const upper = PARAM_NAMES.map((k) => PARAM_RANGES[k][1]);
  const fixed = PARAM_NAMES.map(() => NaN);
  const s: ServeFitSettings = { lower, upper, fixed, ...SERVE_FIT_DEFAULTS };
  if (v === undefined || v === null) return s;
  if (!isObj(v)) throw new FitSettingsError("start: 'fit' must be an object like {\"fix\": {\"T\": 300}, \"bounds\": {\"Dq\": [0, 0.2]}}");
  const known = ['fix', 'bounds', 'shift', 'starts', 'iterations', 'library', 'preedge', 'edgeStep'];
  for (const key of Object.keys(v)) {
    if (!known.includes(key)) throw new FitSettingsError(`start: fit.${key}: unknown field (known: ${known.join(', ')})`);
  }
  if (v.fix !== undefined) {
    if (!isObj(v.fix)) throw new FitSettingsError('start: fit.fix must be an object of parameter values, e.g. {"T": 300}');
    for (const [name, value] of Object.entries(v.fix)) {
      const k = paramIndex('fit.fix', name);
      const [lo, hi] = PARAM_RANGES[name as ParamName];
      if (typeof value !== 'number' || !Number.isFinite(value) || value < lo || value > hi) {
        throw new FitSettingsError(`start: fit.fix.${name} must be a number in [${lo}, ${hi}] (the network's training range)`);
      }
      fixed[k] = value;
    }
  }
  if (v.bounds !== undefined) {
    if (!isObj(v.bounds)) throw new FitSettingsError('start: fit.bounds must be an object of [low, high] pairs, e.g. {"Dq": [0, 0.2]}');
    for (const [name, value] of Object.entries(v.bounds)) {
      const k = paramIndex('fit.bounds', name);
      const [tlo, thi] = PARAM_RANGES[name as ParamName];
      const ok = Array.isArray(value) && value.length === 2 && value.every((x) => typeof x === 'number' && Number.isFinite(x));
      const lo = ok ? (value[0] as number) : NaN;
      const hi = ok ? (value[1] as number) : NaN;
      if (!ok || !(lo < hi) || lo < tlo || hi > thi) {
        throw new FitSettingsError(`start: fit.bounds.${name} must be [low, high] with low < high within [${tlo}, ${thi}] (the network's training range)`);
      }
      if (!Number.isNaN(fixed[k] as number)) throw new FitSettingsError(`start: fit: ${name} is both in fit.fix and fit.bounds; give one`);
      lower[k] = lo;
      upper[k] = hi;
    }
  }
  if (fixed.every((x) => !Number.isNaN(x))) throw new FitSettingsError('start: fit.fix fixes all nine parameters: nothing to fit');
  if (v.shift !== undefined) {
    if (typeof v.shift !== 'number' || !Number.isFinite(v.shift) || Math.abs(v.shift) > 50) {
      throw new FitSettingsError('start: fit.shift must be a number of eV in [-50, 50] (measured energy + shift = model energy)');
    }
    s.shift = v.shift;
  }
  for (const key of ['starts', 'iterations', 'library'] as const) {
    const x = v[key];
    if (x === undefined) continue;
    const [lo, hi] = LIMITS[key];
    if (typeof x !== 'number' || !Number.isInteger(x) || x < lo || x > hi) throw new FitSettingsError(`start: fit.${key} must be an integer in [${lo}, ${hi}]`);
    s[key] = x;
  }
  for (const key of ['preedge', 'edgeStep'] as const) {
    const x = v[key];
    if (x === undefined) continue;
    if (typeof x !== 'boolean') throw new FitSettingsError(`start: fit.${key} must be true or false`);
    s[key] = x;
  }
  return s;
}

/** The pre-edge line removal of a scan: the start frame's energies (file order) and the region options. */
export interface ServePreEdge {
  energy: Float64Array;
  options: PreEdgeOptions;
}

/**
 * With `fit.preedge` and an `energy` axis: `xasmap fit`'s default pre-edge region for the ion
 * and shift (ops/preprocess.ts defaultPreEdge) on the measured axis; null otherwise. Throws
 * FitSettingsError when the axis has no pre-edge points at all (the line could never be removed).
 */
export function servePreEdge(fit: ServeFitSettings, ion: IonName, energy: readonly number[] | null): ServePreEdge | null {
  if (!fit.preedge || energy === null) return null;
  const options = defaultPreEdge(ion, fit.shift);
  const plan = planPreEdge(energy, options);
  if (plan.region === 'none') throw new FitSettingsError(`start: fit.preedge: the energy axis has no pre-edge region (${plan.reason ?? 'no points'})`);
  return { energy: Float64Array.from(energy), options };
}
