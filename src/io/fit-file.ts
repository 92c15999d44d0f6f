/**
 * # Fit output (`xasmap fit`), NeXus/HDF5 (docs/formats.md, "Fit output")
 *
 * /                      NX_class=NXroot, default='entry'
 * /entry                 NXentry; attributes ion, model, xasmap_version, command_line, date, source,
 *                        shift_eV, fit_options (JSON), pixel_size/pixel_unit (if known), default='maps'
 * /entry/maps            NXdata: signal='se', auxiliary_signals=PARAM_NAMES, axes=['y', 'x']
 *   <param>        (ny, nx) float32, units, long_name, bounds=[lo, hi], fixed (only when fixed); NaN = not fitted
 *   <param>_sigma  (ny, nx) float32, units; 0 for fixed, NaN where not fitted or undetermined
 *   se             (ny, nx) float32, '%'
 *   flags          (ny, nx) uint16, FIT_FLAG bits, attribute flag_codes
 *   param_flags    (ny, nx, 9) uint8, PARAM_FLAG bits, attributes flag_codes, param_names
 *   best_start     (ny, nx) int16, -1 where not fitted
 *   y, x           (ny,), (nx,) float64: pixel index, or position (pixel_size * index) in pixel_unit
 * /entry/fit             NXdata: signal='data', auxiliary_signals=['measured'], axes=['.', '.', 'energy'], energy_indices=2
 *   data      (ny, nx, 501) float32, the fitted spectra; chunks (1, min(nx, 32), 501), gzip 4
 *   measured  (ny, nx, 501) float32, the measured spectra as fitted; same chunks
 *   energy    (501,) float64, absolute photon energy of the model grid, eV
 *
 * The caller writes to a temporary path and renames it (see cli/fit.ts); on failure the partial
 * file is removed here.
 */
import { rmSync } from 'node:fs';
import nodePath from 'node:path';
import { XasmapError } from '../errors.js';
import { FIT_FLAG_CODES_TEXT, type FitMaps, PARAM_FLAG_CODES_TEXT } from '../ops/fit-types.js';
import { PARAM_NAMES, PARAM_UNITS } from '../physics/ions.js';
import { type H5Group, type H5File, createOutputEntry, createOutputFile, h5Reason, safeClose } from './h5-read.js';

export interface FitFileMeta {
  ion: string;
  /** model directory, or 'simulator' */
  model: string;
  version: string;
  commandLine: string;
  /** ISO 8601 UTC */
  date: string;
  /** the measured file */
  source: string;
  /** (channels,) absolute photon energy of the model grid, eV */
  energy: Float64Array;
  /** eV, applied: measured energy + shift = model energy */
  shift: number;
  /** the fit settings (starts, iterations, bounds, fixed, preprocess, ...): stored as JSON in `fit_options` */
  options: Record<string, unknown>;
  /** 9 values each, order PARAM_NAMES, physical units */
  bounds: { lower: readonly number[]; upper: readonly number[] };
  /** 9 values, order PARAM_NAMES: the fixed value, or null for a free parameter */
  fixed: readonly (number | null)[];
  pixelSize?: number;
  pixelUnit?: string;
}

/** Descriptions of the parameters (long_name of the maps). */
const PARAM_LONG_NAMES: Readonly<Record<(typeof PARAM_NAMES)[number], string>> = {
  Dq: 'Dq, cubic crystal field',
  Ds: 'Ds, tetragonal crystal field',
  Dt: 'Dt, tetragonal crystal field',
  S1: 'S1, scaling of the Slater integrals F2pd, G1pd, G3pd',
  S2: 'S2, scaling of the Slater integrals Fdd',
  T: 'T, temperature',
  sigmaG: 'sigmaG, Gaussian broadening',
  Gamma1: 'Gamma1, Lorentzian broadening of L3',
  Gamma2: 'Gamma2, Lorentzian broadening of L2',
};

const P = PARAM_NAMES.length;

/** Unit text of an HDF5 `units` attribute ('1' = dimensionless). */
function unitsOf(k: number): string {
  return PARAM_UNITS[PARAM_NAMES[k] as (typeof PARAM_NAMES)[number]];
}

function internal(msg: string): XasmapError {
  return new XasmapError('INTERNAL', `writeFitFile: ${msg}`, 1);
}

function checkInputs(meta: FitFileMeta, m: FitMaps, g: { ny: number; nx: number }): void {
  const { ny, nx } = g;
  if (!Number.isInteger(ny) || !Number.isInteger(nx) || ny < 1 || nx < 1) throw internal(`bad geometry ${ny} x ${nx}`);
  const n = ny * nx;
  const c = meta.energy.length;
  if (m.n !== n) throw internal(`maps have ${m.n} pixels, geometry ${ny} x ${nx} = ${n}`);
  if (m.channels !== c) throw internal(`maps have ${m.channels} channels, energy has ${c}`);
  const want: [string, { length: number }, number][] = [
    ['params', m.params, n * P],
    ['sigma', m.sigma, n * P],
    ['paramFlags', m.paramFlags, n * P],
    ['se', m.se, n],
    ['flags', m.flags, n],
    ['bestStart', m.bestStart, n],
    ['fitted', m.fitted, n * c],
    ['measured', m.measured, n * c],
  ];
  for (const [name, a, len] of want) if (a.length !== len) throw internal(`${name} has ${a.length} values, expected ${len}`);
  if (meta.bounds.lower.length !== P || meta.bounds.upper.length !== P) throw internal('bounds need 9 values each');
  if (meta.fixed.length !== P) throw internal('fixed needs 9 values');
  if (meta.pixelSize !== undefined && !(Number.isFinite(meta.pixelSize) && meta.pixelSize > 0)) throw internal(`bad pixel size ${meta.pixelSize}`);
}

/** Column k of an n x 9 pixel-major array. */
function column<T extends Float32Array | Uint8Array>(a: T, k: number, n: number, make: (n: number) => T): T {
  const out = make(n);
  for (let i = 0; i < n; i++) out[i] = a[i * P + k] as number;
  return out;
}

function axisValues(len: number, pixelSize: number | undefined): Float64Array {
  const v = new Float64Array(len);
  for (let i = 0; i < len; i++) v[i] = pixelSize === undefined ? i : i * pixelSize;
  return v;
}

function writeEntry(f: H5File, meta: FitFileMeta): H5Group {
  const entry = createOutputEntry(f, 'maps', meta);
  entry.create_attribute('source', meta.source);
  entry.create_attribute('shift_eV', meta.shift, null, '<d');
  entry.create_attribute('fit_options', JSON.stringify(meta.options));
  if (meta.pixelSize !== undefined) {
    entry.create_attribute('pixel_size', meta.pixelSize, null, '<d');
    entry.create_attribute('pixel_unit', meta.pixelUnit ?? 'µm');
  }
  return entry;
}

function writeMaps(entry: H5Group, meta: FitFileMeta, m: FitMaps, ny: number, nx: number): void {
  const n = ny * nx;
  const g = entry.create_group('maps');
  g.create_attribute('NX_class', 'NXdata');
  g.create_attribute('signal', 'se');
  g.create_attribute('auxiliary_signals', [...PARAM_NAMES]);
  g.create_attribute('axes', ['y', 'x']);
  g.create_attribute('y_indices', 0, null, '<i');
  g.create_attribute('x_indices', 1, null, '<i');

  const se = g.create_dataset({ name: 'se', data: Float32Array.from(m.se), shape: [ny, nx], dtype: '<f' });
  se.create_attribute('units', '%');
  se.create_attribute('long_name', 'spectral error of the fit');

  PARAM_NAMES.forEach((name, k) => {
    const units = unitsOf(k);
    const ds = g.create_dataset({ name, data: column(m.params, k, n, (l) => new Float32Array(l)), shape: [ny, nx], dtype: '<f' });
    ds.create_attribute('units', units);
    ds.create_attribute('long_name', PARAM_LONG_NAMES[name]);
    ds.create_attribute('bounds', Float64Array.from([meta.bounds.lower[k] as number, meta.bounds.upper[k] as number]), [2], '<d');
    const fx = meta.fixed[k];
    if (fx !== null && fx !== undefined) ds.create_attribute('fixed', fx, null, '<d');
    const sd = g.create_dataset({ name: `${name}_sigma`, data: column(m.sigma, k, n, (l) => new Float32Array(l)), shape: [ny, nx], dtype: '<f' });
    sd.create_attribute('units', units);
    sd.create_attribute('long_name', `${name}: one-standard-deviation uncertainty`);
  });

  const fl = g.create_dataset({ name: 'flags', data: Uint16Array.from(m.flags), shape: [ny, nx], dtype: '<H' });
  fl.create_attribute('flag_codes', FIT_FLAG_CODES_TEXT);
  fl.create_attribute('long_name', 'pixel flags (bits)');
  const pf = g.create_dataset({ name: 'param_flags', data: Uint8Array.from(m.paramFlags), shape: [ny, nx, P], dtype: '<B' });
  pf.create_attribute('flag_codes', PARAM_FLAG_CODES_TEXT);
  pf.create_attribute('param_names', [...PARAM_NAMES]);
  pf.create_attribute('long_name', 'per-parameter flags (bits), last axis in the order of param_names');
  const bs = g.create_dataset({ name: 'best_start', data: Int16Array.from(m.bestStart), shape: [ny, nx], dtype: '<h' });
  bs.create_attribute('long_name', 'index of the winning start (0-based), -1 = not fitted');

  const unit = meta.pixelSize !== undefined ? (meta.pixelUnit ?? 'µm') : 'pixel';
  for (const [axis, len] of [['y', ny], ['x', nx]] as const) {
    const a = g.create_dataset({ name: axis, data: axisValues(len, meta.pixelSize), dtype: '<d' });
    a.create_attribute('units', unit);
    a.create_attribute('long_name', meta.pixelSize !== undefined ? `${axis} position` : `${axis} (pixel index)`);
  }
}

function writeSpectra(entry: H5Group, meta: FitFileMeta, m: FitMaps, ny: number, nx: number): void {
  const c = meta.energy.length;
  const g = entry.create_group('fit');
  g.create_attribute('NX_class', 'NXdata');
  g.create_attribute('signal', 'data');
  g.create_attribute('auxiliary_signals', ['measured']);
  g.create_attribute('axes', ['.', '.', 'energy']);
  g.create_attribute('energy_indices', 2, null, '<i');
  const cube = (name: string, data: Float32Array, longName: string): void => {
    const ds = g.create_dataset({
      name,
      data,
      shape: [ny, nx, c],
      dtype: '<f',
      chunks: [1, Math.min(nx, 32), c],
      compression: 'gzip',
      compression_opts: 4,
    });
    ds.create_attribute('units', '1');
    ds.create_attribute('long_name', longName);
  };
  cube('data', m.fitted, 'fitted spectrum, box-normalised (NaN = not fitted)');
  cube('measured', m.measured, 'measured spectrum as fitted: resampled, pre-processed, box-normalised (NaN outside coverage)');
  const en = g.create_dataset({ name: 'energy', data: Float64Array.from(meta.energy), dtype: '<d' });
  en.create_attribute('units', 'eV');
  en.create_attribute('long_name', 'photon energy (absolute, model grid)');
}

function removePartial(abs: string): void {
  try {
    rmSync(abs, { force: true });
  } catch {
    /* not a file we made (e.g. a directory): leave it */
  }
}

/**
 * Writes the result of `xasmap fit` to `path` (NeXus/HDF5, layout in the module comment).
 * Throws XasmapError('OUTPUT_UNWRITABLE') when the file cannot be created or written; the
 * partial file is removed. Inconsistent inputs are an INTERNAL error (nothing written).
 */
export async function writeFitFile(path: string, meta: FitFileMeta, maps: FitMaps, geometry: { ny: number; nx: number }): Promise<void> {
  checkInputs(meta, maps, geometry);
  const { f, abs } = await createOutputFile(path);
  try {
    const entry = writeEntry(f, meta);
    writeMaps(entry, meta, maps, geometry.ny, geometry.nx);
    writeSpectra(entry, meta, maps, geometry.ny, geometry.nx);
    f.flush();
  } catch (e) {
    safeClose(f);
    removePartial(abs);
    throw new XasmapError('OUTPUT_UNWRITABLE', `cannot write ${abs}: ${h5Reason(e)}`);
  }
  try {
    f.close();
  } catch (e) {
    removePartial(abs);
    throw new XasmapError('OUTPUT_UNWRITABLE', `${abs}: closing failed: ${h5Reason(e)}`);
  }
}

/**
 * Output names of `xasmap fit MEASURED [--out FIT.h5]`: default `<measured stem>.fit.h5` next to
 * the measured file; the PNG stem is the .h5 name without its extension (.h5, .nxs, .hdf5).
 */
export function fitOutputs(measuredPath: string, out?: string): { h5: string; pngStem: string } {
  const h5 = out ?? nodePath.join(nodePath.dirname(measuredPath), `${nodePath.basename(measuredPath, nodePath.extname(measuredPath))}.fit.h5`);
  const ext = nodePath.extname(h5);
  const pngStem = ext === '.h5' || ext === '.nxs' || ext === '.hdf5' ? h5.slice(0, -ext.length) : h5;
  return { h5, pngStem };
}
