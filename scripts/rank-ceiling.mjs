#!/usr/bin/env node
// usage: node scripts/rank-ceiling.mjs DB SPLIT k3,k2 [k3,k2 ...]
//   e.g. node scripts/rank-ceiling.mjs data-local/ni2-d4h.h5 228 160,32   (SPLIT: the model's
//   options.splitChannel in meta.json; sLCNN-7's defaults end in 160 (L3) and 32 (L2) values)
// docs/training.md, "Where the error is" (session 18). Needs a database of >= 40,000 rows; run
// `npm run build` first (reads dist/). Never run in CI.
// Best affine rank-(k3,k2) reconstruction (PCA fitted on rows 0..30000, evaluated on rows 30000..40000)
// of the L3 [0,SPLIT) and L2 [SPLIT,501) parts: the ceiling of any network whose branch outputs are
// linear maps from k3 and k2 features. Prints SE < 3 % / < 7 % and mean SE of the reconstruction.
import { readDatasetFile } from '../dist/io/dataset-file.js';
import { symmetricEigen } from '../dist/physics/eigen.js';
import { spectralErrors } from '../dist/ops/metrics.js';
const [db, splitS, ...ks] = process.argv.slice(2);
const split = Number(splitS);
const NF = 30000, NT = 10000, C = 501;
if (!db || !Number.isInteger(split) || split < 1 || split >= C || ks.length === 0) {
  console.error('usage: node scripts/rank-ceiling.mjs DB SPLIT k3,k2 [k3,k2 ...]');
  process.exit(2);
}
const { spectra } = await readDatasetFile(db, { start: 0, end: NF + NT });
function pca(lo, hi) {
  const n = hi - lo, mean = new Float64Array(n), cov = new Float64Array(n * n);
  for (let j = 0; j < NF; j++) for (let i = 0; i < n; i++) mean[i] += spectra[j * C + lo + i] / NF;
  const x = new Float64Array(n);
  for (let j = 0; j < NF; j++) {
    for (let i = 0; i < n; i++) x[i] = spectra[j * C + lo + i] - mean[i];
    for (let a = 0; a < n; a++) { const xa = x[a]; if (xa === 0) continue; const r = a * n; for (let b = 0; b <= a; b++) cov[r + b] += xa * x[b]; }
  }
  const { values, vectors } = symmetricEigen(cov, n);
  return { n, lo, mean, values, vectors };
}
const P3 = pca(0, split), P2 = pca(split, C);
function recon(P, k, out) {
  const { n, lo, mean, vectors } = P; const x = new Float64Array(n), c = new Float64Array(k);
  for (let j = 0; j < NT; j++) {
    const o = (NF + j) * C + lo;
    for (let i = 0; i < n; i++) x[i] = spectra[o + i] - mean[i];
    for (let f = 0; f < k; f++) { const col = n - 1 - f; let s = 0; for (let i = 0; i < n; i++) s += vectors[i * n + col] * x[i]; c[f] = s; }
    for (let i = 0; i < n; i++) { let s = mean[i]; for (let f = 0; f < k; f++) s += vectors[i * n + n - 1 - f] * c[f]; out[j * C + lo + i] = s; }
  }
}
const truth = spectra.subarray(NF * C, (NF + NT) * C);
for (const kk of ks) {
  const [k3, k2] = kk.split(',').map(Number);
  const out = new Float64Array(NT * C);
  recon(P3, Math.min(k3, P3.n), out); recon(P2, Math.min(k2, P2.n), out);
  const se = spectralErrors(out, truth, NT, C);
  let b3 = 0, b7 = 0, m = 0; for (const s of se) { if (s < 3) b3++; if (s < 7) b7++; m += s; }
  console.log(`${db} rank L3 ${k3}, L2 ${k2}: SE < 3 % ${(100 * b3 / NT).toFixed(1)} %, < 7 % ${(100 * b7 / NT).toFixed(2)} %, mean ${(m / NT).toFixed(2)} %`);
}
