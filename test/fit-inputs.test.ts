/** Inputs of `xasmap fit`: column text, EMSA/MAS, openMeasuredAny, pre-edge removal. */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSpectrumText, readSpectrumText } from '../src/io/spectrum-text.js';
import { parseMsa, readMsa } from '../src/io/msa.js';
import { openMeasuredAny, sniffMeasuredKind } from '../src/io/measured-any.js';
import { defaultPreEdge, modelGridStart, planPreEdge, preprocessStack, removePreEdge } from '../src/ops/preprocess.js';
import { energyWindow, windowAxes } from '../src/physics/ions.js';
import { HAVE_SHARED as HAVE_SHARED_DIR, sharedPath } from './shared.js';
import { thrownXasmapError } from './cli-helpers.js';

/** the real files of ../shared/realdata (SOURCES.md); tests using them are skipped without it */
const HAVE_SHARED = HAVE_SHARED_DIR && existsSync(sharedPath('realdata/SOURCES.md'));
if (!HAVE_SHARED) console.warn(`note: ${sharedPath('realdata/')} is absent: fit-input tests on real files are skipped`);

const PF1 = 'realdata/xas_Fe_L23_PF-BL16A_Fe-1_20161207215237.txt';
const PF2 = 'realdata/xas_Fe_L23_PF-BL16A_Fe-2_20161207220356.txt';
const MSA = ['Mn', 'Co', 'Ni'].map((e) => `realdata/eels_NMC_${e}_L23_edge.msa`);
const NXSTXM = 'realdata/nxstxm_SLS_Sample_Stack_2021-03-16_128.hdf5';
const DM3 = 'realdata/eels_NMC_TM+O_spectrum_image_21x2x2048.dm3';

const tmp = mkdtempSync(join(tmpdir(), 'xasmap-fit-inputs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const err = thrownXasmapError;

function lines(n: number, f: (i: number) => string): string {
  return Array.from({ length: n }, (_, i) => f(i)).join('\n');
}

describe('parseSpectrumText', () => {
  it('reads two columns with comments, a header line, commas, tabs and CRLF', () => {
    const text = [
      '# Fe L-edge, made up',
      '% another comment',
      '; and another',
      'Energy(eV), Intensity',
      '',
      lines(6, (i) => `${700 + i}, ${0.1 * i}`),
      '706\t0.6',
      '  707   0.7  ',
      '708,0.8',
      '7.09e2 , 9e-1',
    ].join('\r\n');
    const s = parseSpectrumText(text, 'mem.txt');
    expect(Array.from(s.energy)).toEqual([700, 701, 702, 703, 704, 705, 706, 707, 708, 709]);
    expect(s.values[9]).toBeCloseTo(0.9, 15);
    expect(s.values[3]).toBeCloseTo(0.3, 15);
    expect(s.nColumns).toBe(2);
    expect(s.signalDescription).toBe('column 2');
    expect(s.header).toEqual(['Energy(eV), Intensity']);
  });

  it('keeps unsorted, non-uniform energies in file order', () => {
    const e = [705, 700, 701.5, 709, 702, 703.3, 704, 706, 707.7, 708];
    const s = parseSpectrumText(e.map((x, i) => `${x} ${i}`).join('\n'), 'u.txt');
    expect(Array.from(s.energy)).toEqual(e);
    expect(Array.from(s.values)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('3+ columns: mu = column 3 / column 2 by default; columns option overrides (1-based)', () => {
    const text = lines(12, (i) => `${700 + i} ${100 + i} ${50 + 2 * i} 7`);
    const s = parseSpectrumText(text, 'three.txt');
    expect(s.values[5]).toBe((50 + 10) / 105);
    expect(s.signalDescription).toBe('column 3 / column 2');
    expect(s.columns).toEqual({ energy: 1, signal: 3, i0: 2 });
    const raw = parseSpectrumText(text, 'three.txt', { columns: { energy: 1, signal: 3 } });
    expect(raw.values[5]).toBe(60);
    expect(raw.signalDescription).toBe('column 3');
    const other = parseSpectrumText(text, 'three.txt', { columns: { energy: 1, signal: 4, i0: 3 } });
    expect(other.values[0]).toBe(7 / 50);
    expect(other.signalDescription).toBe('column 4 / column 3');
  });

  it('errors name the file, the line and the problem (MEASURED_UNREADABLE)', () => {
    const good = (n: number) => lines(n, (i) => `${700 + i} ${i}`);
    let e = err(() => parseSpectrumText(`# c\nE I\n${good(4)}\n704 abc\n${good(6)}`, 'bad.txt'));
    expect(e.code).toBe('MEASURED_UNREADABLE');
    expect(e.message).toContain('bad.txt');
    expect(e.message).toContain('line 7');
    expect(e.message).toMatch(/non-numeric value 'abc' in column 2/);

    e = err(() => parseSpectrumText(`${good(5)}\n705 1 2\n${good(5)}`, 'cols.txt'));
    expect(e.message).toMatch(/cols\.txt, line 6: wrong column count: 3 values, expected 2/);

    e = err(() => parseSpectrumText(`# only\n${good(9)}`, 'short.txt'));
    expect(e.message).toMatch(/short\.txt: only 9 data points; at least 10/);

    e = err(() => parseSpectrumText(`${good(3)}\n703 NaN\n${good(8)}`, 'nan.txt'));
    expect(e.message).toMatch(/nan\.txt, line 4: non-finite signal/);

    e = err(() => parseSpectrumText(`${lines(4, (i) => `${700 + i} 5 1`)}\n704 0 1\n${lines(8, (i) => `${705 + i} 5 1`)}`, 'i0.txt'));
    expect(e.message).toMatch(/i0\.txt, line 5: I0 \(column 2\) is zero/);

    e = err(() => parseSpectrumText(good(12), 'col.txt', { columns: { energy: 1, signal: 3 } }));
    expect(e.message).toMatch(/col\.txt, line 1: column 3 \(signal\) requested but the data lines have 2 columns/);

    e = err(() => parseSpectrumText('# nothing\nE I\n', 'empty.txt'));
    expect(e.message).toMatch(/empty\.txt: no numeric data lines/);

    e = err(() => parseSpectrumText(lines(12, (i) => `${700 + i}`), 'one.txt'));
    expect(e.message).toMatch(/one\.txt, line 1: 1 value/);
  });

  it('readSpectrumText: FILE_NOT_FOUND, and errors carry the absolute path', () => {
    expect(err(() => readSpectrumText(join(tmp, 'missing.txt'))).code).toBe('FILE_NOT_FOUND');
    const p = join(tmp, 'bad-file.dat');
    writeFileSync(p, '1 2\n3 x\n');
    expect(err(() => readSpectrumText(p)).message).toContain(`${p}, line 2`);
  });
});

describe.skipIf(!HAVE_SHARED)('real Photon Factory Fe L2,3 text (../shared/realdata)', () => {
  it.each([PF1, PF2])('%s: 127 points over 690-750 eV, mu = col3 / col2', (rel) => {
    const raw = readFileSync(sharedPath(rel), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => l.trim().split(/ +/).map(Number));
    const s = readSpectrumText(sharedPath(rel));
    expect(s.energy.length).toBe(127);
    expect(s.nColumns).toBe(11);
    expect(s.signalDescription).toBe('column 3 / column 2');
    const first = raw[0]!;
    const last = raw[raw.length - 1]!;
    expect(s.energy[0]).toBe(first[0]);
    expect(s.values[0]).toBe(first[2]! / first[1]!);
    expect(s.energy[126]).toBe(last[0]);
    expect(s.values[126]).toBe(last[2]! / last[1]!);
    expect(Math.min(...s.energy)).toBeGreaterThanOrEqual(690);
    expect(Math.min(...s.energy)).toBeLessThan(691);
    expect(Math.max(...s.energy)).toBeLessThanOrEqual(750.1);
    expect(Math.max(...s.energy)).toBeGreaterThan(749);
  });

  it('the Fe-1 file numbers as printed: first line 690.088943, mu = 63248 / 125530', () => {
    const s = readSpectrumText(sharedPath(PF1));
    expect(s.energy[0]).toBe(690.088943);
    expect(s.values[0]).toBe(63248 / 125530);
  });
});

describe('parseMsa', () => {
  const hand = (extra = '', data = '1, 2, 3, 4, 5,\r\n6, 7, 8, 9, 10,\r\n11, 12,\r\n') =>
    [
      '#FORMAT      : EMSA/MAS Spectral Data File',
      '#VERSION     : 1.0',
      '#TITLE       : hand made',
      '#NPOINTS     : 12',
      '#NCOLUMNS    : 5',
      '#XUNITS      : keV',
      '#DATATYPE    : Y',
      '#XPERCHAN    : 0.0005',
      '#OFFSET      : 0.7',
      extra,
      '#SPECTRUM    : Spectral Data Starts Here',
      data + '#ENDOFDATA   : End Of Data and File',
      '',
    ]
      .filter((l) => l !== '')
      .join('\r\n');

  it('DATATYPE Y in keV: energy = (OFFSET + i * XPERCHAN) * 1000 eV, trailing commas', () => {
    const s = parseMsa(hand(), 'hand.msa');
    expect(s.datatype).toBe('Y');
    expect(s.title).toBe('hand made');
    expect(Array.from(s.values)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(s.energy.length).toBe(12);
    for (let i = 0; i < 12; i++) expect(s.energy[i]).toBeCloseTo(700 + 0.5 * i, 9);
    expect(s.header.NPOINTS).toBe('12');
  });

  it('DATATYPE XY with a unit-suffixed keyword', () => {
    const text = [
      '#FORMAT : EMSA/MAS Spectral Data File',
      '#NPOINTS : 10',
      '#DATATYPE : XY',
      '#BEAMKV -kV : 300',
      '#SPECTRUM :',
      lines(10, (i) => `${640 + i * 0.25}, ${i * i}`),
      '#ENDOFDATA :',
    ].join('\n');
    const s = parseMsa(text, 'xy.msa');
    expect(s.datatype).toBe('XY');
    expect(s.energy[4]).toBe(641);
    expect(s.values[4]).toBe(16);
    expect(s.header.BEAMKV).toBe('300');
  });

  it('typed errors with file and line', () => {
    let e = err(() => parseMsa(hand('', '1, 2, 3\r\n'), 'few.msa'));
    expect(e.code).toBe('MEASURED_UNREADABLE');
    expect(e.message).toMatch(/few\.msa: #NPOINTS is 12 but the data section holds 3 points/);
    e = err(() => parseMsa(hand('', '1, 2, 3, 4, 5,\r\n6, x, 8, 9, 10,\r\n11, 12,\r\n'), 'nn.msa'));
    expect(e.message).toMatch(/nn\.msa, line 12: non-numeric value 'x' in column 2/);
    e = err(() => parseMsa(hand().replace('#SPECTRUM', '#NOTSPECTRUM'), 'nospec.msa'));
    expect(e.message).toMatch(/nospec\.msa, line 11: '1, 2, 3, 4, 5,' is not a header line .* no '#SPECTRUM' line came before it/);
    e = err(() => parseMsa(hand().replace(/#SPECTRUM[^]*$/, ''), 'nodata.msa'));
    expect(e.message).toMatch(/nodata\.msa: no '#SPECTRUM' line/);
    e = err(() => parseMsa(hand().replace('keV', 'nm'), 'units.msa'));
    expect(e.code).toBe('MEASURED_UNITS');
    expect(e.message).toMatch(/units\.msa, line 6: #XUNITS 'nm'/);
    e = err(() => parseMsa('E I\n1 2\n', 'plain.msa'));
    expect(e.message).toMatch(/plain\.msa, line 1: 'E I' is not a header line/);
    e = err(() => parseMsa(hand().replace('#DATATYPE    : Y', '#DATATYPE    : Z'), 'dt.msa'));
    expect(e.message).toMatch(/dt\.msa, line 7: #DATATYPE 'Z'/);
  });
});

describe.skipIf(!HAVE_SHARED)('real EELS .msa files (../shared/realdata)', () => {
  it.each(MSA)('%s: NPOINTS, OFFSET + i * XPERCHAN axis, leading zeros', (rel) => {
    const s = readMsa(sharedPath(rel));
    const text = readFileSync(sharedPath(rel), 'latin1');
    const npoints = Number(/#NPOINTS\s*:\s*(\S+)/.exec(text)![1]);
    const offset = Number(/#OFFSET\s*:\s*(\S+)/.exec(text)![1]);
    const step = Number(/#XPERCHAN\s*:\s*(\S+)/.exec(text)![1]);
    const dataLines = text
      .split(/\r?\n/)
      .filter((l) => /^[-0-9.]/.test(l.trim()));
    expect(s.datatype).toBe('XY');
    expect(s.energy.length).toBe(npoints);
    expect(dataLines.length).toBe(npoints);
    expect(step).toBe(0.3);
    for (let i = 0; i < npoints; i++) expect(Math.abs(s.energy[i]! - (offset + i * step))).toBeLessThan(1e-6);
    expect(s.values[0]).toBe(0);
    expect(s.values[10]).toBe(0);
    const [x, y] = dataLines[npoints - 1]!.split(',').map(Number) as [number, number];
    expect(s.energy[npoints - 1]).toBe(x);
    expect(s.values[npoints - 1]).toBe(y);
  });
});

describe('openMeasuredAny / sniffMeasuredKind (written files)', () => {
  it('text with any extension; .msa content with a .txt name; missing file', async () => {
    const p = join(tmp, 'spec.dat');
    writeFileSync(p, `E\tI0\tsignal\n${lines(20, (i) => `${700 + i}\t${10}\t${i}`)}\n`);
    expect(sniffMeasuredKind(p)).toBe('text');
    const r = await openMeasuredAny(p);
    expect(r.kind).toBe('text');
    expect(r.info).toMatchObject({ group: 'text', signal: 'column 3 / column 2', energyPath: 'column 1', ny: 1, nx: 1, order: 'yxe' });
    expect(r.info.energy.length).toBe(20);
    const row = r.readRows(0, 1);
    expect(row).toBeInstanceOf(Float32Array);
    expect(row[5]).toBeCloseTo(0.5, 7);
    expect(() => r.readRows(0, 2)).toThrow(RangeError);
    r.close();
    const r2 = await openMeasuredAny(p, { columns: { energy: 1, signal: 3 } });
    expect(r2.readRows(0, 1)[5]).toBe(5);
    expect(r2.info.signal).toBe('column 3');

    const m = join(tmp, 'looks-like-text.txt');
    writeFileSync(m, `#FORMAT : EMSA/MAS Spectral Data File\n#NPOINTS : 10\n#XPERCHAN : 1\n#OFFSET : 700\n#SPECTRUM :\n${lines(10, (i) => `${i}`)}\n`);
    expect(sniffMeasuredKind(m)).toBe('msa');
    const rm = await openMeasuredAny(m);
    expect(rm.info.energy[9]).toBe(709);
    expect(rm.info.energyPath).toBe('OFFSET + i * XPERCHAN');

    expect(err(() => sniffMeasuredKind(join(tmp, 'nope.h5'))).code).toBe('FILE_NOT_FOUND');
    await expect(openMeasuredAny(join(tmp, 'nope.txt'))).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
    const fake = join(tmp, 'fake.h5');
    writeFileSync(fake, '1 2\n');
    expect(sniffMeasuredKind(fake)).toBe('hdf5');
    await expect(openMeasuredAny(fake)).rejects.toMatchObject({ code: 'NOT_HDF5' });
  });
});

describe.skipIf(!HAVE_SHARED)('openMeasuredAny on the real files (../shared/realdata)', () => {
  it.each([PF1, PF2])('%s', async (rel) => {
    const r = await openMeasuredAny(sharedPath(rel));
    expect(r.kind).toBe('text');
    expect(r.info).toMatchObject({ ny: 1, nx: 1, order: 'yxe', signal: 'column 3 / column 2' });
    expect(r.info.energy.length).toBe(127);
    expect(r.readRows(0, 1).length).toBe(127);
    r.close();
  });

  it.each(MSA)('%s', async (rel) => {
    const r = await openMeasuredAny(sharedPath(rel));
    expect(r.kind).toBe('msa');
    expect(r.info).toMatchObject({ ny: 1, nx: 1, order: 'yxe', energyPath: 'x column' });
    expect(r.info.group).toMatch(/^EMSA\/MAS XY/);
    expect(r.readRows(0, 1).length).toBe(r.info.energy.length);
    r.close();
  });

  it('the NXstxm stack (32 KiB user block): 4 energies x 50 x 50', async () => {
    expect(sniffMeasuredKind(sharedPath(NXSTXM))).toBe('hdf5');
    const r = await openMeasuredAny(sharedPath(NXSTXM));
    try {
      expect(r.kind).toBe('hdf5');
      expect(r.info.ny).toBe(50);
      expect(r.info.nx).toBe(50);
      expect(r.info.order).toBe('eyx');
      expect(Array.from(r.info.energy)).toEqual([280, 284.5, 285, 320]);
      expect(r.readRows(0, 2).length).toBe(2 * 50 * 4);
    } finally {
      r.close();
    }
  });

  it('the .dm3 spectrum image is read as a DM spectrum image (details: fit-inputs-dm.test.ts)', async () => {
    expect(sniffMeasuredKind(sharedPath(DM3))).toBe('dm');
    const r = await openMeasuredAny(sharedPath(DM3));
    expect([r.kind, r.info.ny, r.info.nx, r.info.energy.length]).toEqual(['dm', 2, 21, 2048]);
    r.close();
  });
});

describe('removePreEdge', () => {
  // tolerance: 1e-9 absolute on values of order 1 (float64 line fit; the error is ~1e-13)
  const TOL = 1e-9;
  const line = (e: number) => 0.8 - 0.013 * (e - 700);
  const edge = 706;
  // exactly zero below the edge: a step and a peak above it
  const peakPart = (e: number) => (e < edge ? 0 : 0.4 * (1 - Math.exp(-(e - edge) / 1.5)) + 1.2 * Math.exp(-(((e - 709) / 0.6) ** 2)));

  it('recovers the part above a sloping line (unsorted, non-uniform axis)', () => {
    const energy: number[] = [];
    for (let e = 690; e < 704; e += 2) energy.push(e);
    for (let e = 704; e <= 750; e += 0.15 + 0.05 * Math.sin(e)) energy.push(e);
    energy.reverse();
    [energy[3], energy[40]] = [energy[40]!, energy[3]!];
    const values = energy.map((e) => line(e) + peakPart(e));
    const r = removePreEdge(energy, values, { edgeStart: edge });
    expect(r.applied).toBe(true);
    expect(r.region).toBe('window');
    expect(r.reason).toBeUndefined();
    expect(r.slope).toBeCloseTo(-0.013, 12);
    expect(r.nPoints).toBeGreaterThanOrEqual(3);
    for (let i = 0; i < energy.length; i++) expect(Math.abs(r.values[i]! - peakPart(energy[i]!))).toBeLessThan(TOL);
  });

  it('falls back to the lowest 5 % of the points when the window holds fewer than 3', () => {
    const energy = Array.from({ length: 121 }, (_, i) => 700 + 0.5 * i);
    const values = energy.map((e) => line(e) + peakPart(e));
    const r = removePreEdge(energy, values, { edgeStart: 710, window: 1, margin: 0.6 });
    expect(r.region).toBe('fallback');
    expect(r.nPoints).toBe(6);
    expect(r.reason).toMatch(/1 point\(s\) in the pre-edge window/);
    for (let i = 0; i < energy.length; i++) expect(Math.abs(r.values[i]! - peakPart(energy[i]!))).toBeLessThan(TOL);
  });

  it('returns the spectrum unchanged, with a reason, when fewer than 3 pre-edge points', () => {
    const energy = Array.from({ length: 12 }, (_, i) => 706 + i);
    const values = energy.map((e) => line(e) + peakPart(e));
    const r = removePreEdge(energy, values, { edgeStart: 706 });
    expect(r.applied).toBe(false);
    expect(r.region).toBe('none');
    expect(r.reason).toMatch(/pre-edge line not removed/);
    expect(Array.from(r.values)).toEqual(values);
    expect(planPreEdge(energy, { edgeStart: 706 }).indices.length).toBe(0);
  });

  it('defaultPreEdge: edgeStart = model grid start + 2 eV - shift (Fe2+: 3 eV below L3)', () => {
    const grid = windowAxes(energyWindow('Fe2+')).energy;
    expect(modelGridStart('Fe2+')).toBe(grid[0]);
    const d = defaultPreEdge('Fe2+');
    expect(d.edgeStart).toBeCloseTo(grid[0]! + 2, 12);
    expect(d).toMatchObject({ window: 10, margin: 1, fallbackFraction: 0.05 });
    expect(defaultPreEdge('Fe2+', 1.5).edgeStart).toBeCloseTo(grid[0]! + 0.5, 12);
  });
});

describe('preprocessStack', () => {
  const energy = Float64Array.from({ length: 80 }, (_, i) => 695 + 0.5 * i);
  const ne = energy.length;
  const edge = 703;
  const peak = (e: number) => (e < edge ? 0 : Math.exp(-(((e - 708) / 1.2) ** 2)) + 0.3);

  it('removes a different line per pixel (float32 rows; tolerance 1e-5), leaves NaN pixels unapplied', () => {
    const m = 4;
    const rows = new Float32Array(m * ne);
    for (let p = 0; p < m; p++) {
      for (let i = 0; i < ne; i++) rows[p * ne + i] = p === 3 ? NaN : 1 + 0.5 * p + (0.02 - 0.01 * p) * (energy[i]! - 700) + peak(energy[i]!);
    }
    const r = preprocessStack(rows, m, energy, { preEdge: { edgeStart: edge } });
    expect(r.region).toBe('window');
    expect(Array.from(r.applied)).toEqual([1, 1, 1, 0]);
    for (let p = 0; p < 3; p++) {
      const single = removePreEdge(energy, Array.from(rows.subarray(p * ne, (p + 1) * ne)), { edgeStart: edge });
      for (let i = 0; i < ne; i++) {
        expect(Math.abs(r.spectra[p * ne + i]! - peak(energy[i]!))).toBeLessThan(1e-5);
        expect(r.spectra[p * ne + i]).toBe(Math.fround(single.values[i]!));
      }
    }
    expect(Number.isNaN(r.spectra[3 * ne])).toBe(true);
    expect(rows[0]).not.toBe(r.spectra[0]); // input untouched
  });

  it('off: a copy of the rows; wrong sizes throw', () => {
    const rows = Float32Array.from({ length: 2 * ne }, (_, i) => i);
    const r = preprocessStack(rows, 2, energy, {});
    expect(Array.from(r.spectra)).toEqual(Array.from(rows));
    expect(r.spectra).not.toBe(rows);
    expect(Array.from(r.applied)).toEqual([0, 0]);
    expect(() => preprocessStack(rows, 3, energy, {})).toThrow(RangeError);
  });
});

describe.skipIf(!HAVE_SHARED)('pre-edge removal on the real Fe PF spectrum', () => {
  it('default Fe2+ options use the 2 eV pre-edge points and flatten the pre-edge', () => {
    const s = readSpectrumText(sharedPath(PF1));
    const opts = defaultPreEdge('Fe2+');
    const r = removePreEdge(s.energy, s.values, opts);
    expect(r.applied).toBe(true);
    expect(r.region).toBe('window');
    expect(r.nPoints).toBeGreaterThanOrEqual(3);
    const pre = Array.from(s.energy.keys()).filter((i) => s.energy[i]! >= opts.edgeStart - 10 && s.energy[i]! <= opts.edgeStart - 1);
    const mean = pre.reduce((a, i) => a + r.values[i]!, 0) / pre.length;
    expect(Math.abs(mean)).toBeLessThan(1e-12);
    // the L3 white line (about 708.9 eV) is the maximum after removal
    let best = 0;
    for (let i = 1; i < s.energy.length; i++) if (r.values[i]! > r.values[best]!) best = i;
    expect(s.energy[best]).toBeGreaterThan(708);
    expect(s.energy[best]).toBeLessThan(710);
  });
});
