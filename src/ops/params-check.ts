/**
 * Validation of one nine-parameter object (pure, no I/O): shared by the JSON input of
 * `xasmap simulate` / `xasmap predict` (io/params-json.ts) and the `pixel` frames of
 * `xasmap serve` (stream/server.ts).
 */
import { XasmapError } from '../errors.js';
import { PARAM_NAMES, PARAM_UNITS, type Params } from '../physics/ions.js';

const WIDTHS = ['sigmaG', 'Gamma1', 'Gamma2'] as const;

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
