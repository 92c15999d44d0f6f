#!/usr/bin/env node
/**
 * `xasmap fit` speed: node bench/fit.mjs [--measured examples/measured.h5] [--ion Ni2+]
 * [--runs 3] [--sample 50] [--starts 3] [--iterations 12] (npm run build first).
 *
 * 1. The CLI on the whole stack (default: the 100 x 100 Ni2+ example, T fixed, shift 0), `runs`
 *    times: median wall time, pixels/s, model rows evaluated, starts and iterations used.
 * 2. Same-run baseline: a per-pixel nonlinear fit, i.e. the same fit (library starts +
 *    Levenberg-Marquardt through the same network) called for one pixel at a time on the main
 *    thread, on `sample` pixels spread over the map: ms per pixel. The ratio of the two is the
 *    gain of batching all pixels through the model at once (plus the worker threads).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openMeasuredAny } from '../dist/io/measured-any.js';
import { loadShippedModel } from '../dist/io/model-registry.js';
import { initBackend } from '../dist/model/backend.js';
import { fitSpectra, predictLibrary } from '../dist/ops/fit.js';
import { tfMatMul } from '../dist/ops/matmul.js';
import { predictSpectra } from '../dist/ops/predict.js';
import { prepareAxis, resampleSpectrum } from '../dist/ops/resample.js';
import { PARAM_NAMES, PARAM_RANGES, energyWindow, windowAxes } from '../dist/physics/ions.js';

const args = process.argv.slice(2);
const opt = (k, d) => (args.includes(`--${k}`) ? args[args.indexOf(`--${k}`) + 1] : d);
const measuredPath = opt('measured', 'examples/measured.h5');
const ion = opt('ion', 'Ni2+');
const runs = Number(opt('runs', '3'));
const sampleN = Number(opt('sample', '50'));
const starts = Number(opt('starts', '3'));
const iterations = Number(opt('iterations', '12'));
const dir = mkdtempSync(join(tmpdir(), 'xasmap-bench-fit-'));
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

const walls = [];
let last = null;
for (let r = 0; r < runs; r++) {
  const t0 = performance.now();
  const res = spawnSync(process.execPath, ['bin/xasmap.js', 'fit', measuredPath, '--ion', ion, '--fix', 'T=300', '--shift', '0', '--starts', String(starts), '--iterations', String(iterations), '--out', join(dir, `fit${r}.h5`), '--json'], { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(res.stderr);
  walls.push((performance.now() - t0) / 1000);
  last = JSON.parse(res.stdout);
}
const wall = median(walls);

// baseline: one pixel at a time, main thread, same network, same settings and library
await initBackend('wasm');
const { model } = await loadShippedModel(ion);
const reader = await openMeasuredAny(measuredPath);
const { ny, nx, energy } = reader.info;
const raw = reader.readRows(0, ny);
reader.close();
const grid = windowAxes(energyWindow(ion)).energy;
const C = grid.length;
const ne = energy.length;
const axis = prepareAxis(energy, 0);
const setup = { lower: PARAM_NAMES.map((k) => PARAM_RANGES[k][0]), upper: PARAM_NAMES.map((k) => PARAM_RANGES[k][1]), fixed: PARAM_NAMES.map((k) => (k === 'T' ? 300 : NaN)) };
const forward = async (p, rows) => predictSpectra(model, p, rows, 2048);
const lib = await predictLibrary(setup, 4096, 1, forward);
const buf = new Float32Array(C);
const times = [];
for (let j = 0; j < sampleN; j++) {
  const i = Math.floor(((j + 0.5) * ny * nx) / sampleN);
  resampleSpectrum(axis, raw.subarray(i * ne, (i + 1) * ne), grid, buf);
  const t0 = performance.now();
  await fitSpectra(buf, 1, C, setup, forward, { starts, iterations, librarySet: lib, matmul: tfMatMul, concurrency: 1 });
  times.push(performance.now() - t0);
}
const perPixelBaseline = median(times);
const perPixelBatch = (1000 * wall) / (ny * nx);
console.log(
  JSON.stringify(
    {
      date: new Date().toISOString(),
      machine: `${cpus().length} x ${cpus()[0]?.model ?? '?'}`,
      command: `xasmap fit ${measuredPath} --ion ${ion} --fix T=300 --shift 0 --starts ${starts} --iterations ${iterations}`,
      pixels: ny * nx,
      runs: walls.map((w) => Number(w.toFixed(2))),
      medianWallSeconds: Number(wall.toFixed(2)),
      pixelsPerSecond: Math.round((ny * nx) / wall),
      msPerPixel: Number(perPixelBatch.toFixed(2)),
      starts: last.starts,
      iterations: last.iterations,
      modelRows: last.forwardRows,
      seMedian: last.se.median,
      timing: last.timing,
      baseline: { what: 'same fit, one pixel at a time, main thread', sample: sampleN, msPerPixelMedian: Number(perPixelBaseline.toFixed(1)) },
      speedupPerPixel: Number((perPixelBaseline / perPixelBatch).toFixed(1)),
    },
    null,
    2,
  ),
);
