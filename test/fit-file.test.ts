/**
 * Outputs of `xasmap fit` (io/fit-file.ts, io/fit-previews.ts): a synthetic FitMaps written and
 * read back with h5wasm (shapes, dtypes, attributes, exact float32 values), the PNG previews,
 * output names, and unwritable paths.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import h5wasm from 'h5wasm/node';
import { describe, expect, it } from 'vitest';
import { XasmapError } from '../src/errors.js';
import { type FitFileMeta, fitOutputs, writeFitFile } from '../src/io/fit-file.js';
import { fitPngPaths, writeFitPngs } from '../src/io/fit-previews.js';
import { FIT_FLAG, FIT_FLAG_CODES_TEXT, type FitMaps, PARAM_FLAG, PARAM_FLAG_CODES_TEXT } from '../src/ops/fit-types.js';
import { PARAM_NAMES, PARAM_RANGES, PARAM_UNITS, energyWindow, windowAxes } from '../src/physics/ions.js';
import { tempDir } from './cli-helpers.js';

const dir = tempDir('xasmap-fitfile-');
const ny = 3;
const nx = 4;
const N = ny * nx;
const P = 9;
const C = 501;
const { energy: GRID } = windowAxes(energyWindow('Ni2+'));
const I_S2 = PARAM_NAMES.indexOf('S2'); // fixed in this fit
const NOT_FITTED = [5, 10];

function synthetic(): FitMaps {
  const m: FitMaps = {
    n: N,
    channels: C,
    params: new Float32Array(N * P),
    sigma: new Float32Array(N * P),
    paramFlags: new Uint8Array(N * P),
    se: new Float32Array(N),
    flags: new Uint16Array(N),
    fitted: new Float32Array(N * C),
    measured: new Float32Array(N * C),
    bestStart: new Int16Array(N),
  };
  for (let i = 0; i < N; i++) {
    const nf = NOT_FITTED.includes(i);
    for (let k = 0; k < P; k++) {
      const [lo, hi] = PARAM_RANGES[PARAM_NAMES[k] as (typeof PARAM_NAMES)[number]];
      m.params[i * P + k] = nf ? NaN : k === I_S2 ? 0.8 : lo + ((hi - lo) * ((i * 7 + k * 3) % 13)) / 13 + 1e-3 * i;
      m.sigma[i * P + k] = nf ? NaN : k === I_S2 ? 0 : 0.01 * (k + 1) + 1e-4 * i;
      m.paramFlags[i * P + k] = k === I_S2 ? PARAM_FLAG.FIXED : 0;
    }
    m.se[i] = nf ? NaN : 1 + 0.37 * ((i * 5) % N);
    m.flags[i] = nf ? FIT_FLAG.NOT_FITTED : 0;
    m.bestStart[i] = nf ? -1 : i % 4;
    for (let c = 0; c < C; c++) {
      const v = Math.exp(-(((c - 150 - i) / 20) ** 2)) + 0.4 * Math.exp(-(((c - 380) / 25) ** 2));
      m.fitted[i * C + c] = nf ? NaN : v;
      m.measured[i * C + c] = nf || c < 20 ? NaN : v + 0.01 * Math.sin(c * (i + 1));
    }
  }
  // pixel 1: Dq on the lower bound; pixel 2: Gamma2 undetermined, partial coverage; pixel 3 refined
  const or = (a: Uint8Array | Uint16Array, i: number, bits: number): void => {
    a[i] = (a[i] as number) | bits;
  };
  or(m.paramFlags, 1 * P + 0, PARAM_FLAG.AT_LOWER);
  or(m.flags, 1, FIT_FLAG.AT_BOUND);
  or(m.paramFlags, 2 * P + 8, PARAM_FLAG.UNDETERMINED);
  m.sigma[2 * P + 8] = NaN;
  or(m.flags, 2, FIT_FLAG.UNDETERMINED | FIT_FLAG.PARTIAL);
  or(m.flags, 3, FIT_FLAG.REFINED);
  return m;
}

const bounds = {
  lower: PARAM_NAMES.map((k) => PARAM_RANGES[k][0]),
  upper: PARAM_NAMES.map((k) => PARAM_RANGES[k][1]),
};
const fixed: (number | null)[] = PARAM_NAMES.map((_, k) => (k === I_S2 ? 0.8 : null));
const options = { starts: 8, iterations: 50, bounds: 'd4h', fixed: { S2: 0.8 }, preprocess: { background: 'linear' } };

function meta(extra: Partial<FitFileMeta> = {}): FitFileMeta {
  return {
    ion: 'Ni2+',
    model: '/models/Ni2+',
    version: '0.0.0-test',
    commandLine: 'xasmap fit stack.h5 --ion Ni2+ --fix S2=0.8',
    date: '2026-11-26T08:30:00Z',
    source: '/data/stack.h5',
    energy: GRID,
    shift: -0.25,
    options,
    bounds,
    fixed,
    ...extra,
  };
}

async function h5(): Promise<typeof h5wasm> {
  const M = await h5wasm.ready;
  M.activate_throwing_error_handler();
  return h5wasm;
}

type DS = InstanceType<typeof h5wasm.Dataset>;
type GR = InstanceType<typeof h5wasm.Group>;

function attrsOf(o: DS | GR): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o.attrs).map(([k, a]) => [k, a.value]));
}

/** float32 arrays equal with NaN == NaN, bit-for-bit on the float32 values. */
function expectSameF32(got: unknown, want: ArrayLike<number>, what: string): void {
  expect(got, what).toBeInstanceOf(Float32Array);
  const g = got as Float32Array;
  expect(g.length, what).toBe(want.length);
  for (let i = 0; i < g.length; i++) {
    const a = g[i] as number;
    const b = Math.fround(want[i] as number);
    if (!(Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b)))) throw new Error(`${what}[${i}]: ${a} != ${b}`);
  }
}

function pngSize(path: string): { width: number; height: number } {
  const b = readFileSync(path);
  expect(b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), `${path} PNG signature`).toBe(true);
  expect(b.subarray(12, 16).toString('latin1')).toBe('IHDR');
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

describe('fit output file', () => {
  const maps = synthetic();
  const path = join(dir, 'stack.fit.h5');

  it('writes the NeXus layout and reads back exactly', async () => {
    await writeFitFile(path, meta(), maps, { ny, nx });
    const H = await h5();
    const f = new H.File(path, 'r');
    try {
      const ds = (p: string): DS => {
        const d = f.get(p);
        expect(d, p).toBeInstanceOf(H.Dataset);
        return d as DS;
      };
      const gr = (p: string): GR => f.get(p) as GR;
      expect(attrsOf(f)).toMatchObject({ NX_class: 'NXroot', default: 'entry' });
      const ea = attrsOf(gr('entry'));
      expect(ea).toMatchObject({
        NX_class: 'NXentry',
        default: 'maps',
        ion: 'Ni2+',
        model: '/models/Ni2+',
        xasmap_version: '0.0.0-test',
        command_line: 'xasmap fit stack.h5 --ion Ni2+ --fix S2=0.8',
        date: '2026-11-26T08:30:00Z',
        source: '/data/stack.h5',
        shift_eV: -0.25,
      });
      expect(JSON.parse(String(ea.fit_options))).toEqual(options);
      expect(ea.pixel_size).toBeUndefined();

      // /entry/maps
      const mg = gr('entry/maps');
      expect(attrsOf(mg)).toMatchObject({ NX_class: 'NXdata', signal: 'se', auxiliary_signals: [...PARAM_NAMES], axes: ['y', 'x'], y_indices: 0, x_indices: 1 });
      const want = new Set(['se', 'flags', 'param_flags', 'best_start', 'x', 'y', ...PARAM_NAMES, ...PARAM_NAMES.map((k) => `${k}_sigma`)]);
      expect(new Set(mg.keys())).toEqual(want);
      PARAM_NAMES.forEach((name, k) => {
        const d = ds(`entry/maps/${name}`);
        expect([d.shape, d.dtype], name).toEqual([[ny, nx], '<f']);
        expectSameF32(d.value, Array.from({ length: N }, (_, i) => maps.params[i * P + k] as number), name);
        const a = attrsOf(d);
        expect(a.units, name).toBe(PARAM_UNITS[name]);
        expect(typeof a.long_name).toBe('string');
        expect(Array.from(a.bounds as Float64Array), name).toEqual([bounds.lower[k], bounds.upper[k]]);
        if (k === I_S2) expect(a.fixed).toBe(0.8);
        else expect('fixed' in a, name).toBe(false);
        const s = ds(`entry/maps/${name}_sigma`);
        expect([s.shape, s.dtype]).toEqual([[ny, nx], '<f']);
        expectSameF32(s.value, Array.from({ length: N }, (_, i) => maps.sigma[i * P + k] as number), `${name}_sigma`);
        expect(attrsOf(s).units).toBe(PARAM_UNITS[name]);
      });
      const se = ds('entry/maps/se');
      expect([se.shape, se.dtype]).toEqual([[ny, nx], '<f']);
      expectSameF32(se.value, maps.se, 'se');
      expect(attrsOf(se)).toMatchObject({ units: '%', long_name: 'spectral error of the fit' });
      const fl = ds('entry/maps/flags');
      expect([fl.shape, fl.dtype]).toEqual([[ny, nx], '<H']);
      expect(Array.from(fl.value as Uint16Array)).toEqual(Array.from(maps.flags));
      expect(attrsOf(fl).flag_codes).toBe(FIT_FLAG_CODES_TEXT);
      const pf = ds('entry/maps/param_flags');
      expect([pf.shape, pf.dtype]).toEqual([[ny, nx, 9], '<B']);
      expect(Array.from(pf.value as Uint8Array)).toEqual(Array.from(maps.paramFlags));
      expect(attrsOf(pf)).toMatchObject({ flag_codes: PARAM_FLAG_CODES_TEXT, param_names: [...PARAM_NAMES] });
      const bs = ds('entry/maps/best_start');
      expect([bs.shape, bs.dtype]).toEqual([[ny, nx], '<h']);
      expect(Array.from(bs.value as Int16Array)).toEqual(Array.from(maps.bestStart));
      for (const [ax, len] of [['x', nx], ['y', ny]] as const) {
        const a = ds(`entry/maps/${ax}`);
        expect([a.shape, a.dtype]).toEqual([[len], '<d']);
        expect(Array.from(a.value as Float64Array)).toEqual(Array.from({ length: len }, (_, i) => i));
        expect(attrsOf(a).units).toBe('pixel');
      }

      // /entry/fit
      expect(attrsOf(gr('entry/fit'))).toMatchObject({ NX_class: 'NXdata', signal: 'data', auxiliary_signals: ['measured'], axes: ['.', '.', 'energy'], energy_indices: 2 });
      for (const [name, src] of [['data', maps.fitted], ['measured', maps.measured]] as const) {
        const d = ds(`entry/fit/${name}`);
        expect([d.shape, d.dtype], name).toEqual([[ny, nx, C], '<f']);
        expect(d.metadata.chunks, name).toEqual([1, nx, C]);
        expect(d.filters.map((x) => x.id), name).toContain(1); // deflate
        expect(d.filters.find((x) => x.id === 1)?.cd_values, name).toEqual([4]);
        expectSameF32(d.value, src, name);
      }
      const en = ds('entry/fit/energy');
      expect([en.shape, en.dtype]).toEqual([[C], '<d']);
      expect(Array.from(en.value as Float64Array)).toEqual(Array.from(GRID));
      expect(attrsOf(en).units).toBe('eV');
    } finally {
      f.close();
    }
  });

  it('physical x/y axes and entry attributes with a pixel size', async () => {
    const p = join(dir, 'px.fit.h5');
    await writeFitFile(p, meta({ pixelSize: 0.5, pixelUnit: 'µm' }), maps, { ny, nx });
    const H = await h5();
    const f = new H.File(p, 'r');
    try {
      expect(attrsOf(f.get('entry') as GR)).toMatchObject({ pixel_size: 0.5, pixel_unit: 'µm' });
      const x = f.get('entry/maps/x') as DS;
      expect(Array.from(x.value as Float64Array)).toEqual([0, 0.5, 1, 1.5]);
      expect(attrsOf(x).units).toBe('µm');
      expect(Array.from((f.get('entry/maps/y') as DS).value as Float64Array)).toEqual([0, 0.5, 1]);
    } finally {
      f.close();
    }
  });

  it('opens in h5py with well-formed NXdata (skipped without h5py)', () => {
    const py = spawnSync('/usr/bin/python3', ['-c', 'import h5py'], { encoding: 'utf8' });
    if (py.status !== 0) {
      console.warn('h5py not available: check skipped');
      return;
    }
    const script = `
import h5py, json, sys
with h5py.File(sys.argv[1], 'r') as f:
    e = f[f.attrs['default']]
    m = e[e.attrs['default']]
    sig = m[m.attrs['signal']]
    out = dict(sig=list(sig.shape), aux=[list(m[a].shape) for a in m.attrs['auxiliary_signals']],
               axes=[str(a) for a in m.attrs['axes']], dq=m['Dq'].dtype.str, dqs=float(m['Dq_sigma'][0, 0]),
               flags=m['flags'].dtype.str, pf=m['param_flags'].dtype.str, bs=m['best_start'].dtype.str,
               data=list(e['fit/data'].shape), chunks=list(e['fit/data'].chunks), comp=e['fit/data'].compression,
               opts=json.loads(e.attrs['fit_options']))
print(json.dumps(out))
`;
    const r = spawnSync('/usr/bin/python3', ['-c', script, path], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const o = JSON.parse(r.stdout);
    expect(o).toMatchObject({ sig: [ny, nx], axes: ['y', 'x'], dq: '<f4', flags: '<u2', pf: '|u1', bs: '<i2', data: [ny, nx, C], chunks: [1, nx, C], comp: 'gzip', opts: options });
    expect(o.aux).toEqual(PARAM_NAMES.map(() => [ny, nx]));
    expect(o.dqs).toBeCloseTo(0.01, 6);
  });

  it('unwritable path: OUTPUT_UNWRITABLE, nothing left behind', async () => {
    const p = join(dir, 'no-such-dir', 'x.fit.h5');
    const err = await writeFitFile(p, meta(), maps, { ny, nx }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(XasmapError);
    expect((err as XasmapError).code).toBe('OUTPUT_UNWRITABLE');
    expect((err as XasmapError).message).toContain('x.fit.h5');
    expect(existsSync(p)).toBe(false);
    // a directory in the way
    const d = join(dir, 'isdir.h5');
    mkdirSync(d);
    const err2 = await writeFitFile(d, meta(), maps, { ny, nx }).catch((e: unknown) => e);
    expect((err2 as XasmapError).code).toBe('OUTPUT_UNWRITABLE');
    expect(existsSync(d)).toBe(true);
  });

  it('inconsistent inputs are an INTERNAL error, nothing written', async () => {
    const p = join(dir, 'bad.fit.h5');
    const err = await writeFitFile(p, meta(), maps, { ny: 4, nx: 4 }).catch((e: unknown) => e);
    expect((err as XasmapError).code).toBe('INTERNAL');
    expect(existsSync(p)).toBe(false);
  });
});

describe('fit previews and output names', () => {
  it('fitOutputs mirrors renderOutputs', () => {
    expect(fitOutputs('/d/stack.hdf5')).toEqual({ h5: '/d/stack.fit.h5', pngStem: '/d/stack.fit' });
    expect(fitOutputs('rel/s.msa')).toEqual({ h5: 'rel/s.fit.h5', pngStem: 'rel/s.fit' });
    expect(fitOutputs('/d/stack.h5', '/o/res.nxs')).toEqual({ h5: '/o/res.nxs', pngStem: '/o/res' });
    expect(fitOutputs('/d/stack.h5', '/o/res')).toEqual({ h5: '/o/res', pngStem: '/o/res' });
  });

  it('writes one map per free parameter, the SE map and the spectra', async () => {
    const maps = synthetic();
    const sub = join(dir, 'png');
    mkdirSync(sub);
    const stem = join(sub, 'stack.fit');
    const free = PARAM_NAMES.map((_, k) => k !== I_S2);
    const files = await writeFitPngs(stem, maps, { ny, nx }, { ion: 'Ni2+', free });
    const expected = [...PARAM_NAMES.filter((k) => k !== 'S2').map((k) => `${stem}.${k}.png`), `${stem}.se.png`, `${stem}.spectra.png`];
    expect(files).toEqual(expected);
    expect(fitPngPaths(stem, free)).toEqual(expected);
    expect(readdirSync(sub).sort()).toEqual(expected.map((p) => p.slice(sub.length + 1)).sort());
    for (const p of files) {
      const { width, height } = pngSize(p);
      expect(width, p).toBeGreaterThanOrEqual(200);
      expect(height, p).toBeGreaterThanOrEqual(150);
      expect(width, p).toBeLessThanOrEqual(2000);
      expect(height, p).toBeLessThanOrEqual(2000);
    }
    expect(pngSize(`${stem}.spectra.png`)).toEqual({ width: 900, height: 520 });
  });

  it('nothing fitted: maps and SE map only (all NaN), no spectra', async () => {
    const maps = synthetic();
    maps.params.fill(NaN);
    maps.se.fill(NaN);
    const sub = join(dir, 'png-nan');
    mkdirSync(sub);
    const stem = join(sub, 's');
    const free = PARAM_NAMES.map(() => true);
    free[0] = false;
    const files = await writeFitPngs(stem, maps, { ny, nx, pixelSize: 2, pixelUnit: 'nm' }, { ion: 'Ni2+', free });
    expect(files).toHaveLength(9);
    expect(files.some((f) => f.endsWith('.spectra.png'))).toBe(false);
    for (const p of files) pngSize(p);
  });
});
