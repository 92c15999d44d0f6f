// Benchmark of src/physics/eigen.ts (run `npx tsc -p tsconfig.json` first, then `node bench/eigen.mjs`).
// Times eigenProject (k = 60 projection vectors) and symmetricEigen on random symmetric matrices, median of
// 5 runs after a warm-up, against a simple cyclic Jacobi eigensolver (written below) measured in the same run.
import { eigenProject, symmetricEigen } from '../dist/physics/eigen.js';
import { mulberry32 } from '../dist/physics/random.js';

const SIZES = [60, 180, 315, 378];
const JACOBI_SIZES = new Set([60, 180]);
const K = 60;
const RUNS = 5;


function randomSymmetric(n, seed) {
  const rnd = mulberry32(seed);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const x = rnd() * 2 - 1;
      a[i * n + j] = x;
      a[j * n + i] = x;
    }
  }
  return a;
}

function randomBlock(n, k, seed) {
  const rnd = mulberry32(seed);
  const u = new Float64Array(n * k);
  for (let i = 0; i < u.length; i++) u[i] = rnd() * 2 - 1;
  return u;
}

/** Cyclic Jacobi with eigenvector accumulation (baseline). Returns { values (unsorted), vectors (columns) }. */
function jacobiEigen(a0, n) {
  const a = a0.slice();
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let frob = 0;
  for (let i = 0; i < n * n; i++) frob += a[i] * a[i];
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) off += a[i * n + j] * a[i * n + j];
    if (off <= 1e-30 * frob) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        // A <- A J (columns p, q), then A <- J^T A (rows p, q); V <- V J.
        for (let r = 0; r < n; r++) {
          const x = a[r * n + p];
          const y = a[r * n + q];
          a[r * n + p] = c * x - s * y;
          a[r * n + q] = s * x + c * y;
        }
        for (let col = 0; col < n; col++) {
          const x = a[p * n + col];
          const y = a[q * n + col];
          a[p * n + col] = c * x - s * y;
          a[q * n + col] = s * x + c * y;
        }
        a[p * n + q] = 0;
        a[q * n + p] = 0;
        for (let r = 0; r < n; r++) {
          const x = v[r * n + p];
          const y = v[r * n + q];
          v[r * n + p] = c * x - s * y;
          v[r * n + q] = s * x + c * y;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i];
  return { values, vectors: v };
}

function median(xs) {
  const s = [...xs].sort((x, y) => x - y);
  return s[s.length >> 1];
}

function time(fn) {
  fn(); // warm-up
  const ts = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

// Global warm-up so that every function is optimised before the first timed size.
for (let r = 0; r < 20; r++) {
  const a = randomSymmetric(40, r);
  eigenProject(a, 40, randomBlock(40, K, r), K);
  symmetricEigen(a, 40);
  jacobiEigen(a, 40);
}

const fmt = (x, d) => (x === undefined ? '–' : x.toFixed(d));
const rows = [];
for (const n of SIZES) {
  const a = randomSymmetric(n, 1000 + n);
  const vs = randomBlock(n, K, 2000 + n);
  const tProj = time(() => eigenProject(a, n, vs, K));
  const tFull = time(() => symmetricEigen(a, n));
  let tJac;
  if (JACOBI_SIZES.has(n)) {
    tJac = time(() => jacobiEigen(a, n));
    // sanity: same spectrum
    const ref = Float64Array.from(jacobiEigen(a, n).values).sort();
    const got = symmetricEigen(a, n).values;
    let err = 0;
    for (let i = 0; i < n; i++) err = Math.max(err, Math.abs(ref[i] - got[i]));
    if (err > 1e-9) throw new Error(`n=${n}: Jacobi and symmetricEigen disagree by ${err}`);
  }
  const flops = (4 / 3) * n ** 3;
  rows.push(
    `| ${n} | ${fmt(tProj, 2)} | ${fmt(flops / tProj / 1e6, 2)} | ${fmt(tFull, 2)} | ${fmt(flops / tFull / 1e6, 2)} | ` +
      `${fmt(tJac, 2)} | ${tJac === undefined ? '–' : fmt(tJac / tFull, 1) + 'x'} | ${tJac === undefined ? '–' : fmt(tJac / tProj, 1) + 'x'} |`,
  );
}

console.log(`Node ${process.version}, median of ${RUNS} runs after 1 warm-up, random symmetric matrices in [-1, 1].`);
console.log('GFLOP/s = (4/3 n^3, the Householder reduction alone) / time; Jacobi = cyclic Jacobi with vectors.\n');
console.log(`| n | eigenProject k=${K} (ms) | GFLOP/s | symmetricEigen (ms) | GFLOP/s | Jacobi (ms) | Jacobi / symmetricEigen | Jacobi / eigenProject |`);
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) console.log(r);
