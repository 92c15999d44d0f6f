/**
 * Reading the nine-parameter JSON input of `xasmap simulate` / `xasmap predict`:
 * one object or an array of objects with exactly the fields Dq, Ds, Dt, S1, S2, T,
 * sigmaG, Gamma1, Gamma2. Pure decode (decodeParamsJson) plus a thin file wrapper.
 */
import { readFileSync } from 'node:fs';
import { XasmapError } from '../errors.js';
import { PARAM_NAMES, PARAM_RANGES, PARAM_UNITS, type Params, outOfRange } from '../physics/ions.js';

const WIDTHS = ['sigmaG', 'Gamma1', 'Gamma2'] as const;

/** Decode and validate; `source` names the input in messages. Throws XasmapError('BAD_PARAMS'). */
export function decodeParamsJson(text: string, source: string): Params[] {
  // JSON has no NaN/Infinity; quote bare tokens so the message can name the field instead of a parse position
  const relaxed = text.replace(/([:\[,]\s*)(-?Infinity|NaN)(?=\s*[,}\]])/g, '$1"$2"');
  let value: unknown;
  try {
    value = JSON.parse(relaxed);
  } catch (e) {
    throw new XasmapError('BAD_PARAMS', `${source}: not valid JSON (${(e as Error).message})`);
  }
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) throw new XasmapError('BAD_PARAMS', `${source}: the array holds no parameter sets`);
  return list.map((item, i) => validateParams(item, `${source}: case ${i}`));
}

/** Validate one parameter object (exact field set, finite numbers, T > 0, widths > 0, S1/S2 >= 0). */
export function validateParams(item: unknown, where: string): Params {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    throw new XasmapError('BAD_PARAMS', `${where}: expected an object with fields ${PARAM_NAMES.join(', ')}`);
  }
  const obj = item as Record<string, unknown>;
  const extra = Object.keys(obj).filter((k) => !(PARAM_NAMES as readonly string[]).includes(k));
  if (extra.length > 0) {
    throw new XasmapError('BAD_PARAMS', `${where}: unknown field '${extra[0]}' (allowed: ${PARAM_NAMES.join(', ')})`);
  }
  const out = {} as Params;
  for (const k of PARAM_NAMES) {
    if (!(k in obj)) throw new XasmapError('BAD_PARAMS', `${where}: missing field '${k}' (${PARAM_UNITS[k]})`);
    const v = obj[k];
    if (typeof v !== 'number') {
      const bare = v === 'NaN' || v === 'Infinity' || v === '-Infinity';
      const shown = typeof v === 'string' ? (bare ? v : `"${v}"`) : JSON.stringify(v);
      throw new XasmapError('BAD_PARAMS', `${where}, field '${k}': ${shown} is not a finite number`);
    }
    if (!Number.isFinite(v)) throw new XasmapError('BAD_PARAMS', `${where}, field '${k}': ${v} is not a finite number`);
    out[k] = v;
  }
  if (out.T <= 0) throw new XasmapError('BAD_PARAMS', `${where}, field 'T': ${out.T} K must be > 0`);
  for (const k of WIDTHS) {
    if (out[k] <= 0) throw new XasmapError('BAD_PARAMS', `${where}, field '${k}': width ${out[k]} eV must be > 0`);
  }
  for (const k of ['S1', 'S2'] as const) {
    if (out[k] < 0) throw new XasmapError('BAD_PARAMS', `${where}, field '${k}': scaling ${out[k]} must be >= 0`);
  }
  return out;
}

/** Warnings (one line each) for parameters outside the D4h training ranges. */
export function rangeWarnings(list: readonly Params[], source: string): string[] {
  const out: string[] = [];
  list.forEach((p, i) => {
    for (const k of outOfRange(p)) {
      const [lo, hi] = PARAM_RANGES[k];
      out.push(`${source}: case ${i}, field '${k}' = ${p[k]} ${PARAM_UNITS[k]} is outside the training range [${lo}, ${hi}] (computed anyway)`);
    }
  });
  return out;
}

export function readParamsFile(path: string): Params[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new XasmapError(code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'FILE_UNREADABLE', `${path}: cannot read parameter file (${code ?? (e as Error).message})`);
  }
  return decodeParamsJson(text, path);
}
