/**
 * The binary form of the `pixels` frame (docs/protocol.md, "Binary pixels frame"): many pixels
 * in one websocket binary frame without JSON. Little-endian:
 *
 *   0       4 bytes  ASCII "XPX1"
 *   4       u8       flags: bit 0 = every record carries a measured spectrum,
 *                           bit 1 = every pixel asks for its predicted spectrum
 *   5       u8       0 (reserved)
 *   6       u16      L, the byte length of the scan id (UTF-8)
 *   8       L bytes  scan id, then zero bytes up to a multiple of 4 (offset H)
 *   H       u32      n, the number of records
 *   H+4     u32      m, measured values per record (0 unless flags bit 0)
 *   H+8     n records of 4 * (11 + m) bytes: int32 x, int32 y, float32 params[9]
 *           (Dq, Ds, Dt, S1, S2, T, sigmaG, Gamma1, Gamma2), float32 measured[m]
 *
 * Decoding gives the items of a JSON `pixels` frame, which the server validates and answers
 * exactly as JSON items (one `result` or `error` per record).
 */
import { PARAM_NAMES } from '../physics/ions.js';

export const BINARY_MAGIC = 'XPX1';
const P = PARAM_NAMES.length;

export interface BinaryPixel {
  x: number;
  y: number;
  /** PARAM_NAMES order */
  params: ArrayLike<number>;
  measured?: ArrayLike<number>;
}

export interface DecodedPixels {
  scan: string;
  items: { x: number; y: number; params: Record<string, number>; measured?: number[]; spectrum: boolean }[];
}

/** Builds a binary pixels frame (for clients and tests). All pixels carry measured spectra of one length, or none. */
export function encodePixelsFrame(scan: string, pixels: readonly BinaryPixel[], o: { spectrum?: boolean } = {}): Buffer {
  const id = Buffer.from(scan, 'utf8');
  const h = 8 + Math.ceil(id.length / 4) * 4;
  const m = pixels[0]?.measured?.length ?? 0;
  if (pixels.some((p) => (p.measured?.length ?? 0) !== m)) throw new Error('encodePixelsFrame: every pixel needs a measured spectrum of the same length, or none');
  const rec = 4 * (2 + P + m);
  const buf = Buffer.alloc(h + 8 + pixels.length * rec);
  buf.write(BINARY_MAGIC, 0, 'ascii');
  buf.writeUInt8((m > 0 ? 1 : 0) | (o.spectrum ? 2 : 0), 4);
  buf.writeUInt16LE(id.length, 6);
  id.copy(buf, 8);
  buf.writeUInt32LE(pixels.length, h);
  buf.writeUInt32LE(m, h + 4);
  let off = h + 8;
  for (const p of pixels) {
    buf.writeInt32LE(p.x, off);
    buf.writeInt32LE(p.y, off + 4);
    for (let k = 0; k < P; k++) buf.writeFloatLE(p.params[k] as number, off + 8 + 4 * k);
    for (let k = 0; k < m; k++) buf.writeFloatLE((p.measured as ArrayLike<number>)[k] as number, off + 8 + 4 * (P + k));
    off += rec;
  }
  return buf;
}

/** Decodes a binary pixels frame; a malformed frame gives the reason as a string. */
export function decodePixelsFrame(buf: Buffer): DecodedPixels | string {
  if (buf.length < 16 || buf.toString('ascii', 0, 4) !== BINARY_MAGIC) return `a binary frame must start with "${BINARY_MAGIC}" (binary pixels frame, docs/protocol.md)`;
  const flags = buf.readUInt8(4);
  const len = buf.readUInt16LE(6);
  const h = 8 + Math.ceil(len / 4) * 4;
  if (buf.length < h + 8) return 'binary pixels frame: shorter than its header';
  const scan = buf.toString('utf8', 8, 8 + len);
  const n = buf.readUInt32LE(h);
  const m = buf.readUInt32LE(h + 4);
  if ((flags & 1) === 0 && m !== 0) return 'binary pixels frame: measured values per record given without flags bit 0';
  const rec = 4 * (2 + P + m);
  if (buf.length !== h + 8 + n * rec) return `binary pixels frame: ${buf.length} bytes, expected ${h + 8 + n * rec} for ${n} records of ${rec} bytes`;
  const spectrum = (flags & 2) !== 0;
  const items: DecodedPixels['items'] = [];
  let off = h + 8;
  for (let i = 0; i < n; i++) {
    const params: Record<string, number> = {};
    for (let k = 0; k < P; k++) params[PARAM_NAMES[k] as string] = buf.readFloatLE(off + 8 + 4 * k);
    const item: DecodedPixels['items'][number] = { x: buf.readInt32LE(off), y: buf.readInt32LE(off + 4), params, spectrum };
    if (m > 0) {
      const meas = new Array<number>(m);
      for (let k = 0; k < m; k++) meas[k] = buf.readFloatLE(off + 8 + 4 * (P + k));
      item.measured = meas;
    }
    items.push(item);
    off += rec;
  }
  return { scan, items };
}
