#!/usr/bin/env node
// Where a surrogate's error is (the numbers in docs/training.md). Not run in CI.
//
//   node scripts/diagnose-model.mjs DATABASE.h5 MODEL_DIR [MODEL_DIR ...] [--rows 4000]
//
// For each model (its split.json must belong to DATABASE): MSE and SE on training rows
// against test rows (overfitting?), mean SE and the fraction below 3 % by quintile of
// each parameter, and the share of the SE numerator per 50-channel bin. With several
// models, the same figures for the average of their predictions (an ensemble).
// Needs `npm run build` (reads dist/).
import { readFileSync } from 'node:fs';
import { initBackend } from '../dist/model/backend.js';
import { loadModel } from '../dist/io/model-files.js';
import { readDatasetFile } from '../dist/io/dataset-file.js';
import { predictSpectra } from '../dist/ops/predict.js';
import { spectralErrors, mseMae } from '../dist/ops/metrics.js';

const args = process.argv.slice(2);
const ri = args.indexOf('--rows');
const maxRows = ri >= 0 ? Number(args.splice(ri, 2)[1]) : 4000;
const [data, ...dirs] = args;
if (!data || dirs.length === 0) {
  console.error('usage: node scripts/diagnose-model.mjs DATABASE.h5 MODEL_DIR [MODEL_DIR ...] [--rows 4000]');
  process.exit(2);
}
const NAMES = ['Dq', 'Ds', 'Dt', 'S1', 'S2', 'T', 'sigmaG', 'Gamma1', 'Gamma2'];
const C = 501;
await initBackend('wasm');
const ds = await readDatasetFile(data);
const split = JSON.parse(readFileSync(`${dirs[0]}/split.json`, 'utf8'));
const held = new Set([...split.val, ...split.test]);
const trainRows = [];
for (let r = 0; r < ds.params.length / 9 && trainRows.length < maxRows; r++) if (!held.has(r)) trainRows.push(r);
const sets = { train: trainRows, test: split.test.slice(0, maxRows) };

function gather(rows) {
  const P = new Float32Array(rows.length * 9);
  const A = new Float32Array(rows.length * C);
  rows.forEach((r, i) => {
    P.set(ds.params.subarray(r * 9, r * 9 + 9), i * 9);
    A.set(ds.spectra.subarray(r * C, r * C + C), i * C);
  });
  return { P, A, n: rows.length };
}
const pct = (x) => `${(100 * x).toFixed(1)} %`;
const mean = (a) => a.reduce((s, v) => s + v, 0) / a.length;

function summary(name, p, { A, n }) {
  const se = spectralErrors(p, A, n);
  const { mse } = mseMae(p, A);
  console.log(`  ${name.padEnd(6)} MSE ${mse.toExponential(3)}, mean SE ${mean(Array.from(se)).toFixed(2)} %, SE < 3 %: ${pct(se.filter((s) => s < 3).length / n)}, < 7 %: ${pct(se.filter((s) => s < 7).length / n)}`);
  return se;
}

function byParameter(se, { P, n }) {
  console.log('  mean SE / fraction below 3 % by parameter quintile (lowest to highest):');
  for (let k = 0; k < 9; k++) {
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => P[a * 9 + k] - P[b * 9 + k]);
    const cells = [];
    for (let q = 0; q < 5; q++) {
      const part = order.slice(Math.floor((q * n) / 5), Math.floor(((q + 1) * n) / 5)).map((i) => se[i]);
      cells.push(`${mean(part).toFixed(2)}/${pct(part.filter((s) => s < 3).length / part.length).padStart(6)}`);
    }
    console.log(`    ${NAMES[k].padEnd(7)} ${cells.join('  ')}`);
  }
}

function byChannel(p, { A, n }) {
  const bins = new Float64Array(Math.ceil(C / 50));
  let total = 0;
  for (let i = 0; i < n * C; i++) {
    bins[Math.floor((i % C) / 50)] += Math.abs(p[i] - A[i]);
    total += Math.abs(p[i] + A[i]);
  }
  console.log(`  SE numerator per 50-channel bin (% of SE): ${Array.from(bins, (b) => (100 * b / total).toFixed(2)).join(' ')}`);
}

const test = gather(sets.test);
const train = gather(sets.train);
const testPreds = [];
for (const dir of dirs) {
  const model = await loadModel(dir);
  console.log(`${dir} (${test.n} test, ${train.n} training rows)`);
  summary('train', predictSpectra(model, train.P, train.n), train);
  const p = predictSpectra(model, test.P, test.n);
  testPreds.push(p);
  const se = summary('test', p, test);
  byParameter(se, test);
  byChannel(p, test);
}
if (dirs.length > 1) {
  const avg = new Float32Array(test.n * C);
  for (const p of testPreds) for (let i = 0; i < avg.length; i++) avg[i] += p[i] / testPreds.length;
  console.log(`average of the ${dirs.length} models' predictions`);
  summary('test', avg, test);
}
