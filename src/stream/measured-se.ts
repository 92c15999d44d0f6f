/**
 * Operator: batch -> batch with `se`: the SE (%) of each predicted spectrum against its
 * measured spectrum, resampled to the model grid (+ shift) and box-normalised
 * (ops/resample.ts). Flags MEASURED_PARTIAL / MEASURED_BAD. Without measured data the batch
 * passes unchanged.
 */
import { type OperatorFunction, map } from 'rxjs';
import { FLAG } from '../ops/render-maps.js';
import { type MeasuredAxis, resampleSpectrum, seAgainstMeasured } from '../ops/resample.js';
import { type Batch, addTime } from './types.js';

export function measuredSE(axis: MeasuredAxis | null, grid: ArrayLike<number>): OperatorFunction<Batch, Batch> {
  const ne = axis?.energy.length ?? 0;
  const channels = grid.length;
  const a = new Float32Array(channels);
  return map((b: Batch) => {
    if (axis === null || b.measured === null || b.spectra === null) return b;
    const t0 = performance.now();
    const se = new Float32Array(b.count).fill(NaN);
    for (let i = 0; i < b.count; i++) {
      const status = resampleSpectrum(axis, b.measured.subarray(i * ne, (i + 1) * ne), grid, a);
      if (status === 'bad') {
        b.flags[i] = (b.flags[i] as number) | FLAG.MEASURED_BAD;
        continue;
      }
      if (status === 'partial') b.flags[i] = (b.flags[i] as number) | FLAG.MEASURED_PARTIAL;
      const p = b.spectra.subarray(i * channels, (i + 1) * channels);
      if (Number.isNaN(p[0] as number)) continue;
      se[i] = seAgainstMeasured(p, a);
    }
    b.se = se;
    addTime(b, 'se', t0);
    return b;
  });
}
