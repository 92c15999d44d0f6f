/**
 * One entry point for every measured input of `xasmap fit`: NeXus stacks (measured.ts), EMSA/MAS
 * spectra (msa.ts) and column text (spectrum-text.ts), all behind the MeasuredReader interface.
 *
 * Kind (sniffMeasuredKind):
 * 1. 'hdf5' if the HDF5 signature is at byte 0 or after a user block (512 * 2^k), or the
 *    extension is .h5/.hdf5/.hdf/.he5/.nxs/.nx5/.nx (a file with such a name but no signature
 *    then fails with NOT_HDF5);
 * 2. 'dm' (Gatan DigitalMicrograph, dm3.ts) if the first bytes are a DM3/DM4 header, or the
 *    extension is .dm3/.dm4 (a file with such a name but no such header then fails with
 *    MEASURED_UNREADABLE);
 * 3. 'msa' for .msa/.ems/.emsa, or text starting with `#FORMAT : EMSA/MAS`;
 * 4. otherwise 'text' (binary content is refused: MEASURED_UNREADABLE).
 *
 * A single spectrum is a 1 x 1 image: ny = nx = 1, order 'yxe', readRows(0, 1) gives its values
 * (Float32) in file energy order.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import { XasmapError } from '../errors.js';
import { HDF5_SIGNATURE } from './h5-read.js';
import { openMeasured, type MeasuredInfo, type MeasuredReader } from './measured.js';
import { looksLikeDm, readDm } from './dm3.js';
import { readMsa } from './msa.js';
import { readSpectrumText, type SpectrumColumns } from './spectrum-text.js';

export type MeasuredKind = 'hdf5' | 'dm' | 'msa' | 'text';

export interface OpenMeasuredOptions {
  /** column text only: 1-based columns (see spectrum-text.ts); ignored for HDF5 and EMSA/MAS */
  columns?: SpectrumColumns;
}

export interface MeasuredAnyReader extends MeasuredReader {
  readonly kind: MeasuredKind;
}

const HDF5_EXT = new Set(['.h5', '.hdf5', '.hdf', '.he5', '.nxs', '.nx5', '.nx']);
const MSA_EXT = new Set(['.msa', '.ems', '.emsa']);
const DM_EXT = new Set(['.dm3', '.dm4']);

function hasHdf5Signature(fd: number, size: number): boolean {
  const buf = Buffer.alloc(8);
  for (let off = 0; off + 8 <= size; off = off === 0 ? 512 : off * 2) {
    if (fs.readSync(fd, buf, 0, 8, off) === 8 && buf.equals(HDF5_SIGNATURE)) return true;
  }
  return false;
}

/** The reader `openMeasuredAny` would use for `path` (FILE_NOT_FOUND if it does not exist). */
export function sniffMeasuredKind(path: string): MeasuredKind {
  const abs = nodePath.resolve(path);
  let fd: number;
  try {
    fd = fs.openSync(abs, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new XasmapError('FILE_NOT_FOUND', `measured file not found: ${abs}`);
    throw new XasmapError('FILE_UNREADABLE', `measured file ${abs} cannot be read (${code ?? (e as Error).message})`);
  }
  let head: string;
  let dmHeader = false;
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new XasmapError('MEASURED_UNREADABLE', `measured file ${abs} is not a regular file`);
    if (hasHdf5Signature(fd, st.size)) return 'hdf5';
    const buf = Buffer.alloc(Math.min(256, st.size));
    const got = fs.readSync(fd, buf, 0, buf.length, 0);
    head = buf.subarray(0, got).toString('latin1');
    dmHeader = looksLikeDm(buf.subarray(0, got));
  } finally {
    fs.closeSync(fd);
  }
  const ext = nodePath.extname(abs).toLowerCase();
  if (dmHeader) return 'dm';
  if (HDF5_EXT.has(ext)) return 'hdf5';
  if (DM_EXT.has(ext)) return 'dm';
  if (MSA_EXT.has(ext)) return 'msa';
  if (/^\s*#\s*FORMAT\s*:\s*EMSA/i.test(head.replace(/^\xEF\xBB\xBF/, ''))) return 'msa';
  return 'text';
}

class SingleSpectrumReader implements MeasuredAnyReader {
  readonly info: MeasuredInfo;
  readonly kind: MeasuredKind;
  readonly #values: Float32Array;

  constructor(kind: MeasuredKind, info: Omit<MeasuredInfo, 'order' | 'ny' | 'nx'>, values: Float64Array) {
    this.kind = kind;
    this.info = { ...info, order: 'yxe', ny: 1, nx: 1 };
    this.#values = Float32Array.from(values);
  }

  readRows(y0: number, y1: number): Float32Array {
    if (!(y0 === 0 && y1 === 1)) throw new RangeError(`rows [${y0}, ${y1}) outside [0, 1)`);
    return this.#values.slice();
  }

  close(): void {}
}

/** A DM3/DM4 spectrum (image) decoded in memory: rows are sliced from the pixel-major data. */
class DmReader implements MeasuredAnyReader {
  readonly info: MeasuredInfo;
  readonly kind: MeasuredKind = 'dm';
  #data: Float32Array | null;

  constructor(path: string) {
    const d = readDm(path);
    const v = `DM${d.version}`;
    this.info = {
      path: d.path,
      group: `${v} ImageList/${d.imageIndex}`,
      signal: 'Data',
      energyPath: `Calibrations/Dimension/${d.energyDim}`,
      energy: d.energy,
      order: 'yxe',
      ny: d.ny,
      nx: d.nx,
    };
    this.#data = d.data;
  }

  readRows(y0: number, y1: number): Float32Array {
    if (!this.#data) throw new Error(`DM reader for ${this.info.path} is closed`);
    const { ny, nx } = this.info;
    if (!(Number.isInteger(y0) && Number.isInteger(y1) && 0 <= y0 && y0 < y1 && y1 <= ny)) throw new RangeError(`rows [${y0}, ${y1}) outside [0, ${ny})`);
    const row = nx * this.info.energy.length;
    return this.#data.slice(y0 * row, y1 * row);
  }

  close(): void {
    this.#data = null;
  }
}

/**
 * Opens any measured input as a MeasuredReader (see the file comment). info.group/signal/
 * energyPath describe the source: HDF5 paths for NeXus; 'EMSA/MAS <DATATYPE>', 'y' /
 * 'x column' or 'OFFSET + i * XPERCHAN' for .msa; 'text', e.g. 'column 3 / column 2' and
 * 'column 1' for column text; 'DM3 ImageList/1', 'Data' and 'Calibrations/Dimension/2' for a
 * DigitalMicrograph spectrum image.
 */
export async function openMeasuredAny(path: string, opts: OpenMeasuredOptions = {}): Promise<MeasuredAnyReader> {
  const kind = sniffMeasuredKind(path);
  if (kind === 'hdf5') {
    const r = await openMeasured(path);
    return { info: r.info, kind, readRows: (y0, y1) => r.readRows(y0, y1), close: () => r.close() };
  }
  if (kind === 'dm') return new DmReader(path);
  if (kind === 'msa') {
    const s = readMsa(path);
    return new SingleSpectrumReader(
      kind,
      {
        path: s.path,
        group: `EMSA/MAS ${s.datatype}${s.title ? ` '${s.title}'` : ''}`,
        signal: s.datatype === 'XY' ? 'y column' : 'y values',
        energyPath: s.datatype === 'XY' ? 'x column' : 'OFFSET + i * XPERCHAN',
        energy: s.energy,
      },
      s.values,
    );
  }
  const s = readSpectrumText(path, opts.columns ? { columns: opts.columns } : {});
  return new SingleSpectrumReader(
    kind,
    { path: s.path, group: 'text', signal: s.signalDescription, energyPath: `column ${s.columns.energy}`, energy: s.energy },
    s.values,
  );
}
