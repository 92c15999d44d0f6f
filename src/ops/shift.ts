/**
 * A global energy shift between a measured stack and the model's grid, fitted on a
 * sample of pixels: the shift s (measured energy + s = model energy) that minimises the
 * mean SE between the predicted spectra and the resampled, box-normalised measured ones.
 * Coarse grid search over [-range, range], then a finer one around the best value; SE is
 * not smooth in s, so no gradient method.
 */
import { prepareAxis, resampleSpectrum, seAgainstMeasured } from './resample.js';

export interface ShiftFit {
  shift: number;
  /** mean SE (%) at the fitted shift over the pixels that could be compared */
  se: number;
  /** pixels used */
  pixels: number;
  /** (shift, mean SE) of the coarse search, for reports */
  curve: [number, number][];
}

export interface ShiftOptions {
  /** search range (eV), default 5 */
  range?: number;
  /** coarse step (eV), default 0.05 */
  step?: number;
  /** fine step (eV), default 0.005 */
  fine?: number;
}

/**
 * pred: m spectra on `grid` (m x grid.length); measured: m spectra in file energy order
 * (m x energy.length). Pixels whose measured spectrum is unusable at a shift are left out
 * of that shift's mean; a shift that leaves fewer than half the pixels is not considered.
 */
export function fitGlobalShift(
  pred: Float32Array,
  measured: Float32Array,
  m: number,
  energy: ArrayLike<number>,
  grid: ArrayLike<number>,
  opts: ShiftOptions = {},
): ShiftFit {
  const range = opts.range ?? 5;
  const step = opts.step ?? 0.05;
  const fine = opts.fine ?? 0.005;
  const nG = grid.length;
  const nE = energy.length;
  const buf = new Float32Array(nG);
  const meanSe = (s: number): number => {
    const axis = prepareAxis(energy, s);
    let sum = 0;
    let used = 0;
    for (let k = 0; k < m; k++) {
      const status = resampleSpectrum(axis, measured.subarray(k * nE, (k + 1) * nE), grid, buf);
      if (status === 'bad') continue;
      const se = seAgainstMeasured(pred.subarray(k * nG, (k + 1) * nG), buf);
      if (!Number.isFinite(se)) continue;
      sum += se;
      used++;
    }
    return used * 2 >= m && used > 0 ? sum / used : Infinity;
  };
  const g = gridMinimise(meanSe, range, step, fine);
  return { shift: Math.round(g.best / fine) * fine, se: g.value, pixels: m, curve: g.curve };
}

/**
 * Minimises f on a grid over [-range, range] at `step`, then on a grid of `fine` within one
 * step of the best point; returns the best point, its value and the coarse curve.
 */
export function gridMinimise(f: (s: number) => number, range: number, step: number, fine: number): { best: number; value: number; curve: [number, number][] } {
  const curve: [number, number][] = [];
  let best = 0;
  let value = Infinity;
  const nSteps = Math.round(range / step);
  for (let i = -nSteps; i <= nSteps; i++) {
    const s = i * step;
    const v = f(s);
    curve.push([s, v]);
    if (v < value) [best, value] = [s, v];
  }
  const centre = best;
  const nFine = Math.round(step / fine);
  for (let i = -nFine; i <= nFine; i++) {
    const s = centre + i * fine;
    const v = f(s);
    if (v < value) [best, value] = [s, v];
  }
  return { best, value, curve };
}
