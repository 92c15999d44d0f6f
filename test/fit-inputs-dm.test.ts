/** Inputs of `xasmap fit`: Gatan DigitalMicrograph DM3/DM4 spectra and spectrum images (src/io/dm3.ts). */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { looksLikeDm, parseDm, readDm } from '../src/io/dm3.js';
import { openMeasuredAny, sniffMeasuredKind } from '../src/io/measured-any.js';
import { HAVE_SHARED as HAVE_SHARED_DIR, sharedPath } from './shared.js';
import { thrownXasmapError } from './cli-helpers.js';

const DM3 = 'realdata/eels_NMC_TM+O_spectrum_image_21x2x2048.dm3';
const HAVE_DM3 = HAVE_SHARED_DIR && existsSync(sharedPath(DM3));
if (!HAVE_DM3) console.warn(`note: ${sharedPath(DM3)} is absent: the test on the real DM3 spectrum image is skipped`);

const tmp = mkdtempSync(join(tmpdir(), 'xasmap-fit-inputs-dm-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const err = thrownXasmapError;

// ---- a minimal DM tag-file writer (independent of src/io/dm3.ts) ----

/** tag tree: group, simple value (type 2..12), string, array of a simple type */
type Tag =
  | { g: [string, Tag][] }
  | { t: number; v: number }
  | { s: string }
  | { a: number; vals: ArrayLike<number> };

const SIZE: Record<number, number> = { 2: 2, 3: 4, 4: 2, 5: 4, 6: 4, 7: 8, 8: 1, 9: 1, 10: 1, 11: 8, 12: 8 };

class Bytes {
  parts: number[] = [];
  u8(v: number) {
    this.parts.push(v & 0xff);
  }
  uint(v: number, n: number) {
    // big-endian, n bytes
    for (let i = n - 1; i >= 0; i--) this.u8(Math.floor(v / 2 ** (8 * i)));
  }
  value(type: number, v: number, le: boolean) {
    const dv = new DataView(new ArrayBuffer(8));
    const n = SIZE[type]!;
    if (type === 6) dv.setFloat32(0, v, le);
    else if (type === 7) dv.setFloat64(0, v, le);
    else if (type === 11 || type === 12) dv.setBigInt64(0, BigInt(v), le);
    else if (n === 4) dv.setUint32(0, v >>> 0, le);
    else if (n === 2) dv.setUint16(0, v & 0xffff, le);
    else dv.setUint8(0, v & 0xff);
    for (let i = 0; i < n; i++) this.u8(dv.getUint8(i));
  }
}

function encodeGroup(b: Bytes, entries: [string, Tag][], version: 3 | 4, le: boolean) {
  const L = version === 3 ? 4 : 8;
  b.u8(0);
  b.u8(0);
  b.uint(entries.length, L);
  for (const [label, tag] of entries) {
    const body = new Bytes();
    if ('g' in tag) encodeGroup(body, tag.g, version, le);
    else {
      for (const ch of '%%%%') body.u8(ch.charCodeAt(0));
      let info: number[];
      if ('t' in tag) info = [tag.t];
      else if ('s' in tag) info = [0x12, tag.s.length];
      else info = [0x14, tag.a, tag.vals.length];
      body.uint(info.length, L);
      for (const w of info) body.uint(w, L);
      if ('t' in tag) body.value(tag.t, tag.v, le);
      else if ('s' in tag) for (const ch of tag.s) body.value(4, ch.charCodeAt(0), le);
      else for (let i = 0; i < tag.vals.length; i++) body.value(tag.a, tag.vals[i]!, le);
    }
    b.u8('g' in tag ? 0x14 : 0x15);
    b.uint(label.length, 2);
    for (const ch of label) b.u8(ch.charCodeAt(0));
    if (version === 4) b.uint(body.parts.length, 8);
    b.parts.push(...body.parts);
  }
}

function encodeDm(root: [string, Tag][], version: 3 | 4 = 3, le = true): Uint8Array {
  const body = new Bytes();
  encodeGroup(body, root, version, le);
  const b = new Bytes();
  b.uint(version, 4);
  b.uint(body.parts.length, version === 3 ? 4 : 8);
  b.uint(le ? 1 : 0, 4);
  b.parts.push(...body.parts);
  for (let i = 0; i < (version === 3 ? 8 : 16); i++) b.u8(0);
  return Uint8Array.from(b.parts);
}

const units = (s: string): Tag => ({ a: 4, vals: Array.from(s, (c) => c.charCodeAt(0)) });
const dimCal = (origin: number, scale: number, u: string): Tag => ({
  g: [
    ['Origin', { t: 6, v: origin }],
    ['Scale', { t: 6, v: scale }],
    ['Units', units(u)],
  ],
});

/** an ImageList with a small thumbnail first and the image of `dims` (fastest first) */
function dmImage(dims: number[], cals: Tag[], data: ArrayLike<number>, elemType = 6): [string, Tag][] {
  return [
    ['ApplicationBounds', { a: 3, vals: [0, 0, 100, 100] }],
    [
      'ImageList',
      {
        g: [
          [
            '',
            {
              g: [
                ['ImageData', { g: [['Data', { a: 10, vals: [1, 2, 3, 4] }], ['DataType', { t: 3, v: 6 }], ['Dimensions', { g: [['', { t: 3, v: 2 }], ['', { t: 3, v: 2 }]] }]] }],
                ['Name', { s: 'thumbnail' }],
              ],
            },
          ],
          [
            '',
            {
              g: [
                [
                  'ImageData',
                  {
                    g: [
                      ['Calibrations', { g: [['Brightness', { g: [['Origin', { t: 6, v: 0 }]] }], ['Dimension', { g: cals.map((c): [string, Tag] => ['', c]) }]] }],
                      ['Data', { a: elemType, vals: data }],
                      ['DataType', { t: 3, v: elemType === 6 ? 2 : 12 }],
                      ['Dimensions', { g: dims.map((d): [string, Tag] => ['', { t: 5, v: d }]) }],
                      ['PixelDepth', { t: 3, v: SIZE[elemType]! }],
                    ],
                  },
                ],
                ['Name', { s: 'EELS Spectrum' }],
                ['UniqueID', { t: 11, v: 12345 }],
              ],
            },
          ],
        ],
      },
    ],
    ['Thumbnails', { g: [] }],
  ];
}

describe('parseDm (synthetic)', () => {
  const ne = 12;
  const spec = Float32Array.from({ length: ne }, (_, i) => 0.25 * i - 1.5 + (i === 5 ? 100 : 0));

  it('a 1-D float32 spectrum with a calibration parses back exactly', () => {
    const buf = encodeDm(dmImage([ne], [dimCal(-7000, 0.5, 'eV')], spec));
    expect(looksLikeDm(buf)).toBe(true);
    const d = parseDm(buf, 'mem.dm3');
    expect([d.version, d.nx, d.ny, d.ne, d.imageIndex, d.energyDim, d.dataType]).toEqual([3, 1, 1, ne, 1, 0, 2]);
    expect(Array.from(d.energy)).toEqual(Array.from({ length: ne }, (_, i) => 3500 + 0.5 * i));
    expect(Array.from(d.data)).toEqual(Array.from(spec));
  });

  it('DM4 (8-byte lengths), big-endian float64 data and keV units', () => {
    const buf = encodeDm(dmImage([ne], [dimCal(-1000, 0.001, 'keV')], spec, 7), 4, false);
    expect(looksLikeDm(buf)).toBe(true);
    const d = parseDm(buf, 'mem.dm4');
    expect([d.version, d.littleEndian, d.nx, d.ny, d.ne, d.elemType]).toEqual([4, false, 1, 1, ne, 7]);
    // scale and origin are float32 in the file: 1e-3 eV tolerance
    for (let i = 0; i < ne; i++) expect(d.energy[i]).toBeCloseTo(1000 + i, 3);
    expect(Array.from(d.data)).toEqual(Array.from(spec));
  });

  it('a 3-D spectrum image (x, y, energy) fastest first comes back pixel-major (y, x, energy)', () => {
    const [nx, ny, n] = [3, 2, 4];
    const val = (x: number, y: number, e: number) => 100 * y + 10 * x + e;
    const file: number[] = [];
    for (let e = 0; e < n; e++) for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) file.push(val(x, y, e));
    const buf = encodeDm(dmImage([nx, ny, n], [dimCal(0, 2, 'nm'), dimCal(0, 2, 'nm'), dimCal(-1400, 0.5, 'eV')], file));
    const d = parseDm(buf, 'si.dm3');
    expect([d.nx, d.ny, d.ne, d.energyDim]).toEqual([nx, ny, n, 2]);
    expect(Array.from(d.energy)).toEqual([700, 700.5, 701, 701.5]);
    const want: number[] = [];
    for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) for (let e = 0; e < n; e++) want.push(val(x, y, e));
    expect(Array.from(d.data)).toEqual(want);
    // energy fastest: (energy, x, y)
    const file2: number[] = [];
    for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) for (let e = 0; e < n; e++) file2.push(val(x, y, e));
    const d2 = parseDm(encodeDm(dmImage([n, nx, ny], [dimCal(-1400, 0.5, 'eV'), dimCal(0, 2, 'nm'), dimCal(0, 2, 'nm')], file2)), 'si2.dm3');
    expect([d2.nx, d2.ny, d2.ne, d2.energyDim]).toEqual([nx, ny, n, 0]);
    expect(Array.from(d2.data)).toEqual(want);
  });

  it('errors: truncated, not DM, unknown tag type, no image data, no energy axis, non-eV units', () => {
    const good = encodeDm(dmImage([ne], [dimCal(-7000, 0.5, 'eV')], spec));
    for (const cut of [3, 14, 40, 200, good.length - 20]) {
      const e = err(() => parseDm(good.subarray(0, cut), 'cut.dm3'));
      expect(e.code).toBe('MEASURED_UNREADABLE');
      expect(e.message).toMatch(/cut\.dm3.*truncated/);
    }
    expect(err(() => parseDm(new TextEncoder().encode('0.1 0.2\n0.3 0.4\n0.5 0.6\n0.7 0.8\n'), 'x.dm3')).message).toMatch(/x\.dm3: not a DM3\/DM4 tag file/);
    // unknown encoded type 0x21 in place of int32 3 (ApplicationBounds' element type)
    const bad = good.slice();
    const at = Buffer.from(bad).indexOf('ApplicationBounds%%%%') + 'ApplicationBounds%%%%'.length + 8;
    expect(bad[at + 3]).toBe(3);
    bad[at + 3] = 0x21;
    expect(err(() => parseDm(bad, 'bad.dm3')).message).toMatch(/bad\.dm3: .*ApplicationBounds.*unknown or malformed tag type \[20, 33, 4\]/);
    expect(err(() => parseDm(encodeDm([['Foo', { t: 3, v: 1 }]]), 'n.dm3')).message).toMatch(/n\.dm3: no image data/);
    const noCal = err(() => parseDm(encodeDm(dmImage([ne], [dimCal(0, 1, '')], spec)), 'nc.dm3'));
    expect([noCal.code, noCal.message]).toEqual(['MEASURED_UNREADABLE', expect.stringMatching(/nc\.dm3: .*no energy axis/)]);
    const nm = err(() => parseDm(encodeDm(dmImage([ne], [dimCal(0, 1, 'nm')], spec)), 'nm.dm3'));
    expect([nm.code, nm.message]).toEqual(['MEASURED_UNITS', expect.stringMatching(/nm\.dm3: .*units 'nm'.*eV or keV/)]);
    const mismatch = err(() => parseDm(encodeDm(dmImage([ne + 1], [dimCal(0, 1, 'eV')], spec)), 'mm.dm3'));
    expect(mismatch.message).toMatch(/Dimensions \[13\] give 13 values but Data holds 12/);
  });

  it('openMeasuredAny: kind by header or extension, readRows by row ranges, truncated file', async () => {
    const [nx, ny, n] = [2, 3, 12];
    const file: number[] = [];
    for (let e = 0; e < n; e++) for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) file.push(100 * y + 10 * x + e);
    const buf = encodeDm(dmImage([nx, ny, n], [dimCal(0, 1, 'nm'), dimCal(0, 1, 'nm'), dimCal(-1400, 0.5, 'eV')], file));
    const noExt = join(tmp, 'si_no_extension');
    writeFileSync(noExt, buf);
    expect(sniffMeasuredKind(noExt)).toBe('dm');
    const r = await openMeasuredAny(noExt);
    expect(r.kind).toBe('dm');
    expect(r.info).toMatchObject({ group: 'DM3 ImageList/1', signal: 'Data', energyPath: 'Calibrations/Dimension/2', order: 'yxe', ny, nx });
    expect(r.info.energy[0]).toBe(700);
    const rows = r.readRows(1, 3);
    expect(rows.length).toBe(2 * nx * n);
    expect(rows[0]).toBe(100);
    expect(rows[(1 * nx + 1) * n + 4]).toBe(200 + 10 + 4);
    expect(() => r.readRows(2, 4)).toThrow(RangeError);
    r.close();

    const cut = join(tmp, 'cut.dm3');
    writeFileSync(cut, buf.subarray(0, 10));
    expect(sniffMeasuredKind(cut)).toBe('dm');
    await expect(openMeasuredAny(cut)).rejects.toMatchObject({ code: 'MEASURED_UNREADABLE', message: expect.stringMatching(/cut\.dm3: truncated/) });
    const text = join(tmp, 'text.dm4');
    writeFileSync(text, '700 1\n701 2\n');
    expect(sniffMeasuredKind(text)).toBe('dm');
    await expect(openMeasuredAny(text)).rejects.toMatchObject({ code: 'MEASURED_UNREADABLE', message: expect.stringMatching(/not a DM3\/DM4 tag file/) });
  });
});

describe.skipIf(!HAVE_DM3)('the real DM3 EELS spectrum image (../shared/realdata)', () => {
  it('21 x 2 pixels x 2048 channels, 440 eV + 0.3 eV/ch, float32 values as in the file', async () => {
    const path = sharedPath(DM3);
    expect(sniffMeasuredKind(path)).toBe('dm');
    const d = readDm(path);
    expect([d.version, d.nx, d.ny, d.ne, d.elemType, d.dataType]).toEqual([3, 21, 2, 2048, 6, 2]);
    expect(d.dims).toEqual([21, 2, 2048]);
    expect(d.energy[0]).toBeCloseTo(440, 3);
    expect((d.energy[2047]! - d.energy[0]!) / 2047).toBeCloseTo(0.3, 3);
    expect(d.data.every(Number.isFinite)).toBe(true);

    // independent decode: find the Data tag of 86016 float32 values by its bytes, read it with a DataView
    const buf = readFileSync(path);
    let off = -1;
    for (let at = buf.indexOf('Data%%%%'); at >= 0; at = buf.indexOf('Data%%%%', at + 1)) {
      const p = at + 8;
      if (buf.readUInt32BE(p) === 3 && buf.readUInt32BE(p + 4) === 20 && buf.readUInt32BE(p + 8) === 6 && buf.readUInt32BE(p + 12) === 21 * 2 * 2048) off = p + 16;
    }
    expect(off).toBe(d.dataOffset);
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    // file order: x fastest, then y, then energy; parsed: (y, x, energy)
    for (const [x, y, e] of [[0, 0, 0], [20, 1, 2047], [7, 1, 600], [13, 0, 1000]] as const) {
      expect(d.data[(y * 21 + x) * 2048 + e]).toBe(view.getFloat32(off + 4 * (x + 21 * (y + 2 * e)), true));
    }

    // the Mn L3 edge: the strongest feature of the mean spectrum in 620-660 eV, a peak well above
    // the background (in this file's calibration it lies at 630.5 eV, L2 at 640.7 eV)
    const mean = new Float64Array(2048);
    for (let p = 0; p < 42; p++) for (let e = 0; e < 2048; e++) mean[e]! += d.data[p * 2048 + e]! / 42;
    let best = -1;
    for (let e = 0; e < 2048; e++) if (d.energy[e]! >= 620 && d.energy[e]! <= 660 && (best < 0 || mean[e]! > mean[best]!)) best = e;
    expect(d.energy[best]).toBeGreaterThan(627);
    expect(d.energy[best]).toBeLessThan(634);
    const at620 = mean[Math.round((620 - 440) / 0.3)]!;
    expect(mean[best]! / at620).toBeGreaterThan(1.3);

    const r = await openMeasuredAny(path);
    expect(r.info).toMatchObject({ group: 'DM3 ImageList/1', signal: 'Data', energyPath: 'Calibrations/Dimension/2', order: 'yxe', ny: 2, nx: 21 });
    const row1 = r.readRows(1, 2);
    expect(row1.length).toBe(21 * 2048);
    expect(row1[5 * 2048 + 100]).toBe(d.data[(21 + 5) * 2048 + 100]);
    r.close();
  });
});
