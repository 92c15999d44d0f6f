/**
 * Shared types and flag codes of `xasmap fit` (pure; no I/O). The fitting itself is in
 * ops/fit.ts, the NeXus/PNG output in io/fit-file.ts.
 */
import { PARAM_NAMES } from '../physics/ions.js';

/** Pixel flags of /entry/maps/flags (uint16). 0 = fitted, nothing to report. */
export const FIT_FLAG = Object.freeze({
  /** masked or not fitted (no usable measured spectrum): parameters, sigmas and SE are NaN */
  NOT_FITTED: 1,
  /** the measured spectrum covers only part of the model window: fitted on the covered channels */
  PARTIAL: 2,
  /** at least one free parameter sits on a bound (see param_flags) */
  AT_BOUND: 4,
  /** at least one free parameter is not determined by the data (sigma > bound span, or singular) */
  UNDETERMINED: 8,
  /** refined with the simulator (--refine): parameters, sigmas, SE and fitted spectrum from the simulator */
  REFINED: 16,
  /** the simulator refinement failed; the network fit is kept */
  REFINE_FAILED: 32,
});

export const FIT_FLAG_CODES_TEXT =
  '0 = ok; bits: 1 not fitted (no usable measured spectrum; NaN), 2 measured spectrum covers part of the window, ' +
  '4 a free parameter on a bound, 8 a free parameter not determined by the data, 16 refined with the simulator, ' +
  '32 simulator refinement failed (network fit kept)';

/** Per-parameter flags of /entry/maps/param_flags (ny, nx, 9) uint8. */
export const PARAM_FLAG = Object.freeze({
  AT_LOWER: 1,
  AT_UPPER: 2,
  UNDETERMINED: 4,
  FIXED: 8,
});

export const PARAM_FLAG_CODES_TEXT =
  '0 = free and determined; bits: 1 at the lower bound, 2 at the upper bound, 4 not determined by the data, 8 fixed by the user';

/** The result of fitting n pixels (pixel-major arrays). */
export interface FitMaps {
  /** number of pixels */
  n: number;
  channels: number;
  /** n x 9, physical units, order PARAM_NAMES; NaN where not fitted */
  params: Float32Array;
  /** n x 9 one-standard-deviation uncertainties; 0 for fixed parameters; NaN where not fitted or undetermined */
  sigma: Float32Array;
  /** n x 9 PARAM_FLAG bits */
  paramFlags: Uint8Array;
  /** n, SE (%) of the fitted spectrum against the measured one over the covered channels */
  se: Float32Array;
  /** n, FIT_FLAG bits */
  flags: Uint16Array;
  /** n x channels, the fitted spectra on the model grid (NaN where not fitted) */
  fitted: Float32Array;
  /** n x channels, the measured spectra as fitted: resampled, pre-processed, box-normalised; NaN outside coverage */
  measured: Float32Array;
  /** n, index of the start that won (0-based); -1 where not fitted, -2 refitted from a neighbour's solution (ops/fit-neighbours.ts) */
  bestStart: Int16Array;
}

export const N_FIT_PARAMS = PARAM_NAMES.length;
