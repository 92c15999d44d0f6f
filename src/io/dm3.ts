/**
 * Gatan DigitalMicrograph tag files (.dm3, version 3; .dm4, version 4) for `xasmap fit`: EELS
 * spectra and spectrum images.
 *
 * Layout (all header and tag-structure integers big-endian; lengths are 4 bytes in DM3 and
 * 8 bytes in DM4):
 * - header: version (uint32), root length (uint32 / uint64), byte order of the data values
 *   (uint32: 1 = little-endian, 0 = big-endian);
 * - tag group: sorted (uint8), open (uint8), tag count (len);
 * - tag entry: kind (uint8: 0x14 group, 0x15 data), label length (uint16) + label bytes;
 *   DM4 then has the entry's byte size (uint64); a group entry continues with a tag group;
 *   a data entry with '%%%%', the info-array length n (len) and n info words (len), then the
 *   value in the header's byte order;
 * - info[0] is the encoded type: 2 int16, 3 int32, 4 uint16, 5 uint32, 6 float32, 7 float64,
 *   8 bool, 9 char, 10 int8, 11 int64, 12 uint64; 0x12 string [0x12, length] (UTF-16 code
 *   units); 0x0f struct [0x0f, name length, field count, (field-name length, field type) * count];
 *   0x14 array [0x14, element type (simple, or the struct's words), element count].
 *
 * The image: of the groups in ImageList, the one whose ImageData/Data array has the most
 * elements (the first one is usually the thumbnail). ImageData/Dimensions lists the sizes
 * fastest-first; ImageData/Calibrations/Dimension holds per dimension Origin, Scale and Units
 * (calibrated value = (index - Origin) * Scale). The energy dimension is the one with Units eV
 * (or keV, converted) and, among those, the largest size; the other dimensions are x (faster)
 * and y. The data are returned pixel-major, (y, x, energy), as Float32.
 *
 * Errors are XasmapError 'MEASURED_UNREADABLE' naming the file and the problem, or
 * 'MEASURED_UNITS' when the energy dimension is not in eV / keV.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import { XasmapError } from '../errors.js';

const CODE = 'MEASURED_UNREADABLE';

/** simple encoded types -> byte size */
const SIMPLE_SIZE: Readonly<Record<number, number>> = { 2: 2, 3: 4, 4: 2, 5: 4, 6: 4, 7: 8, 8: 1, 9: 1, 10: 1, 11: 8, 12: 8 };
const T_STRUCT = 0x0f;
const T_STRING = 0x12;
const T_ARRAY = 0x14;

/** A (possibly large) array kept in the buffer: decoded on demand. */
export interface DmArray {
  kind: 'array';
  /** simple element type, or T_STRUCT (0x0f) with `fields` */
  elemType: number;
  fields?: number[];
  count: number;
  /** byte offset of the first element in the file */
  offset: number;
}

export type DmValue = number | string | number[] | DmArray;

export interface DmGroup {
  kind: 'group';
  entries: { label: string; node: DmGroup | { kind: 'data'; value: DmValue } }[];
}

export interface DmSpectrumImage {
  /** 3 or 4 */
  version: number;
  littleEndian: boolean;
  /** index of the image in ImageList */
  imageIndex: number;
  /** ImageData/DataType (1 int16, 2 float32, 6 uint8, 7 int32, 10 uint16, 11 uint32, 12 float64, ...) */
  dataType: number;
  /** ImageData/Dimensions, fastest first */
  dims: number[];
  /** which of dims is the energy axis */
  energyDim: number;
  /** encoded element type of the Data array and its byte offset in the file */
  elemType: number;
  dataOffset: number;
  nx: number;
  ny: number;
  ne: number;
  /** eV, file order */
  energy: Float64Array;
  /** pixel-major (y, x, energy) */
  data: Float32Array;
}

function fail(name: string, what: string, code = CODE): never {
  throw new XasmapError(code, `DigitalMicrograph file ${name}: ${what}`);
}

class Cursor {
  pos = 0;
  readonly view: DataView;
  constructor(
    readonly buf: Uint8Array,
    readonly name: string,
    readonly version: number,
    public le = false,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  need(n: number, what: string): void {
    if (this.pos + n > this.buf.length) fail(this.name, `truncated: ${what} at byte ${this.pos} needs ${n} bytes, the file has ${this.buf.length}`);
  }
  u8(what: string): number {
    this.need(1, what);
    return this.view.getUint8(this.pos++);
  }
  u16be(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos, false);
    this.pos += 2;
    return v;
  }
  u32be(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, false);
    this.pos += 4;
    return v;
  }
  /** a length / info word: 4 bytes (DM3) or 8 bytes (DM4), big-endian */
  len(what: string): number {
    if (this.version === 3) return this.u32be(what);
    this.need(8, what);
    const v = this.view.getBigUint64(this.pos, false);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(this.name, `${what} ${v} at byte ${this.pos - 8} is too large`);
    return Number(v);
  }
}

function readSimple(view: DataView, off: number, type: number, le: boolean): number {
  switch (type) {
    case 2:
      return view.getInt16(off, le);
    case 3:
      return view.getInt32(off, le);
    case 4:
      return view.getUint16(off, le);
    case 5:
      return view.getUint32(off, le);
    case 6:
      return view.getFloat32(off, le);
    case 7:
      return view.getFloat64(off, le);
    case 8:
    case 10:
      return view.getUint8(off);
    case 9:
      return view.getInt8(off);
    case 11:
      return Number(view.getBigInt64(off, le));
    case 12:
      return Number(view.getBigUint64(off, le));
    default:
      throw new RangeError(`type ${type}`);
  }
}

function readData(c: Cursor, label: string): DmValue {
  const start = c.pos;
  c.need(4, `the '%%%%' delimiter of tag '${label}'`);
  const delim = String.fromCharCode(...c.buf.subarray(c.pos, c.pos + 4));
  if (delim !== '%%%%') fail(c.name, `data tag '${label}' at byte ${start}: expected '%%%%', found ${JSON.stringify(delim)}`);
  c.pos += 4;
  const n = c.len(`the info length of tag '${label}'`);
  if (n < 1 || n > 1_000_000) fail(c.name, `data tag '${label}': info length ${n} is implausible`);
  const info: number[] = [];
  for (let i = 0; i < n; i++) info.push(c.len(`the info array of tag '${label}'`));
  const type = info[0] as number;
  const bad = (): never => fail(c.name, `data tag '${label}' at byte ${start}: unknown or malformed tag type [${info.slice(0, 8).join(', ')}${info.length > 8 ? ', ...' : ''}]`);
  const size = SIMPLE_SIZE[type];
  if (size !== undefined) {
    if (n !== 1) bad();
    c.need(size, `the value of tag '${label}'`);
    const v = readSimple(c.view, c.pos, type, c.le);
    c.pos += size;
    return v;
  }
  if (type === T_STRING) {
    if (n !== 2) bad();
    const len = info[1] as number;
    c.need(2 * len, `the string of tag '${label}'`);
    let s = '';
    for (let i = 0; i < len; i++) s += String.fromCharCode(c.view.getUint16(c.pos + 2 * i, c.le));
    c.pos += 2 * len;
    return s;
  }
  if (type === T_STRUCT) {
    const fields = structFields(info, 0, bad);
    if (3 + 2 * fields.length !== n) bad();
    const out: number[] = [];
    for (const f of fields) {
      const fs_ = SIMPLE_SIZE[f] as number;
      c.need(fs_, `a field of struct tag '${label}'`);
      out.push(readSimple(c.view, c.pos, f, c.le));
      c.pos += fs_;
    }
    return out;
  }
  if (type === T_ARRAY) {
    if (n < 3) bad();
    const count = info[n - 1] as number;
    const et = info[1] as number;
    let elemSize: number;
    let fields: number[] | undefined;
    if (SIMPLE_SIZE[et] !== undefined) {
      if (n !== 3) bad();
      elemSize = SIMPLE_SIZE[et] as number;
    } else if (et === T_STRUCT) {
      fields = structFields(info, 1, bad);
      if (1 + 3 + 2 * fields.length + 1 !== n) bad();
      elemSize = fields.reduce((a, f) => a + (SIMPLE_SIZE[f] as number), 0);
    } else {
      return bad();
    }
    const bytes = count * elemSize;
    c.need(bytes, `the ${count}-element array of tag '${label}'`);
    const arr: DmArray = { kind: 'array', elemType: et, count, offset: c.pos };
    if (fields) arr.fields = fields;
    c.pos += bytes;
    return arr;
  }
  return bad();
}

/** struct field types from info[at] = 0x0f, name length, count, (name length, type)*count */
function structFields(info: number[], at: number, bad: () => never): number[] {
  if (info[at] !== T_STRUCT || info.length < at + 3) bad();
  const count = info[at + 2] as number;
  if (info.length < at + 3 + 2 * count) bad();
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = info[at + 4 + 2 * i] as number;
    if (SIMPLE_SIZE[t] === undefined) bad();
    out.push(t);
  }
  return out;
}

function readGroup(c: Cursor, path: string, depth: number): DmGroup {
  if (depth > 64) fail(c.name, `tag groups nested more than 64 deep at '${path}'`);
  c.u8(`the 'sorted' flag of group '${path}'`);
  c.u8(`the 'open' flag of group '${path}'`);
  const count = c.len(`the tag count of group '${path}'`);
  const entries: DmGroup['entries'] = [];
  for (let i = 0; i < count; i++) {
    const at = c.pos;
    const kind = c.u8(`tag ${i} of group '${path}'`);
    const llen = c.u16be(`the label length of tag ${i} of group '${path}'`);
    c.need(llen, `the label of tag ${i} of group '${path}'`);
    const label = String.fromCharCode(...c.buf.subarray(c.pos, c.pos + llen));
    c.pos += llen;
    const sub = `${path}/${label || i}`;
    if (c.version === 4) c.len(`the size of tag '${sub}'`);
    if (kind === 0x14) entries.push({ label, node: readGroup(c, sub, depth + 1) });
    else if (kind === 0x15) entries.push({ label, node: { kind: 'data', value: readData(c, sub) } });
    else fail(c.name, `tag ${i} of group '${path}' at byte ${at}: unknown tag kind 0x${kind.toString(16)} (expected 0x14 group or 0x15 data)`);
  }
  return { kind: 'group', entries };
}

/** Parses the tag tree: header + root group. */
export function parseDmTags(buf: Uint8Array, name: string): { version: number; littleEndian: boolean; root: DmGroup } {
  const c0 = new Cursor(buf, name, 3);
  const version = c0.u32be('the version number');
  if (version !== 3 && version !== 4) fail(name, `not a DM3/DM4 tag file (version word ${version} at byte 0; expected 3 or 4)`);
  const c = new Cursor(buf, name, version);
  c.pos = 4;
  c.len('the root length');
  const order = c.u32be('the byte-order word');
  if (order !== 0 && order !== 1) fail(name, `byte-order word ${order} is neither 0 (big-endian) nor 1 (little-endian)`);
  c.le = order === 1;
  return { version, littleEndian: c.le, root: readGroup(c, '', 0) };
}

type Node = DmGroup | { kind: 'data'; value: DmValue };

function child(g: DmGroup, label: string): Node | undefined {
  return g.entries.find((e) => e.label === label)?.node;
}
function childGroup(g: DmGroup | undefined, label: string): DmGroup | undefined {
  if (!g) return undefined;
  const n = child(g, label);
  return n?.kind === 'group' ? n : undefined;
}
function childValue(g: DmGroup | undefined, label: string): DmValue | undefined {
  if (!g) return undefined;
  const n = child(g, label);
  return n?.kind === 'data' ? n.value : undefined;
}
function num(v: DmValue | undefined): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

/** A string value: a string tag, or an array of uint16 / int8 / uint8 characters. */
function str(v: DmValue | undefined, buf: Uint8Array, le: boolean): string | undefined {
  if (typeof v === 'string') return v;
  if (v === undefined || typeof v === 'number' || Array.isArray(v)) return undefined;
  const size = SIMPLE_SIZE[v.elemType];
  if (v.fields || size === undefined || size > 2 || v.count > 4096) return undefined;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let s = '';
  for (let i = 0; i < v.count; i++) s += String.fromCharCode(readSimple(view, v.offset + i * size, v.elemType, le) & 0xffff);
  return s;
}

/**
 * Pure decode of a DM3/DM4 file holding a spectrum, spectrum line or spectrum image (see the
 * file comment); `name` is used in error messages.
 */
export function parseDm(buf: Uint8Array, name: string): DmSpectrumImage {
  const { version, littleEndian: le, root } = parseDmTags(buf, name);
  const list = childGroup(root, 'ImageList');
  if (!list) fail(name, 'no image data (no ImageList group)');
  let best: { index: number; image: DmGroup; data: DmArray } | undefined;
  list.entries.forEach((e, index) => {
    if (e.node.kind !== 'group') return;
    const d = childValue(childGroup(e.node, 'ImageData'), 'Data');
    if (d === undefined || typeof d !== 'object' || Array.isArray(d)) return;
    if (!best || d.count > best.data.count) best = { index, image: e.node, data: d };
  });
  if (!best) fail(name, 'no image data (no ImageList entry has an ImageData/Data array)');
  const { index: imageIndex, data: arr } = best as { index: number; image: DmGroup; data: DmArray };
  const imageData = childGroup((best as { image: DmGroup }).image, 'ImageData') as DmGroup;
  const where = `ImageList/${imageIndex}/ImageData`;
  if (arr.fields) fail(name, `${where}/Data holds structs (complex or RGB data), not real values`);
  const dimsGroup = childGroup(imageData, 'Dimensions');
  const dims = (dimsGroup?.entries ?? []).map((e) => (e.node.kind === 'data' ? num(e.node.value) : undefined));
  if (dims.length === 0 || dims.length > 3 || dims.some((d) => d === undefined || !Number.isInteger(d) || d < 1)) {
    fail(name, `${where}/Dimensions ${dimsGroup ? `[${dims.join(', ')}]` : 'is missing'}: expected 1 to 3 positive sizes`);
  }
  const sizes = dims as number[];
  const total = sizes.reduce((a, b) => a * b, 1);
  if (total !== arr.count) fail(name, `${where}: Dimensions [${sizes.join(', ')}] give ${total} values but Data holds ${arr.count}`);
  const dataType = num(childValue(imageData, 'DataType')) ?? -1;

  const calGroup = childGroup(childGroup(imageData, 'Calibrations'), 'Dimension');
  const cals = sizes.map((_, i) => {
    const e = calGroup?.entries[i];
    const g = e?.node.kind === 'group' ? e.node : undefined;
    return {
      origin: num(childValue(g, 'Origin')),
      scale: num(childValue(g, 'Scale')),
      units: (str(childValue(g, 'Units'), buf, le) ?? '').trim(),
    };
  });
  const isEv = (u: string) => /^(k?eV)$/i.test(u);
  let energyDim = -1;
  cals.forEach((cal, i) => {
    if (isEv(cal.units) && (energyDim < 0 || (sizes[i] as number) > (sizes[energyDim] as number))) energyDim = i;
  });
  if (energyDim < 0) {
    const largest = sizes.indexOf(Math.max(...sizes));
    const u = cals[largest]?.units ?? '';
    if (u !== '') fail(name, `${where}: no energy axis: dimension ${largest} (size ${sizes[largest]}) has units '${u}'; the energy axis must be in eV or keV`, 'MEASURED_UNITS');
    fail(name, `${where}: no energy axis (no dimension of Calibrations/Dimension has units eV or keV)`);
  }
  const cal = cals[energyDim] as { origin?: number; scale?: number; units: string };
  if (cal.scale === undefined || !Number.isFinite(cal.scale) || cal.scale === 0) fail(name, `${where}: energy dimension ${energyDim} has no usable Scale (${cal.scale})`);
  const origin = cal.origin ?? 0;
  if (!Number.isFinite(origin)) fail(name, `${where}: energy dimension ${energyDim} has a non-finite Origin`);
  const factor = cal.units.toLowerCase() === 'kev' ? 1000 : 1;
  const ne = sizes[energyDim] as number;
  const energy = Float64Array.from({ length: ne }, (_, i) => (i - origin) * (cal.scale as number) * factor);

  // strides (fastest first); the other dimensions are x then y
  const strides: number[] = [];
  sizes.reduce((s, d, i) => ((strides[i] = s), s * d), 1);
  const others = sizes.map((_, i) => i).filter((i) => i !== energyDim);
  const nx = others[0] !== undefined ? (sizes[others[0]] as number) : 1;
  const ny = others[1] !== undefined ? (sizes[others[1]] as number) : 1;
  const sx = others[0] !== undefined ? (strides[others[0]] as number) : 0;
  const sy = others[1] !== undefined ? (strides[others[1]] as number) : 0;
  const se = strides[energyDim] as number;
  const esize = SIMPLE_SIZE[arr.elemType] as number;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const data = new Float32Array(total);
  let o = 0;
  for (let y = 0; y < ny; y++) {
    for (let x = 0; x < nx; x++) {
      const base = y * sy + x * sx;
      for (let e = 0; e < ne; e++) data[o++] = readSimple(view, arr.offset + (base + e * se) * esize, arr.elemType, le);
    }
  }
  return { version, littleEndian: le, imageIndex, dataType, dims: sizes, energyDim, elemType: arr.elemType, dataOffset: arr.offset, nx, ny, ne, energy, data };
}

/** File wrapper around parseDm (errors name the absolute path). */
export function readDm(path: string): DmSpectrumImage & { path: string } {
  const abs = nodePath.resolve(path);
  let buf: Buffer;
  try {
    buf = fs.readFileSync(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new XasmapError('FILE_NOT_FOUND', `measured file not found: ${abs}`);
    if (code === 'EISDIR') throw new XasmapError(CODE, `measured file ${abs} is a directory`);
    throw new XasmapError('FILE_UNREADABLE', `measured file ${abs} cannot be read (${code ?? (e as Error).message})`);
  }
  return { ...parseDm(buf, abs), path: abs };
}

/** True when the first bytes look like a DM3/DM4 header (version 3 or 4, byte order 0 or 1). */
export function looksLikeDm(head: Uint8Array): boolean {
  if (head.length < 16) return false;
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const version = v.getUint32(0, false);
  if (version === 3) return v.getUint32(8, false) <= 1 && head[12]! <= 1 && head[13]! <= 1;
  if (version === 4) return head.length >= 18 && v.getUint32(12, false) <= 1 && head[16]! <= 1 && head[17]! <= 1;
  return false;
}
