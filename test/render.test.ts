/**
 * xasmap render end to end with a tiny model trained here (real models are never trained in
 * tests): the cube against `xasmap predict`, SE maps against SE computed by hand from the
 * simulator, NeXus layout, masks / NaN / scalar parameters, measured stacks in both axis
 * orders and the real NXstxm file, and every bad input (exit code 2, nothing written).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, truncateSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import h5wasm from 'h5wasm/node';
import { beforeAll, describe, expect, it } from 'vitest';
import { openMeasured } from '../src/io/measured.js';
import { openParamsMap } from '../src/io/params-map.js';
import { energyWindow, PARAM_NAMES, windowAxes } from '../src/physics/ions.js';
import { simulate, spectralError } from '../src/physics/spectrum.js';
import { onlyModels, runCli, runCliInterrupted, tempDir } from './cli-helpers.js';

const dir = tempDir('xasmap-render-');
const model = join(dir, 'model');
const REAL = new URL('../../shared/realdata/nxstxm_SLS_Sample_Stack_2021-03-16_128.hdf5', import.meta.url).pathname;
const HAVE_REAL = existsSync(REAL);
const { energy: GRID } = windowAxes(energyWindow('Ni2+'));

type Maps = Partial<Record<(typeof PARAM_NAMES)[number], Float32Array | Float64Array | number>>;

async function h5(): Promise<typeof h5wasm> {
  const M = await h5wasm.ready;
  M.activate_throwing_error_handler();
  return h5wasm;
}

/** Writes a params.h5 as docs/formats.md describes. */
async function writeParams(path: string, ny: number, nx: number, maps: Maps, o: { ion?: string; mask?: Uint8Array; shapes?: Record<string, number[]> } = {}): Promise<void> {
  const H = await h5();
  const f = new H.File(path, 'w');
  if (o.ion !== undefined) f.create_attribute('ion', o.ion);
  const g = f.create_group('params');
  for (const [k, v] of Object.entries(maps)) {
    if (typeof v === 'number') g.create_dataset({ name: k, data: v, dtype: '<d' });
    else g.create_dataset({ name: k, data: v, shape: o.shapes?.[k] ?? [ny, nx], dtype: v instanceof Float64Array ? '<d' : '<f' });
  }
  if (o.mask) f.create_dataset({ name: 'mask', data: o.mask, shape: [ny, nx], dtype: '<B' });
  f.close();
}

interface Rendered {
  cube: Float32Array;
  se: Float32Array;
  flags: Uint8Array;
  seVerify: Float32Array | null;
  energy: Float64Array;
  attrs: Record<string, unknown>;
  spectraAttrs: Record<string, unknown>;
  params: Record<string, unknown>;
}

async function readRender(path: string): Promise<Rendered> {
  const H = await h5();
  const f = new H.File(path, 'r');
  try {
    const val = (p: string): unknown => (f.get(p) as InstanceType<typeof H.Dataset>).value;
    const attrs = (p: string): Record<string, unknown> => {
      const o = f.get(p) as InstanceType<typeof H.Group>;
      return Object.fromEntries(Object.entries(o.attrs).map(([k, a]) => [k, a.value]));
    };
    const sv = f.get('entry/maps/se_verify');
    return {
      cube: val('entry/spectra/data') as Float32Array,
      se: val('entry/maps/se') as Float32Array,
      flags: val('entry/maps/flags') as Uint8Array,
      seVerify: sv ? ((sv as InstanceType<typeof H.Dataset>).value as Float32Array) : null,
      energy: val('entry/spectra/energy') as Float64Array,
      attrs: attrs('entry'),
      spectraAttrs: attrs('entry/spectra'),
      params: Object.fromEntries(PARAM_NAMES.map((k) => [k, val(`entry/params/${k}`)])),
    };
  } finally {
    f.close();
  }
}

const base = { Dq: 0.12, Ds: 0.05, Dt: 0.01, S1: 0.8, S2: 0.8, T: 300, sigmaG: 0.1, Gamma1: 0.4, Gamma2: 0.6 };
type P9 = typeof base;

/** A ny x nx map: Dq and Gamma2 vary over the pixels, S1 and T scalars. */
function smallMap(ny: number, nx: number): { maps: Maps; pixel: (i: number) => P9 } {
  const n = ny * nx;
  const Dq = new Float32Array(n);
  const Ds = new Float64Array(n);
  const G2 = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    Dq[i] = 0.05 + (0.13 * i) / n;
    Ds[i] = i % 3 === 0 ? 0.1 : -0.05;
    G2[i] = 0.4 + (0.6 * ((i * 7) % n)) / n;
  }
  const maps: Maps = { Dq, Ds, Dt: 0.01, S1: 0.8, S2: new Float32Array(n).fill(0.8), T: 300, sigmaG: 0.1, Gamma1: 0.4, Gamma2: G2 };
  const pixel = (i: number): P9 => ({ ...base, Dq: Dq[i] as number, Ds: Ds[i] as number, Gamma2: G2[i] as number, Dt: 0.01, S2: Math.fround(0.8) });
  return { maps, pixel };
}

function filesIn(d: string): string[] {
  return readdirSync(d).sort();
}

beforeAll(() => {
  const db = join(dir, 'ni.h5');
  expect(runCli(['dataset', '--ion', 'Ni2+', '--count', '200', '--workers', '0', '--seed', '5', '--out', db]).code).toBe(0);
  const t = runCli(['train', '--data', db, '--out', model, '--epochs', '1', '--batch', '64']);
  expect(t.code, t.stderr).toBe(0);
});

describe('render: cube, maps and NeXus layout', () => {
  const ny = 4;
  const nx = 5;
  const { maps, pixel } = smallMap(ny, nx);
  const mask = new Uint8Array(ny * nx).fill(1);
  mask[7] = 0;
  (maps.Dq as Float32Array)[11] = NaN; // invalid parameter
  (maps.Dq as Float32Array)[13] = 0.3; // outside the training range: extrapolated
  const sub = join(dir, 'rt');

  it('cube equals `xasmap predict` on the same parameters; masks, NaN, extrapolation, scalars, verify', async () => {
    spawnSync('mkdir', ['-p', sub]);
    const params = join(sub, 'map.h5');
    await writeParams(params, ny, nx, maps, { ion: 'Ni2+', mask });
    const r = runCli(['render', params, '--model', model, '--batch', '7', '--verify', '3', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ ion: 'Ni2+', ny, nx, pixels: 20, computed: 18, flags: { masked: 1, invalid: 1, extrapolated: 1, verified: 3 } });
    const out = join(sub, 'map.render.h5');
    for (const f of ['map.render.h5', 'map.render.se.png', 'map.render.l3peak.png', 'map.render.rgb.png', 'map.render.spectra.png']) {
      expect(existsSync(join(sub, f)), f).toBe(true);
    }
    expect(filesIn(sub).some((f) => f.endsWith('.tmp'))).toBe(false);
    const R = await readRender(out);

    // predict on the same parameters (float32 values, as the model sees them)
    const list = Array.from({ length: ny * nx }, (_, i) => pixel(i)).map((p, i) => ({ ...p, Dq: (maps.Dq as Float32Array)[i] as number, Gamma2: Math.fround(p.Gamma2), Ds: Math.fround(p.Ds) }));
    const json = join(sub, 'p.json');
    writeFileSync(json, JSON.stringify(list.map((p) => (Number.isNaN(p.Dq) ? { ...p, Dq: 0.1 } : p))));
    const pr = runCli(['predict', '--ion', 'Ni2+', '--params', json, '--model', model]);
    expect(pr.code, pr.stderr).toBe(0);
    const pred = JSON.parse(pr.stdout) as { spectra: number[][]; extrapolated: boolean[] };
    let maxDiff = 0;
    for (let i = 0; i < ny * nx; i++) {
      const s = R.cube.subarray(i * 501, (i + 1) * 501);
      if (i === 7 || i === 11) {
        expect(s.every(Number.isNaN), `pixel ${i} NaN`).toBe(true);
        continue;
      }
      const p = pred.spectra[i] as number[];
      for (let c = 0; c < 501; c++) maxDiff = Math.max(maxDiff, Math.abs((s[c] as number) - (p[c] as number)));
    }
    expect(maxDiff).toBeLessThan(1e-5);
    expect(pred.extrapolated[13]).toBe(true);
    expect(R.flags[7]).toBe(1);
    expect(R.flags[11]).toBe(2);
    expect((R.flags[13] as number) & 4).toBe(4);
    expect(Array.from(R.energy)).toEqual(Array.from(GRID));

    // --verify 3: SE against the simulator, computed by hand
    const verified = Array.from(R.flags.keys()).filter((i) => ((R.flags[i] as number) & 32) !== 0);
    expect(verified).toHaveLength(3);
    for (const i of verified) {
      const want = spectralError(R.cube.subarray(i * 501, (i + 1) * 501), simulate('Ni2+', list[i] as P9).spectrum);
      expect(R.seVerify?.[i]).toBeCloseTo(want, 3);
      expect(R.se[i]).toBeCloseTo(want, 3); // without --measured, se = se_verify
    }
    expect(R.seVerify?.filter(Number.isFinite)).toHaveLength(3);

    // NeXus attributes and the parameters copied (scalars as scalars)
    expect(R.attrs).toMatchObject({ NX_class: 'NXentry', ion: 'Ni2+', xasmap_version: expect.any(String), default: 'spectra' });
    expect(String(R.attrs.model)).toContain(model);
    expect(String(R.attrs.command_line)).toMatch(/^xasmap render .*--verify 3/);
    expect(Number.isNaN(Date.parse(String(R.attrs.date)))).toBe(false);
    expect(R.spectraAttrs).toMatchObject({ NX_class: 'NXdata', signal: 'data', axes: ['.', '.', 'energy'] });
    expect(R.params.T).toBe(300);
    expect(Array.from(R.params.Dq as Float32Array).slice(0, 3)).toEqual(Array.from((maps.Dq as Float32Array).slice(0, 3)));

    // batches that split rows (nx = 5 > --batch 2) give the same cube
    const r2 = runCli(['render', params, '--model', model, '--batch', '2', '--out', join(sub, 'b2.h5')]);
    expect(r2.code, r2.stderr).toBe(0);
    const R2 = await readRender(join(sub, 'b2.h5'));
    let d2 = 0;
    R.cube.forEach((v, k) => {
      const w = R2.cube[k] as number;
      if (!(Number.isNaN(v) && Number.isNaN(w))) d2 = Math.max(d2, Math.abs(v - w));
    });
    expect(d2).toBeLessThan(1e-5);
    expect(R2.seVerify).toBeNull();
    expect(Array.from(R2.flags)).toEqual(Array.from(R.flags).map((f) => f & ~32));
  });

  it('the output opens in h5py with well-formed NXdata (skipped without h5py)', () => {
    const py = spawnSync('/usr/bin/python3', ['-c', 'import h5py'], { encoding: 'utf8' });
    if (py.status !== 0) {
      console.warn('h5py not available: NXdata check with h5py skipped');
      return;
    }
    const script = `
import h5py, sys
f = h5py.File(sys.argv[1], 'r')
e = f[f.attrs['default']]
d = e[e.attrs['default']]
assert d.attrs['NX_class'] == 'NXdata'
sig = d[d.attrs['signal']]
axes = list(d.attrs['axes'])
assert len(axes) == sig.ndim, axes
en = d['energy']
assert en.shape[0] == sig.shape[2] and en.attrs['units'] == 'eV'
assert sig.dtype == 'float32' and sig.compression == 'gzip' and sig.chunks is not None
assert f['entry/maps/flags'].dtype == 'uint8'
print(sig.shape)
`;
    const r = spawnSync('/usr/bin/python3', ['-c', script, join(sub, 'map.render.h5')], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('(4, 5, 501)');
  });
});

/** Measured stack from simulated spectra: a * spectrum + b on the model grid (shifted by -shift). */
async function writeMeasured(path: string, ny: number, nx: number, spectra: Float64Array[], order: 'eyx' | 'yxe', o: { shift?: number; reverse?: boolean } = {}): Promise<void> {
  const H = await h5();
  const ne = 501;
  const idx = Array.from({ length: ne }, (_, k) => (o.reverse ? ne - 1 - k : k));
  const energy = Float64Array.from(idx, (k) => (GRID[k] as number) - (o.shift ?? 0));
  const data = new Float32Array(ne * ny * nx);
  spectra.forEach((s, p) => {
    const a = 100 + 10 * p;
    const b = 5 + p;
    idx.forEach((k, e) => {
      const v = a * (s[k] as number) + b;
      if (order === 'eyx') data[e * ny * nx + p] = v;
      else data[p * ne + e] = v;
    });
  });
  const f = new H.File(path, 'w');
  f.create_attribute('NX_class', 'NXroot');
  const entry = f.create_group('scan');
  entry.create_attribute('NX_class', 'NXentry');
  const g = entry.create_group('stack');
  g.create_attribute('NX_class', 'NXdata');
  g.create_attribute('signal', 'counts');
  g.create_attribute('axes', order === 'eyx' ? ['photon_energy', '.', '.'] : ['.', '.', 'photon_energy']);
  g.create_dataset({ name: 'counts', data, shape: order === 'eyx' ? [ne, ny, nx] : [ny, nx, ne], dtype: '<f' });
  const en = g.create_dataset({ name: 'photon_energy', data: energy, dtype: '<d' });
  en.create_attribute('units', 'eV');
  f.close();
}

describe('render --measured', () => {
  const ny = 3;
  const nx = 4;
  const { maps, pixel } = smallMap(ny, nx);
  const sub = join(dir, 'meas');
  // the "measured" spectra: the simulator at slightly different parameters
  const truth = Array.from({ length: ny * nx }, (_, i) => simulate('Ni2+', { ...pixel(i), Dq: pixel(i).Dq + 0.01 }).spectrum);

  for (const order of ['eyx', 'yxe'] as const) {
    it(`SE map equals SE computed by hand, signal ${order === 'eyx' ? '(energy, ny, nx)' : '(ny, nx, energy), descending energies, --shift'}`, async () => {
      spawnSync('mkdir', ['-p', sub]);
      const params = join(sub, `p-${order}.h5`);
      await writeParams(params, ny, nx, maps, { ion: 'Ni2+' });
      const meas = join(sub, `m-${order}.h5`);
      const shift = order === 'yxe' ? 1.5 : 0;
      await writeMeasured(meas, ny, nx, truth, order, { shift, reverse: order === 'yxe' });
      const args = ['render', params, '--model', model, '--measured', meas, '--json'];
      if (shift) args.push('--shift', String(shift));
      const r = runCli(args);
      expect(r.code, r.stderr).toBe(0);
      const R = await readRender(join(sub, `p-${order}.render.h5`));
      for (let i = 0; i < ny * nx; i++) {
        const want = spectralError(R.cube.subarray(i * 501, (i + 1) * 501), truth[i] as Float64Array);
        expect(R.se[i], `pixel ${i}`).toBeCloseTo(want, 2);
        expect(R.flags[i]).toBe(0);
      }
      expect(R.seVerify).toBeNull();
    });
  }

  // The shift is fitted against the network's spectra, so the network's own systematic error
  // biases it: under 0.05 eV with the Ni2+ model of session 8, 0.085 and 0.075 eV with those of
  // the two session 10 rounds (60 and 68 % of test spectra below 3 % SE against 18 %). The tolerance is two
  // channels (0.12 eV); the search itself recovers a shift to 0.01 eV with an exact model
  // (test/shift.test.ts).
  it('--shift auto fits the offset of a miscalibrated energy axis with the shipped Ni2+ model (+-2 channels)', async () => {
    spawnSync('mkdir', ['-p', sub]);
    const params = join(sub, 'p-auto.h5');
    await writeParams(params, ny, nx, maps, { ion: 'Ni2+' });
    const meas = join(sub, 'm-auto.h5');
    await writeMeasured(meas, ny, nx, truth, 'eyx', { shift: 1.5 });
    const r = runCli(['render', params, '--measured', meas, '--shift', 'auto', '--json', '--out', join(sub, 'auto.h5')]);
    expect(r.code, r.stderr).toBe(0);
    const m = /fitted global energy shift (-?[\d.]+) eV/.exec(r.stderr);
    expect(m).not.toBeNull();
    expect(Math.abs(Number(m![1]) - 1.5)).toBeLessThan(0.12);
    const bad = runCli(['render', params, '--shift', 'auto', '--out', join(sub, 'auto2.h5')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--shift auto .* needs --measured/);
  });

  it('reads the real NXstxm file (32 KiB user block, counter0, odd units) tile by tile', async () => {
    if (!HAVE_REAL) {
      console.warn(`skipped: ${REAL} is absent (../shared/realdata is not checked out)`);
      return;
    }
    const m = await openMeasured(REAL);
    expect(m.info).toMatchObject({ group: '/entry1/counter0', signal: '/entry1/counter0/data', order: 'eyx', ny: 50, nx: 50 });
    expect(Array.from(m.info.energy)).toEqual([280, 284.5, 285, 320]);
    const tile = m.readRows(10, 12);
    m.close();
    // independent path: single-element reads of counter0/data[e, y, x]
    const H = await h5();
    const f = new H.File(REAL, 'r');
    const ds = f.get('entry1/counter0/data') as InstanceType<typeof H.Dataset>;
    for (const [y, x, e] of [[10, 0, 0], [11, 49, 3], [10, 17, 2]] as const) {
      const v = (ds.slice([[e, e + 1], [y, y + 1], [x, x + 1]]) as Float64Array)[0] as number;
      expect(tile[((y - 10) * 50 + x) * 4 + e]).toBeCloseTo(v, 3);
    }
    f.close();

    // render against it: no overlap with the Ni L edge -> every pixel flagged, nothing crashes;
    // with --shift 570 eV the 4 energies reach the window (partial coverage)
    spawnSync('mkdir', ['-p', sub]);
    const params = join(sub, 'stxm50.h5');
    await writeParams(params, 50, 50, { ...base, Dq: new Float32Array(2500).fill(0.1) }, { ion: 'Ni2+' });
    const r = runCli(['render', params, '--model', model, '--measured', REAL, '--json', '--out', join(sub, 'stxm-a.h5')]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).flags.measuredBad).toBe(2500);
    const r2 = runCli(['render', params, '--model', model, '--measured', REAL, '--shift', '570', '--json', '--out', join(sub, 'stxm-b.h5')]);
    expect(r2.code, r2.stderr).toBe(0);
    const s2 = JSON.parse(r2.stdout);
    expect(s2.flags.measuredPartial).toBe(2500);
    expect(s2.se.count).toBe(2500);
  });
});

describe('params.h5 reader', () => {
  it('float64 maps, scalars of shape () and (1,), integer maps, mask, row tiles', async () => {
    const p = join(dir, 'reader.h5');
    const H = await h5();
    const f = new H.File(p, 'w');
    f.create_attribute('ion', 'Fe2+');
    const g = f.create_group('params');
    const Dq = Float64Array.from({ length: 6 }, (_, i) => 0.01 * i);
    g.create_dataset({ name: 'Dq', data: Dq, shape: [2, 3], dtype: '<d' });
    g.create_dataset({ name: 'T', data: Int32Array.of(10, 20, 30, 40, 50, 60), shape: [2, 3], dtype: '<i' });
    g.create_dataset({ name: 'Ds', data: Float32Array.of(0.25), shape: [1], dtype: '<f' });
    for (const k of ['Dt', 'S1', 'S2', 'sigmaG', 'Gamma1', 'Gamma2']) g.create_dataset({ name: k, data: 0.5, dtype: '<d' });
    f.create_dataset({ name: 'mask', data: Uint8Array.of(1, 0, 1, 1, 1, 0), shape: [2, 3], dtype: '<B' });
    f.close();
    const r = await openParamsMap(p);
    expect(r.info).toMatchObject({ ion: 'Fe2+', ny: 2, nx: 3, hasMask: true, scalars: { Ds: 0.25, Dt: 0.5 } });
    const t = r.readRows(1, 2);
    r.close();
    expect(Array.from(t.mask ?? [])).toEqual([1, 1, 0]);
    expect(t.params[0]).toBeCloseTo(0.03, 7); // Dq of pixel (1, 0)
    expect(t.params[9 + 5]).toBe(50); // T of pixel (1, 1)
    expect(t.params[2 * 9 + 1]).toBe(0.25); // Ds scalar
  });
});

describe('render: bad input gives a clear message, exit code 2 and writes nothing', () => {
  const sub = join(dir, 'bad');
  const good = async (name: string, extra: { ion?: string } = {}): Promise<string> => {
    spawnSync('mkdir', ['-p', sub]);
    const p = join(sub, name);
    await writeParams(p, 2, 2, { ...base, Dq: new Float32Array(4).fill(0.1) }, { ion: extra.ion ?? 'Ni2+' });
    return p;
  };
  const expectFail = (args: string[], msg: RegExp, env?: NodeJS.ProcessEnv): void => {
    const before = filesIn(sub);
    const r = runCli(['render', ...args], { env });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(msg);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(filesIn(sub)).toEqual(before);
  };

  it('missing dataset, wrong shape, unknown ion, no model, truncated or non-HDF5 file', async () => {
    spawnSync('mkdir', ['-p', sub]);
    const miss = join(sub, 'missing.h5');
    const { T: _t, ...noT } = base;
    await writeParams(miss, 2, 2, { ...noT, Dq: new Float32Array(4) }, { ion: 'Ni2+' });
    expectFail([miss, '--model', model], /missing\.h5: missing dataset '\/params\/T'/);

    const shape = join(sub, 'shape.h5');
    await writeParams(shape, 2, 2, { ...base, Dq: new Float32Array(4), Ds: new Float32Array(6) }, { ion: 'Ni2+', shapes: { Ds: [2, 3] } });
    expectFail([shape, '--model', model], /shape\.h5: dataset '\/params\/Ds' has shape \(2, 3\) but '\/params\/Dq' has \(2, 2\)/);

    const ion = await good('ion.h5', { ion: 'Ni9+' });
    expectFail([ion, '--model', model], /ion\.h5: root attribute 'ion' is 'Ni9\+', not a supported ion/);
    expectFail([await good('ion2.h5'), '--model', model, '--ion', 'Qq2+'], /unknown ion 'Qq2\+'/);

    // a model of another ion than the map's
    expectFail([await good('fe2.h5', { ion: 'Fe2+' }), '--model', model], /is a model for Ni2\+, but the map is Fe2\+/);
    // an ion without a model where models are looked up
    expectFail([await good('nomodel.h5', { ion: 'Fe2+' })], /no trained model for Fe2\+ yet in XASMAP_MODELS=.*; models exist for: Ni2\+/, onlyModels(['Ni2+']));

    const trunc = await good('trunc.h5');
    truncateSync(trunc, Math.floor(statSync(trunc).size / 2));
    expectFail([trunc, '--model', model], /trunc\.h5/);

    const text = join(sub, 'text.h5');
    writeFileSync(text, 'not hdf5 at all\n');
    expectFail([text, '--model', model], /text\.h5 is not an HDF5 file/);
    expectFail([join(sub, 'nope.h5'), '--model', model], /not found: .*nope\.h5/);
  });

  it('unreadable or mismatched measured file, bad options, existing output', async () => {
    const p = await good('m.h5');
    const text = join(sub, 'meas.txt');
    writeFileSync(text, 'energy counts\n');
    expectFail([p, '--model', model, '--measured', text], /measured file .*meas\.txt is not an HDF5 file/);
    const other = join(sub, 'other3x3.h5');
    await writeMeasured(other, 3, 3, Array.from({ length: 9 }, () => simulate('Ni2+', base).spectrum), 'eyx');
    expectFail([p, '--model', model, '--measured', other], /has 3 x 3 pixels .* but the parameter map .* has 2 x 2/);
    const noData = join(sub, 'nodata.h5');
    copyFileSync(p, noData);
    expectFail([p, '--model', model, '--measured', noData], /no NXdata group with a 3-D signal/);
    expectFail([p, '--model', model, '--batch', '0'], /--batch must be an integer >= 1/);
    expectFail([p, '--model', model, '--verify', 'some'], /--verify must be an integer/);

    const out = join(sub, 'exists.h5');
    writeFileSync(out, 'keep me');
    expectFail([p, '--model', model, '--out', out], /exists; use --force/);
    expect(readFileSync(out, 'utf8')).toBe('keep me');
    const r = runCli(['render', p, '--model', model, '--out', out, '--force']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(out).subarray(1, 4).toString()).toBe('HDF');
  });

  it('Ctrl-C leaves no partial output (exit code 130)', async () => {
    const d = join(dir, 'sigint');
    spawnSync('mkdir', ['-p', d]);
    const p = join(d, 'big.h5');
    await writeParams(p, 40, 40, { ...base, Dq: Float32Array.from({ length: 1600 }, (_, i) => 0.05 + (0.1 * i) / 1600) }, { ion: 'Ni2+' });
    const r = await runCliInterrupted(['render', p, '--model', model, '--batch', '40', '--verify', 'all'], /render Ni2\+:/, 'SIGINT', 200);
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/interrupted \(SIGINT\); no output written/);
    expect(filesIn(d)).toEqual(['big.h5']);
  });
});
