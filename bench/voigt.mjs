// Benchmark of broadenSticks (tabulated exact Voigt) against the direct
// Faddeeva double loop (one w(z) per stick and channel), in the same run.
//
//   npx tsc -p tsconfig.json && node bench/voigt.mjs
//
// Grid: 501 channels of 0.06 eV (700 .. 730 eV). Sticks: seeded uniform
// energies over 690 .. 740 eV (some outside the window), weights u^3, split
// at 715 eV. After a JIT warm-up on other data, for each row: the first
// (cold) call, which includes choosing M and filling the table, then the
// median of 5 calls. The direct baseline (one Faddeeva call per stick and
// channel) is measured in the same run for every row up to
// VOIGT_BENCH_DIRECT_MAX sticks (default 30000); nothing is extrapolated.

import { broadenSticks } from '../dist/physics/voigt.js';
import { faddeeva } from '../dist/physics/faddeeva.js';
import { mulberry32 as prng } from '../dist/physics/random.js';

const GRID = { wMin: 700, step: 0.06, n: 501 };
const SPLIT = 715;
const COUNTS = [1000, 10000, 30000];
const DIRECT_MAX = Number(process.env.VOIGT_BENCH_DIRECT_MAX ?? 30000);
const RUNS = 5;
const WIDTHS = [
  { label: 'typical  G1=0.3 G2=0.6 sG=0.1 ', g1: 0.3, g2: 0.6, s: 0.1 },
  { label: 'narrow   G1=0.05 G2=0.05 sG=0.01', g1: 0.05, g2: 0.05, s: 0.01 },
];


function sticks(count, seed) {
  const r = prng(seed);
  const pos = new Float64Array(count);
  const wt = new Float64Array(count);
  for (let k = 0; k < count; k++) {
    pos[k] = 690 + 50 * r();
    wt[k] = r() ** 3;
  }
  return { pos, wt };
}

/** Direct double loop with precomputed constants (fair baseline). */
function direct(pos, wt, count, grid, split, g1, g2, sigmaG, out) {
  const s = sigmaG / (2 * Math.sqrt(2 * Math.LN2));
  const k = 1 / (s * Math.SQRT2);
  const norm = 1 / (s * Math.sqrt(2 * Math.PI));
  const buf = new Float64Array(2);
  for (let i = 0; i < count; i++) {
    const p = pos[i];
    const a = wt[i] * norm;
    const y = (0.5 * (p < split ? g1 : g2)) * k;
    for (let c = 0; c < grid.n; c++) {
      faddeeva((grid.wMin + c * grid.step - p) * k, y, buf);
      out[c] += a * buf[0];
    }
  }
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function time(fn) {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

// JIT warm-up on unrelated widths and sticks (not reported)
{
  const { pos, wt } = sticks(3000, 7);
  const out = new Float64Array(GRID.n);
  for (let r = 0; r < 30; r++) {
    broadenSticks(pos, wt, r % 2 === 0 ? 3000 : 60, GRID, SPLIT, 0.41, 0.77, 0.13, out);
    broadenSticks(pos, wt, 3000, GRID, SPLIT, 0.07, 0.09, 0.02, out);
  }
  for (let r = 0; r < 5; r++) direct(pos, wt, 300, GRID, SPLIT, 0.41, 0.77, 0.13, out);
}

const rows = [];
for (const w of WIDTHS) {
  for (const count of COUNTS) {
    const { pos, wt } = sticks(count, count);
    const out = new Float64Array(GRID.n);
    // widths nudged by 1e-12 relative per row so that the module caches (M
    // choice, table values) miss and the cold call really starts cold
    const nudge = 1 + 1e-12 * rows.length;
    const g1 = w.g1 * nudge;
    const g2 = w.g2 * nudge;
    const cold = time(() => broadenSticks(pos, wt, count, GRID, SPLIT, g1, g2, w.s, out));
    const ts = [];
    for (let r = 0; r < RUNS; r++) {
      out.fill(0);
      ts.push(time(() => broadenSticks(pos, wt, count, GRID, SPLIT, g1, g2, w.s, out)));
    }
    const fast = median(ts);
    let directMs = NaN;
    let err = NaN;
    if (count <= DIRECT_MAX) {
      const ref = new Float64Array(GRID.n);
      const td = [];
      for (let r = 0; r < RUNS; r++) {
        ref.fill(0);
        td.push(time(() => direct(pos, wt, count, GRID, SPLIT, g1, g2, w.s, ref)));
      }
      directMs = median(td);
      let d = 0;
      let m = 0;
      for (let c = 0; c < GRID.n; c++) {
        d = Math.max(d, Math.abs(out[c] - ref[c]));
        m = Math.max(m, ref[c]);
      }
      err = d / m;
    }
    rows.push({ w: w.label, count, cold, fast, directMs, err });
  }
}

const f = (x, d = 2) => (Number.isNaN(x) ? '—' : x.toFixed(d));
console.log(`node ${process.version}, grid ${GRID.n} x ${GRID.step} eV, median of ${RUNS} runs (ms)`);
console.log('| widths (eV) | sticks | broadenSticks cold | broadenSticks median | direct Faddeeva median | speed-up | max|diff|/max |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  const speed = Number.isNaN(r.directMs) ? '—' : `${(r.directMs / r.fast).toFixed(0)}x`;
  const err = Number.isNaN(r.err) ? '—' : r.err.toExponential(1);
  console.log(`| ${r.w} | ${r.count} | ${f(r.cold)} | ${f(r.fast)} | ${f(r.directMs)} | ${speed} | ${err} |`);
}
