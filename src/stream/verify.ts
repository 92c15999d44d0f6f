/**
 * Operator: batch -> batch with `seVerify` for the selected pixels: the SE (%) of the
 * prediction against the multiplet simulator (`simulate(params9)` -> box-normalised spectrum,
 * or throws). Flags VERIFIED or VERIFY_FAILED. `selected` = null passes batches unchanged.
 */
import { type OperatorFunction, map } from 'rxjs';
import { PARAM_NAMES } from '../physics/ions.js';
import { FLAG } from '../ops/render-maps.js';
import { type Batch, addTime, pixelIndex } from './types.js';

const P = PARAM_NAMES.length;

export function verifyPixels(
  selected: ((pixel: number) => boolean) | null,
  simulate: (params: Float32Array) => ArrayLike<number>,
  se: (p: ArrayLike<number>, a: ArrayLike<number>) => number,
  channels: number,
): OperatorFunction<Batch, Batch> {
  return map((b: Batch) => {
    if (selected === null || b.spectra === null) return b;
    const t0 = performance.now();
    const out = new Float32Array(b.count).fill(NaN);
    for (let i = 0; i < b.count; i++) {
      if (((b.flags[i] as number) & (FLAG.MASKED | FLAG.INVALID_PARAM)) !== 0) continue;
      if (!selected(pixelIndex(b, i))) continue;
      try {
        const ref = simulate(b.params.subarray(i * P, (i + 1) * P));
        out[i] = se(b.spectra.subarray(i * channels, (i + 1) * channels), ref);
        b.flags[i] = (b.flags[i] as number) | FLAG.VERIFIED;
      } catch {
        b.flags[i] = (b.flags[i] as number) | FLAG.VERIFY_FAILED;
      }
    }
    b.seVerify = out;
    addTime(b, 'verify', t0);
    return b;
  });
}
