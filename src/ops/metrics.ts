/**
 * Error measures of the paper (Lüder 2021, /work/shared/docs/paper.md) as fixed in
 * physics.md section 9. Pure functions on plain arrays: no tfjs, no I/O.
 *
 * Spectra are N x C row-major (C = 501 channels in xasmap), predicted p and reference
 * a, both box-normalised. Delta_ij = p_ij - a_ij for spectrum j, channel i. All sums
 * are accumulated in double precision whatever the input array type.
 *
 * Interpretations of the paper (each also documented at its function):
 * - SE: the paper prints `SE_j = sum_i Delta_ij / ||p_ji + a_ji||`; physics.md fixes
 *   SE = sum_i |Delta_i| / sum_i |p_i + a_i| * 100, used here (identical to
 *   physics' `spectralError`).
 * - SE_c: the paper's formula `SE_c = 1/N sum_{j=0}^N Delta_ij` (a signed mean
 *   difference, and N + 1 terms) contradicts its name "channel resolved SE", so it is
 *   taken as ambiguous: `seC` is the ratio form sum_j |Delta_ij| / sum_j |p_ij + a_ij|
 *   * 100; the literal signed mean is returned too, as `meanDelta`.
 * - sigma_i: the paper's `sqrt(sum_j (a_ji - mu_i)^2)` lacks the 1/N of a standard
 *   deviation, which the text calls it; population standard deviation (1/N) here.
 * - r_f: fraction (not successes / failures) of spectra with SE < 10 % per Dq bin,
 *   following the paper's own gloss "i.e. 95% of all spectra have SEs of less than 10%".
 */
import { N_CHANNELS } from '../physics/ions.js';

/** Anything indexable by number: Float32Array, Float64Array, number[]. */
export type Values = ArrayLike<number>;

function checkShape(name: string, len: number, n: number, channels: number): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`n must be a non-negative integer, got ${n}`);
  if (!Number.isInteger(channels) || channels < 1) {
    throw new RangeError(`channels must be a positive integer, got ${channels}`);
  }
  if (len !== n * channels) {
    throw new RangeError(`${name} has length ${len}, expected n * channels = ${n} * ${channels} = ${n * channels}`);
  }
}

function checkPair(p: Values, a: Values, n: number, channels: number): void {
  checkShape('p', p.length, n, channels);
  checkShape('a', a.length, n, channels);
}

// ---------------------------------------------------------------------------------
// SE

/**
 * Spectral error of each spectrum in percent (paper: "the spectrum error (SE) ... is the
 * mean average percentage error (MAPE)"; physics.md section 9):
 *
 *   SE_j = sum_i |p_ij - a_ij| / sum_i |p_ij + a_ij| * 100,  0 when the denominator is 0.
 *
 * For non-negative p and a, SE <= 100 %. Negative predicted intensities (the paper's
 * linear output layer in extrapolation) can make it exceed 100 %.
 */
export function spectralErrors(p: Values, a: Values, n: number, channels: number = N_CHANNELS): Float64Array {
  checkPair(p, a, n, channels);
  const out = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const o = j * channels;
    let num = 0;
    let den = 0;
    for (let i = 0; i < channels; i++) {
      const pi = p[o + i]!;
      const ai = a[o + i]!;
      num += Math.abs(pi - ai);
      den += Math.abs(pi + ai);
    }
    out[j] = den > 0 ? (100 * num) / den : 0;
  }
  return out;
}

/** Lower edges of I1..I7 in percent, plus the open upper end of I7. */
export const SE_INTERVAL_EDGES: readonly number[] = Object.freeze([0, 3, 4, 5, 6, 7, 10, Infinity]);

export interface SeIntervals {
  /** 8 edges in percent, [0, 3, 4, 5, 6, 7, 10, Infinity]: I_k = [edges[k-1], edges[k]). */
  edges: number[];
  /** counts[k] = number of SE in I_(k+1). */
  counts: number[];
  /** counts / se.length (all 0 for an empty list). */
  fractions: number[];
  /** How many SE exceed 100 % (possible only with negative intensities); already counted in I7. */
  above100: number;
}

/**
 * Counts of SE (percent) in the paper's seven intervals, half-open on the right:
 * I1 [0,3), I2 [3,4), I3 [4,5), I4 [5,6), I5 [6,7), I6 [7,10), I7 [10, inf).
 *
 * The paper writes closed intervals (Figure 4: I1 = [0, 0.03], ..., I7 = [0.10, 1.00]);
 * its text makes I1 "less than 3 %" and I7 "more than 10 %", and 10 % is its outlier
 * threshold ("a SE of 10% is chosen here to be the threshold deciding if a spectrum is
 * correctly predicted"), so an edge value belongs to the upper interval: 3.0 -> I2,
 * 10.0 -> I7. physics.md closes I7 at 100 %, but SE > 100 % occurs with negative
 * predicted intensities; such values are put in I7 and also counted in `above100`.
 *
 * @throws RangeError for a negative or NaN SE.
 */
export function seIntervals(se: Values): SeIntervals {
  const edges = [...SE_INTERVAL_EDGES];
  const counts = new Array<number>(7).fill(0);
  let above100 = 0;
  for (let j = 0; j < se.length; j++) {
    const v = se[j]!;
    if (!(v >= 0)) throw new RangeError(`SE[${j}] = ${v} is not a non-negative number`);
    let k = 6;
    while (k > 0 && v < edges[k]!) k--;
    counts[k]!++;
    if (v > 100) above100++;
  }
  const n = se.length;
  const fractions = counts.map((c) => (n > 0 ? c / n : 0));
  return { edges, counts, fractions, above100 };
}

// ---------------------------------------------------------------------------------
// MSE / MAE

/** Mean squared and mean absolute error of Delta over all channels and spectra. */
export function mseMae(p: Values, a: Values): { mse: number; mae: number } {
  if (p.length !== a.length) throw new RangeError(`p has length ${p.length}, a has ${a.length}`);
  if (p.length === 0) throw new RangeError('mseMae of empty arrays');
  let s2 = 0;
  let s1 = 0;
  for (let k = 0; k < p.length; k++) {
    const d = p[k]! - a[k]!;
    s2 += d * d;
    s1 += Math.abs(d);
  }
  return { mse: s2 / p.length, mae: s1 / p.length };
}

// ---------------------------------------------------------------------------------
// Channel statistics

export interface ChannelStats {
  /**
   * Channel-resolved SE in percent: SE_c,i = sum_j |Delta_ij| / sum_j |p_ij + a_ij| * 100
   * (0 when the denominator is 0).
   */
  seC: Float64Array;
  /** The paper's printed SE_c formula taken literally: 1/N sum_j Delta_ij (signed). */
  meanDelta: Float64Array;
  /** 1/N sum_j |Delta_ij|. */
  meanAbsDelta: Float64Array;
  /** mu_i = 1/N sum_j a_ij, the mean reference spectrum. */
  mu: Float64Array;
  /** sigma_i = sqrt(1/N sum_j (a_ij - mu_i)^2), population standard deviation. */
  sigma: Float64Array;
}

/**
 * Per-channel statistics over the N spectra (paper, Methods: "Here, the channel
 * resolved SE (SE_c = 1/N sum_{j=0}^N Delta_ij) is introduced as well as the mean of all
 * test spectra (mu_i = 1/N sum_j y_a,j,i) and their standard deviation, i.e.
 * sigma_i = sqrt(sum_j^N (y_a,j,i - mu_i)^2)").
 *
 * SE_c: the printed formula is a signed mean difference (over/under-estimates cancel,
 * and it sums N + 1 terms) while the quantity is named and used as a "channel resolved
 * SE" whose mean correlates with mu and sigma at rho ~ 0.87..1 (Figure 8a). Read as
 * ambiguous; `seC` is therefore the SE formula transposed to a channel:
 *   SE_c,i = sum_j |Delta_ij| / sum_j |p_ij + a_ij| * 100.
 * The literal formula is returned as `meanDelta` (with 1/N over j = 0..N-1), and the
 * unsigned mean as `meanAbsDelta`.
 *
 * sigma_i: the printed formula has no 1/N, yet the text calls it a standard deviation;
 * population standard deviation (1/N, numpy's default) is returned. For N = 0 every
 * array is NaN except seC (0).
 */
export function channelStats(p: Values, a: Values, n: number, channels: number = N_CHANNELS): ChannelStats {
  checkPair(p, a, n, channels);
  const num = new Float64Array(channels);
  const den = new Float64Array(channels);
  const sd = new Float64Array(channels);
  const sad = new Float64Array(channels);
  const sa = new Float64Array(channels);
  for (let j = 0; j < n; j++) {
    const o = j * channels;
    for (let i = 0; i < channels; i++) {
      const pi = p[o + i]!;
      const ai = a[o + i]!;
      const d = pi - ai;
      num[i]! += Math.abs(d);
      den[i]! += Math.abs(pi + ai);
      sd[i]! += d;
      sad[i]! += Math.abs(d);
      sa[i]! += ai;
    }
  }
  const seC = new Float64Array(channels);
  const meanDelta = new Float64Array(channels);
  const meanAbsDelta = new Float64Array(channels);
  const mu = new Float64Array(channels);
  for (let i = 0; i < channels; i++) {
    seC[i] = den[i]! > 0 ? (100 * num[i]!) / den[i]! : 0;
    meanDelta[i] = sd[i]! / n;
    meanAbsDelta[i] = sad[i]! / n;
    mu[i] = sa[i]! / n;
  }
  // Second pass for the variance (two-pass is stable for intensities in [0, 1]).
  const ss = new Float64Array(channels);
  for (let j = 0; j < n; j++) {
    const o = j * channels;
    for (let i = 0; i < channels; i++) {
      const d = a[o + i]! - mu[i]!;
      ss[i]! += d * d;
    }
  }
  const sigma = new Float64Array(channels);
  for (let i = 0; i < channels; i++) sigma[i] = Math.sqrt(ss[i]! / n);
  return { seC, meanDelta, meanAbsDelta, mu, sigma };
}

// ---------------------------------------------------------------------------------
// KST / MEPD

export interface KstResult {
  /** max_i |Delta_ij| of each spectrum (the KST value). */
  value: Float64Array;
  /** The signed Delta at that channel (> 0: overestimated peak, < 0: underestimated). */
  delta: Float64Array;
  /** Channel index of the maximum (the lowest such channel on ties; the first NaN channel if any). */
  channel: Int32Array;
  /** energy[channel]: the KST position. */
  energy: Float64Array;
}

/**
 * The paper's adapted Kolmogorov-Smirnov test, per spectrum: "the largest difference
 * corresponds to the largest peak misfit (Delta_ij) ... and its energy. Only absolute
 * values are considered here." The set of these over a test set is the MEPD.
 *
 * @param energy channel energies (length `channels`), any frame (relative or absolute).
 */
export function kst(p: Values, a: Values, n: number, channels: number, energy: Float64Array): KstResult {
  checkPair(p, a, n, channels);
  if (energy.length !== channels) {
    throw new RangeError(`energy has length ${energy.length}, expected ${channels}`);
  }
  const value = new Float64Array(n);
  const delta = new Float64Array(n);
  const channel = new Int32Array(n);
  const en = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const o = j * channels;
    let best = 0;
    let bestAbs = -Infinity;
    for (let i = 0; i < channels; i++) {
      const ad = Math.abs(p[o + i]! - a[o + i]!);
      if (Number.isNaN(ad)) {
        // A NaN prediction is the worst misfit there is.
        bestAbs = NaN;
        best = i;
        break;
      }
      if (ad > bestAbs) {
        bestAbs = ad;
        best = i;
      }
    }
    value[j] = bestAbs;
    delta[j] = p[o + best]! - a[o + best]!;
    channel[j] = best;
    en[j] = energy[best]!;
  }
  return { value, delta, channel, energy: en };
}

// ---------------------------------------------------------------------------------
// 2-cluster k-means and r_MEPD

export interface KMeans2Options {
  /** Safety cap on Lloyd iterations (default 1000; 1-D 2-means converges far sooner). */
  maxIter?: number;
}

export interface KMeans2Result {
  /** Cluster centres, ascending: centres[0] <= centres[1]. */
  centres: [number, number];
  /** labels[k] in {0, 1}: 0 = lower centre. */
  labels: Uint8Array;
  /** Members per cluster. */
  counts: [number, number];
  /** Lloyd iterations performed (assignment + update steps). */
  iterations: number;
  /** True when the assignment stopped changing before maxIter. */
  converged: boolean;
}

/**
 * Deterministic 2-cluster k-means (Lloyd) on 1-D values: centres start at min and max;
 * each iteration assigns every value to the nearer centre (a tie goes to the lower
 * centre) and moves each centre to the mean of its members; it stops when no label
 * changes. An empty cluster keeps its centre (only happens when all values are equal:
 * then everything is in cluster 0 and counts = [n, 0]).
 *
 * The first assignment is the naive split at (min + max) / 2; the converged split
 * lies at the midpoint of the two cluster means, which may differ.
 *
 * @throws RangeError for an empty list or a non-finite value.
 */
export function kmeans1d2(values: Values, opts: KMeans2Options = {}): KMeans2Result {
  const maxIter = opts.maxIter ?? 1000;
  const n = values.length;
  if (n === 0) throw new RangeError('kmeans1d2 of an empty list');
  let lo = Infinity;
  let hi = -Infinity;
  for (let k = 0; k < n; k++) {
    const v = values[k]!;
    if (!Number.isFinite(v)) throw new RangeError(`value[${k}] = ${v} is not finite`);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  let c0 = lo;
  let c1 = hi;
  const labels = new Uint8Array(n);
  let first = true;
  let converged = false;
  let iterations = 0;
  let n0 = 0;
  let n1 = 0;
  while (iterations < maxIter) {
    iterations++;
    let changed = first;
    first = false;
    let s0 = 0;
    let s1 = 0;
    n0 = 0;
    n1 = 0;
    for (let k = 0; k < n; k++) {
      const v = values[k]!;
      const l = Math.abs(v - c1) < Math.abs(v - c0) ? 1 : 0;
      if (l !== labels[k]) changed = true;
      labels[k] = l;
      if (l === 0) {
        s0 += v;
        n0++;
      } else {
        s1 += v;
        n1++;
      }
    }
    if (n0 > 0) c0 = s0 / n0;
    if (n1 > 0) c1 = s1 / n1;
    if (!changed) {
      converged = true;
      break;
    }
  }
  // The split is at the centres' midpoint, so c0 <= c1 is preserved; guard anyway.
  if (c0 > c1) {
    for (let k = 0; k < n; k++) labels[k] = 1 - labels[k]!;
    return { centres: [c1, c0], labels, counts: [n1, n0], iterations, converged };
  }
  return { centres: [c0, c1], labels, counts: [n0, n1], iterations, converged };
}

/**
 * r_MEPD = count(L3) / count(L2) (paper, Figure 6: "Ratio between the number of KST in
 * MEPD belonging to L3 and L2 peaks"; physics.md section 9), with L3 the lower-energy
 * and L2 the higher-energy cluster of `kmeans1d2` on the KST energies. Infinity when
 * the L2 cluster is empty (all energies equal).
 */
export function rMepd(kstEnergies: Values): number {
  const { counts } = kmeans1d2(kstEnergies);
  return counts[0] / counts[1];
}

// ---------------------------------------------------------------------------------
// r_f over Dq bins (Oh / C4v sets)

export interface RfOptions {
  /** Bin width in eV (paper: "in intervals of Delta Dq = 0.05 eV"). */
  binWidth: number;
  /** SE threshold in percent: a match has SE < threshold (paper: 10 %). */
  threshold: number;
  /** Required match fraction for a reliable bin (paper: 95 %). */
  level: number;
  /**
   * Dq treated as the edge of the training range, where the reliable region starts
   * (default 0: the D4h training range is Dq in [0, 0.2]; the C4v set extrapolates to
   * [-0.2, 0], the Oh set lies in [0, 0.2]).
   */
  anchor?: number;
  /**
   * Explicit binning range [lo, hi]: bins start at lo, step binWidth, the last one is
   * closed at hi. Default: [min, max] of dq widened to multiples of binWidth.
   */
  range?: readonly [number, number];
}

export interface RfBin {
  lo: number;
  /** Upper edge, exclusive except for the last bin. */
  hi: number;
  count: number;
  /** Spectra with SE < threshold. */
  matches: number;
  /** matches / count: the paper's r_f for this bin (NaN for an empty bin). */
  fraction: number;
  /** fraction >= level (false for an empty bin). */
  ok: boolean;
}

export interface RfResult {
  bins: RfBin[];
  /** Every maximal run of consecutive ok bins, as [lo, hi] of the run. */
  okRuns: { lo: number; hi: number }[];
  /**
   * The run of ok bins that contains the anchor (lo <= anchor <= hi): the Dq range
   * that reliably recomputes spectra; null when the bin at the anchor is not ok or the
   * anchor lies outside the binned range.
   */
  okRange: { lo: number; hi: number } | null;
  /** True when every bin is ok. */
  allOk: boolean;
  /**
   * Width of okRange / width of the binned range (0 when okRange is null); the
   * analogue of the paper's r_a (see rfByDq).
   */
  okFraction: number;
}

export const RF_DEFAULTS: Readonly<RfOptions> = Object.freeze({ binWidth: 0.05, threshold: 10, level: 0.95 });

/** Bin edges as decimals (k * 0.05 = 0.15000000000000002 -> 0.15). */
function roundEdge(x: number): number {
  return Number(x.toPrecision(12));
}

/**
 * The paper's r_f rule for the Oh / C4v test sets (Results, "High symmetry cases"):
 * "a function r_f is introduced that represents the ratio between successful and
 * failed recomputed spectra (measured on the SE being smaller or larger than 10%,
 * respectively) in intervals of Delta Dq = 0.05 eV. For the latter function, a ratio of
 * 95% (i.e. 95% of all spectra have SEs of less than 10%) serves as a marker to divide
 * Dq into regions that reliably recompute spectra in C4v symmetry and those that do
 * not."
 *
 * Interpretation:
 * - "ratio between successful and failed" is read through its own gloss "95% of all
 *   spectra have SEs of less than 10%": r_f = matches / all spectra in the bin, not
 *   matches / failures. A match is SE < threshold strictly (SE = 10 % is an outlier, as
 *   in I7 = [10, ...)); a NaN SE counts as a failure.
 * - "intervals of Delta Dq = 0.05 eV" are disjoint bins [lo, lo + w), edges at
 *   multiples of w (or from opts.range), the last bin closed so that the end of the
 *   sampled range (Dq = 0 for C4v, 0.2 for Oh) is not a bin of its own.
 * - The reliable region is the run of consecutive ok bins containing the training
 *   boundary `anchor` (default Dq = 0); the paper measures extrapolation from there
 *   ("accurate extrapolation is only possible with the first 2.5% of the tested Dq
 *   range, i.e., between -0.005 and 0 eV"). `okFraction` (reliable width / binned
 *   width) matches how the paper appears to use r_a. Note that the paper's figures
 *   (2.5 %, 78 %, 28.3 %) are finer than 0.05 eV bins of a 0.2 eV range allow (steps of
 *   25 %), so the paper evidently evaluated r_f on a finer or sliding grid; with
 *   disjoint bins the resolution is binWidth (pass a smaller one for more).
 *
 * @throws RangeError on mismatched lengths, non-finite Dq, bad options, or Dq
 * outside opts.range.
 */
export function rfByDq(se: Values, dq: Values, opts: Partial<RfOptions> = {}): RfResult {
  const o: RfOptions = { ...RF_DEFAULTS, ...opts };
  const w = o.binWidth;
  const anchor = o.anchor ?? 0;
  if (!(w > 0) || !Number.isFinite(w)) throw new RangeError(`binWidth must be > 0, got ${w}`);
  if (se.length !== dq.length) throw new RangeError(`se has length ${se.length}, dq has ${dq.length}`);
  if (dq.length === 0) throw new RangeError('rfByDq of an empty list');
  let min = Infinity;
  let max = -Infinity;
  for (let k = 0; k < dq.length; k++) {
    const v = dq[k]!;
    if (!Number.isFinite(v)) throw new RangeError(`dq[${k}] = ${v} is not finite`);
    if (v < min) min = v;
    if (v > max) max = v;
  }

  // Edges.
  const edges: number[] = [];
  if (o.range) {
    const [rlo, rhi] = o.range;
    if (!(rhi > rlo)) throw new RangeError(`range [${rlo}, ${rhi}] is empty`);
    if (min < rlo || max > rhi) throw new RangeError(`dq spans [${min}, ${max}], outside range [${rlo}, ${rhi}]`);
    const nb = Math.max(1, Math.ceil((rhi - rlo) / w - 1e-9));
    for (let k = 0; k < nb; k++) edges.push(roundEdge(rlo + k * w));
    edges.push(rhi);
  } else {
    let kLo = Math.floor(min / w);
    while (roundEdge(kLo * w) > min) kLo--;
    while (roundEdge((kLo + 1) * w) <= min) kLo++;
    let kHi = Math.ceil(max / w);
    while (roundEdge(kHi * w) < max) kHi++;
    while (kHi - 1 > kLo && roundEdge((kHi - 1) * w) >= max) kHi--;
    if (kHi <= kLo) kHi = kLo + 1;
    for (let k = kLo; k <= kHi; k++) edges.push(roundEdge(k * w));
  }
  const nb = edges.length - 1;

  const count = new Array<number>(nb).fill(0);
  const matches = new Array<number>(nb).fill(0);
  for (let k = 0; k < dq.length; k++) {
    const v = dq[k]!;
    // Largest b with edges[b] <= v, clipped to the last bin (closed at its top).
    let lo = 0;
    let hi = nb - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (edges[mid]! <= v) lo = mid;
      else hi = mid - 1;
    }
    count[lo]!++;
    if (se[k]! < o.threshold) matches[lo]!++;
  }

  const bins: RfBin[] = [];
  for (let b = 0; b < nb; b++) {
    const c = count[b]!;
    const fraction = c > 0 ? matches[b]! / c : NaN;
    bins.push({ lo: edges[b]!, hi: edges[b + 1]!, count: c, matches: matches[b]!, fraction, ok: c > 0 && fraction >= o.level });
  }

  const okRuns: { lo: number; hi: number }[] = [];
  for (let b = 0; b < nb; ) {
    if (!bins[b]!.ok) {
      b++;
      continue;
    }
    let e = b;
    while (e + 1 < nb && bins[e + 1]!.ok) e++;
    okRuns.push({ lo: bins[b]!.lo, hi: bins[e]!.hi });
    b = e + 1;
  }
  // Maximal runs never touch, so at most one contains the anchor.
  const okRange = okRuns.find((r) => r.lo <= anchor && anchor <= r.hi) ?? null;
  const span = edges[nb]! - edges[0]!;
  return {
    bins,
    okRuns,
    okRange,
    allOk: bins.every((b) => b.ok),
    okFraction: okRange ? (okRange.hi - okRange.lo) / span : 0,
  };
}

// ---------------------------------------------------------------------------------
// Worst cases

/**
 * Indices of the k largest SE, SE descending (ties: lower index first). A NaN SE
 * counts as the worst (it sorts before every number). k is clipped to [0, se.length].
 */
export function worstIndices(se: Values, k: number): number[] {
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`k must be a non-negative integer, got ${k}`);
  const idx = Array.from({ length: se.length }, (_, i) => i);
  idx.sort((x, y) => {
    const vx = se[x]!;
    const vy = se[y]!;
    const nx = Number.isNaN(vx);
    const ny = Number.isNaN(vy);
    if (nx || ny) return nx && ny ? x - y : nx ? -1 : 1;
    if (vx !== vy) return vy > vx ? 1 : -1;
    return x - y;
  });
  return idx.slice(0, Math.min(k, idx.length));
}
