/**
 * Measured spectra onto the model's 501-channel absolute-energy grid, and their SE against
 * the prediction (physics.md section 9).
 *
 * - resample: linear interpolation on the measured energies + shift (energies need not be
 *   sorted or unique-free; they are sorted once per stack by prepareAxis). Grid channels
 *   outside [min, max] of the shifted measured energies are NaN.
 * - box normalisation over the finite channels.
 * - SE: over the channels where the measured spectrum is defined. With full coverage this is
 *   exactly spectralError(prediction, boxNormalised(measured)). With partial coverage both
 *   spectra are re-box-normalised over the covered channels first (flag 'partial').
 */

export interface MeasuredAxis {
  /** sorted ascending, shifted energies (eV) */
  energy: Float64Array;
  /** file index of each sorted energy */
  order: Int32Array;
}

/** Sorts the measured energies and applies the shift (measured + shift = model energy). */
export function prepareAxis(energy: ArrayLike<number>, shift = 0): MeasuredAxis {
  const idx = Array.from({ length: energy.length }, (_, i) => i).sort((a, b) => (energy[a] as number) - (energy[b] as number));
  return { energy: Float64Array.from(idx, (i) => (energy[i] as number) + shift), order: Int32Array.from(idx) };
}

export type MeasuredStatus = 'ok' | 'partial' | 'bad';

/**
 * Interpolates one measured spectrum (file energy order, `values`) onto `grid` into `out`
 * (NaN outside the measured range) and box-normalises it over its finite channels.
 * Returns 'bad' if a measured value is non-finite, fewer than 2 channels are covered, or the
 * spectrum is flat there; 'partial' if some grid channels are outside the measured range.
 */
export function resampleSpectrum(axis: MeasuredAxis, values: ArrayLike<number>, grid: ArrayLike<number>, out: Float32Array): MeasuredStatus {
  const e = axis.energy;
  const ne = e.length;
  for (let i = 0; i < ne; i++) if (!Number.isFinite(values[axis.order[i] as number] as number)) return fillNaN(out);
  if (ne < 2) return fillNaN(out);
  let j = 0;
  let covered = 0;
  const lo = e[0] as number;
  const hi = e[ne - 1] as number;
  for (let c = 0; c < grid.length; c++) {
    const x = grid[c] as number;
    if (x < lo || x > hi) {
      out[c] = NaN;
      continue;
    }
    while (j < ne - 2 && (e[j + 1] as number) < x) j++;
    const x0 = e[j] as number;
    const x1 = e[j + 1] as number;
    const y0 = values[axis.order[j] as number] as number;
    const y1 = values[axis.order[j + 1] as number] as number;
    out[c] = x1 > x0 ? y0 + ((y1 - y0) * (x - x0)) / (x1 - x0) : y0;
    covered++;
  }
  if (covered < 2) return fillNaN(out);
  if (!boxNormaliseFinite(out)) return fillNaN(out);
  return covered === grid.length ? 'ok' : 'partial';
}

function fillNaN(out: Float32Array): 'bad' {
  out.fill(NaN);
  return 'bad';
}

/** (v - min) / (max - min) over the finite entries, in place; false if flat or empty. */
export function boxNormaliseFinite(v: Float32Array | Float64Array): boolean {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < v.length; i++) {
    const x = v[i] as number;
    if (Number.isNaN(x)) continue;
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  const span = hi - lo;
  if (!(span > 0) || !Number.isFinite(span)) return false;
  for (let i = 0; i < v.length; i++) v[i] = ((v[i] as number) - lo) / span;
  return true;
}

/**
 * SE (%) of a predicted spectrum `p` (box-normalised over all channels) against a resampled
 * measured spectrum `a` (NaN where not covered): over all channels when a has no NaN, else over
 * the covered channels with both re-box-normalised there. NaN if fewer than 2 channels.
 */
export function seAgainstMeasured(p: ArrayLike<number>, a: ArrayLike<number>): number {
  const n = p.length;
  let covered = 0;
  for (let i = 0; i < n; i++) if (!Number.isNaN(a[i] as number)) covered++;
  if (covered < 2) return NaN;
  if (covered === n) {
    let num = 0;
    let den = 0;
    for (let i = 0; i < n; i++) {
      const pi = p[i] as number;
      const ai = a[i] as number;
      num += Math.abs(pi - ai);
      den += Math.abs(pi + ai);
    }
    return den > 0 ? (100 * num) / den : 0;
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(a[i] as number)) continue;
    const x = p[i] as number;
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  const span = hi - lo;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    const ai = a[i] as number;
    if (Number.isNaN(ai)) continue;
    const pi = span > 0 ? ((p[i] as number) - lo) / span : 0;
    num += Math.abs(pi - ai);
    den += Math.abs(pi + ai);
  }
  return den > 0 ? (100 * num) / den : 0;
}
