/**
 * Train / validation / test split of a database, 8:1:1 by default, deterministic for a
 * seed. Rows that share a diagonalisation (per_diag groups of K consecutive rows) are
 * kept together, so no crystal field appears in two parts.
 */
import { mulberry32 } from '../physics/random.js';

export interface Split {
  readonly seed: number;
  readonly groupSize: number;
  readonly rows: number;
  readonly train: Int32Array;
  readonly val: Int32Array;
  readonly test: Int32Array;
}

export interface SplitOptions {
  seed: number;
  /** rows per group (the database's per_diag), default 1 */
  groupSize?: number;
  /** fractions of validation and test, default 0.1 each */
  valFraction?: number;
  testFraction?: number;
}

/**
 * The split with `extra` more training rows appended after the database's own (rows
 * `rows .. rows + extra - 1` of the concatenated arrays: train --extra-data). Validation
 * and test rows are unchanged, so a model continued on more data is tested on the same rows.
 */
export function withExtraTrainRows(split: Split, extra: number): Split {
  if (!Number.isSafeInteger(extra) || extra < 0) throw new RangeError(`extra rows must be a non-negative integer, got ${extra}`);
  const train = new Int32Array(split.train.length + extra);
  train.set(split.train);
  for (let k = 0; k < extra; k++) train[split.train.length + k] = split.rows + k;
  return { ...split, train };
}

export function makeSplit(rows: number, opts: SplitOptions): Split {
  const g = opts.groupSize ?? 1;
  const nGroups = Math.ceil(rows / g);
  const order = Int32Array.from({ length: nGroups }, (_, i) => i);
  const rng = mulberry32(opts.seed);
  for (let i = nGroups - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  const nVal = Math.round(nGroups * (opts.valFraction ?? 0.1));
  const nTest = Math.round(nGroups * (opts.testFraction ?? 0.1));
  const expand = (groups: Int32Array): Int32Array => {
    const out: number[] = [];
    const sorted = Int32Array.from(groups).sort();
    for (const grp of sorted) for (let r = grp * g; r < Math.min((grp + 1) * g, rows); r++) out.push(r);
    return Int32Array.from(out);
  };
  return {
    seed: opts.seed,
    groupSize: g,
    rows,
    test: expand(order.subarray(0, nTest)),
    val: expand(order.subarray(nTest, nTest + nVal)),
    train: expand(order.subarray(nTest + nVal)),
  };
}
