/**
 * # Training-database file (`xasmap dataset` output): HDF5 layout
 *
 * One HDF5 file holds N simulated spectra and the 9 parameters that produced
 * them. The file is written in row blocks and is valid (openable, with
 * `rows_done` correct) after every block, so an interrupted run can resume.
 *
 * Root attributes (scalars):
 *   ion             string   ion label, e.g. 'Ni2+'
 *   seed            int64    RNG seed of the run
 *   ranges          string   parameter-range preset: 'd4h' | 'oh' | 'c4v'
 *   count           int64    N, total number of rows the run will produce
 *   rows_done       int64    number of leading rows that are complete; rows
 *                            [rows_done, N) are unwritten (read back as 0)
 *   complete        int8     1 when all N rows are written and the run
 *                            finished, else 0
 *   xasmap_version  string   version of xasmap that created the file
 *   window_w_min    float64  first relative energy of the window, eV (= w[0])
 *   window_step     float64  (w[n-1] - w[0]) / (n - 1), eV (0 when n = 1)
 *   window_n        int64    n, number of energy channels (501)
 *   created         string   ISO 8601 creation time (UTC)
 *   <extra>         string | int64 | float64   caller-supplied extra
 *                            attributes (e.g. sampling notes, per_diag);
 *                            integers are stored as int64, other numbers
 *                            as float64. Every root attribute not listed
 *                            above is an extra.
 *
 * Datasets:
 *   params   (N, 9) float32, chunks (min(N,1024), 9), gzip (deflate) level 4
 *            attribute `columns`: 1-D array of 9 variable-length UTF-8
 *              strings  ['Dq','Ds','Dt','S1','S2','T','sigmaG','Gamma1','Gamma2']
 *            attribute `units`: 1-D array of 9 strings, same order,
 *              ['eV','eV','eV','1','1','K','eV','eV','eV']
 *   spectra  (N, n) float32, chunks (min(N,256), n), gzip level 4;
 *            box-normalised spectra, row i belongs to params row i
 *            attribute `normalisation`:
 *              'box: (I - min)/(max - min) over the 501 channels'
 *   w        (n,) float64, relative energy, attribute `units` = 'eV'
 *   energy   (n,) float64, absolute energy, attribute `units` = 'eV'
 *
 * Both row datasets have their full shape (N, ...) from creation on; only the
 * chunks that were written occupy space. Rows are written strictly in order;
 * for every block the rows are written and the file flushed (H5Fflush), then
 * `rows_done` is raised and the file flushed again, so a reader or a resumed
 * run trusts exactly rows [0, rows_done). The file uses the HDF5 library's
 * default format bounds (superblock v2, no SWMR write-access flag), so it
 * opens with HDF5 >= 1.8 tools (checked with h5dump/h5ls 1.10.8) even after
 * the writer was killed.
 *
 * Crash behaviour: a clean close (or Ctrl-C / SIGTERM handled by calling
 * close()) leaves a valid partial file. After SIGKILL right after a
 * writeRows returned, the file opens with rows_done correct. After SIGKILL
 * in the middle of a writeRows, rows_done still describes complete rows,
 * but the superblock's end-of-allocation may lag behind the new chunks;
 * resuming repairs that (see repairEndOfAllocation; h5clear --increment does
 * the same). No fsync is done: a power loss or OS crash is not covered.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import h5wasm from 'h5wasm/node';
import type { Dataset as H5Dataset, File as H5File } from 'h5wasm/node';
import { XasmapError } from '../errors.js';
import { HDF5_SIGNATURE, checkHdf5File, h5Reason, h5ready, safeClose } from './h5-read.js';

/* ------------------------------------------------------------------ API --- */

/** Names of the 9 parameter columns, in storage order. */
export const DATASET_PARAM_COLUMNS: readonly string[] = Object.freeze([
  'Dq', 'Ds', 'Dt', 'S1', 'S2', 'T', 'sigmaG', 'Gamma1', 'Gamma2',
]);
/** Units of the 9 parameter columns, in storage order. */
export const DATASET_PARAM_UNITS: readonly string[] = Object.freeze([
  'eV', 'eV', 'eV', '1', '1', 'K', 'eV', 'eV', 'eV',
]);
/** Accepted values of the `ranges` attribute. */
export const DATASET_RANGES: readonly string[] = Object.freeze(['d4h', 'oh', 'c4v']);

export interface DatasetMeta {
  ion: string;
  seed: number;
  ranges: string;
  count: number;
  version: string;
  w: Float64Array;
  energy: Float64Array;
  extra?: Record<string, string | number>;
}

export interface DatasetWriter {
  /** Number of leading rows complete in the file. */
  readonly rowsDone: number;
  /** Metadata as stored in the file (on resume: the file's version string). */
  readonly meta: DatasetMeta;
  /**
   * Writes rows [start, start + k) where k = params.length / 9 and
   * spectra.length = k * n. Rows must be written in order (start === rowsDone,
   * else throws 'DATASET_ORDER'). Updates `rows_done` and flushes the file
   * before returning.
   */
  writeRows(start: number, params: Float32Array, spectra: Float32Array): void;
  /**
   * Sets `complete` = 1 and closes. If rowsDone < count the file is closed as
   * a partial (resumable) file and 'DATASET_INCOMPLETE' is thrown.
   */
  finish(): void;
  /** Closes, keeping the partial state (resumable). Idempotent. */
  close(): void;
}

export interface DatasetCreateOptions {
  /** gzip (deflate) level 1..9 for `params` and `spectra`; 0 = uncompressed. Default 4. */
  gzipLevel?: number;
}

export interface DatasetContents {
  meta: DatasetMeta & { rowsDone: number; complete: boolean };
  params: Float32Array;
  spectra: Float32Array;
}

/**
 * Creates (overwriting any existing file at `path`) a new dataset file with
 * all metadata and empty row datasets of full size, rows_done = 0.
 * Relative paths are resolved against process.cwd().
 * Errors: 'DATASET_META_INVALID' for bad metadata, 'FILE_WRITE' if the file
 * cannot be created.
 */
export async function createDatasetFile(
  path: string,
  meta: DatasetMeta,
  options: DatasetCreateOptions = {},
): Promise<DatasetWriter> {
  validateMeta(meta);
  const gzip = options.gzipLevel ?? DEFAULT_GZIP_LEVEL;
  if (!Number.isInteger(gzip) || gzip < 0 || gzip > 9) {
    throw new XasmapError('DATASET_META_INVALID', `gzipLevel must be an integer 0..9, got ${gzip}`);
  }
  const h5 = await h5ready();
  const abs = nodePath.resolve(path);
  let f: H5File;
  try {
    f = new h5.File(abs, 'w');
  } catch (e) {
    throw new XasmapError('FILE_WRITE', `cannot create dataset file ${abs}: ${h5Reason(e)}`);
  }
  const n = meta.w.length;
  const N = meta.count;
  try {
    f.create_attribute('ion', meta.ion);
    f.create_attribute('seed', meta.seed, null, '<q');
    f.create_attribute('ranges', meta.ranges);
    f.create_attribute('count', N, null, '<q');
    f.create_attribute('rows_done', 0, null, '<q');
    f.create_attribute('complete', 0, null, '<b');
    f.create_attribute('xasmap_version', meta.version);
    f.create_attribute('window_w_min', meta.w[0] ?? 0, null, '<d');
    f.create_attribute('window_step', windowStep(meta.w), null, '<d');
    f.create_attribute('window_n', n, null, '<q');
    f.create_attribute('created', new Date().toISOString());
    for (const [k, v] of Object.entries(meta.extra ?? {})) {
      if (typeof v === 'string') f.create_attribute(k, v);
      else if (Number.isSafeInteger(v)) f.create_attribute(k, v, null, '<q');
      else f.create_attribute(k, v, null, '<d');
    }

    const params = createRowDataset(f, 'params', N, NPARAM, Math.min(N, PARAMS_CHUNK_ROWS), gzip);
    params.create_attribute('columns', [...DATASET_PARAM_COLUMNS]);
    params.create_attribute('units', [...DATASET_PARAM_UNITS]);
    const spectra = createRowDataset(f, 'spectra', N, n, Math.min(N, SPECTRA_CHUNK_ROWS), gzip);
    spectra.create_attribute('normalisation', NORMALISATION);

    const w = f.create_dataset({ name: 'w', data: Float64Array.from(meta.w), dtype: '<d' });
    w.create_attribute('units', 'eV');
    const energy = f.create_dataset({ name: 'energy', data: Float64Array.from(meta.energy), dtype: '<d' });
    energy.create_attribute('units', 'eV');
    f.flush();
  } catch (e) {
    safeClose(f);
    throw new XasmapError('FILE_WRITE', `cannot write dataset file ${abs}: ${h5Reason(e)}`);
  }
  return new Writer(f, abs, copyMeta(meta), 0, false);
}

/**
 * Opens a partial file for resuming. Throws 'FILE_NOT_FOUND' if it does not
 * exist, 'DATASET_CORRUPT' if it is not a readable dataset file, and
 * 'DATASET_MISMATCH' (message names the attribute) if ion / seed / ranges /
 * count / window (window_w_min, window_step, window_n, w, energy) / extra
 * differ from `expect`. The version string is not compared. A complete file
 * is accepted (rowsDone === count). If the previous writer was killed in the
 * middle of a flush, the superblock's end-of-allocation is first raised to
 * the file size (the only change made to the file before it is validated).
 */
export async function resumeDatasetFile(path: string, expect: DatasetMeta): Promise<DatasetWriter> {
  validateMeta(expect);
  const h5 = await h5ready();
  const abs = nodePath.resolve(path);
  let f: H5File;
  try {
    checkHdf5File(abs, 'dataset file');
    repairEndOfAllocation(abs);
    f = openExisting(h5, abs, 'a');
  } catch (e) {
    throw asCorrupt(e);
  }
  let layout: Layout;
  try {
    layout = readLayout(f, abs);
  } catch (e) {
    safeClose(f);
    throw asCorrupt(e);
  }
  try {
    compareMeta(layout.meta, expect, abs);
  } catch (e) {
    safeClose(f);
    throw e;
  }
  return new Writer(f, abs, layout.meta, layout.rowsDone, layout.complete);
}

/**
 * Reads a whole file, or only rows [start, end). Without `rows`, reads rows
 * [0, rowsDone) (all N rows for a complete file). An explicit range must
 * satisfy 0 <= start <= end <= rowsDone ('DATASET_RANGE' otherwise): rows
 * that were never written are not returned.
 * Errors: 'FILE_NOT_FOUND', 'NOT_HDF5', 'DATASET_FIELD_MISSING' (names the
 * file and the missing dataset/attribute), 'DATASET_SHAPE' (wrong shape or
 * type), 'DATASET_RANGE'.
 */
export async function readDatasetFile(
  path: string,
  rows?: { start: number; end: number },
): Promise<DatasetContents> {
  const h5 = await h5ready();
  const abs = nodePath.resolve(path);
  checkHdf5File(abs, 'dataset file');
  const f = openExisting(h5, abs, 'r');
  try {
    const layout = readLayout(f, abs);
    const start = rows?.start ?? 0;
    const end = rows?.end ?? layout.rowsDone;
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || end > layout.rowsDone) {
      throw new XasmapError(
        'DATASET_RANGE',
        `${abs}: row range [${start}, ${end}) is invalid; the file has ${layout.rowsDone} complete rows of ${layout.meta.count}`,
      );
    }
    const n = layout.meta.w.length;
    const params = readRows(layout.params, start, end, NPARAM, abs);
    const spectra = readRows(layout.spectra, start, end, n, abs);
    return {
      meta: { ...layout.meta, rowsDone: layout.rowsDone, complete: layout.complete },
      params,
      spectra,
    };
  } finally {
    safeClose(f);
  }
}

/* ------------------------------------------------------------- internals --- */

const NPARAM = 9;
const PARAMS_CHUNK_ROWS = 1024;
const SPECTRA_CHUNK_ROWS = 256;
const DEFAULT_GZIP_LEVEL = 4;
/** Rows are read in blocks of at most this many floats to bound WASM heap growth. */
const READ_BLOCK_FLOATS = 1 << 22;
const NORMALISATION = 'box: (I - min)/(max - min) over the 501 channels';
const RESERVED_ATTRS: ReadonlySet<string> = new Set([
  'ion', 'seed', 'ranges', 'count', 'rows_done', 'complete', 'xasmap_version',
  'window_w_min', 'window_step', 'window_n', 'created',
]);

function asCorrupt(e: unknown): unknown {
  if (e instanceof XasmapError && (e.code === 'FILE_NOT_FOUND' || e.code === 'DATASET_CORRUPT')) return e;
  return new XasmapError('DATASET_CORRUPT', `cannot resume: ${h5Reason(e)}`);
}

function openExisting(h5: typeof h5wasm, abs: string, mode: 'r' | 'a'): H5File {
  try {
    return new h5.File(abs, mode);
  } catch (e) {
    throw new XasmapError('DATASET_CORRUPT', `cannot open HDF5 file ${abs}: ${h5Reason(e)}`);
  }
}

function createRowDataset(f: H5File, name: string, rows: number, width: number, chunkRows: number, gzip: number): H5Dataset {
  // h5wasm needs data matching `shape` at creation: create empty, then extend.
  // Unwritten chunks are not allocated and read back as the fill value 0.
  const ds = f.create_dataset({
    name,
    data: new Float32Array(0),
    shape: [0, width],
    maxshape: [rows, width],
    dtype: '<f',
    chunks: [chunkRows, width],
    ...(gzip > 0 ? { compression: 'gzip' as const, compression_opts: gzip } : {}),
  });
  ds.resize([rows, width]);
  return ds;
}

function windowStep(w: Float64Array): number {
  const n = w.length;
  return n > 1 ? ((w[n - 1] as number) - (w[0] as number)) / (n - 1) : 0;
}

function copyMeta(m: DatasetMeta): DatasetMeta {
  return {
    ion: m.ion,
    seed: m.seed,
    ranges: m.ranges,
    count: m.count,
    version: m.version,
    w: Float64Array.from(m.w),
    energy: Float64Array.from(m.energy),
    extra: { ...(m.extra ?? {}) },
  };
}

function validateMeta(m: DatasetMeta): void {
  const bad = (what: string): never => {
    throw new XasmapError('DATASET_META_INVALID', `invalid dataset metadata: ${what}`);
  };
  if (typeof m.ion !== 'string' || m.ion === '') bad('ion must be a non-empty string');
  if (!Number.isSafeInteger(m.seed)) bad(`seed must be a safe integer, got ${m.seed}`);
  if (!DATASET_RANGES.includes(m.ranges)) bad(`ranges must be one of ${DATASET_RANGES.join(', ')}, got '${m.ranges}'`);
  if (!Number.isSafeInteger(m.count) || m.count < 1) bad(`count must be a positive integer, got ${m.count}`);
  if (typeof m.version !== 'string') bad('version must be a string');
  if (!(m.w instanceof Float64Array) || m.w.length < 1) bad('w must be a non-empty Float64Array');
  if (!(m.energy instanceof Float64Array) || m.energy.length !== m.w.length) {
    bad(`energy must be a Float64Array of the same length as w (${m.w.length})`);
  }
  if (!m.w.every(Number.isFinite) || !m.energy.every(Number.isFinite)) bad('w and energy must be finite');
  for (const [k, v] of Object.entries(m.extra ?? {})) {
    if (k === '' || k.includes('/')) bad(`extra attribute name '${k}' is not allowed`);
    if (RESERVED_ATTRS.has(k)) bad(`extra attribute '${k}' clashes with a reserved attribute`);
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) bad(`extra attribute '${k}' must be finite, got ${v}`);
    } else if (typeof v !== 'string') {
      bad(`extra attribute '${k}' must be a string or a number`);
    }
  }
}

function sameFloat(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
}

function compareMeta(stored: DatasetMeta, expect: DatasetMeta, abs: string): void {
  const mismatch = (attr: string, have: unknown, want: unknown): never => {
    throw new XasmapError(
      'DATASET_MISMATCH',
      `cannot resume ${abs}: attribute '${attr}' is ${fmt(have)} in the file but ${fmt(want)} for this run`,
    );
  };
  if (stored.ion !== expect.ion) mismatch('ion', stored.ion, expect.ion);
  if (stored.seed !== expect.seed) mismatch('seed', stored.seed, expect.seed);
  if (stored.ranges !== expect.ranges) mismatch('ranges', stored.ranges, expect.ranges);
  if (stored.count !== expect.count) mismatch('count', stored.count, expect.count);
  if (stored.w.length !== expect.w.length) mismatch('window_n', stored.w.length, expect.w.length);
  if (!sameFloat(stored.w[0] ?? 0, expect.w[0] ?? 0)) mismatch('window_w_min', stored.w[0], expect.w[0]);
  if (!sameFloat(windowStep(stored.w), windowStep(expect.w))) {
    mismatch('window_step', windowStep(stored.w), windowStep(expect.w));
  }
  for (let i = 0; i < stored.w.length; i++) {
    if (!sameFloat(stored.w[i] as number, expect.w[i] as number)) mismatch(`w[${i}]`, stored.w[i], expect.w[i]);
    if (!sameFloat(stored.energy[i] as number, expect.energy[i] as number)) {
      mismatch(`energy[${i}]`, stored.energy[i], expect.energy[i]);
    }
  }
  const se = stored.extra ?? {};
  const ee = expect.extra ?? {};
  for (const k of new Set([...Object.keys(se), ...Object.keys(ee)])) {
    const a = se[k];
    const b = ee[k];
    if (a !== b) mismatch(k, a, b);
  }
}

function fmt(v: unknown): string {
  if (v === undefined) return 'absent';
  return typeof v === 'string' ? `'${v}'` : String(v);
}

interface Layout {
  meta: DatasetMeta;
  rowsDone: number;
  complete: boolean;
  params: H5Dataset;
  spectra: H5Dataset;
}

/** Reads and checks every part of the layout; throws read-side error codes. */
function readLayout(f: H5File, abs: string): Layout {
  const missing = (what: string): never => {
    throw new XasmapError('DATASET_FIELD_MISSING', `${abs}: missing ${what}`);
  };
  const wrong = (what: string): never => {
    throw new XasmapError('DATASET_SHAPE', `${abs}: ${what}`);
  };
  const attrs = f.attrs;
  const scalar = (name: string): unknown => {
    const a = attrs[name];
    if (a === undefined) return missing(`root attribute '${name}'`);
    return a.value;
  };
  const str = (name: string): string => {
    const v = scalar(name);
    return typeof v === 'string' ? v : wrong(`root attribute '${name}' must be a string`);
  };
  const num = (name: string): number => {
    const v = scalar(name);
    const x = typeof v === 'bigint' ? Number(v) : v;
    return typeof x === 'number' ? x : wrong(`root attribute '${name}' must be a number`);
  };
  const int = (name: string): number => {
    const x = num(name);
    return Number.isSafeInteger(x) ? x : wrong(`root attribute '${name}' must be an integer, got ${x}`);
  };

  const ion = str('ion');
  const seed = int('seed');
  const ranges = str('ranges');
  const count = int('count');
  const rowsDone = int('rows_done');
  const complete = num('complete') !== 0;
  const version = str('xasmap_version');
  const n = int('window_n');
  num('window_w_min');
  num('window_step');
  str('created');
  if (count < 1) wrong(`count must be positive, got ${count}`);
  if (rowsDone < 0 || rowsDone > count) wrong(`rows_done = ${rowsDone} is outside [0, ${count}]`);
  if (complete && rowsDone !== count) wrong(`complete = 1 but rows_done = ${rowsDone} < count = ${count}`);
  if (n < 1) wrong(`window_n must be positive, got ${n}`);

  const extra: Record<string, string | number> = {};
  for (const [k, a] of Object.entries(attrs)) {
    if (RESERVED_ATTRS.has(k)) continue;
    const v = a.value;
    if (typeof v === 'string' || typeof v === 'number') extra[k] = v;
    else if (typeof v === 'bigint') extra[k] = Number(v);
  }

  const dataset = (name: string, shape: number[]): H5Dataset => {
    const ds = f.get(name);
    if (!(ds instanceof h5wasm.Dataset)) return missing(`dataset '${name}'`);
    const s = ds.shape;
    if (s === null || s.length !== shape.length || s.some((d, i) => d !== shape[i])) {
      return wrong(`dataset '${name}' has shape (${s?.join(', ') ?? 'empty'}), expected (${shape.join(', ')})`);
    }
    if (ds.metadata.type !== 1 /* H5T_FLOAT */) wrong(`dataset '${name}' must be floating point`);
    return ds;
  };
  const params = dataset('params', [count, NPARAM]);
  const spectra = dataset('spectra', [count, n]);
  const w = toF64(dataset('w', [n]).value, 'w', wrong);
  const energy = toF64(dataset('energy', [n]).value, 'energy', wrong);

  return {
    meta: { ion, seed, ranges, count, version, w, energy, extra },
    rowsDone,
    complete,
    params,
    spectra,
  };
}

function toF64(v: unknown, name: string, wrong: (what: string) => never): Float64Array {
  if (v instanceof Float64Array) return v;
  if (v instanceof Float32Array) return Float64Array.from(v);
  return wrong(`dataset '${name}' could not be read as floating point`);
}

function readRows(ds: H5Dataset, start: number, end: number, width: number, abs: string): Float32Array {
  const out = new Float32Array((end - start) * width);
  const block = Math.max(1, Math.floor(READ_BLOCK_FLOATS / width));
  for (let r = start; r < end; r += block) {
    const e = Math.min(end, r + block);
    let v: unknown;
    try {
      v = ds.slice([[r, e], []]);
    } catch (err) {
      throw new XasmapError('DATASET_CORRUPT', `${abs}: cannot read rows [${r}, ${e}) of '${ds.path}': ${h5Reason(err)}`);
    }
    if (v instanceof Float32Array) out.set(v, (r - start) * width);
    else if (v instanceof Float64Array) out.set(Float32Array.from(v), (r - start) * width);
    else throw new XasmapError('DATASET_SHAPE', `${abs}: dataset '${ds.path}' is not floating point`);
  }
  return out;
}

/**
 * After a writer is killed in the middle of a flush, the file can hold chunks
 * and index entries past the end-of-allocation (EOA) address recorded in the
 * superblock, which HDF5 writes last; HDF5 then refuses to touch them
 * ('addr overflow'). A clean flush or close leaves EOF == EOA, so EOF > EOA
 * means an unclean stop: raise EOA to EOF (like `h5clear --increment`).
 * Only version 2/3 superblocks with 8-byte addresses and a valid checksum are
 * touched. Returns true if the file was changed.
 */
function repairEndOfAllocation(abs: string): boolean {
  const fd = fs.openSync(abs, 'r+');
  try {
    const size = fs.fstatSync(fd).size;
    const sb = Buffer.alloc(48);
    for (let off = 0; off + 48 <= size; off = off === 0 ? 512 : off * 2) {
      if (fs.readSync(fd, sb, 0, 48, off) !== 48 || !sb.subarray(0, 8).equals(HDF5_SIGNATURE)) continue;
      const version = sb[8];
      if ((version !== 2 && version !== 3) || sb[9] !== 8) return false;
      if (sb.readUInt32LE(44) !== lookup3(sb.subarray(0, 44))) return false;
      const base = sb.readBigUInt64LE(12);
      const eoa = sb.readBigUInt64LE(28);
      const eof = BigInt(size);
      if (eof <= base + eoa) return false;
      sb.writeBigUInt64LE(eof - base, 28);
      sb.writeUInt32LE(lookup3(sb.subarray(0, 44)), 44);
      fs.writeSync(fd, sb, 0, 48, off);
      fs.fsyncSync(fd);
      return true;
    }
    return false;
  } finally {
    fs.closeSync(fd);
  }
}

/** Bob Jenkins' lookup3 hashlittle(), HDF5's metadata checksum (H5_checksum_lookup3, initval 0). */
function lookup3(k: Uint8Array): number {
  const rot = (x: number, r: number): number => ((x << r) | (x >>> (32 - r))) >>> 0;
  const word = (o: number): number =>
    ((k[o] ?? 0) | ((k[o + 1] ?? 0) << 8) | ((k[o + 2] ?? 0) << 16) | ((k[o + 3] ?? 0) << 24)) >>> 0;
  let length = k.length;
  let a = (0xdeadbeef + length) >>> 0;
  let b = a;
  let c = a;
  let o = 0;
  while (length > 12) {
    a = (a + word(o)) >>> 0;
    b = (b + word(o + 4)) >>> 0;
    c = (c + word(o + 8)) >>> 0;
    a = (a - c) >>> 0; a = (a ^ rot(c, 4)) >>> 0; c = (c + b) >>> 0;
    b = (b - a) >>> 0; b = (b ^ rot(a, 6)) >>> 0; a = (a + c) >>> 0;
    c = (c - b) >>> 0; c = (c ^ rot(b, 8)) >>> 0; b = (b + a) >>> 0;
    a = (a - c) >>> 0; a = (a ^ rot(c, 16)) >>> 0; c = (c + b) >>> 0;
    b = (b - a) >>> 0; b = (b ^ rot(a, 19)) >>> 0; a = (a + c) >>> 0;
    c = (c - b) >>> 0; c = (c ^ rot(b, 4)) >>> 0; b = (b + a) >>> 0;
    length -= 12;
    o += 12;
  }
  if (length === 0) return c;
  // Tail: the missing bytes count as zero (word() reads past the end as 0).
  const tail = k.subarray(o, o + length);
  const t = (i: number): number => (i < tail.length ? (tail[i] as number) : 0);
  a = (a + ((t(0) | (t(1) << 8) | (t(2) << 16) | (t(3) << 24)) >>> 0)) >>> 0;
  b = (b + ((t(4) | (t(5) << 8) | (t(6) << 16) | (t(7) << 24)) >>> 0)) >>> 0;
  c = (c + ((t(8) | (t(9) << 8) | (t(10) << 16) | (t(11) << 24)) >>> 0)) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rot(b, 14)) >>> 0;
  a = (a ^ c) >>> 0; a = (a - rot(c, 11)) >>> 0;
  b = (b ^ a) >>> 0; b = (b - rot(a, 25)) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rot(b, 16)) >>> 0;
  a = (a ^ c) >>> 0; a = (a - rot(c, 4)) >>> 0;
  b = (b ^ a) >>> 0; b = (b - rot(a, 14)) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rot(b, 24)) >>> 0;
  return c;
}

class Writer implements DatasetWriter {
  #file: H5File | null;
  #rowsDone: number;
  #complete: boolean;
  readonly #abs: string;
  readonly #meta: DatasetMeta;
  readonly #params: H5Dataset;
  readonly #spectra: H5Dataset;

  constructor(file: H5File, abs: string, meta: DatasetMeta, rowsDone: number, complete: boolean) {
    this.#file = file;
    this.#abs = abs;
    this.#meta = meta;
    this.#rowsDone = rowsDone;
    this.#complete = complete;
    this.#params = file.get('params') as H5Dataset;
    this.#spectra = file.get('spectra') as H5Dataset;
  }

  get rowsDone(): number {
    return this.#rowsDone;
  }

  get meta(): DatasetMeta {
    return this.#meta;
  }

  #open(): H5File {
    if (this.#file === null) throw new XasmapError('DATASET_CLOSED', `dataset file ${this.#abs} is closed`);
    return this.#file;
  }

  writeRows(start: number, params: Float32Array, spectra: Float32Array): void {
    const f = this.#open();
    const n = this.#meta.w.length;
    if (start !== this.#rowsDone) {
      throw new XasmapError(
        'DATASET_ORDER',
        `rows must be written in order: writeRows(start=${start}) but ${this.#rowsDone} rows are done in ${this.#abs}`,
      );
    }
    if (!(params instanceof Float32Array) || params.length % NPARAM !== 0) {
      throw new XasmapError('DATASET_SHAPE', `params must be a Float32Array of k*${NPARAM} values, got ${params.length}`);
    }
    const k = params.length / NPARAM;
    if (!(spectra instanceof Float32Array) || spectra.length !== k * n) {
      throw new XasmapError('DATASET_SHAPE', `spectra must be a Float32Array of ${k}*${n} values, got ${spectra.length}`);
    }
    if (start + k > this.#meta.count) {
      throw new XasmapError('DATASET_SHAPE', `rows [${start}, ${start + k}) exceed count ${this.#meta.count}`);
    }
    if (k === 0) return;
    const end = start + k;
    try {
      // Phase 1: row data, chunk index and superblock (end-of-allocation) on
      // disk. HDF5 writes the superblock last in a flush and the root object
      // header (rows_done) before the chunk index, so doing both in one flush
      // lets a kill mid-flush leave rows_done ahead of the indexed data
      // (observed: rows read back as 0, or 'addr overflow').
      this.#spectra.write_slice([[start, end], []], spectra);
      this.#params.write_slice([[start, end], []], params);
      f.flush();
      // Phase 2: only the root object header changes.
      f.delete_attribute('rows_done');
      f.create_attribute('rows_done', end, null, '<q');
      f.flush();
    } catch (e) {
      throw new XasmapError('FILE_WRITE', `writing rows [${start}, ${end}) to ${this.#abs} failed: ${h5Reason(e)}`);
    }
    this.#rowsDone = end;
  }

  finish(): void {
    const f = this.#open();
    if (this.#rowsDone !== this.#meta.count) {
      this.close();
      throw new XasmapError(
        'DATASET_INCOMPLETE',
        `cannot finish ${this.#abs}: ${this.#rowsDone} of ${this.#meta.count} rows written (file kept as partial)`,
      );
    }
    try {
      if (!this.#complete) {
        f.delete_attribute('complete');
        f.create_attribute('complete', 1, null, '<b');
        this.#complete = true;
      }
      f.flush();
    } catch (e) {
      this.close();
      throw new XasmapError('FILE_WRITE', `finishing ${this.#abs} failed: ${h5Reason(e)}`);
    }
    this.close();
  }

  close(): void {
    const f = this.#file;
    if (f === null) return;
    this.#file = null;
    try {
      f.close();
    } catch (e) {
      throw new XasmapError('FILE_WRITE', `closing ${this.#abs} failed: ${h5Reason(e)}`);
    }
  }
}
