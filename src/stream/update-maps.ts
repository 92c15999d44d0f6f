/**
 * Operator: adds each batch to the (ny, nx) maps (SE, flags, L3 peak, RGB regions) and drops
 * its spectra; emits a small progress record per batch.
 */
import { type OperatorFunction, map } from 'rxjs';
import type { RenderMaps } from '../ops/render-maps.js';
import { type Batch, addTime } from './types.js';

export interface BatchDone {
  pixels: number;
  computed: number;
  timing: Record<string, number>;
}

export function updateMaps(maps: RenderMaps, channels: number): OperatorFunction<Batch, BatchDone> {
  return map((b: Batch) => {
    const t0 = performance.now();
    if (b.spectra === null) throw new Error('internal: batch without spectra');
    maps.add({ ...b, spectra: b.spectra }, channels);
    let computed = 0;
    for (let i = 0; i < b.count; i++) if (!Number.isNaN(b.spectra[i * channels] as number)) computed++;
    addTime(b, 'maps', t0);
    return { pixels: b.count, computed, timing: b.timing };
  });
}
