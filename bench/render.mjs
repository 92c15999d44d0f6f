#!/usr/bin/env node
/**
 * `xasmap render` speed: node bench/render.mjs --model DIR [--n 1000] [--batch 10000]
 * (npm run build first). Makes an n x n Ni2+ parameter map (gradients, scalars) in a temp
 * directory, runs the CLI once under /usr/bin/time -v for the peak RSS, and prints the
 * --json summary (pixels/s and the time split over read, predict, SE, write, PNG).
 * With --measured it also makes a matching (energy, ny, nx) stack of 121 energies (flat
 * spectra plus a ramp: only the cost of reading and resampling is measured, not the physics).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import h5wasm from 'h5wasm/node';

const args = process.argv.slice(2);
const opt = (k, d) => (args.includes(`--${k}`) ? args[args.indexOf(`--${k}`) + 1] : d);
const model = opt('model');
if (!model) throw new Error('usage: node bench/render.mjs --model DIR [--n 1000] [--batch 10000] [--measured] [--no-worker]');
const n = Number(opt('n', '1000'));
const batch = opt('batch', '10000');
const withMeasured = args.includes('--measured');
const serial = args.includes('--no-worker');
const dir = mkdtempSync(join(tmpdir(), 'xasmap-bench-render-'));
const M = await h5wasm.ready;
M.activate_throwing_error_handler();
const params = join(dir, 'params.h5');
{
  const f = new h5wasm.File(params, 'w');
  f.create_attribute('ion', 'Ni2+');
  const g = f.create_group('params');
  const Dq = new Float32Array(n * n);
  const G2 = new Float32Array(n * n);
  for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) {
    Dq[y * n + x] = 0.05 + (0.12 * x) / n;
    G2[y * n + x] = 0.4 + (0.6 * y) / n;
  }
  g.create_dataset({ name: 'Dq', data: Dq, shape: [n, n], dtype: '<f', chunks: [Math.min(n, 100), n], compression: 'gzip' });
  g.create_dataset({ name: 'Gamma2', data: G2, shape: [n, n], dtype: '<f', chunks: [Math.min(n, 100), n], compression: 'gzip' });
  for (const [k, v] of Object.entries({ Ds: 0.05, Dt: 0.01, S1: 0.8, S2: 0.8, T: 300, sigmaG: 0.1, Gamma1: 0.4 })) g.create_dataset({ name: k, data: v, dtype: '<d' });
  f.close();
}
const cliArgs = ['render', params, '--model', model, '--batch', batch, '--json', ...(serial ? ['--no-worker'] : [])];
if (withMeasured) {
  const meas = join(dir, 'measured.h5');
  const ne = 121;
  const f = new h5wasm.File(meas, 'w');
  const e = f.create_group('entry');
  e.create_attribute('NX_class', 'NXentry');
  const d = e.create_group('data');
  d.create_attribute('NX_class', 'NXdata');
  d.create_attribute('signal', 'data');
  d.create_attribute('axes', ['energy', '.', '.']);
  const ds = d.create_dataset({ name: 'data', data: new Float32Array(0), shape: [ne, 0, n], maxshape: [ne, n, n], dtype: '<f', chunks: [ne, 1, n], compression: 'gzip', compression_opts: 1 });
  ds.resize([ne, n, n]);
  const rows = Math.max(1, Math.floor(200000 / n));
  for (let y = 0; y < n; y += rows) {
    const h = Math.min(rows, n - y);
    const block = new Float32Array(ne * h * n);
    for (let k = 0; k < ne; k++) block.fill(k, k * h * n, (k + 1) * h * n);
    ds.write_slice([[], [y, y + h], []], block);
  }
  d.create_dataset({ name: 'energy', data: Float64Array.from({ length: ne }, (_, k) => 845 + 0.25 * k), dtype: '<d' }).create_attribute('units', 'eV');
  f.close();
  cliArgs.push('--measured', meas);
}
const bin = fileURLToPath(new URL('../bin/xasmap.js', import.meta.url));
const t0 = Date.now();
const r = spawnSync('/usr/bin/time', ['-v', process.execPath, bin, ...cliArgs], { encoding: 'utf8', maxBuffer: 1 << 26 });
const wall = (Date.now() - t0) / 1000;
if (r.status !== 0) {
  console.error(r.stderr);
  process.exit(1);
}
const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1] ?? NaN) / 1024;
const s = JSON.parse(r.stdout);
const size = statSync(join(dir, 'params.render.h5')).size / 2 ** 20;
console.log(JSON.stringify({ n, batch: Number(batch), measured: withMeasured, worker: !serial, wallSeconds: wall, renderSeconds: s.seconds, pixelsPerSecond: s.pixelsPerSecond, peakRssMiB: Math.round(rss), outputMiB: Math.round(size), timing: s.timing }));
rmSync(dir, { recursive: true, force: true });
