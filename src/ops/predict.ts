/** Batch prediction: parameters (N x 9, physical units) -> FES features -> model -> N x 501 spectra. */
import * as tf from '@tensorflow/tfjs';
import { FES_SIZE, fesFeatures } from '../model/features.js';
import { PARAM_NAMES, PARAM_RANGES, type Params } from '../physics/ions.js';

export const DEFAULT_PREDICT_BATCH = 4096;

export function predictSpectra(model: tf.LayersModel, params: Float32Array, n: number, batch = DEFAULT_PREDICT_BATCH): Float32Array {
  const channels = (model.outputs[0]?.shape[1] as number | undefined) ?? 501;
  const out = new Float32Array(n * channels);
  const feats = new Float32Array(Math.min(batch, Math.max(n, 1)) * FES_SIZE);
  for (let s = 0; s < n; s += batch) {
    const m = Math.min(batch, n - s);
    fesFeatures(params.subarray(s * PARAM_NAMES.length, (s + m) * PARAM_NAMES.length), m, feats);
    const x = tf.tensor2d(feats.subarray(0, m * FES_SIZE), [m, FES_SIZE]);
    // predict() defaults to internal batches of 32 rows, about 3x slower on wasm
    const y = model.predict(x, { batchSize: m }) as tf.Tensor;
    out.set(y.dataSync() as Float32Array, s * channels);
    x.dispose();
    y.dispose();
  }
  return out;
}

export function paramsToArray(list: readonly Params[]): Float32Array {
  const a = new Float32Array(list.length * PARAM_NAMES.length);
  list.forEach((p, i) => PARAM_NAMES.forEach((k, j) => (a[i * PARAM_NAMES.length + j] = p[k])));
  return a;
}

/** True where a parameter set lies outside the D4h training ranges. */
export function extrapolated(list: readonly Params[]): boolean[] {
  return list.map((p) => PARAM_NAMES.some((k) => p[k] < PARAM_RANGES[k][0] || p[k] > PARAM_RANGES[k][1]));
}
