import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// h5wasm is used here only as an independent reader/writer to check the
// on-disk layout; the code under test keeps all h5wasm usage in src/io.
import h5wasm from 'h5wasm/node';
import type { Dataset as H5Dataset } from 'h5wasm/node';
import {
  DATASET_PARAM_COLUMNS,
  DATASET_PARAM_UNITS,
  createDatasetFile,
  readDatasetFile,
  resumeDatasetFile,
  type DatasetMeta,
} from '../src/io/dataset-file.js';
import { XasmapError } from '../src/errors.js';

const NW = 501;
let dir = '';

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xasmap-dsfile-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function tmp(name: string): string {
  return path.join(dir, name);
}

function makeMeta(over: Partial<DatasetMeta> = {}): DatasetMeta {
  const w = new Float64Array(NW).map((_, i) => -10 + i * 0.1);
  const energy = w.map((x) => 853.2 + x);
  return {
    ion: 'Ni2+',
    seed: 12345,
    ranges: 'd4h',
    count: 700,
    version: '0.1.0-test',
    w,
    energy,
    extra: { sampling: 'sobol, scrambled', per_diag: 3, temperature_scale: 0.25 },
    ...over,
  };
}

/** Deterministic, distinct values per row so misplaced rows are detected. */
function rowsFor(start: number, k: number): { params: Float32Array; spectra: Float32Array } {
  const params = new Float32Array(k * 9);
  const spectra = new Float32Array(k * NW);
  for (let r = 0; r < k; r++) {
    const row = start + r;
    for (let j = 0; j < 9; j++) params[r * 9 + j] = row * 10 + j + 0.125;
    for (let c = 0; c < NW; c++) spectra[r * NW + c] = Math.fround(((row * 7 + c * 13) % 1000) / 999);
  }
  return { params, spectra };
}

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<{ code: string; message: string }> {
  try {
    if (typeof p === 'function') p();
    else await p;
  } catch (e) {
    expect(e).toBeInstanceOf(XasmapError);
    const x = e as XasmapError;
    return { code: x.code, message: x.message };
  }
  throw new Error('expected an XasmapError, nothing was thrown');
}

async function writeAll(file: string, meta: DatasetMeta, block: number): Promise<void> {
  const wr = await createDatasetFile(file, meta);
  for (let s = 0; s < meta.count; s += block) {
    const { params, spectra } = rowsFor(s, Math.min(block, meta.count - s));
    wr.writeRows(s, params, spectra);
  }
  wr.finish();
}

describe('dataset file', () => {
  it('round-trips values and attributes, with the documented layout', async () => {
    const file = tmp('roundtrip.h5');
    const meta = makeMeta();
    const wr = await createDatasetFile(file, meta);
    expect(wr.rowsDone).toBe(0);
    for (const [s, k] of [[0, 256], [256, 256], [512, 188]] as const) {
      const { params, spectra } = rowsFor(s, k);
      wr.writeRows(s, params, spectra);
      expect(wr.rowsDone).toBe(s + k);
    }
    wr.finish();

    const got = await readDatasetFile(file);
    const want = rowsFor(0, 700);
    expect(got.params).toEqual(want.params);
    expect(got.spectra).toEqual(want.spectra);
    expect(got.meta.rowsDone).toBe(700);
    expect(got.meta.complete).toBe(true);
    expect(got.meta.ion).toBe('Ni2+');
    expect(got.meta.seed).toBe(12345);
    expect(got.meta.ranges).toBe('d4h');
    expect(got.meta.count).toBe(700);
    expect(got.meta.version).toBe('0.1.0-test');
    expect(got.meta.w).toEqual(meta.w);
    expect(got.meta.energy).toEqual(meta.energy);
    expect(got.meta.extra).toEqual(meta.extra);

    // Independent look at the raw layout.
    await h5wasm.ready;
    const f = new h5wasm.File(file, 'r');
    try {
      const a = f.attrs;
      expect(a.ion?.value).toBe('Ni2+');
      expect(Number(a.seed?.value)).toBe(12345);
      expect(a.ranges?.value).toBe('d4h');
      expect(Number(a.count?.value)).toBe(700);
      expect(Number(a.rows_done?.value)).toBe(700);
      expect(Number(a.complete?.value)).toBe(1);
      expect(a.xasmap_version?.value).toBe('0.1.0-test');
      expect(a.window_w_min?.value).toBeCloseTo(-10, 12);
      expect(a.window_step?.value).toBeCloseTo(0.1, 12);
      expect(Number(a.window_n?.value)).toBe(NW);
      expect(Number.isNaN(Date.parse(String(a.created?.value)))).toBe(false);
      expect(a.sampling?.value).toBe('sobol, scrambled');
      expect(Number(a.per_diag?.value)).toBe(3);
      expect(a.temperature_scale?.value).toBe(0.25);
      const params = f.get('params') as H5Dataset;
      expect(params.shape).toEqual([700, 9]);
      expect(params.dtype).toBe('<f');
      expect(params.attrs.columns?.value).toEqual([...DATASET_PARAM_COLUMNS]);
      expect(params.attrs.units?.value).toEqual([...DATASET_PARAM_UNITS]);
      expect(params.filters.map((x) => x.name)).toContain('deflate');
      const spectra = f.get('spectra') as H5Dataset;
      expect(spectra.shape).toEqual([700, NW]);
      expect(spectra.dtype).toBe('<f');
      expect(spectra.metadata.chunks).toEqual([256, NW]);
      expect(spectra.attrs.normalisation?.value).toBe('box: (I - min)/(max - min) over the 501 channels');
      const w = f.get('w') as H5Dataset;
      expect(w.dtype).toBe('<d');
      expect(w.attrs.units?.value).toBe('eV');
      expect((f.get('energy') as H5Dataset).attrs.units?.value).toBe('eV');
    } finally {
      f.close();
    }
  });

  it('resumes after close() at rowsDone and ends with the same data as an uninterrupted run', async () => {
    const meta = makeMeta();
    const full = tmp('uninterrupted.h5');
    await writeAll(full, meta, 256);

    const file = tmp('resume.h5');
    const wr = await createDatasetFile(file, meta);
    const a = rowsFor(0, 256);
    wr.writeRows(0, a.params, a.spectra);
    const b = rowsFor(256, 100);
    wr.writeRows(256, b.params, b.spectra);
    wr.close();
    expect(() => wr.writeRows(356, b.params, b.spectra)).toThrow(/closed/);

    const partial = await readDatasetFile(file);
    expect(partial.meta.rowsDone).toBe(356);
    expect(partial.meta.complete).toBe(false);
    expect(partial.params.length).toBe(356 * 9);

    const wr2 = await resumeDatasetFile(file, makeMeta({ version: '0.2.0' }));
    expect(wr2.rowsDone).toBe(356);
    for (let s = wr2.rowsDone; s < meta.count; s += 256) {
      const { params, spectra } = rowsFor(s, Math.min(256, meta.count - s));
      wr2.writeRows(s, params, spectra);
    }
    wr2.finish();

    const x = await readDatasetFile(file);
    const y = await readDatasetFile(full);
    expect(x.meta.complete).toBe(true);
    expect(x.params).toEqual(y.params);
    expect(x.spectra).toEqual(y.spectra);
  });

  it('rejects resuming with a mismatched seed, ion, window or extra (DATASET_MISMATCH)', async () => {
    const file = tmp('mismatch.h5');
    const wr = await createDatasetFile(file, makeMeta());
    const a = rowsFor(0, 10);
    wr.writeRows(0, a.params, a.spectra);
    wr.close();

    const seed = await codeOf(resumeDatasetFile(file, makeMeta({ seed: 12346 })));
    expect(seed.code).toBe('DATASET_MISMATCH');
    expect(seed.message).toMatch(/'seed'/);
    const ion = await codeOf(resumeDatasetFile(file, makeMeta({ ion: 'Co2+' })));
    expect(ion.code).toBe('DATASET_MISMATCH');
    expect(ion.message).toMatch(/'ion'/);
    const count = await codeOf(resumeDatasetFile(file, makeMeta({ count: 701 })));
    expect(count.code).toBe('DATASET_MISMATCH');
    expect(count.message).toMatch(/'count'/);
    const m = makeMeta();
    const w = m.w.map((v) => v + 0.05);
    const win = await codeOf(resumeDatasetFile(file, { ...m, w, energy: w.map((v) => v + 853.2) }));
    expect(win.code).toBe('DATASET_MISMATCH');
    expect(win.message).toMatch(/'window_w_min'/);
    const extra = await codeOf(resumeDatasetFile(file, makeMeta({ extra: { sampling: 'sobol, scrambled', per_diag: 4, temperature_scale: 0.25 } })));
    expect(extra.code).toBe('DATASET_MISMATCH');
    expect(extra.message).toMatch(/'per_diag'/);

    // The rejected attempts left the file intact and resumable.
    const ok = await resumeDatasetFile(file, makeMeta());
    expect(ok.rowsDone).toBe(10);
    ok.close();
  });

  it('throws DATASET_ORDER when rows are written out of order, leaving rowsDone unchanged', async () => {
    const file = tmp('order.h5');
    const wr = await createDatasetFile(file, makeMeta({ count: 20 }));
    const a = rowsFor(0, 5);
    wr.writeRows(0, a.params, a.spectra);
    const ahead = await codeOf(() => wr.writeRows(10, a.params, a.spectra));
    expect(ahead.code).toBe('DATASET_ORDER');
    const behind = await codeOf(() => wr.writeRows(0, a.params, a.spectra));
    expect(behind.code).toBe('DATASET_ORDER');
    const tooMany = rowsFor(5, 16);
    expect((await codeOf(() => wr.writeRows(5, tooMany.params, tooMany.spectra))).code).toBe('DATASET_SHAPE');
    expect((await codeOf(() => wr.writeRows(5, a.params, a.spectra.subarray(1)))).code).toBe('DATASET_SHAPE');
    expect(wr.rowsDone).toBe(5);
    const incomplete = await codeOf(() => wr.finish());
    expect(incomplete.code).toBe('DATASET_INCOMPLETE');
    const back = await readDatasetFile(file);
    expect(back.meta.rowsDone).toBe(5);
    expect(back.meta.complete).toBe(false);
  });

  it('reads a row range, and rejects ranges past rows_done', async () => {
    const file = tmp('range.h5');
    await writeAll(file, makeMeta(), 256);
    const got = await readDatasetFile(file, { start: 300, end: 600 });
    const want = rowsFor(300, 300);
    expect(got.params).toEqual(want.params);
    expect(got.spectra).toEqual(want.spectra);
    const empty = await readDatasetFile(file, { start: 700, end: 700 });
    expect(empty.spectra.length).toBe(0);
    expect((await codeOf(readDatasetFile(file, { start: 600, end: 701 }))).code).toBe('DATASET_RANGE');
    expect((await codeOf(readDatasetFile(file, { start: 5, end: 4 }))).code).toBe('DATASET_RANGE');
  });

  it('accepts relative paths', async () => {
    const abs = tmp('relative.h5');
    const rel = path.relative(process.cwd(), abs);
    expect(path.isAbsolute(rel)).toBe(false);
    await writeAll(rel, makeMeta({ count: 3 }), 2);
    expect(fs.existsSync(abs)).toBe(true);
    const got = await readDatasetFile(abs);
    expect(got.params).toEqual(rowsFor(0, 3).params);
  });

  it('resume raises a lagging end-of-allocation (writer killed mid-flush) and continues', async () => {
    const file = tmp('eoa.h5');
    const meta = makeMeta({ count: 600 });
    const wr = await createDatasetFile(file, meta);
    const a = rowsFor(0, 256);
    wr.writeRows(0, a.params, a.spectra);
    wr.close();
    // Bytes past the superblock's end-of-allocation, as a kill mid-flush leaves them.
    const eoaOf = (): bigint => fs.readFileSync(file).subarray(0, 48).readBigUInt64LE(28);
    const cleanSize = fs.statSync(file).size;
    expect(eoaOf()).toBe(BigInt(cleanSize));
    fs.appendFileSync(file, Buffer.alloc(5000, 7));
    await readDatasetFile(file); // read-only: opens, does not repair
    expect(eoaOf()).toBe(BigInt(cleanSize));

    const wr2 = await resumeDatasetFile(file, meta);
    expect(eoaOf()).toBeGreaterThanOrEqual(BigInt(cleanSize + 5000));
    expect(wr2.rowsDone).toBe(256);
    for (let s = 256; s < 600; s += 256) {
      const { params, spectra } = rowsFor(s, Math.min(256, 600 - s));
      wr2.writeRows(s, params, spectra);
    }
    wr2.finish();
    const got = await readDatasetFile(file);
    expect(got.meta.complete).toBe(true);
    expect(got.spectra).toEqual(rowsFor(0, 600).spectra);

    // A complete file can be "resumed": nothing left to write, finish() is harmless.
    const wr3 = await resumeDatasetFile(file, meta);
    expect(wr3.rowsDone).toBe(600);
    wr3.finish();
  });

  it('readDatasetFile: FILE_NOT_FOUND for a missing file', async () => {
    const e = await codeOf(readDatasetFile(tmp('does-not-exist.h5')));
    expect(e.code).toBe('FILE_NOT_FOUND');
    expect(e.message).toContain('does-not-exist.h5');
  });

  it('readDatasetFile: NOT_HDF5 for a non-HDF5 file; resume says DATASET_CORRUPT', async () => {
    const file = tmp('not-hdf5.h5');
    fs.writeFileSync(file, 'Dq,Ds,Dt\n1,2,3\n'.repeat(100));
    const e = await codeOf(readDatasetFile(file));
    expect(e.code).toBe('NOT_HDF5');
    expect(e.message).toContain('not-hdf5.h5');
    expect((await codeOf(resumeDatasetFile(file, makeMeta()))).code).toBe('DATASET_CORRUPT');
  });

  it('readDatasetFile: DATASET_FIELD_MISSING naming the file and `spectra`', async () => {
    // Build a file with the full layout except `spectra`.
    const file = tmp('no-spectra.h5');
    await h5wasm.ready;
    const m = makeMeta({ count: 4 });
    const f = new h5wasm.File(file, 'w');
    try {
      f.create_attribute('ion', m.ion);
      f.create_attribute('seed', m.seed, null, '<q');
      f.create_attribute('ranges', m.ranges);
      f.create_attribute('count', m.count, null, '<q');
      f.create_attribute('rows_done', 4, null, '<q');
      f.create_attribute('complete', 1, null, '<b');
      f.create_attribute('xasmap_version', m.version);
      f.create_attribute('window_w_min', -10, null, '<d');
      f.create_attribute('window_step', 0.1, null, '<d');
      f.create_attribute('window_n', NW, null, '<q');
      f.create_attribute('created', new Date().toISOString());
      f.create_dataset({ name: 'params', data: rowsFor(0, 4).params, shape: [4, 9], dtype: '<f' });
      f.create_dataset({ name: 'w', data: m.w, dtype: '<d' });
      f.create_dataset({ name: 'energy', data: m.energy, dtype: '<d' });
    } finally {
      f.close();
    }
    const e = await codeOf(readDatasetFile(file));
    expect(e.code).toBe('DATASET_FIELD_MISSING');
    expect(e.message).toContain('no-spectra.h5');
    expect(e.message).toContain("'spectra'");
    expect((await codeOf(resumeDatasetFile(file, m))).code).toBe('DATASET_CORRUPT');
  });

  it('createDatasetFile validates metadata', async () => {
    expect((await codeOf(createDatasetFile(tmp('bad.h5'), makeMeta({ ranges: 'td' })))).code).toBe('DATASET_META_INVALID');
    expect((await codeOf(createDatasetFile(tmp('bad.h5'), makeMeta({ extra: { seed: 1 } })))).code).toBe('DATASET_META_INVALID');
    expect((await codeOf(createDatasetFile(tmp('bad.h5'), makeMeta({ count: 0 })))).code).toBe('DATASET_META_INVALID');
  });
});
