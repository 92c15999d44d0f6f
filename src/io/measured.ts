/**
 * Measured spectrum-image stacks (NeXus) for `xasmap render --measured`.
 *
 * Finding the data: the NXdata group named by the `default` attributes (root -> NXentry ->
 * NXdata) if present, else the first NXdata group (depth-first, up to 4 levels) whose `signal`
 * dataset is 3-D. The energy axis is the 1-D dataset named in `axes` (or `<name>_indices`)
 * for dimension 0 or 2 whose length matches that dimension; failing that (NXstxm layout), a
 * 1-D dataset called `energy` (or `photon_energy`) in the group whose length matches dim 0
 * or 2. Units must be eV (keV is converted); missing units are taken as eV. Unit strings of
 * other datasets are never decoded (NXstxm has non-ASCII ones).
 *
 * Signal layouts: (energy, ny, nx) ('eyx') or (ny, nx, energy) ('yxe'). Read in row tiles;
 * a tile comes back pixel-major: (rows * nx) spectra of ne values each, in file energy order.
 */
import { XasmapError } from '../errors.js';
import {
  openHdf5Reader,
  safeGet,
  safeKeys,
  type H5Dataset,
  type H5File,
  type H5Group,
  attrNumber,
  attrString,
  attrStrings,
  h5Reason,
  isDataset,
  isGroup,
  isNumeric,
  safeClose,
  toFloat64,
} from './h5-read.js';

export interface MeasuredInfo {
  path: string;
  /** HDF5 path of the NXdata group and of the signal dataset */
  group: string;
  signal: string;
  energyPath: string;
  /** energies in eV, in file order */
  energy: Float64Array;
  order: 'eyx' | 'yxe';
  ny: number;
  nx: number;
}

export interface MeasuredReader {
  readonly info: MeasuredInfo;
  /** Rows [y0, y1): (y1 - y0) * nx spectra of info.energy.length values (file energy order). */
  readRows(y0: number, y1: number): Float32Array;
  close(): void;
}

const WHAT = 'measured file';

export async function openMeasured(path: string): Promise<MeasuredReader> {
  return openHdf5Reader(path, WHAT, (f, abs) => new Reader(f, abs), 'MEASURED_UNREADABLE');
}


function join(base: string, name: string): string {
  return base === '/' ? `/${name}` : `${base}/${name}`;
}

interface Candidate {
  path: string;
  group: H5Group;
  ds: H5Dataset;
  signal: string;
}

function signalOf(g: H5Group, path: string): Candidate | null {
  const sig = attrString(g, 'signal');
  const names = sig !== undefined ? [sig] : [];
  for (const name of names) {
    const ds = safeGet(g, name);
    if (isDataset(ds) && isNumeric(ds) && (ds.shape?.length ?? 0) === 3) return { path, group: g, ds, signal: name };
  }
  return null;
}

function findNXdata(f: H5File): Candidate | null {
  // 1. default attributes: root -> entry -> data
  let g: H5Group = f;
  let path = '/';
  for (let depth = 0; depth < 3; depth++) {
    const d = attrString(g, 'default');
    if (d === undefined) break;
    const next = safeGet(g, d);
    if (!isGroup(next)) break;
    g = next;
    path = join(path, d);
    if (attrString(g, 'NX_class') === 'NXdata') {
      const c = signalOf(g, path);
      if (c) return c;
    }
  }
  // 2. depth-first search for an NXdata group with a 3-D signal
  const walk = (grp: H5Group, p: string, depth: number): Candidate | null => {
    for (const k of safeKeys(grp)) {
      const e = safeGet(grp, k);
      if (!isGroup(e)) continue;
      const kp = join(p, k);
      if (attrString(e, 'NX_class') === 'NXdata') {
        const c = signalOf(e, kp);
        if (c) return c;
      }
      if (depth < 4) {
        const c = walk(e, kp, depth + 1);
        if (c) return c;
      }
    }
    return null;
  };
  return walk(f, '/', 1);
}

function energyFactor(units: string | undefined, abs: string, where: string): number {
  if (units === undefined || units.trim() === '') return 1;
  const u = units.trim().toLowerCase();
  if (u === 'ev' || u === 'electronvolt' || u === 'electron_volt') return 1;
  if (u === 'kev') return 1000;
  throw new XasmapError('MEASURED_UNITS', `${WHAT} ${abs}: energy axis '${where}' has units '${units}'; expected eV`);
}

class Reader implements MeasuredReader {
  readonly info: MeasuredInfo;
  readonly #f: H5File;
  readonly #ds: H5Dataset;

  constructor(f: H5File, abs: string) {
    this.#f = f;
    const c = findNXdata(f);
    if (c === null) {
      throw new XasmapError(
        'MEASURED_NO_NXDATA',
        `${WHAT} ${abs}: no NXdata group with a 3-D signal (energy, ny, nx) or (ny, nx, energy) found (NX_class and signal attributes)`,
      );
    }
    const shape = c.ds.shape as number[];
    const [d0, d1, d2] = shape as [number, number, number];
    const axes = attrStrings(c.group, 'axes') ?? [];
    const tryAxis = (name: string | undefined, dim: 0 | 2): { ds: H5Dataset; name: string; dim: 0 | 2 } | null => {
      if (name === undefined || name === '.' || name === '') return null;
      const e = safeGet(c.group, name);
      if (!isDataset(e) || !isNumeric(e)) return null;
      const s = e.shape ?? [];
      if (s.length !== 1 || s[0] !== shape[dim]) return null;
      return { ds: e, name, dim };
    };
    let axis: { ds: H5Dataset; name: string; dim: 0 | 2 } | null = null;
    // a) <name>_indices attributes (NXstxm writes energy_indices = 0)
    for (const name of ['energy', 'photon_energy', ...axes]) {
      const idx = attrNumber(c.group, `${name}_indices`);
      if (idx === 0 || idx === 2) axis = tryAxis(name, idx);
      if (axis) break;
    }
    // b) the axes list: an energy-like name at dim 0 or 2
    if (!axis) {
      for (const dim of [0, 2] as const) {
        const name = axes[dim];
        const a = tryAxis(name, dim);
        if (a && (/energy|^e$|ev/i.test(a.name) || /ev/i.test(attrString(a.ds, 'units') ?? ''))) {
          axis = a;
          break;
        }
      }
    }
    // c) NXstxm fallback: a dataset called energy in the group
    if (!axis) {
      for (const name of ['energy', 'photon_energy', 'Energy']) {
        axis = tryAxis(name, 0) ?? tryAxis(name, 2);
        if (axis) break;
      }
    }
    if (!axis) {
      throw new XasmapError(
        'MEASURED_NO_ENERGY',
        `${WHAT} ${abs}: NXdata '${c.path}' (signal '${c.signal}', shape (${shape.join(', ')})) has no energy axis of length ${d0} (first dimension) or ${d2} (last dimension); name it in the 'axes' attribute`,
      );
    }
    const energyPath = join(c.path, axis.name);
    const factor = energyFactor(attrString(axis.ds, 'units'), abs, energyPath);
    const raw = toFloat64(axis.ds.value);
    if (raw === null) throw new XasmapError('MEASURED_NO_ENERGY', `${WHAT} ${abs}: '${energyPath}' is not numeric`);
    const energy = Float64Array.from(raw, (v) => v * factor);
    if (!energy.every(Number.isFinite)) {
      throw new XasmapError('MEASURED_NO_ENERGY', `${WHAT} ${abs}: '${energyPath}' holds non-finite energies`);
    }
    const order = axis.dim === 0 ? 'eyx' : 'yxe';
    this.#ds = c.ds;
    this.info = {
      path: abs,
      group: c.path,
      signal: join(c.path, c.signal),
      energyPath,
      energy,
      order,
      ny: order === 'eyx' ? d1 : d0,
      nx: order === 'eyx' ? d2 : d1,
    };
  }

  readRows(y0: number, y1: number): Float32Array {
    const { ny, nx, order, energy, path, signal } = this.info;
    if (!(Number.isInteger(y0) && Number.isInteger(y1) && 0 <= y0 && y0 < y1 && y1 <= ny)) {
      throw new RangeError(`rows [${y0}, ${y1}) outside [0, ${ny})`);
    }
    const ne = energy.length;
    let v: unknown;
    try {
      v = order === 'eyx' ? this.#ds.slice([[], [y0, y1], []]) : this.#ds.slice([[y0, y1], [], []]);
    } catch (e) {
      throw new XasmapError('FILE_CORRUPT', `${WHAT} ${path}: cannot read rows [${y0}, ${y1}) of '${signal}': ${h5Reason(e)}`);
    }
    const a = v as ArrayLike<number>;
    const n = (y1 - y0) * nx;
    if (!ArrayBuffer.isView(v) || a.length !== n * ne) {
      throw new XasmapError('MEASURED_UNREADABLE', `${WHAT} ${path}: rows [${y0}, ${y1}) of '${signal}' are not numeric`);
    }
    if (order === 'yxe') return a instanceof Float32Array ? a : Float32Array.from(a);
    const out = new Float32Array(n * ne);
    for (let e = 0; e < ne; e++) {
      const o = e * n;
      for (let p = 0; p < n; p++) out[p * ne + e] = a[o + p] as number;
    }
    return out;
  }

  close(): void {
    safeClose(this.#f);
  }
}
