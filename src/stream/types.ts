/**
 * Values that flow through the render pipeline (src/stream). The operators know nothing of
 * HDF5: reading and writing come in as the small interfaces below, wired up by cli/render.ts.
 */

/** Rows [y0, y1) of the map. */
export interface TileSpec {
  index: number;
  y0: number;
  y1: number;
}

/** What a tile source returns: the parameters, mask and (optional) measured spectra of a tile. */
export interface Tile extends TileSpec {
  nx: number;
  /** (y1-y0)*nx x 9 */
  params: Float32Array;
  /** (y1-y0)*nx, 1 = compute; null = no mask */
  mask: Uint8Array | null;
  /** (y1-y0)*nx x ne measured values in file energy order; null without --measured */
  measured: Float32Array | null;
}

export interface TileSource {
  read(spec: TileSpec): Tile;
}

/** A rectangular block of pixels rows [y0,y1) x cols [x0,x1), filled stage by stage. */
export interface Batch {
  y0: number;
  y1: number;
  x0: number;
  x1: number;
  count: number;
  /** linear pixel index (y * nx + x) of the first pixel of each row: y*nx + x0 */
  nx: number;
  params: Float32Array;
  flags: Uint8Array;
  measured: Float32Array | null;
  /** count x channels; NaN where not computed */
  spectra: Float32Array | null;
  se: Float32Array | null;
  seVerify: Float32Array | null;
  /** milliseconds spent per stage, for the benchmark split */
  timing: Record<string, number>;
}

/** Linear index of pixel i of a batch. */
export function pixelIndex(b: Batch, i: number): number {
  const w = b.x1 - b.x0;
  return (b.y0 + Math.floor(i / w)) * b.nx + b.x0 + (i % w);
}

export function addTime(b: { timing: Record<string, number> }, stage: string, t0: number): void {
  b.timing[stage] = (b.timing[stage] ?? 0) + performance.now() - t0;
}
