/**
 * Operator: tiles -> pixel batches of at most `maxPixels` pixels, each a rectangle of the map
 * (whole rows when a row fits, else pieces of one row), with the flags of every pixel
 * (masked, invalid parameter, extrapolated: ops/render-maps.ts pixelFlags).
 */
import { type OperatorFunction, from, mergeMap } from 'rxjs';
import { PARAM_NAMES } from '../physics/ions.js';
import { pixelFlags } from '../ops/render-maps.js';
import type { Batch, Tile } from './types.js';

const P = PARAM_NAMES.length;

export function toBatches(maxPixels: number): OperatorFunction<Tile, Batch> {
  return mergeMap((t: Tile) => from(splitTile(t, maxPixels)));
}

export function splitTile(t: Tile, maxPixels: number): Batch[] {
  const { nx } = t;
  const rows = t.y1 - t.y0;
  const ne = t.measured ? t.measured.length / (rows * nx) : 0;
  const out: Batch[] = [];
  const rect = (y0: number, y1: number, x0: number, x1: number): void => {
    const w = x1 - x0;
    const count = (y1 - y0) * w;
    const params = new Float32Array(count * P);
    const flags = new Uint8Array(count);
    const measured = t.measured ? new Float32Array(count * ne) : null;
    const mask = t.mask ? new Uint8Array(count) : null;
    for (let r = 0; r < y1 - y0; r++) {
      const src = (y0 - t.y0 + r) * nx + x0;
      params.set(t.params.subarray(src * P, (src + w) * P), r * w * P);
      if (mask && t.mask) mask.set(t.mask.subarray(src, src + w), r * w);
      if (measured && t.measured) measured.set(t.measured.subarray(src * ne, (src + w) * ne), r * w * ne);
    }
    for (let i = 0; i < count; i++) flags[i] = pixelFlags(params, i, mask);
    out.push({ y0, y1, x0, x1, count, nx, params, flags, measured, spectra: null, se: null, seVerify: null, timing: {} });
  };
  if (nx <= maxPixels) {
    const per = Math.max(1, Math.floor(maxPixels / nx));
    for (let y = t.y0; y < t.y1; y += per) rect(y, Math.min(t.y1, y + per), 0, nx);
  } else {
    for (let y = t.y0; y < t.y1; y++) for (let x = 0; x < nx; x += maxPixels) rect(y, y + 1, x, Math.min(nx, x + maxPixels));
  }
  return out;
}
