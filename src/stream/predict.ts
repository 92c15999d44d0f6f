/**
 * Operator: batch -> batch with `spectra` (count x channels) from the model for the pixels
 * that are computed (flags without MASKED / INVALID_PARAM); the others get a NaN spectrum.
 */
import { type OperatorFunction, map } from 'rxjs';
import { PARAM_NAMES } from '../physics/ions.js';
import { FLAG } from '../ops/render-maps.js';
import { type Batch, addTime } from './types.js';

const P = PARAM_NAMES.length;
const SKIP = FLAG.MASKED | FLAG.INVALID_PARAM;

/** `predict(params, n)` returns n x channels spectra (e.g. ops/predict.ts predictSpectra bound to a model). */
export function predictBatch(predict: (params: Float32Array, n: number) => Float32Array, channels: number): OperatorFunction<Batch, Batch> {
  return map((b: Batch) => {
    const t0 = performance.now();
    const idx: number[] = [];
    for (let i = 0; i < b.count; i++) if (((b.flags[i] as number) & SKIP) === 0) idx.push(i);
    const spectra = new Float32Array(b.count * channels).fill(NaN);
    if (idx.length > 0) {
      const all = idx.length === b.count;
      const sub = all ? b.params : new Float32Array(idx.length * P);
      if (!all) idx.forEach((i, j) => sub.set(b.params.subarray(i * P, (i + 1) * P), j * P));
      const y = predict(sub, idx.length);
      if (all) spectra.set(y);
      else idx.forEach((i, j) => spectra.set(y.subarray(j * channels, (j + 1) * channels), i * channels));
    }
    b.spectra = spectra;
    addTime(b, 'predict', t0);
    return b;
  });
}
