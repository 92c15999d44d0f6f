/**
 * The paper's analysis of a surrogate on a set of spectra (physics.md section 9):
 * MSE/MAE, SE per spectrum and the intervals I1..I7, channel-resolved SE_c, mu_i,
 * sigma_i, KST per spectrum (MEPD) with 2-cluster k-means and r_MEPD, the worst
 * spectra, and for Oh/C4v sets SE against Dq with the r_f rule.
 */
import { kmeans1d2, kst, mseMae, rfByDq, seIntervals, spectralErrors, worstIndices, channelStats, type RfResult, type SeIntervals } from './metrics.js';

/** The accuracy bar of issue 4: >= 95 % of test spectra with SE < 3 % and >= 99.9 % with SE < 7 %. */
export const ACCURACY_BAR = { below3: 0.95, below7: 0.999 } as const;

export interface EvaluationReport {
  count: number;
  mse: number;
  mae: number;
  se: { mean: number; median: number; p95: number; p99: number; max: number };
  intervals: SeIntervals;
  fractionBelow3: number;
  fractionBelow7: number;
  meetsBar: boolean;
  mepd: { centres: [number, number]; counts: [number, number]; rMepd: number };
  worst: { index: number; se: number }[];
  rf?: RfResult;
}

export interface EvaluationArrays {
  se: Float64Array;
  kstEnergy: Float64Array;
  kstValue: Float64Array;
  seC: Float64Array;
  mu: Float64Array;
  sigma: Float64Array;
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

/**
 * p, a: n x channels predicted and reference spectra; energy: channels; dq: Dq of each
 * spectrum (for the r_f rule, only when `withRf`).
 */
export function evaluateSpectra(
  p: Float32Array,
  a: Float32Array,
  n: number,
  energy: Float64Array,
  opts: { dq?: Float64Array; withRf?: boolean; worst?: number } = {},
): { report: EvaluationReport; arrays: EvaluationArrays } {
  const channels = energy.length;
  const se = spectralErrors(p, a, n, channels);
  const sorted = Float64Array.from(se).sort();
  const intervals = seIntervals(se);
  const below = (t: number) => se.reduce((c, v) => c + (v < t ? 1 : 0), 0) / Math.max(n, 1);
  const { mse, mae } = mseMae(p.subarray(0, n * channels), a.subarray(0, n * channels));
  const k = kst(p, a, n, channels, energy);
  const km = kmeans1d2(k.energy);
  const cs = channelStats(p, a, n, channels);
  const fractionBelow3 = below(3);
  const fractionBelow7 = below(7);
  const report: EvaluationReport = {
    count: n,
    mse,
    mae,
    se: {
      mean: se.reduce((t, v) => t + v, 0) / Math.max(n, 1),
      median: quantile(sorted, 0.5),
      p95: quantile(sorted, 0.95),
      p99: quantile(sorted, 0.99),
      max: sorted[sorted.length - 1] ?? NaN,
    },
    intervals,
    fractionBelow3,
    fractionBelow7,
    meetsBar: fractionBelow3 >= ACCURACY_BAR.below3 && fractionBelow7 >= ACCURACY_BAR.below7,
    mepd: { centres: km.centres, counts: km.counts, rMepd: km.counts[1] > 0 ? km.counts[0] / km.counts[1] : Infinity },
    worst: worstIndices(se, opts.worst ?? 8).map((i) => ({ index: i, se: se[i]! })),
  };
  if (opts.withRf && opts.dq) report.rf = rfByDq(se, opts.dq);
  return { report, arrays: { se, kstEnergy: k.energy, kstValue: k.value, seC: cs.seC, mu: cs.mu, sigma: cs.sigma } };
}
