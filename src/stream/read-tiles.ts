/**
 * Operator: tile specs -> tiles. Each tile is read only when the previous one has gone through
 * the whole (synchronous) rest of the pipeline: concatMap subscribes to one inner at a time, so
 * at most one tile (plus its batches) is in memory. The inner first yields to the event loop,
 * so a SIGINT handler can run between tiles; `shouldStop` then ends the pipeline with its error.
 */
import { type OperatorFunction, concatMap, defer } from 'rxjs';
import type { Tile, TileSource, TileSpec } from './types.js';

export function readTiles(source: TileSource, shouldStop: () => Error | null, onRead?: (ms: number) => void): OperatorFunction<TileSpec, Tile> {
  return concatMap((spec) =>
    defer(async () => {
      await new Promise<void>((r) => setImmediate(r));
      const stop = shouldStop();
      if (stop) throw stop;
      const t0 = performance.now();
      const tile = source.read(spec);
      onRead?.(performance.now() - t0);
      return tile;
    }),
  );
}
