/**
 * One measured spectrum as column text, for `xasmap fit` (docs/formats.md, "Measured inputs
 * of `fit`").
 *
 * Lines: values separated by whitespace, tabs and/or commas. Empty lines and lines starting
 * with `#`, `%` or `;` are comments. Lines before the first data line whose first value is
 * not a number are header lines (column names, titles); after the first data line every
 * non-comment line must be data with the same number of values.
 *
 * Columns (1-based):
 * - 2 columns: energy (eV), intensity.
 * - 3 or more columns: energy (eV), I0, detector signal, ... (the Photon Factory BL-16A
 *   layout): mu = column 3 / column 2. Columns after the third are ignored.
 * - `columns: { energy, signal, i0? }` overrides this: mu = column `signal` / column `i0`,
 *   or column `signal` itself when `i0` is omitted.
 *
 * Energies may be non-uniform and in any order (the fit sorts them). At least 10 points; all
 * values finite; I0 never 0. Errors are XasmapError 'MEASURED_UNREADABLE' naming the file,
 * the line and the problem.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import { XasmapError } from '../errors.js';

/** 1-based column numbers. */
export interface SpectrumColumns {
  energy: number;
  signal: number;
  /** divide the signal by this column (I0 normalisation); omitted: the signal as is */
  i0?: number;
}

export interface SpectrumTextOptions {
  columns?: SpectrumColumns;
}

export interface TextSpectrum {
  /** eV, file order */
  energy: Float64Array;
  /** intensity or mu, file order */
  values: Float64Array;
  /** number of values per data line */
  nColumns: number;
  /** the columns used (1-based) */
  columns: SpectrumColumns;
  /** e.g. 'column 2', 'column 3 / column 2' */
  signalDescription: string;
  /** header lines (non-numeric lines before the data), trimmed */
  header: string[];
}

export const MIN_POINTS = 10;
const CODE = 'MEASURED_UNREADABLE';

const NUMBER_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eEdD][+-]?\d+)?$/;
const NONFINITE_RE = /^[+-]?(?:nan|inf|infinity)$/i;

/** A number token (Fortran `D` exponents accepted); NaN/Inf tokens give non-finite numbers; otherwise undefined. */
export function parseNumberToken(tok: string): number | undefined {
  if (NUMBER_RE.test(tok)) return Number(tok.replace(/[dD]/, 'e'));
  if (NONFINITE_RE.test(tok)) return /nan/i.test(tok) ? NaN : tok.startsWith('-') ? -Infinity : Infinity;
  return undefined;
}

/** Splits text into lines (\n, \r\n or \r) after stripping a UTF-8 byte-order mark. */
export function splitLines(text: string): string[] {
  return (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text).split(/\r\n|\n|\r/);
}

export function isCommentLine(trimmed: string): boolean {
  return trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith('%') || trimmed.startsWith(';');
}

export function splitTokens(trimmed: string): string[] {
  return trimmed.split(/[\s,]+/).filter((t) => t !== '');
}

function fail(name: string, line: number | undefined, what: string): never {
  throw new XasmapError(CODE, line === undefined ? `measured file ${name}: ${what}` : `measured file ${name}, line ${line}: ${what}`);
}

function checkColumns(c: SpectrumColumns, n: number, name: string, line: number): void {
  const entries: [string, number | undefined][] = [
    ['energy', c.energy],
    ['signal', c.signal],
    ['i0', c.i0],
  ];
  for (const [k, v] of entries) {
    if (v === undefined) continue;
    if (!Number.isInteger(v) || v < 1) fail(name, undefined, `column option ${k} = ${v} is not a 1-based column number`);
    if (v > n) fail(name, line, `column ${v} (${k}) requested but the data lines have ${n} columns`);
  }
}

/** Pure decode of a column-text spectrum; `name` is used in error messages. */
export function parseSpectrumText(text: string, name: string, opts: SpectrumTextOptions = {}): TextSpectrum {
  const lines = splitLines(text);
  const header: string[] = [];
  const rows: number[][] = [];
  const rowLines: number[] = [];
  let nCols = 0;
  let firstDataLine = 0;
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const t = (lines[i] as string).trim();
    if (isCommentLine(t)) continue;
    const toks = splitTokens(t);
    if (toks.length === 0) continue;
    if (rows.length === 0 && parseNumberToken(toks[0] as string) === undefined) {
      header.push(t);
      continue;
    }
    const vals: number[] = [];
    for (let k = 0; k < toks.length; k++) {
      const v = parseNumberToken(toks[k] as string);
      if (v === undefined) {
        const tok = (toks[k] as string).length > 40 ? `${(toks[k] as string).slice(0, 40)}...` : (toks[k] as string);
        fail(name, lineNo, `non-numeric value '${tok}' in column ${k + 1}`);
      }
      vals.push(v);
    }
    if (rows.length === 0) {
      nCols = vals.length;
      firstDataLine = lineNo;
      if (nCols < 2) fail(name, lineNo, `1 value on the line; expected at least 2 columns (energy, intensity)`);
    } else if (vals.length !== nCols) {
      fail(name, lineNo, `wrong column count: ${vals.length} values, expected ${nCols} as on line ${firstDataLine}`);
    }
    rows.push(vals);
    rowLines.push(lineNo);
  }
  if (rows.length === 0) fail(name, undefined, 'no numeric data lines found');
  const columns: SpectrumColumns = opts.columns ?? (nCols === 2 ? { energy: 1, signal: 2 } : { energy: 1, signal: 3, i0: 2 });
  checkColumns(columns, nCols, name, firstDataLine);
  if (rows.length < MIN_POINTS) fail(name, undefined, `only ${rows.length} data points; at least ${MIN_POINTS} are needed`);
  const n = rows.length;
  const energy = new Float64Array(n);
  const values = new Float64Array(n);
  const ce = columns.energy - 1;
  const cs = columns.signal - 1;
  const ci = columns.i0 === undefined ? -1 : columns.i0 - 1;
  for (let r = 0; r < n; r++) {
    const row = rows[r] as number[];
    const lineNo = rowLines[r] as number;
    for (const [c, what] of [
      [ce, 'energy'],
      [cs, 'signal'],
      [ci, 'I0'],
    ] as const) {
      if (c >= 0 && !Number.isFinite(row[c] as number)) fail(name, lineNo, `non-finite ${what} '${row[c]}' in column ${c + 1}`);
    }
    energy[r] = row[ce] as number;
    if (ci >= 0) {
      const i0 = row[ci] as number;
      if (i0 === 0) fail(name, lineNo, `I0 (column ${ci + 1}) is zero; cannot normalise column ${cs + 1} by it`);
      values[r] = (row[cs] as number) / i0;
      if (!Number.isFinite(values[r] as number)) fail(name, lineNo, `column ${cs + 1} / column ${ci + 1} is not finite`);
    } else {
      values[r] = row[cs] as number;
    }
  }
  const signalDescription = ci >= 0 ? `column ${cs + 1} / column ${ci + 1}` : `column ${cs + 1}`;
  return { energy, values, nColumns: nCols, columns, signalDescription, header };
}

/** Reads a file as text for the text readers: FILE_NOT_FOUND / FILE_UNREADABLE naming it. */
export function readTextFile(path: string, what = 'measured file'): { abs: string; text: string } {
  const abs = nodePath.resolve(path);
  let buf: Buffer;
  try {
    buf = fs.readFileSync(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new XasmapError('FILE_NOT_FOUND', `${what} not found: ${abs}`);
    if (code === 'EISDIR') throw new XasmapError(CODE, `${what} ${abs} is a directory`);
    throw new XasmapError('FILE_UNREADABLE', `${what} ${abs} cannot be read (${code ?? (e as Error).message})`);
  }
  if (buf.subarray(0, 4096).includes(0)) throw new XasmapError(CODE, `${what} ${abs} is not a text file (binary content)`);
  return { abs, text: buf.toString('utf8') };
}

/** File wrapper around parseSpectrumText (errors name the absolute path). */
export function readSpectrumText(path: string, opts: SpectrumTextOptions = {}): TextSpectrum & { path: string } {
  const { abs, text } = readTextFile(path);
  return { ...parseSpectrumText(text, abs, opts), path: abs };
}
