// Benchmark of the neural surrogates on the wasm backend (one thread under
// Node, see src/model/backend.ts):
//
//   npx tsc -p tsconfig.json && node bench/model.mjs
//
// Rows: sLCNN-7 with its default sizes and the dense baseline (3 x 500), each
// with xasmap's layers (FastDense, banded LocallyConnected1D with custom
// gradients) and, in the same run, with stock tfjs gradients (tf.layers.dense;
// the LC layer's 'autodiff' implementation made of stock ops).
//
// Inference: features (fesFeatures, in JS) + predict for 10,000 random
// parameter sets in the D4h ranges, including the read-back of the 10,000 x
// 501 result; median of 5 after one warm-up. Training: RMSprop (lr 1e-3),
// MSE, batch 256, trainOnBatch on pre-built batches of random features and
// targets (throughput only), after 3 warm-up steps; MODEL_BENCH_STEPS (default
// 200) steps, but the stock rows stop after MODEL_BENCH_BASELINE_SECONDS
// (default 40 s, at least 10 steps). Nothing is extrapolated except
// samples/s = steps * 256 / time.
//
// Layer section (before the models): one layer's forward + backward
// (gradients w.r.t. input and weights, loss sum(y)) at batch 256, median of 5
// after a warm-up: LocallyConnected1D banded (custom gradient) vs autodiff
// (stock ops and gradients), FastDense vs the stock fused matMul gradient.
//
// Environment: MODEL_BENCH_STEPS, MODEL_BENCH_BASELINE_SECONDS,
// MODEL_BENCH_SPLIT (default 300, the L3/L2 split channel),
// MODEL_BENCH_ROWS (comma-separated row labels to run; default all).

import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../dist/model/backend.js';
import { fesFeatures, FES_SIZE } from '../dist/model/features.js';
import { buildSlcnn7, buildDense, makeFastDense } from '../dist/model/architectures.js';
import { lcGeometry, makeBandedLc, makeAutodiffLc } from '../dist/model/locally-connected.js';
import { PARAM_NAMES, PARAM_RANGES } from '../dist/physics/ions.js';
import { mulberry32 as prng } from '../dist/physics/random.js';

const N_INFER = 10_000;
const RUNS = 5;
const BATCH = 256;
const STEPS = Number(process.env.MODEL_BENCH_STEPS ?? 200);
const BASELINE_SECONDS = Number(process.env.MODEL_BENCH_BASELINE_SECONDS ?? 40);
const SPLIT = Number(process.env.MODEL_BENCH_SPLIT ?? 300);
const ROWS = process.env.MODEL_BENCH_ROWS?.split(',');


function randomParams(n, seed) {
  const r = prng(seed);
  const p = new Float32Array(n * PARAM_NAMES.length);
  for (let i = 0; i < n; i++) {
    PARAM_NAMES.forEach((k, j) => {
      const [lo, hi] = PARAM_RANGES[k];
      p[i * PARAM_NAMES.length + j] = lo + (hi - lo) * r();
    });
  }
  return p;
}

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

function inferOnce(model, params) {
  const t0 = performance.now();
  const feats = fesFeatures(params, N_INFER);
  tf.tidy(() => {
    const y = model.predict(tf.tensor2d(feats, [N_INFER, FES_SIZE]), { batchSize: 2000 });
    y.dataSync();
  });
  return performance.now() - t0;
}

async function trainRate(model, maxSteps, maxSeconds) {
  model.compile({ optimizer: tf.train.rmsprop(1e-3), loss: 'meanSquaredError' });
  const r = prng(7);
  const nb = 8;
  const xs = [];
  const ys = [];
  for (let b = 0; b < nb; b++) {
    xs.push(tf.tensor2d(fesFeatures(randomParams(BATCH, 100 + b), BATCH), [BATCH, FES_SIZE]));
    ys.push(tf.tensor2d(Float32Array.from({ length: BATCH * 501 }, () => r()), [BATCH, 501]));
  }
  for (let i = 0; i < 3; i++) await model.trainOnBatch(xs[i % nb], ys[i % nb]);
  const t0 = performance.now();
  let steps = 0;
  while (steps < maxSteps && (steps < 10 || performance.now() - t0 < maxSeconds * 1000)) {
    await model.trainOnBatch(xs[steps % nb], ys[steps % nb]);
    steps++;
  }
  const dt = (performance.now() - t0) / 1000;
  xs.forEach((t) => t.dispose());
  ys.forEach((t) => t.dispose());
  return { steps, seconds: dt, rate: (steps * BATCH) / dt };
}

const info = await initBackend('wasm');
console.log(`backend: ${info.name} (${info.detail})`);
console.log(`inference: ${N_INFER} parameter sets, FES + predict (batchSize 2000) + read-back, median of ${RUNS}`);
console.log(`training: RMSprop, MSE, batch ${BATCH}, up to ${STEPS} steps (stock rows: at most ${BASELINE_SECONDS} s)\n`);

const rows = [
  { label: 'sLCNN-7 (FastDense + banded LC)', build: () => buildSlcnn7({ splitChannel: SPLIT, seed: 1 }), steps: STEPS, seconds: Infinity },
  { label: 'sLCNN-7 (stock dense + banded LC)', build: () => buildSlcnn7({ splitChannel: SPLIT, seed: 1, dense: 'stock' }), steps: STEPS, seconds: BASELINE_SECONDS },
  { label: 'sLCNN-7 (FastDense + autodiff LC)', build: () => buildSlcnn7({ splitChannel: SPLIT, seed: 1, lc: 'autodiff' }), steps: STEPS, seconds: BASELINE_SECONDS },
  { label: 'sLCNN-7 (all stock gradients)', build: () => buildSlcnn7({ splitChannel: SPLIT, seed: 1, dense: 'stock', lc: 'autodiff' }), steps: STEPS, seconds: BASELINE_SECONDS },
  { label: 'dense 3x500 (FastDense)', build: () => buildDense({ seed: 1 }), steps: STEPS, seconds: Infinity },
  { label: 'dense 3x500 (stock tf.layers.dense)', build: () => buildDense({ seed: 1, dense: 'stock' }), steps: STEPS, seconds: BASELINE_SECONDS },
].filter((r) => !ROWS || ROWS.some((s) => r.label.includes(s)));

function layerTime(fn, args) {
  const run = () => tf.tidy(() => {
    tf.grads((...a) => tf.sum(fn(...a)))(args).forEach((g) => g.dataSync());
  });
  run();
  const t = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    run();
    t.push(performance.now() - t0);
  }
  return median(t);
}

if (!process.env.MODEL_BENCH_SKIP_LAYERS) {
  const lcRows = [];
  for (const [steps, cin, k, st, f] of [[64, 8, 5, 1, 8], [48, 8, 5, 1, 8], [64, 16, 7, 1, 16], [96, 16, 9, 1, 16], [128, 8, 8, 2, 8], [64, 16, 25, 1, 16]]) {
    const g = lcGeometry(steps, cin, k, st, f);
    const args = [tf.randomNormal([BATCH, steps, cin]), tf.randomNormal([g.outSteps, k * cin, f], 0, 0.1), tf.randomNormal([g.outSteps, f], 0, 0.1)];
    const banded = layerTime(makeBandedLc(g, 'relu', true), args);
    const autodiff = layerTime(makeAutodiffLc(g, 'relu', true), args);
    lcRows.push({ steps, Cin: cin, kernel: k, strides: st, filters: f, 'banded [ms]': banded.toFixed(1), 'autodiff [ms]': autodiff.toFixed(1), speedup: (autodiff / banded).toFixed(1) });
    tf.dispose(args);
  }
  console.log('LocallyConnected1D layer, fwd+bwd, batch 256:');
  console.table(lcRows);
  const denseRows = [];
  for (const [nIn, units] of [[220, 260], [260, 160], [500, 500], [500, 501]]) {
    const args = [tf.randomNormal([BATCH, nIn]), tf.randomNormal([nIn, units], 0, 0.05), tf.randomNormal([units], 0, 0.05)];
    const fast = layerTime(makeFastDense('relu', true), args);
    const stock = layerTime((x, w, b) => tf.fused.matMul({ a: x, b: w, bias: b, activation: 'relu' }), args);
    denseRows.push({ in: nIn, units, 'FastDense [ms]': fast.toFixed(1), 'stock [ms]': stock.toFixed(1), speedup: (stock / fast).toFixed(1) });
    tf.dispose(args);
  }
  console.log('Dense ReLU layer, fwd+bwd, batch 256:');
  console.table(denseRows);
}

const params = randomParams(N_INFER, 42);
const table = [];
for (const row of rows) {
  const model = row.build();
  inferOnce(model, params);
  const times = [];
  for (let i = 0; i < RUNS; i++) times.push(inferOnce(model, params));
  const tr = await trainRate(model, row.steps, row.seconds);
  table.push({
    model: row.label,
    params: model.countParams(),
    'infer 10k [ms]': median(times).toFixed(0),
    'train [samples/s]': tr.rate.toFixed(0),
    'train steps': tr.steps,
    'ms/step': ((tr.seconds * 1000) / tr.steps).toFixed(1),
  });
  model.dispose();
  console.log(JSON.stringify(table[table.length - 1]));
}
console.log('');
console.table(table);
