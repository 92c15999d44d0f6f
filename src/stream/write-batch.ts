/** Operator: writes each batch (spectra, parameters) to the sink, in order, then passes it on. */
import { type OperatorFunction, tap } from 'rxjs';
import { type Batch, addTime } from './types.js';

export interface BatchSink {
  write(b: Batch): void;
}

export function writeBatch(sink: BatchSink): OperatorFunction<Batch, Batch> {
  return tap((b: Batch) => {
    const t0 = performance.now();
    sink.write(b);
    addTime(b, 'write', t0);
  });
}
