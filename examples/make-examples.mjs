#!/usr/bin/env node
/**
 * Makes examples/params.h5 and examples/measured.h5 (run `npm run build` first):
 *
 *   node examples/make-examples.mjs [--out DIR] [--n 100]
 *
 * params.h5: a 100 x 100 Ni2+ map (docs/formats.md, "Parameter maps"): smooth gradients of
 * Dq (along x), S2 and Gamma2 (along y), three round domains with a different tetragonal
 * distortion (Ds, Dt), scalars for S1, T, sigmaG and Gamma1, a 6 x 6 masked-out corner and
 * two pixels with a NaN parameter.
 * measured.h5: a NeXus stack (entry/data NXdata, signal `data` (energy, ny, nx) uint16 counts,
 * 121 energies covering the model window at 0.25 eV) simulated from the same maps with the
 * multiplet simulator, a per-pixel amplitude and background, Poisson-like noise, and a few bad
 * pixels (a dead pixel, a saturated pixel, a NaN-free but cosmic-ray spike).
 * Deterministic (seeded).
 */
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import h5wasm from 'h5wasm/node';
import { simulate } from '../dist/physics/spectrum.js';
import { energyWindow, windowAxes } from '../dist/physics/ions.js';
import { mulberry32 } from '../dist/physics/random.js';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const here = dirname(fileURLToPath(import.meta.url));
const outDir = opt('out', here);
const N = Number(opt('n', '100'));
const ion = 'Ni2+';
mkdirSync(outDir, { recursive: true });

const ny = N;
const nx = N;
const Dq = new Float32Array(ny * nx);
const Ds = new Float32Array(ny * nx);
const Dt = new Float32Array(ny * nx);
const S2 = new Float32Array(ny * nx);
const Gamma2 = new Float32Array(ny * nx);
const mask = new Uint8Array(ny * nx).fill(1);
const domains = [
  { cy: 0.3, cx: 0.3, r: 0.15, Ds: 0.12, Dt: 0.03 },
  { cy: 0.7, cx: 0.6, r: 0.2, Ds: -0.1, Dt: -0.02 },
  { cy: 0.25, cx: 0.75, r: 0.1, Ds: 0.25, Dt: 0.06 },
];
for (let y = 0; y < ny; y++) {
  for (let x = 0; x < nx; x++) {
    const i = y * nx + x;
    const u = x / (nx - 1);
    const v = y / (ny - 1);
    Dq[i] = 0.08 + 0.08 * u;
    S2[i] = 0.7 + 0.2 * v;
    Gamma2[i] = 0.5 + 0.3 * v;
    Ds[i] = 0;
    Dt[i] = 0;
    for (const d of domains) {
      if ((u - d.cx) ** 2 + (v - d.cy) ** 2 < d.r ** 2) {
        Ds[i] = d.Ds;
        Dt[i] = d.Dt;
      }
    }
    if (y >= ny - 6 && x >= nx - 6) mask[i] = 0;
  }
}
// two pixels with an unusable parameter (a failed fit, say)
Dq[5 * nx + 50] = NaN;
Gamma2[60 * nx + 10] = NaN;
const scalars = { S1: 0.8, T: 300, sigmaG: 0.1, Gamma1: 0.4 };

const Module = await h5wasm.ready;
Module.activate_throwing_error_handler();

{
  const f = new h5wasm.File(join(outDir, 'params.h5'), 'w');
  f.create_attribute('ion', ion);
  f.create_attribute('pixel_size', 0.5, null, '<d');
  f.create_attribute('pixel_unit', 'µm');
  f.create_attribute('description', 'xasmap example: Ni2+ map with gradients and three crystal-field domains (examples/make-examples.mjs)');
  const g = f.create_group('params');
  const map = (name, data) =>
    g.create_dataset({ name, data, shape: [ny, nx], dtype: '<f', chunks: [Math.min(ny, 50), nx], compression: 'gzip', compression_opts: 9 });
  map('Dq', Dq);
  map('Ds', Ds);
  map('Dt', Dt);
  map('S2', S2);
  map('Gamma2', Gamma2);
  for (const [k, v] of Object.entries(scalars)) g.create_dataset({ name: k, data: v, dtype: '<d' });
  f.create_dataset({ name: 'mask', data: mask, shape: [ny, nx], dtype: '<B', chunks: [ny, nx], compression: 'gzip', compression_opts: 9 });
  f.close();
}

// measured stack
const win = energyWindow(ion);
const { energy: grid } = windowAxes(win);
const ne = 121;
const e0 = grid[0];
const e1 = grid[grid.length - 1];
const energies = Float64Array.from({ length: ne }, (_, k) => e0 + ((e1 - e0) * k) / (ne - 1));
const counts = new Uint16Array(ne * ny * nx);
const rnd = mulberry32(7);
const gauss = () => {
  const a = Math.max(rnd(), 1e-12);
  return Math.sqrt(-2 * Math.log(a)) * Math.cos(2 * Math.PI * rnd());
};
const t0 = Date.now();
for (let y = 0; y < ny; y++) {
  for (let x = 0; x < nx; x++) {
    const i = y * nx + x;
    const p = { Dq: Dq[i], Ds: Ds[i], Dt: Dt[i], S1: scalars.S1, S2: S2[i], T: scalars.T, sigmaG: scalars.sigmaG, Gamma1: scalars.Gamma1, Gamma2: Gamma2[i] };
    if (!Number.isFinite(p.Dq)) p.Dq = 0.1;
    if (!Number.isFinite(p.Gamma2)) p.Gamma2 = 0.6;
    const s = simulate(ion, p).spectrum;
    const amp = 2500 + 1500 * rnd();
    const bg = 300 + 100 * rnd();
    for (let k = 0; k < ne; k++) {
      const c = (energies[k] - e0) / 0.06;
      const j = Math.min(grid.length - 2, Math.floor(c));
      const t = c - j;
      const v = s[j] * (1 - t) + s[j + 1] * t;
      const mean = bg + amp * v;
      counts[k * ny * nx + i] = Math.max(0, Math.min(65535, Math.round(mean + Math.sqrt(mean) * gauss())));
    }
  }
}
// bad pixels
const setSpectrum = (y, x, fn) => {
  for (let k = 0; k < ne; k++) counts[k * ny * nx + y * nx + x] = fn(k);
};
setSpectrum(20, 20, () => 0); // dead pixel: flat -> flagged MEASURED_BAD
setSpectrum(80, 30, () => 65535); // saturated: flat -> MEASURED_BAD
setSpectrum(45, 85, (k) => (k === 60 ? 65535 : counts[k * ny * nx + 45 * nx + 85])); // cosmic-ray spike: large SE
console.error(`simulated ${ny * nx} spectra in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

{
  const f = new h5wasm.File(join(outDir, 'measured.h5'), 'w');
  f.create_attribute('NX_class', 'NXroot');
  f.create_attribute('default', 'entry');
  const entry = f.create_group('entry');
  entry.create_attribute('NX_class', 'NXentry');
  entry.create_attribute('default', 'data');
  entry.create_attribute('description', 'simulated Ni2+ L-edge stack from examples/params.h5 with noise and bad pixels (examples/make-examples.mjs)');
  const d = entry.create_group('data');
  d.create_attribute('NX_class', 'NXdata');
  d.create_attribute('signal', 'data');
  d.create_attribute('axes', ['energy', '.', '.']);
  d.create_attribute('energy_indices', 0, null, '<i');
  const ds = d.create_dataset({ name: 'data', data: counts, shape: [ne, ny, nx], dtype: '<H', chunks: [ne, Math.min(ny, 10), nx], compression: 'gzip', compression_opts: 9 });
  ds.create_attribute('units', 'counts');
  const en = d.create_dataset({ name: 'energy', data: energies, dtype: '<d' });
  en.create_attribute('units', 'eV');
  f.close();
}
console.error(`wrote ${join(outDir, 'params.h5')} and ${join(outDir, 'measured.h5')}`);
