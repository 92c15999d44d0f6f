/** Parsing of numeric command-line options with messages that name the option. */
import { XasmapError } from '../errors.js';

export function intOption(name: string, value: string | undefined, min: number, fallback?: number): number {
  if (value === undefined) {
    if (fallback === undefined) throw new XasmapError('BAD_ARGS', `--${name} is required`);
    return fallback;
  }
  const v = Number(value);
  if (!Number.isInteger(v) || v < min) throw new XasmapError('BAD_ARGS', `--${name} must be an integer >= ${min}, got '${value}'`);
  return v;
}

export function numberOption(name: string, value: string | undefined, fallback: number, range: { gt?: number; min?: number; max?: number } = {}): number {
  if (value === undefined) return fallback;
  const v = Number(value);
  const bad =
    value.trim() === '' || !Number.isFinite(v) ||
    (range.gt !== undefined && !(v > range.gt)) ||
    (range.min !== undefined && v < range.min) ||
    (range.max !== undefined && v > range.max);
  if (bad) {
    const cond = [range.gt !== undefined ? `> ${range.gt}` : '', range.min !== undefined ? `>= ${range.min}` : '', range.max !== undefined ? `<= ${range.max}` : ''].filter(Boolean).join(' and ');
    throw new XasmapError('BAD_ARGS', `--${name} must be a number${cond ? ` ${cond}` : ''}, got '${value}'`);
  }
  return v;
}

/** A pixel count or 'all' (e.g. --verify, --refine); 0 when not given. */
export function countOrAll(name: string, value: string | undefined): number | 'all' {
  if (value === undefined) return 0;
  if (value.trim().toLowerCase() === 'all') return 'all';
  return intOption(name, value, 0);
}
