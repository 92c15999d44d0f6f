import { XasmapError } from '../errors.js';
import { ION_NAMES, type IonName } from '../physics/ions.js';

/** Resolve --ion (case-insensitive); unknown ions list the 22 supported ones. */
export function parseIon(value: string | undefined): IonName {
  if (value === undefined || value === '') {
    throw new XasmapError('BAD_ION', `--ion is required; one of: ${ION_NAMES.join(', ')}`);
  }
  const hit = ION_NAMES.find((n) => n.toLowerCase() === value.trim().toLowerCase());
  if (!hit) throw new XasmapError('BAD_ION', `unknown ion '${value}'; supported: ${ION_NAMES.join(', ')}`);
  return hit;
}
