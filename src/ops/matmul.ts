/** Matrix products on the active tfjs backend (plain layout: fast on wasm, see DEVELOPERS.md). */
import * as tf from '@tensorflow/tfjs';
import type { MatMul } from './fit.js';

export const tfMatMul: MatMul = (a, rows, inner, b, cols) => {
  const ta = tf.tensor2d(a, [rows, inner]);
  const tb = tf.tensor2d(b, [inner, cols]);
  const tc = tf.matMul(ta, tb);
  const out = tc.dataSync() as Float32Array;
  tf.dispose([ta, tb, tc]);
  return out;
};
