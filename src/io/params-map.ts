/**
 * # params.h5: parameter maps for `xasmap render` (docs/formats.md, "Parameter maps")
 *
 * - root attribute `ion` (string, e.g. "Fe2+"); `--ion` overrides it;
 * - optional root attributes `pixel_size` (number) and `pixel_unit` (string, default "µm"),
 *   used only for the scale bar of the PNG previews;
 * - group `/params` with one dataset per parameter, named Dq, Ds, Dt, S1, S2, T, sigmaG,
 *   Gamma1, Gamma2, each of shape (ny, nx) (float32/float64; integers accepted) or a scalar
 *   (shape () or (1,)) that holds for every pixel;
 * - optional `/mask` (ny, nx), numeric: non-zero = compute this pixel.
 *
 * The map is read in row tiles (readRows), so memory is bounded by the tile, not the map.
 */
import { XasmapError } from '../errors.js';
import { PARAM_NAMES, type ParamName } from '../physics/ions.js';
import {
  openHdf5Reader,
  safeGet,
  safeKeys,
  type H5Dataset,
  type H5File,
  type H5Group,
  attrNumber,
  attrString,
  h5Reason,
  isDataset,
  isGroup,
  isNumeric,
  safeClose,
  toFloat64,
} from './h5-read.js';

export interface ParamsMapInfo {
  /** absolute path */
  path: string;
  /** the root attribute `ion`, or undefined when absent */
  ion: string | undefined;
  ny: number;
  nx: number;
  /** parameters given as scalars, with their value */
  scalars: Partial<Record<ParamName, number>>;
  hasMask: boolean;
  pixelSize: number | undefined;
  pixelUnit: string;
}

export interface ParamsTile {
  y0: number;
  y1: number;
  /** (y1 - y0) * nx pixels x 9 parameters, row-major, PARAM_NAMES order (float32) */
  params: Float32Array;
  /** (y1 - y0) * nx, 1 = compute; null when the file has no mask */
  mask: Uint8Array | null;
}

export interface ParamsMapReader {
  readonly info: ParamsMapInfo;
  /** Rows [y0, y1) of every parameter (scalars broadcast) and of the mask. */
  readRows(y0: number, y1: number): ParamsTile;
  close(): void;
}

const WHAT = 'parameter map';

export async function openParamsMap(path: string): Promise<ParamsMapReader> {
  return openHdf5Reader(path, WHAT, (f, abs) => new Reader(f, abs), 'PARAMS_UNREADABLE');
}

function shapeText(s: readonly number[] | null): string {
  return s === null ? 'empty' : `(${s.join(', ')})`;
}

class Reader implements ParamsMapReader {
  readonly info: ParamsMapInfo;
  readonly #f: H5File;
  readonly #maps: { k: number; name: ParamName; ds: H5Dataset }[] = [];
  readonly #mask: H5Dataset | null;

  constructor(f: H5File, abs: string) {
    this.#f = f;
    const missing = (what: string): never => {
      throw new XasmapError('PARAMS_FIELD_MISSING', `${abs}: missing ${what} (see docs/formats.md, "Parameter maps")`);
    };
    const g = f.get('params');
    if (!isGroup(g)) missing("group '/params'");
    const group = g as H5Group;
    const scalars: Partial<Record<ParamName, number>> = {};
    let shape: [number, number] | null = null;
    let shapeFrom = '';
    PARAM_NAMES.forEach((name, k) => {
      const e = safeGet(f, `params/${name}`);
      if (!isDataset(e)) {
        const have = safeKeys(group);
        missing(`dataset '/params/${name}'${have.length ? ` (the group has: ${have.join(', ')})` : ''}`);
      }
      const ds = e as H5Dataset;
      if (!isNumeric(ds)) {
        throw new XasmapError('PARAMS_SHAPE', `${abs}: dataset '/params/${name}' must be numeric (float32 or float64)`);
      }
      const s = ds.shape ?? [];
      const n = s.reduce((a, b) => a * b, 1);
      if (s.length === 0 || (s.length === 1 && n === 1)) {
        const v = toFloat64(ds.value);
        const x = v?.[0];
        if (x === undefined) throw new XasmapError('PARAMS_SHAPE', `${abs}: scalar dataset '/params/${name}' could not be read`);
        scalars[name] = x;
        return;
      }
      if (s.length !== 2 || n === 0) {
        throw new XasmapError(
          'PARAMS_SHAPE',
          `${abs}: dataset '/params/${name}' has shape ${shapeText(s)}; expected (ny, nx) or a scalar`,
        );
      }
      const sh: [number, number] = [s[0] as number, s[1] as number];
      if (shape === null) {
        shape = sh;
        shapeFrom = `/params/${name}`;
      } else if (shape[0] !== sh[0] || shape[1] !== sh[1]) {
        throw new XasmapError(
          'PARAMS_SHAPE',
          `${abs}: dataset '/params/${name}' has shape ${shapeText(sh)} but '${shapeFrom}' has ${shapeText(shape)}; all maps must have the same (ny, nx)`,
        );
      }
      this.#maps.push({ k, name, ds });
    });
    let mask: H5Dataset | null = null;
    const m = safeGet(f, 'mask');
    if (m !== null) {
      if (!isDataset(m) || !isNumeric(m)) throw new XasmapError('PARAMS_SHAPE', `${abs}: '/mask' must be a numeric (ny, nx) dataset`);
      const s = m.shape ?? [];
      if (s.length !== 2 || (shape !== null && (s[0] !== shape[0] || s[1] !== shape[1]))) {
        throw new XasmapError(
          'PARAMS_SHAPE',
          `${abs}: dataset '/mask' has shape ${shapeText(s)}; expected ${shape ? shapeText(shape) : '(ny, nx)'} like '${shapeFrom}'`,
        );
      }
      if (shape === null) {
        shape = [s[0] as number, s[1] as number];
        shapeFrom = '/mask';
      }
      mask = m;
    }
    if (shape === null) {
      throw new XasmapError(
        'PARAMS_SHAPE',
        `${abs}: every parameter in '/params' is a scalar and there is no '/mask', so the map has no shape; give at least one (ny, nx) dataset`,
      );
    }
    this.#mask = mask;
    const [ny, nx] = shape as [number, number];
    const pixelSize = attrNumber(f, 'pixel_size');
    this.info = {
      path: abs,
      ion: attrString(f, 'ion'),
      ny,
      nx,
      scalars,
      hasMask: mask !== null,
      pixelSize: pixelSize !== undefined && Number.isFinite(pixelSize) && pixelSize > 0 ? pixelSize : undefined,
      pixelUnit: attrString(f, 'pixel_unit') ?? 'µm',
    };
  }

  readRows(y0: number, y1: number): ParamsTile {
    const { nx, ny, path } = this.info;
    if (!(Number.isInteger(y0) && Number.isInteger(y1) && 0 <= y0 && y0 < y1 && y1 <= ny)) {
      throw new RangeError(`rows [${y0}, ${y1}) outside [0, ${ny})`);
    }
    const n = (y1 - y0) * nx;
    const P = PARAM_NAMES.length;
    const params = new Float32Array(n * P);
    PARAM_NAMES.forEach((name, k) => {
      const s = this.info.scalars[name];
      if (s !== undefined) for (let i = 0; i < n; i++) params[i * P + k] = s;
    });
    for (const { k, name, ds } of this.#maps) {
      const v = this.#slice(ds, y0, y1, `/params/${name}`);
      for (let i = 0; i < n; i++) params[i * P + k] = v[i] as number;
    }
    let mask: Uint8Array | null = null;
    if (this.#mask !== null) {
      const v = this.#slice(this.#mask, y0, y1, '/mask');
      mask = new Uint8Array(n);
      for (let i = 0; i < n; i++) mask[i] = v[i] !== 0 && !Number.isNaN(v[i]) ? 1 : 0;
    }
    void path;
    return { y0, y1, params, mask };
  }

  #slice(ds: H5Dataset, y0: number, y1: number, name: string): Float64Array {
    let v: unknown;
    try {
      v = ds.slice([[y0, y1], []]);
    } catch (e) {
      throw new XasmapError('FILE_CORRUPT', `${this.info.path}: cannot read rows [${y0}, ${y1}) of '${name}' (truncated or damaged file?): ${h5Reason(e)}`);
    }
    const a = toFloat64(v);
    if (a === null || a.length !== (y1 - y0) * this.info.nx) {
      throw new XasmapError('PARAMS_SHAPE', `${this.info.path}: rows [${y0}, ${y1}) of '${name}' are not numeric`);
    }
    return a;
  }

  close(): void {
    safeClose(this.#f);
  }
}


