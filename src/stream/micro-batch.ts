/**
 * Operator: micro-batching for `xasmap serve`. Items are collected until `size` are waiting
 * or `ms` milliseconds have passed since the batch opened, whichever comes first; empty
 * windows are dropped. Throughput comes from the batches, latency stays at most ~`ms`.
 */
import { type OperatorFunction, bufferTime, filter, pipe } from 'rxjs';

export function microBatch<T>(size: number, ms: number): OperatorFunction<T, T[]> {
  return pipe(
    bufferTime<T>(ms, null, size),
    filter((b: T[]) => b.length > 0),
  );
}
