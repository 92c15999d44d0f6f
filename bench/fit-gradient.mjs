#!/usr/bin/env node
/**
 * Why `fit` uses Levenberg-Marquardt with forward-difference Jacobians and not first-order
 * steps with tfjs input gradients: node bench/fit-gradient.mjs [--n 500] [--seconds 20]
 * (npm run build first).
 *
 * Data: n spectra predicted by the shipped Ni2+ network for known parameters (central 80 % of
 * the training box, T = 300 fixed) plus white noise 0.002, so that both methods can reach
 * the truth. Both start from the same nearest library spectrum (one start per pixel).
 *  A. ops/fit.ts fitSpectra: 1 start, 12 LM iterations (main thread, no workers).
 *  B. Adam on the 8 normalised parameters (projected onto [0, 1]), loss = sum of squared
 *     residuals, gradient with respect to the inputs by tf.variableGrads through the FES features
 *     (built from tf ops: one-hot matrix products, as gather has no gradient kernel on wasm) and
 *     the network; as many steps as fit in the wall time of A, learning rate
 *     0.005 (the best of 0.005 / 0.02 / 0.05, 2026-11-26).
 * Prints median SE and median |Dq error| of both after equal wall time.
 */
import * as tf from '@tensorflow/tfjs';
import { loadShippedModel } from '../dist/io/model-registry.js';
import { initBackend } from '../dist/model/backend.js';
import { FES_MONOMIALS } from '../dist/model/features.js';
import { fitSpectra, nearestLibrary, predictLibrary } from '../dist/ops/fit.js';
import { tfMatMul } from '../dist/ops/matmul.js';
import { predictSpectra } from '../dist/ops/predict.js';
import { PARAM_NAMES, PARAM_RANGES } from '../dist/physics/ions.js';
import { mulberry32 } from '../dist/physics/random.js';

const args = process.argv.slice(2);
const opt = (k, d) => (args.includes(`--${k}`) ? args[args.indexOf(`--${k}`) + 1] : d);
const n = Number(opt('n', '500'));
const lr = Number(opt('lr', '0.005'));
await initBackend('wasm');
const { model } = await loadShippedModel('Ni2+');
const P = 9;
const C = 501;
const lower = PARAM_NAMES.map((k) => PARAM_RANGES[k][0]);
const upper = PARAM_NAMES.map((k) => PARAM_RANGES[k][1]);
const fixed = PARAM_NAMES.map((k) => (k === 'T' ? 300 : NaN));
const free = [0, 1, 2, 3, 4, 6, 7, 8];
const rnd = mulberry32(5);
const truth = new Float32Array(n * P);
for (let i = 0; i < n; i++) for (let k = 0; k < P; k++) truth[i * P + k] = k === 5 ? 300 : lower[k] + (upper[k] - lower[k]) * (0.1 + 0.8 * rnd());
const meas = predictSpectra(model, truth, n, 2048);
for (let j = 0; j < meas.length; j++) meas[j] += 0.002 * Math.sqrt(-2 * Math.log(Math.max(rnd(), 1e-300))) * Math.cos(2 * Math.PI * rnd());
const forward = async (p, rows) => predictSpectra(model, p, rows, 2048);
const setup = { lower, upper, fixed };
const lib = await predictLibrary(setup, 4096, 1, forward);
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const seOf = (y, i) => {
  let num = 0;
  let den = 0;
  for (let c = 0; c < C; c++) {
    num += Math.abs(y[i * C + c] - meas[i * C + c]);
    den += Math.abs(y[i * C + c] + meas[i * C + c]);
  }
  return (100 * num) / den;
};

// A: LM
let t0 = performance.now();
const a = await fitSpectra(meas, n, C, setup, forward, { starts: 1, iterations: 12, librarySet: lib, matmul: tfMatMul, concurrency: 1 });
const wallA = (performance.now() - t0) / 1000;
const dqA = Array.from({ length: n }, (_, i) => Math.abs(a.maps.params[i * P] - truth[i * P]));

// B: Adam with input gradients, same start
const near = nearestLibrary(meas, Array.from({ length: n }, (_, i) => i), C, lib.spectra, lib.size, 1, undefined, tfMatMul);
const z0 = new Float32Array(n * P);
for (let i = 0; i < n; i++) for (let k = 0; k < P; k++) z0[i * P + k] = (lib.params[near[i] * P + k] - lower[k]) / (upper[k] - lower[k]);
const deg = (d) => FES_MONOMIALS.map((m, f) => [m, f]).filter(([m]) => m.length === d);
// one-hot selection matrices (9 x features): gather's gradient (UnsortedSegmentSum) has no wasm kernel
const idx = (d, j) => {
  const list = deg(d);
  const sel = new Float32Array(P * list.length);
  list.forEach(([m], f) => (sel[m[j] * list.length + f] = 1));
  return tf.tensor2d(sel, [P, list.length]);
};
const I2 = [idx(2, 0), idx(2, 1)];
const I3 = [idx(3, 0), idx(3, 1), idx(3, 2)];
const features = (x) => tf.concat([tf.onesLike(x.slice([0, 0], [-1, 1])), x, x.matMul(I2[0]).mul(x.matMul(I2[1])), x.matMul(I3[0]).mul(x.matMul(I3[1])).mul(x.matMul(I3[2]))], 1);
const freeMask = tf.tensor1d(Array.from({ length: P }, (_, k) => (free.includes(k) ? 1 : 0)));
const z = tf.variable(tf.tensor2d(z0, [n, P]));
const m = tf.tensor2d(meas, [n, C]);
const optimizer = tf.train.adam(lr);
const lossFn = () => model.apply(features(z), { training: false }).sub(m).square().sum();
t0 = performance.now();
let steps = 0;
while ((performance.now() - t0) / 1000 < wallA) {
  tf.tidy(() => {
    const { grads } = tf.variableGrads(lossFn, [z]);
    optimizer.applyGradients({ [z.name]: grads[z.name].mul(freeMask) });
  });
  z.assign(tf.tidy(() => z.clipByValue(0, 1)));
  steps++;
}
const wallB = (performance.now() - t0) / 1000;
const zb = z.dataSync();
const pb = new Float32Array(n * P);
for (let i = 0; i < n; i++) for (let k = 0; k < P; k++) pb[i * P + k] = lower[k] + zb[i * P + k] * (upper[k] - lower[k]);
const yb = predictSpectra(model, pb, n, 2048);
const yStart = predictSpectra(model, Float32Array.from(z0, (v, j) => lower[j % P] + v * (upper[j % P] - lower[j % P])), n, 2048);
const dqB = Array.from({ length: n }, (_, i) => Math.abs(pb[i * P] - truth[i * P]));
const dqS = Array.from({ length: n }, (_, i) => Math.abs(lib.params[near[i] * P] - truth[i * P]));
console.log(JSON.stringify({
  date: new Date().toISOString(),
  pixels: n,
  start: { seMedian: median(Array.from({ length: n }, (_, i) => seOf(yStart, i))), dqErrMedian: median(dqS) },
  lm: { seconds: wallA, iterations: 12, modelRows: a.report.forwardRows, seMedian: median(Array.from(a.maps.se)), dqErrMedian: median(dqA) },
  adamInputGradients: { seconds: wallB, steps, lr, seMedian: median(Array.from({ length: n }, (_, i) => seOf(yb, i))), dqErrMedian: median(dqB) },
}, null, 1));
