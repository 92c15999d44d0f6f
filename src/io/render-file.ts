/**
 * # Render output (`xasmap render`), NeXus/HDF5 (docs/formats.md, "Render output")
 *
 * /                      NX_class=NXroot, default='entry'
 * /entry                 NXentry; attributes ion, model, xasmap_version, command_line, date,
 *                        default='spectra'
 * /entry/spectra         NXdata: signal='data', axes=['.', '.', 'energy'], energy_indices=2
 *   data    (ny, nx, 501) float32, chunks (1, min(nx, 32), 501), gzip; NaN = not computed
 *   energy  (501,) float64, absolute photon energy, units='eV'
 * /entry/maps            NXdata: signal='se', auxiliary_signals=['flags', 'se_verify'?]
 *   se         (ny, nx) float32, percent; NaN where not computed (see formats.md)
 *   se_verify  (ny, nx) float32, percent; only with --verify; NaN where not verified
 *   flags      (ny, nx) uint8, bit flags (RENDER_FLAGS), attribute `flag_codes`
 * /entry/params          NXcollection: the nine parameters as the model saw them:
 *                        (ny, nx) float32 maps, scalars as scalars (float64), units attributes
 *
 * The caller writes to a temporary path and renames (see cli/render.ts).
 */
import { XasmapError } from '../errors.js';
import { PARAM_NAMES, PARAM_UNITS, type ParamName } from '../physics/ions.js';
import { type H5Dataset, type H5File, createOutputEntry, createOutputFile, h5Reason, safeClose } from './h5-read.js';
import { FLAG } from '../ops/render-maps.js';

/** Bit flags of /entry/maps/flags (defined with their meaning in ops/render-maps.ts). */
export const RENDER_FLAGS = FLAG;

export const FLAG_CODES_TEXT =
  '0 = ok; bits: 1 masked (not computed), 2 invalid parameter (NaN/inf, T<=0, negative width; not computed), ' +
  '4 extrapolated (outside training ranges), 8 measured spectrum covers part of the window, ' +
  '16 measured spectrum unusable (SE NaN), 32 verified with the simulator, 64 simulator failed';

export interface RenderFileMeta {
  ny: number;
  nx: number;
  energy: Float64Array;
  ion: string;
  model: string;
  version: string;
  commandLine: string;
  date: string;
  /** scalar parameters (copied as scalars) */
  scalars: Partial<Record<ParamName, number>>;
  verify: boolean;
  measured: string | null;
  shift: number;
  gzipLevel?: number;
}

export interface RenderBlock {
  y0: number;
  y1: number;
  x0: number;
  x1: number;
  /** (y1-y0)*(x1-x0)*channels */
  spectra: Float32Array;
  /** (y1-y0)*(x1-x0)*9 */
  params: Float32Array;
}

export interface RenderWriter {
  writeBlock(b: RenderBlock): void;
  /** The stored spectrum of one pixel (reads back from the file). */
  readSpectrum(y: number, x: number): Float32Array;
  /** Writes the maps and closes. */
  finish(maps: { se: Float32Array; flags: Uint8Array; seVerify: Float32Array | null }): void;
  /** Closes without finishing (the caller deletes the temporary file). */
  abort(): void;
}

export async function createRenderFile(path: string, meta: RenderFileMeta): Promise<RenderWriter> {
  const { f, abs } = await createOutputFile(path);
  try {
    return new Writer(f, abs, meta);
  } catch (e) {
    safeClose(f);
    if (e instanceof XasmapError) throw e;
    throw new XasmapError('OUTPUT_UNWRITABLE', `cannot write ${abs}: ${h5Reason(e)}`);
  }
}

class Writer implements RenderWriter {
  #f: H5File | null;
  readonly #abs: string;
  readonly #meta: RenderFileMeta;
  readonly #data: H5Dataset;
  readonly #params: { k: number; ds: H5Dataset }[] = [];
  readonly #n: number;

  constructor(f: H5File, abs: string, m: RenderFileMeta) {
    this.#f = f;
    this.#abs = abs;
    this.#meta = m;
    const { ny, nx } = m;
    const n = m.energy.length;
    this.#n = n;
    const gzip = m.gzipLevel ?? 1;
    const entry = createOutputEntry(f, 'spectra', m);
    entry.create_attribute('measured', m.measured ?? '');
    entry.create_attribute('shift_eV', m.shift, null, '<d');

    const sp = entry.create_group('spectra');
    sp.create_attribute('NX_class', 'NXdata');
    sp.create_attribute('signal', 'data');
    sp.create_attribute('axes', ['.', '.', 'energy']);
    sp.create_attribute('energy_indices', 2, null, '<i');
    const cx = Math.min(nx, 32);
    const data = sp.create_dataset({
      name: 'data',
      data: new Float32Array(0),
      shape: [0, nx, n],
      maxshape: [ny, nx, n],
      dtype: '<f',
      chunks: [1, cx, n],
      ...(gzip > 0 ? { compression: 'gzip' as const, compression_opts: gzip } : {}),
    });
    data.resize([ny, nx, n]);
    data.create_attribute('long_name', 'predicted spectrum, box-normalised (NaN = not computed)');
    data.create_attribute('units', '1');
    this.#data = data;
    const en = sp.create_dataset({ name: 'energy', data: Float64Array.from(m.energy), dtype: '<d' });
    en.create_attribute('units', 'eV');
    en.create_attribute('long_name', 'photon energy (absolute)');

    const params = entry.create_group('params');
    params.create_attribute('NX_class', 'NXcollection');
    PARAM_NAMES.forEach((name, k) => {
      const s = m.scalars[name];
      let ds: H5Dataset;
      if (s !== undefined) {
        ds = params.create_dataset({ name, data: s, dtype: '<d' });
      } else {
        ds = params.create_dataset({
          name,
          data: new Float32Array(0),
          shape: [0, nx],
          maxshape: [ny, nx],
          dtype: '<f',
          chunks: [Math.min(ny, 64), Math.min(nx, 256)],
          ...(gzip > 0 ? { compression: 'gzip' as const, compression_opts: gzip } : {}),
        });
        ds.resize([ny, nx]);
        this.#params.push({ k, ds });
      }
      ds.create_attribute('units', PARAM_UNITS[name]);
    });
  }

  #open(): H5File {
    if (this.#f === null) throw new XasmapError('INTERNAL', `${this.#abs} is closed`, 1);
    return this.#f;
  }

  writeBlock(b: RenderBlock): void {
    this.#open();
    const w = b.x1 - b.x0;
    const h = b.y1 - b.y0;
    const P = PARAM_NAMES.length;
    try {
      this.#data.write_slice([[b.y0, b.y1], [b.x0, b.x1], []], b.spectra);
      const col = new Float32Array(w * h);
      for (const { k, ds } of this.#params) {
        for (let i = 0; i < w * h; i++) col[i] = b.params[i * P + k] as number;
        ds.write_slice([[b.y0, b.y1], [b.x0, b.x1]], col);
      }
    } catch (e) {
      throw new XasmapError('OUTPUT_UNWRITABLE', `${this.#abs}: writing rows [${b.y0}, ${b.y1}) failed: ${h5Reason(e)}`);
    }
  }

  readSpectrum(y: number, x: number): Float32Array {
    this.#open();
    const v = this.#data.slice([[y, y + 1], [x, x + 1], []]);
    return v instanceof Float32Array ? v : Float32Array.from(v as ArrayLike<number>);
  }

  finish(maps: { se: Float32Array; flags: Uint8Array; seVerify: Float32Array | null }): void {
    const f = this.#open();
    const { ny, nx } = this.#meta;
    try {
      const g = f.create_group('entry/maps');
      g.create_attribute('NX_class', 'NXdata');
      g.create_attribute('signal', 'se');
      g.create_attribute('auxiliary_signals', maps.seVerify ? ['flags', 'se_verify'] : ['flags']);
      g.create_attribute('axes', ['.', '.']);
      const se = g.create_dataset({ name: 'se', data: maps.se, shape: [ny, nx], dtype: '<f' });
      se.create_attribute('units', '%');
      se.create_attribute(
        'long_name',
        this.#meta.measured
          ? 'SE (%) of the prediction against the measured spectrum'
          : 'SE (%) of the prediction against the simulator (verified pixels only)',
      );
      if (maps.seVerify) {
        const sv = g.create_dataset({ name: 'se_verify', data: maps.seVerify, shape: [ny, nx], dtype: '<f' });
        sv.create_attribute('units', '%');
        sv.create_attribute('long_name', 'SE (%) of the prediction against the multiplet simulator');
      }
      const fl = g.create_dataset({ name: 'flags', data: maps.flags, shape: [ny, nx], dtype: '<B' });
      fl.create_attribute('flag_codes', FLAG_CODES_TEXT);
      f.flush();
    } catch (e) {
      this.abort();
      throw new XasmapError('OUTPUT_UNWRITABLE', `${this.#abs}: writing the maps failed: ${h5Reason(e)}`);
    }
    this.#f = null;
    try {
      f.close();
    } catch (e) {
      throw new XasmapError('OUTPUT_UNWRITABLE', `${this.#abs}: closing failed: ${h5Reason(e)}`);
    }
  }

  abort(): void {
    const f = this.#f;
    this.#f = null;
    safeClose(f);
  }
}
