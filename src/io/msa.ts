/**
 * EMSA/MAS single spectra (.msa, .ems; ISO 22029) for `xasmap fit`, e.g. EELS core-loss
 * spectra exported by DigitalMicrograph.
 *
 * Header: lines `#KEYWORD : value` (keywords case-insensitive, an optional unit suffix
 * `#KEYWORD-unit` or `#KEYWORD(unit)` is dropped). Used: NPOINTS, NCOLUMNS, DATATYPE
 * (`Y` or `XY`), XPERCHAN, OFFSET, XUNITS. Data: the lines after `#SPECTRUM` up to
 * `#ENDOFDATA` (or the end of the text), values separated by commas and/or whitespace
 * (trailing commas allowed).
 *
 * - DATATYPE Y: values are read in order (NCOLUMNS per line, any count per line accepted);
 *   energy of point i = OFFSET + i * XPERCHAN.
 * - DATATYPE XY: one point per line, `x, y[, more y columns]`; energy = x, intensity = the
 *   first y.
 *
 * XUNITS eV (or missing) or keV (converted to eV); anything else is MEASURED_UNITS. The
 * point count must equal NPOINTS when NPOINTS is given, and be at least 10. Other errors are
 * XasmapError 'MEASURED_UNREADABLE' naming the file and the line.
 */
import { XasmapError } from '../errors.js';
import { MIN_POINTS, isCommentLine, parseNumberToken, readTextFile, splitLines, splitTokens } from './spectrum-text.js';

export interface MsaSpectrum {
  /** eV, file order */
  energy: Float64Array;
  values: Float64Array;
  datatype: 'Y' | 'XY';
  /** upper-case keyword -> trimmed value, for every header keyword before #SPECTRUM */
  header: Record<string, string>;
  title: string;
}

const CODE = 'MEASURED_UNREADABLE';
const KEY_RE = /^#\s*([A-Za-z][A-Za-z0-9_]*)\s*(?:-\s*[^:]*?|\([^)]*\))?\s*(?::\s*(.*))?$/;

function fail(name: string, line: number | undefined, what: string, code = CODE): never {
  throw new XasmapError(code, line === undefined ? `EMSA/MAS file ${name}: ${what}` : `EMSA/MAS file ${name}, line ${line}: ${what}`);
}

function headerNumber(h: Record<string, string>, key: string, name: string, line: Record<string, number>): number | undefined {
  const s = h[key];
  if (s === undefined || s === '') return undefined;
  const v = parseNumberToken(s.trim());
  if (v === undefined || !Number.isFinite(v)) fail(name, line[key], `#${key} '${s}' is not a finite number`);
  return v;
}

/** Pure decode of EMSA/MAS text; `name` is used in error messages. */
export function parseMsa(text: string, name: string): MsaSpectrum {
  const lines = splitLines(text);
  const header: Record<string, string> = {};
  const keyLine: Record<string, number> = {};
  let i = 0;
  let dataStart = -1;
  for (; i < lines.length; i++) {
    const t = (lines[i] as string).trim();
    if (t === '') continue;
    if (!t.startsWith('#')) fail(name, i + 1, `'${t.slice(0, 40)}' is not a header line '#KEYWORD : value', and no '#SPECTRUM' line came before it`);
    const m = KEY_RE.exec(t);
    if (!m) continue;
    const key = (m[1] as string).toUpperCase();
    if (key === 'SPECTRUM') {
      dataStart = i + 1;
      break;
    }
    if (key === 'ENDOFDATA') break;
    header[key] = (m[2] ?? '').trim();
    keyLine[key] = i + 1;
  }
  if (!/EMSA/i.test(header.FORMAT ?? '')) {
    if (header.FORMAT === undefined) fail(name, undefined, "no '#FORMAT : EMSA/MAS Spectral Data File' header line");
    fail(name, keyLine.FORMAT, `#FORMAT '${header.FORMAT}' is not EMSA/MAS`);
  }
  if (dataStart < 0) fail(name, undefined, "no '#SPECTRUM' line: the data section is missing");
  const dt = (header.DATATYPE ?? 'Y').trim().toUpperCase();
  if (dt !== 'Y' && dt !== 'XY') fail(name, keyLine.DATATYPE, `#DATATYPE '${header.DATATYPE}' is neither Y nor XY`);
  const datatype = dt as 'Y' | 'XY';
  const xunits = (header.XUNITS ?? '').trim().toLowerCase();
  let factor = 1;
  if (xunits === 'kev') factor = 1000;
  else if (xunits !== '' && xunits !== 'ev') fail(name, keyLine.XUNITS, `#XUNITS '${header.XUNITS}': the energy axis must be in eV or keV`, 'MEASURED_UNITS');
  const npoints = headerNumber(header, 'NPOINTS', name, keyLine);
  if (npoints !== undefined && (!Number.isInteger(npoints) || npoints < 0)) fail(name, keyLine.NPOINTS, `#NPOINTS '${header.NPOINTS}' is not a count`);

  const xs: number[] = [];
  const ys: number[] = [];
  for (let j = dataStart; j < lines.length; j++) {
    const lineNo = j + 1;
    const t = (lines[j] as string).trim();
    if (t.startsWith('#')) {
      if (/^#\s*ENDOFDATA/i.test(t)) break;
      continue; // e.g. #CHECKSUM
    }
    if (isCommentLine(t)) continue;
    const toks = splitTokens(t);
    if (toks.length === 0) continue;
    const vals = toks.map((tok, k) => {
      const v = parseNumberToken(tok);
      if (v === undefined) fail(name, lineNo, `non-numeric value '${tok.slice(0, 40)}' in column ${k + 1}`);
      if (!Number.isFinite(v)) fail(name, lineNo, `non-finite value '${tok}' in column ${k + 1}`);
      return v;
    });
    if (datatype === 'XY') {
      if (vals.length < 2) fail(name, lineNo, `wrong column count: ${vals.length} value, expected x, y for DATATYPE XY`);
      xs.push((vals[0] as number) * factor);
      ys.push(vals[1] as number);
    } else {
      for (const v of vals) ys.push(v);
    }
  }
  const n = ys.length;
  if (npoints !== undefined && n !== npoints) fail(name, undefined, `#NPOINTS is ${npoints} but the data section holds ${n} points`);
  if (n < MIN_POINTS) fail(name, undefined, `only ${n} data points; at least ${MIN_POINTS} are needed`);
  let energy: Float64Array;
  if (datatype === 'XY') {
    energy = Float64Array.from(xs);
  } else {
    const step = headerNumber(header, 'XPERCHAN', name, keyLine);
    if (step === undefined) fail(name, undefined, 'DATATYPE Y needs #XPERCHAN (energy step per channel)');
    if (step === 0) fail(name, keyLine.XPERCHAN, '#XPERCHAN is 0');
    const offset = headerNumber(header, 'OFFSET', name, keyLine) ?? 0;
    energy = Float64Array.from({ length: n }, (_, k) => (offset + k * step) * factor);
  }
  return { energy, values: Float64Array.from(ys), datatype, header, title: header.TITLE ?? '' };
}

/** File wrapper around parseMsa (errors name the absolute path). */
export function readMsa(path: string): MsaSpectrum & { path: string } {
  const { abs, text } = readTextFile(path, 'EMSA/MAS file');
  return { ...parseMsa(text, abs), path: abs };
}
