// Simulator benchmark: per-ion single-spectrum time (cold and warm), database rate on
// 2 workers, largest block, peak memory; baseline in the same run = the literal dense
// method (whole configuration diagonalised with eigenvectors, no blocks, direct Faddeeva
// per stick and channel) for three ions.
//
// Usage: npm run build && node bench/simulate.mjs [--ions Ni2+,Fe2+] [--rows 128] [--no-dataset]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ION_NAMES } from '../dist/physics/ions.js';
import { computeSticks, broaden, ionModel, ionSpec, weightedSticks, simulate, spectralError } from '../dist/physics/spectrum.js';
import { assembleBlock } from '../dist/physics/operators.js';
import { symmetricEigen } from '../dist/physics/eigen.js';
import { voigt } from '../dist/physics/voigt.js';
import { sampleRow } from '../dist/ops/sampling.js';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const ions = opt('--ions', ION_NAMES.join(',')).split(',');
const rows = Number(opt('--rows', '128'));
const doDataset = !args.includes('--no-dataset');
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const bin = new URL('../bin/xasmap.js', import.meta.url).pathname;

function coldInFreshProcess(ion) {
  const code = `
    const { simulate } = await import(${JSON.stringify(new URL('../dist/physics/spectrum.js', import.meta.url).href)});
    const t0 = performance.now();
    simulate(${JSON.stringify(ion)}, { Dq: 0.1, Ds: 0.1, Dt: 0.05, S1: 0.8, S2: 0.8, T: 300, sigmaG: 0.1, Gamma1: 0.4, Gamma2: 0.6 });
    console.log(performance.now() - t0);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}

function datasetRate(ion, dir) {
  const out = join(dir, `${ion}.h5`);
  const code = `
    const { main } = await import(${JSON.stringify(new URL('../dist/cli/index.js', import.meta.url).href)});
    const io = { stdout() {}, stderr(l) { process.stderr.write(l + '\\n'); }, isTTY: false };
    const t0 = performance.now();
    const rc = await main(['node', 'xasmap', 'dataset', '--ion', ${JSON.stringify(ion)}, '--count', '${rows}', '--out', ${JSON.stringify(out)}, '--workers', '2', '--seed', '1'], io);
    console.log(JSON.stringify({ rc, ms: performance.now() - t0, maxRssKiB: process.resourceUsage().maxRSS }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
  const res = JSON.parse(r.stdout.trim().split('\n').pop());
  if (res.rc !== 0) throw new Error(`dataset for ${ion} failed (exit ${res.rc}): ${r.stderr}`);
  rmSync(out, { force: true });
  return res;
}

/** The literal dense method, for the baseline column. */
function denseBaseline(ion, p) {
  const m = ionModel(ion);
  const t0 = performance.now();
  const spec = ionSpec(m, p);
  const full = (ops, coefs) => {
    const dims = ops.basis.states.map((s) => s.length);
    const N = dims.reduce((a, b) => a + b, 0);
    const H = new Float64Array(N * N);
    let off = 0;
    dims.forEach((d, b) => {
      const h = assembleBlock(ops, b, coefs, new Float64Array(d * d));
      for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) H[(off + i) * N + off + j] = h[i * d + j];
      off += d;
    });
    return { H, N, offsets: dims.map((_, b) => dims.slice(0, b).reduce((a, c) => a + c, 0)) };
  };
  const I = full(m.initial, spec.initialCoefs);
  const F = full(m.final, spec.finalCoefs);
  const ei = symmetricEigen(I.H, I.N);
  const ef = symmetricEigen(F.H, F.N);
  const kT = 8.617333262e-5 * p.T;
  const pos = [];
  const wt = [];
  let Z = 0;
  for (let s = 0; s < I.N; s++) {
    const b = Math.exp(-(ei.values[s] - ei.values[0]) / kT);
    if (b < 1e-8) continue;
    Z += b;
  }
  for (let s = 0; s < I.N; s++) {
    const bw = Math.exp(-(ei.values[s] - ei.values[0]) / kT);
    if (bw < 1e-8) continue;
    for (let q = 0; q < 3; q++) {
      const v = new Float64Array(F.N);
      m.initial.basis.states.forEach((list, blk) => {
        const db = m.dipole.blocks[q][blk];
        const fo = F.offsets[db.finalBlock];
        const io = I.offsets[blk];
        for (let i = 0; i < list.length; i++) {
          const x = ei.vectors[(io + i) * I.N + s];
          for (let k = db.start[i]; k < db.start[i + 1]; k++) v[fo + db.index[k]] += db.value[k] * x;
        }
      });
      for (let f = 0; f < F.N; f++) {
        let c = 0;
        for (let i = 0; i < F.N; i++) c += ef.vectors[i * F.N + f] * v[i];
        if (c * c < 1e-16) continue;
        pos.push(ef.values[f] - ei.values[s]);
        wt.push((bw / Z) * c * c / 3);
      }
    }
  }
  const win = m.window;
  const raw = new Float64Array(win.n);
  for (let k = 0; k < pos.length; k++) {
    const g = pos[k] < win.split ? p.Gamma1 : p.Gamma2;
    for (let c = 0; c < win.n; c++) raw[c] += wt[k] * voigt(win.wMin + c * win.step - pos[k], g, p.sigmaG);
  }
  return { ms: performance.now() - t0, raw, dimFinal: F.N };
}

console.log(`# xasmap simulator benchmark\n\nnode ${process.version}, ${cpus().length} x ${cpus()[0]?.model}, ${new Date().toISOString()}\n`);
const dir = mkdtempSync(join(tmpdir(), 'xasmap-bench-'));
const table = [];
for (const ion of ions) {
  const cold = median([coldInFreshProcess(ion), coldInFreshProcess(ion), coldInFreshProcess(ion)]);
  const m = ionModel(ion);
  const tSt = [];
  const tBr = [];
  let maxBlock = 0;
  for (let r = 0; r < 15; r++) {
    const p = sampleRow(7, 'd4h', 1, r);
    let t0 = performance.now();
    const st = computeSticks(ionSpec(m, p), { tMax: p.T });
    tSt.push(performance.now() - t0);
    maxBlock = Math.max(maxBlock, st.maxBlock);
    t0 = performance.now();
    broaden(st, m.window, p);
    tBr.push(performance.now() - t0);
  }
  const dimFinal = m.final.basis.dim;
  const ds = doDataset ? datasetRate(ion, dir) : null;
  table.push({ ion, dimFinal, maxBlock, cold, sticks: median(tSt), broaden: median(tBr), ds });
  const last = table[table.length - 1];
  console.error(`${ion}: cold ${cold.toFixed(0)} ms, warm ${(last.sticks + last.broaden).toFixed(1)} ms${ds ? `, dataset ${((rows / ds.ms) * 1000).toFixed(1)}/s` : ''}`);
}
rmSync(dir, { recursive: true, force: true });

console.log('| ion | final dim | largest block | cold spectrum (ms) | warm: sticks (ms) | warm: broaden (ms) | dataset, 2 workers (spectra/s) | peak RSS (MiB) |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const r of table) {
  const rate = r.ds ? ((rows / r.ds.ms) * 1000).toFixed(1) : '-';
  const rss = r.ds ? (r.ds.maxRssKiB / 1024).toFixed(0) : '-';
  console.log(`| ${r.ion} | ${r.dimFinal} | ${r.maxBlock} | ${r.cold.toFixed(0)} | ${r.sticks.toFixed(1)} | ${r.broaden.toFixed(1)} | ${rate} | ${rss} |`);
}
if (table.every((r) => r.ds)) {
  const mean = table.reduce((t, r) => t + (rows / r.ds.ms) * 1000, 0) / table.length;
  const harmonic = table.length / table.reduce((t, r) => t + r.ds.ms / 1000 / rows, 0);
  console.log(`\nDatabase rate over these ${table.length} ions (${rows} rows each, 2 workers, including start-up): arithmetic mean ${mean.toFixed(1)} spectra/s, harmonic mean ${harmonic.toFixed(1)} spectra/s (equal counts per ion).`);
}

console.log('\nBaseline in the same run: the literal dense method (one matrix per configuration, full eigenvectors, direct Faddeeva per stick and channel), median of 3, against xasmap warm (median of 3, same parameters):\n');
console.log('| ion | final dim | dense literal (ms) | xasmap warm (ms) | speed-up | SE between them (%) |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const ion of ['Ni2+', 'Fe2+', 'Mn3+'].filter((i) => ions.includes(i))) {
  const p = { Dq: 0.12, Ds: 0.2, Dt: 0.05, S1: 0.8, S2: 0.8, T: 300, sigmaG: 0.1, Gamma1: 0.4, Gamma2: 0.6 };
  const base = [];
  let raw;
  let dimFinal = 0;
  for (let i = 0; i < 3; i++) {
    const r = denseBaseline(ion, p);
    base.push(r.ms);
    raw = r.raw;
    dimFinal = r.dimFinal;
  }
  const fast = [];
  let res;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    res = simulate(ion, p);
    fast.push(performance.now() - t0);
  }
  const norm = (x) => {
    const lo = Math.min(...x);
    const hi = Math.max(...x);
    return x.map((v) => (v - lo) / (hi - lo));
  };
  const se = spectralError(norm(Array.from(raw)), res.spectrum);
  console.log(`| ${ion} | ${dimFinal} | ${median(base).toFixed(0)} | ${median(fast).toFixed(1)} | ${(median(base) / median(fast)).toFixed(0)}x | ${se.toExponential(1)} |`);
}
