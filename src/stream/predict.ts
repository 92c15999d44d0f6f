/**
 * Operator: batch -> batch with `spectra` (count x channels) from the model for the pixels
 * that are computed (flags without MASKED / INVALID_PARAM); the others get a NaN spectrum.
 */
import { type OperatorFunction, map, mergeMap } from 'rxjs';
import { PARAM_NAMES } from '../physics/ions.js';
import { FLAG } from '../ops/render-maps.js';
import { type Batch, addTime } from './types.js';

const P = PARAM_NAMES.length;
const SKIP = FLAG.MASKED | FLAG.INVALID_PARAM;

/** The computed pixels of a batch and their parameters (a copy only when some are skipped). */
function computedPixels(b: Batch): { idx: number[]; sub: Float32Array } {
  const idx: number[] = [];
  for (let i = 0; i < b.count; i++) if (((b.flags[i] as number) & SKIP) === 0) idx.push(i);
  const all = idx.length === b.count;
  const sub = all ? b.params : new Float32Array(idx.length * P);
  if (!all) idx.forEach((i, j) => sub.set(b.params.subarray(i * P, (i + 1) * P), j * P));
  return { idx, sub };
}

function scatter(b: Batch, idx: number[], y: Float32Array | null, channels: number): void {
  const spectra = new Float32Array(b.count * channels).fill(NaN);
  if (y) {
    if (idx.length === b.count) spectra.set(y.subarray(0, b.count * channels));
    else idx.forEach((i, j) => spectra.set(y.subarray(j * channels, (j + 1) * channels), i * channels));
  }
  b.spectra = spectra;
}

/** `predict(params, n)` returns n x channels spectra (e.g. ops/predict.ts predictSpectra bound to a model). */
export function predictBatch(predict: (params: Float32Array, n: number) => Float32Array, channels: number): OperatorFunction<Batch, Batch> {
  return map((b: Batch) => {
    const t0 = performance.now();
    const { idx, sub } = computedPixels(b);
    scatter(b, idx, idx.length > 0 ? predict(sub, idx.length) : null, channels);
    addTime(b, 'predict', t0);
    return b;
  });
}

/**
 * The same with an asynchronous predictor (a model in a worker thread): up to `inFlight`
 * batches are being predicted while the main thread handles the results of earlier ones.
 * A FIFO predictor keeps the batches in order.
 */
export function predictBatchAsync(predict: (params: Float32Array, n: number) => Promise<Float32Array>, channels: number, inFlight = 2): OperatorFunction<Batch, Batch> {
  return mergeMap(async (b: Batch) => {
    const t0 = performance.now();
    const { idx, sub } = computedPixels(b);
    scatter(b, idx, idx.length > 0 ? await predict(sub, idx.length) : null, channels);
    addTime(b, 'predict', t0);
    return b;
  }, inFlight);
}
