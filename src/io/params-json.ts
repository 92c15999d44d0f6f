/**
 * Reading the nine-parameter JSON input of `xasmap simulate` / `xasmap predict`:
 * one object or an array of objects with exactly the fields Dq, Ds, Dt, S1, S2, T,
 * sigmaG, Gamma1, Gamma2. Pure decode (decodeParamsJson) plus a thin file wrapper.
 */
import { readFileSync } from 'node:fs';
import { XasmapError } from '../errors.js';
import { validateParams } from '../ops/params-check.js';
import { PARAM_RANGES, PARAM_UNITS, type Params, outOfRange } from '../physics/ions.js';

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

export { validateParams } from '../ops/params-check.js';

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
