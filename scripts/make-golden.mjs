// Writes <model dir>/golden.json: 8 parameter sets (fixed seed, D4h ranges, two of them
// outside the training ranges) and the spectra the model predicts for them. Run once
// when a model is shipped, review, commit; test/models.test.ts checks them to 1e-5.
// Usage: npm run build && node scripts/make-golden.mjs models/Ni2+
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '../dist/model/backend.js';
import { loadModelDir } from '../dist/io/model-registry.js';
import { predictSpectra, paramsToArray } from '../dist/ops/predict.js';
import { sampleRow } from '../dist/ops/sampling.js';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node scripts/make-golden.mjs MODEL_DIR');
  process.exit(2);
}
await initBackend('wasm');
const { model, meta } = await loadModelDir(dir);
const inputs = Array.from({ length: 6 }, (_, r) => sampleRow(20261126, 'd4h', 1, r));
inputs.push({ ...inputs[0], Dq: 0.25 }, { ...inputs[1], T: 1500 });
const y = predictSpectra(model, paramsToArray(inputs), inputs.length);
const outputs = inputs.map((_, i) => Array.from(y.subarray(i * 501, (i + 1) * 501)));
writeFileSync(
  join(dir, 'golden.json'),
  JSON.stringify({ ion: meta.ion, note: 'made by scripts/make-golden.mjs with the wasm backend', inputs, outputs }),
);
console.log(`wrote ${join(dir, 'golden.json')}`);
